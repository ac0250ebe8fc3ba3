"""One small PSMA twin per session (make_twin, ~7 s), read once and analysed once."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

#: twin structure -> organ-mask name (the twin's labels stand in for user masks, e.g. TotalSegmentator)
TWIN_TO_MASK = {
    "kidney_left_cortex": "kidney_left", "kidney_left_medulla": "kidney_left",
    "kidney_right_cortex": "kidney_right", "kidney_right_medulla": "kidney_right",
    "bladder": "urinary_bladder", "parotid_left": "parotid_gland_left",
    "parotid_right": "parotid_gland_right", "submandibular_left": "submandibular_gland_left",
    "submandibular_right": "submandibular_gland_right", "lacrimal_left": "lacrimal_gland_left",
    "lacrimal_right": "lacrimal_gland_right", "blood_pool": "aorta", "thyroid": "thyroid_gland",
    "adrenal_left": "adrenal_gland_left", "adrenal_right": "adrenal_gland_right",
    "liver": "liver", "spleen": "spleen", "small_bowel": "small_bowel", "colon": "colon",
    "duodenum": "duodenum", "stomach": "stomach", "prostate": "prostate", "heart": "heart",
    "pancreas": "pancreas", "lung_left": "lung_left", "lung_right": "lung_right",
}


@pytest.fixture(scope="session")
def twin(tmp_path_factory):
    from theranostix.core.resample import resample_to
    from theranostix.io.dicom import load_ct, load_pet
    from theranostix.io.nifti import read_nifti
    from theranostix.pet.pipeline import analyze_study
    from theranostix.twin.generate import make_twin

    root = tmp_path_factory.mktemp("pipeline_twin") / "twin"
    make_twin(root, tracer="psma-ga68", seed=7, pattern="nodal")
    pet = load_pet(root / "baseline" / "pet")
    ct = load_ct(root / "baseline" / "ct")
    truth = json.loads((root / "truth" / "truth.json").read_text())
    organs, _ = read_nifti(root / "truth" / "organs.nii.gz")
    on_pet = resample_to(organs, pet.image, "nearest", 0).array
    masks: dict[str, np.ndarray] = {}
    for v, name in truth["organ_labels"].items():
        if name in TWIN_TO_MASK:
            key = TWIN_TO_MASK[name]
            m = on_pet == int(v)
            masks[key] = masks[key] | m if key in masks else m
    result = analyze_study(pet, ct, organ_masks=masks)
    return SimpleNamespace(root=root, pet_dir=root / "baseline" / "pet", ct_dir=root / "baseline" / "ct",
                           pet=pet, ct=ct, truth=truth, masks=masks, result=result)

"""One small PSMA twin per session (make_twin, ~7 s), read once and analysed once."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from theranostix.twin.truth import TWIN_TO_ORGAN_MASK


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
        if name in TWIN_TO_ORGAN_MASK:
            key = TWIN_TO_ORGAN_MASK[name]
            m = on_pet == int(v)
            masks[key] = masks[key] | m if key in masks else m
    result = analyze_study(pet, ct, organ_masks=masks)
    return SimpleNamespace(root=root, pet_dir=root / "baseline" / "pet", ct_dir=root / "baseline" / "ct",
                           pet=pet, ct=ct, truth=truth, masks=masks, result=result)

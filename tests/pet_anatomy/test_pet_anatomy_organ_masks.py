"""Organ-mask sources: user NIfTI masks (label map + names, folder), CT+PET estimate, tracers."""

from __future__ import annotations

import json

import numpy as np
from scipy import ndimage as ndi
import pytest

from pet_anatomy_phantom import LABEL
from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.io.masks import read_label_nifti, read_mask_folder, read_organ_masks
from theranostix.io.nifti import write_nifti
from theranostix.pet.organ_masks import (
    CtPetOrganEstimate,
    OrganMaskSource,
    UserOrganMasks,
    canonical_organ_name,
    physiological_organs,
    physiological_uptake_mask,
    tracer_family,
    with_groups,
)
from theranostix.pet.reference_regions import find_reference_regions


def _ct_label_map(phantom) -> tuple[Image, dict[str, str]]:
    """A TotalSegmentator-like label map on the CT grid with TotalSegmentator names."""
    lab = phantom.ct_labels
    x = phantom.ct.index_to_world(np.array([[i, 0, 0] for i in range(lab.shape[2])], float))[:, 0]
    out = np.zeros(lab.shape, np.int16)
    out[np.isin(lab, [LABEL["liver"], LABEL["liver_lesion"]])] = 5
    out[lab == LABEL["spleen"]] = 1
    out[(lab == LABEL["kidney"]) & (x > 0)[None, None, :]] = 3
    out[(lab == LABEL["kidney"]) & (x < 0)[None, None, :]] = 2
    out[(lab == LABEL["lung"]) & (x > 0)[None, None, :]] = 10  # one lobe name, maps to lung_left
    out[lab == LABEL["aorta"]] = 52
    names = {"1": "spleen", "2": "kidney_right", "3": "kidney_left", "5": "liver",
             "10": "lung_upper_lobe_left", "52": "aorta"}
    return phantom.ct.with_array(out, units="label"), names


@pytest.fixture(scope="module")
def label_nifti(phantom, tmp_path_factory):
    img, names = _ct_label_map(phantom)
    d = tmp_path_factory.mktemp("masks")
    path = d / "seg.nii.gz"
    write_nifti(img, path)
    (d / "names.json").write_text(json.dumps(names))
    return path, d / "names.json"


def test_nifti_label_map_round_trip_to_pet_grid(phantom, label_nifti):
    path, names = label_nifti
    lm = read_label_nifti(path, names)
    assert lm.metadata["label_names"]["5"] == "liver"
    src = UserOrganMasks([lm], reference=phantom.ct)
    assert isinstance(src, OrganMaskSource)
    prov = Provenance()
    masks = src.masks(phantom.pet, prov)
    assert {"liver", "spleen", "kidney_left", "kidney_right", "lung_left", "aorta"} <= set(masks)
    for name, label in (("spleen", "spleen"), ("aorta", "aorta")):
        truth = phantom.pet_labels == LABEL[label]
        m = masks[name]
        assert m.shape == phantom.pet.shape and m.dtype == bool
        dice = 2 * (m & truth).sum() / (m.sum() + truth.sum())
        assert dice > 0.85, (name, dice)
    # the left kidney (patient left = +x) is on the +x side
    x = phantom.pet.index_to_world(np.argwhere(masks["kidney_left"])[:, ::-1].astype(float))[:, 0]
    assert np.all(x > 0)
    # user masks drive the reference regions: the liver sphere now comes from the mask
    regs = find_reference_regions(phantom.pet, None, organ_masks=masks)
    assert regs.liver.found and regs.liver.method.startswith("user_mask")
    assert np.all(np.isin(phantom.pet_labels[regs.liver.mask], [LABEL["liver"]]))
    assert regs.blood_pool.found and np.all(phantom.pet_labels[regs.blood_pool.mask] == LABEL["aorta"])


def test_label_map_names_from_sidecar_and_missing_names(phantom, tmp_path):
    img, names = _ct_label_map(phantom)
    small = Image(img.array[:, ::4, ::4].copy(), (8.0, 8.0, 4.0), img.origin, units="label")
    p = tmp_path / "lab.nii.gz"
    write_nifti(small, p)
    with pytest.raises(InvalidInputError, match="no names"):
        read_label_nifti(p)
    write_nifti(small, p, sidecar={"label_names": {v: int(k) for k, v in names.items()}})
    lm = read_label_nifti(p)  # {name: value} form, from the sidecar
    assert lm.metadata["label_names"]["1"] == "spleen"
    bad = tmp_path / "bad.json"
    bad.write_text('{"1": "2"}')
    with pytest.raises(InvalidInputError, match="not 'number: name'"):
        read_label_nifti(p, bad)


def test_mask_folder_totalsegmentator_style(phantom, tmp_path):
    truth = (phantom.ct_labels == LABEL["spleen"]).astype(np.uint8)
    write_nifti(phantom.ct.with_array(truth, units="label"), tmp_path / "spleen.nii.gz")
    write_nifti(phantom.ct.with_array(np.zeros_like(truth), units="label"),
                tmp_path / "urinary_bladder.nii.gz")
    maps = read_organ_masks(tmp_path)
    assert len(maps) == 2
    masks = UserOrganMasks(maps).masks(phantom.pet)
    assert masks["spleen"].sum() > 0 and masks["urinary_bladder"].sum() == 0
    write_nifti(phantom.ct.with_array(truth * 3, units="label"), tmp_path / "colon.nii.gz")
    with pytest.raises(InvalidInputError, match="not binary"):
        read_mask_folder(tmp_path)


def test_wrong_size_masks_are_refused_against_the_ct(phantom, label_nifti, tmp_path):
    path, names = label_nifti
    lm = read_label_nifti(path, names)
    wrong = Image(lm.array[:, :100, :], lm.spacing, lm.origin, units="label",
                  metadata={**lm.metadata, "source": "wrong.nii.gz"})
    with pytest.raises(InvalidInputError, match="wrong.nii.gz.*differs from the CT grid"):
        UserOrganMasks([wrong], reference=phantom.ct).masks(phantom.pet)


def test_masks_outside_pet_field_of_view_are_refused(phantom, label_nifti):
    path, names = label_nifti
    lm = read_label_nifti(path, names)
    far = Image(lm.array, lm.spacing, (0.0, 0.0, 5000.0), units="label", metadata=lm.metadata)
    with pytest.raises(InvalidInputError, match="do not overlap the PET field of view"):
        UserOrganMasks([far]).masks(phantom.pet)


def test_masks_on_another_frame_of_reference_are_refused(phantom, label_nifti):
    path, names = label_nifti
    lm = read_label_nifti(path, names)
    lm.frame_of_reference_uid = "1.2.3.4.5"
    with pytest.raises(InvalidInputError, match="another frame of reference"):
        UserOrganMasks([lm]).masks(phantom.pet)


def test_partially_covered_mask_is_recorded(phantom, label_nifti):
    path, names = label_nifti
    lm = read_label_nifti(path, names)
    shifted = Image(lm.array, lm.spacing, (lm.origin[0], lm.origin[1], lm.origin[2] + 400.0),
                    units="label", metadata=lm.metadata)
    prov = Provenance()
    UserOrganMasks([shifted]).masks(phantom.pet, prov)
    assert any("lies in the PET field of view" in w for w in prov.warnings)


def test_ct_pet_estimate_finds_physiological_organs(phantom, anatomy):
    prov = Provenance()
    masks = CtPetOrganEstimate(phantom.pet, tracer="[68Ga]Ga-PSMA-11",
                               anatomy=anatomy).masks(phantom.pet, prov)
    expect = {"liver": ["liver"], "spleen": ["spleen"], "kidney_left": ["kidney"],
              "kidney_right": ["kidney"], "urinary_bladder": ["bladder"],
              "parotid_gland_left": ["parotid"], "parotid_gland_right": ["parotid"],
              "submandibular_gland_left": ["submandibular"],
              "submandibular_gland_right": ["submandibular"]}
    for organ, labels in expect.items():
        assert organ in masks, organ
        truth = np.isin(phantom.pet_labels, [LABEL[n] for n in labels])
        if organ.startswith("kidney"):
            # kidney masks carry a 1-voxel spill-over halo by design (rule kidney_blob)
            truth = ndi.binary_dilation(truth, np.ones((3, 3, 3), bool))
        frac = truth[masks[organ]].mean()
        assert frac > 0.9, (organ, frac)
    assert any("bowel" in w for w in prov.warnings)
    union = physiological_uptake_mask(masks, "PSMA-11", prov)
    assert union is not None and union[phantom.pet_labels == LABEL["kidney"]].mean() > 0.9
    assert not union[phantom.pet_labels == LABEL["liver_lesion"]].any()
    assert "kidneys" in with_groups(masks)


def test_names_and_tracer_tables():
    assert canonical_organ_name("Kidney_L") == "kidney_left"
    assert canonical_organ_name("Parotid_R") == "parotid_gland_right"
    assert canonical_organ_name("lung_middle_lobe_right") == "lung_right"
    assert canonical_organ_name("vertebrae_L3") == "bone"
    assert canonical_organ_name("rib_left_7") == "bone"
    assert canonical_organ_name("Bladder") == "urinary_bladder"
    assert canonical_organ_name("tumour") is None
    assert tracer_family("[68Ga]Ga-PSMA-11") == "psma"
    assert tracer_family("[18F]PSMA-1007") == "psma_hepatobiliary"
    assert tracer_family("[18F]FDG") == "fdg"
    assert tracer_family("[68Ga]Ga-DOTATATE") == "sstr"
    assert "lacrimal_gland_left" in physiological_organs("DCFPyL")
    assert "gallbladder" in physiological_organs("PSMA-1007")
    with pytest.raises(InvalidInputError, match="unknown tracer"):
        tracer_family("[11C]choline-X")
    with pytest.raises(InvalidInputError, match="no organ masks"):
        UserOrganMasks([])


def test_ct_pet_estimate_needs_a_ct(phantom):
    with pytest.raises(InvalidInputError, match="needs a CT"):
        CtPetOrganEstimate(phantom.pet, None, "PSMA-11")

"""CT+PET organ estimate (``CtPetOrganEstimate``) against the analytic phantom of conftest.py."""

from __future__ import annotations

import numpy as np
import pytest

from pet_organs_phantom import OrganPhantom, build_phantom
from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.pet.organ_masks import (
    CtPetOrganEstimate,
    ESTIMATE_BACKGROUND_ORGANS,
    _major_axis_mm,
)
from theranostix.pet.reference_regions import PetCtAnatomy, spleen_reference


@pytest.fixture(scope="module")
def organ_phantom() -> OrganPhantom:
    return build_phantom()


@pytest.fixture(scope="module")
def organ_estimate(organ_phantom):
    anat = PetCtAnatomy.build(organ_phantom.pet, organ_phantom.ct)
    prov = Provenance()
    masks = CtPetOrganEstimate(organ_phantom.pet, anatomy=anat, tracer="psma").masks(
        organ_phantom.pet, prov)
    return masks, prov, anat


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return float(2.0 * (a & b).sum() / (a.sum() + b.sum()))


@pytest.mark.parametrize("organ,min_dice", [
    ("liver", 0.9), ("spleen", 0.85), ("kidney_left", 0.7), ("kidney_right", 0.7),
    ("urinary_bladder", 0.85), ("heart", 0.6), ("thyroid_gland", 0.6), ("small_bowel", 0.55),
    ("colon", 0.6),
])
def test_each_organ_matches_the_phantom(organ_estimate, organ_phantom, organ, min_dice):
    masks, _, _ = organ_estimate
    assert organ in masks, sorted(masks)
    m = masks[organ]
    assert m.dtype == bool and m.shape == organ_phantom.pet.shape
    assert _dice(m, organ_phantom.truth[organ]) >= min_dice


def test_small_bowel_mask_covers_the_loop_and_blood_pool_not_colon(organ_estimate, organ_phantom):
    """The uptake rule (>= 2 x muscle) takes the whole loop; it also takes abdominal tissue at
    blood-pool level (the phantom aorta, SUV 1.7, and the heart's lower part below the estimated
    heart: both are background for the focal rule), hence the lower Dice above. The colon, of
    faecal density, is its own mask and is not in the small-bowel mask."""
    masks, _, _ = organ_estimate
    sb, t = masks["small_bowel"], organ_phantom.truth
    assert (sb & t["small_bowel"]).sum() >= 0.9 * t["small_bowel"].sum()
    assert (sb & t["colon"]).sum() <= 0.02 * t["colon"].sum()
    assert (masks["colon"] & t["colon"]).sum() >= 0.8 * t["colon"].sum()


def test_spleen_is_not_the_kidney_it_touches(organ_estimate, organ_phantom):
    masks, _, _ = organ_estimate
    s = masks["spleen"]
    # every spleen voxel is spleen (the kidney medulla has spleen-like uptake next to it)
    assert (s & organ_phantom.truth["spleen"]).sum() / s.sum() > 0.97
    assert not (s & organ_phantom.truth["kidney_left"]).any()


def test_no_lesion_is_taken_for_an_organ(organ_estimate, organ_phantom):
    """The prostate tumour under the bladder, the node 2 mm from the bowel loop and the
    para-aortic node lie outside every estimated mask (nor in the pipeline's exclusion)."""
    from theranostix.pet.pipeline import exclusion_mask

    masks, _, _ = organ_estimate
    union = np.logical_or.reduce(list(masks.values()))
    excl = exclusion_mask(organ_phantom.pet, masks, "psma-ga68", Provenance())
    for name, les in organ_phantom.lesions.items():
        assert (union & les).sum() == 0, name
        assert excl[les].mean() < 0.5, name


def test_rules_and_volumes_are_recorded(organ_estimate):
    masks, prov, _ = organ_estimate
    rules = prov.parameters["organ_estimate_rules"]
    assert rules["urinary_bladder"] == "bladder_fluid_growth"
    assert rules["heart"] == "heart_mediastinal_soft_tissue"
    assert rules["colon"] == "colon_faecal_density"
    assert set(prov.parameters["organ_estimate_volumes_ml"]) >= set(masks)
    # the head is not imaged: the glands are reported missing, not guessed
    assert any("salivary" in w for w in prov.warnings)
    assert not any(k.startswith("parotid") for k in masks)


def test_tracer_decides_which_organs_are_returned(organ_phantom, organ_estimate):
    _, _, anat = organ_estimate
    fdg = CtPetOrganEstimate(organ_phantom.pet, anatomy=anat, tracer="FDG").masks(organ_phantom.pet)
    # FDG list: brain, heart, kidneys, bladder, small bowel, colon (+ liver, spleen, background)
    assert "heart" in fdg and "kidney_left" in fdg and "colon" in fdg
    assert set(fdg) <= {"brain", "heart", "kidney_left", "kidney_right", "urinary_bladder",
                        "small_bowel", "colon", "liver", "spleen", *ESTIMATE_BACKGROUND_ORGANS}


def test_major_axis_of_rod_and_sphere():
    """Hand-computed: a rod of n voxels (4 mm) has positional sample SD 4 sqrt(n (n+1) / 12) mm
    (variance of 0..n-1 with ddof = 1), so its major axis is 4 x that."""
    rod = np.zeros((3, 3, 40), bool)
    rod[1, 1, :] = True
    sd = 4.0 * np.sqrt(40 * 41 / 12.0)
    assert _major_axis_mm(rod, (4.0, 4.0, 4.0)) == pytest.approx(4.0 * sd, rel=1e-6)
    k, j, i = np.ogrid[-6:7, -6:7, -6:7]
    ball = k * k + j * j + i * i <= 25  # radius 5 voxels = 20 mm
    assert _major_axis_mm(ball, (4.0, 4.0, 4.0)) < 40.0


def test_spleen_refused_when_its_uptake_is_muscle_like():
    """After splenectomy-like loss of uptake (spleen at muscle level, < 0.5 x liver) the spleen
    is absent, with a reason, never placed in another organ."""
    ph = build_phantom(spleen_suv=0.6)
    anat = PetCtAnatomy.build(ph.pet, ph.ct)
    reg = spleen_reference(ph.pet, anatomy=anat, liver_mean=ph.liver_suv)
    assert not reg.found and reg.reason
    with pytest.raises(InvalidInputError):
        reg.require()


def test_estimate_needs_a_ct(organ_phantom):
    with pytest.raises(InvalidInputError):
        CtPetOrganEstimate(organ_phantom.pet, None)


def test_estimate_refuses_a_ct_not_in_hu(organ_phantom):
    bad = Image(organ_phantom.ct.array + 1024.0, spacing=organ_phantom.ct.spacing,
                origin=organ_phantom.ct.origin, units="1")
    with pytest.raises(InvalidInputError):
        CtPetOrganEstimate(organ_phantom.pet, bad).masks(organ_phantom.pet)


def test_spleen_reference_without_kidney_masks_stays_in_the_spleen(organ_phantom, organ_estimate):
    """No kidney mask: the kidney-hot blobs (>= 3.5 x liver, holes filled) are removed, so the
    sphere and the organ never land in the kidney medulla (8 SUV, spleen-like) next to it."""
    _, _, anat = organ_estimate
    reg = spleen_reference(organ_phantom.pet, anatomy=anat, liver_mean=organ_phantom.liver_suv)
    assert reg.found, reg.reason
    assert "hot_blobs_removed" in reg.method
    assert organ_phantom.truth["spleen"][reg.mask].all()
    assert not (reg.organ_mask & organ_phantom.truth["kidney_left"]).any()

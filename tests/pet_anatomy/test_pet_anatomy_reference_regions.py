"""Reference regions (liver sphere, aortic cylinder, parotid, spleen) on the analytic phantom."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pet_anatomy_phantom import AORTA_R, AORTA_XY, LABEL, LESION, TISSUES, world_of_voxels
from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.pet.reference_regions import (
    PetCtAnatomy,
    blood_pool_reference,
    distance_inside_mm,
    find_reference_regions,
    liver_reference,
    parotid_reference,
    region_statistics,
    spleen_reference,
)

SUV = {v[0]: v[2] for v in TISSUES.values()}


def _crop(phantom, k0: int, k1: int) -> tuple[Image, Image]:
    """CT and PET slices k0..k1-1 (both grids have 4 mm slices)."""
    out = []
    for img in (phantom.ct, phantom.pet):
        origin = (img.origin[0], img.origin[1], img.origin[2] + k0 * img.spacing[2])
        out.append(Image(img.array[k0:k1].copy(), img.spacing, origin, units=img.units,
                         frame_of_reference_uid=img.frame_of_reference_uid))
    return out[0], out[1]


@pytest.fixture(scope="module")
def regions(phantom, anatomy):
    return find_reference_regions(phantom.pet, anatomy=anatomy)


def test_liver_sphere_inside_liver_away_from_lesion_with_correct_stats(phantom, regions):
    liver = regions.liver
    assert liver.found, liver.reason
    assert liver.method.startswith("ct_pet_estimate")
    labels = phantom.pet_labels[liver.mask]
    assert np.all(labels == LABEL["liver"])
    # 3 cm sphere, voxel-centre rule on 4 mm voxels: 251 voxels (14.14 mL continuous)
    assert liver.geometry["diameter_mm"] == 30.0
    pts = world_of_voxels(phantom.pet, liver.mask)
    centre = np.asarray(liver.centre_mm)
    assert np.max(np.linalg.norm(pts - centre, axis=1)) <= 15.0 + 1e-6
    assert liver.statistics.volume_ml == pytest.approx(liver.statistics.n_voxels * 0.064)
    assert 13.0 < liver.statistics.volume_ml < 17.0
    # right lobe: patient right is -x in LPS
    assert centre[0] < 0
    # away from the SUV-20 lesion: sphere edge >= 10 mm from the lesion edge
    assert np.linalg.norm(centre - np.asarray(LESION["c"])) >= 15.0 + 10.0 + 10.0
    # statistics: the phantom liver is SUV 6 with 5 % noise
    vals = phantom.pet.array[liver.mask]
    assert liver.statistics.mean == pytest.approx(float(vals.mean()))
    assert liver.statistics.sd == pytest.approx(float(vals.std(ddof=1)))
    assert liver.statistics.max == pytest.approx(float(vals.max()))
    assert liver.statistics.mean == pytest.approx(SUV["liver"], rel=0.02)


def test_blood_pool_cylinder_inside_descending_aorta(phantom, regions):
    bp = regions.blood_pool
    assert bp.found, bp.reason
    assert np.all(phantom.pet_labels[bp.mask] == LABEL["aorta"])
    centre = np.asarray(bp.centre_mm)
    assert np.hypot(centre[0] - AORTA_XY[0], centre[1] - AORTA_XY[1]) <= 4.0  # snapped to PET voxel
    assert bp.geometry["aorta_radius_mm"] == pytest.approx(AORTA_R, abs=2.5)
    pts = world_of_voxels(phantom.pet, bp.mask)
    assert np.max(np.hypot(pts[:, 0] - centre[0], pts[:, 1] - centre[1])) <= 5.0 + 1e-6
    assert np.ptp(pts[:, 2]) <= 20.0 + 1e-6
    assert bp.statistics.mean == pytest.approx(SUV["aorta"], rel=0.05)


def test_spleen_and_parotid(phantom, regions):
    sp = regions.spleen
    assert sp.found, sp.reason
    assert np.all(phantom.pet_labels[sp.mask] == LABEL["spleen"])
    assert sp.statistics.mean == pytest.approx(SUV["spleen"], rel=0.03)
    par = regions.parotid
    assert par.found, par.reason
    assert np.all(phantom.pet_labels[par.mask] == LABEL["parotid"])
    assert par.geometry["glands"] == 2
    assert SUV["parotid"] * 0.7 < par.statistics.mean <= SUV["parotid"] * 1.1


def test_results_are_json_serialisable_without_masks(regions):
    data = json.loads(regions.model_dump_json())
    assert data["liver"]["found"] is True
    assert "mask" not in data["liver"]
    assert data["liver"]["statistics"]["units"] == "SUVbw"


def test_user_mask_path_puts_sphere_at_deepest_point(phantom):
    liver_truth = phantom.pet_labels == LABEL["liver"]
    reg = liver_reference(phantom.pet, organ_masks={"liver": liver_truth}, exclude_outliers=False)
    assert reg.found and reg.method == "user_mask:deepest_point_sphere"
    dt = distance_inside_mm(liver_truth, phantom.pet)
    assert reg.geometry["depth_mm"] == pytest.approx(float(dt.max()), abs=0.01)
    assert np.all(liver_truth[reg.mask])
    assert reg.statistics.mean == pytest.approx(SUV["liver"], rel=0.02)


def test_user_aorta_and_parotid_masks(phantom):
    aorta = phantom.pet_labels == LABEL["aorta"]
    bp = blood_pool_reference(phantom.pet, organ_masks={"aorta": aorta})
    assert bp.found and np.all(aorta[bp.mask])
    par_truth = phantom.pet_labels == LABEL["parotid"]
    x = phantom.pet.index_to_world(np.array([[i, 0, 0] for i in range(phantom.pet.shape[2])]))[:, 0]
    left = par_truth & (x > 0)[None, None, :]
    right = par_truth & (x < 0)[None, None, :]
    par = parotid_reference(phantom.pet, organ_masks={"parotid_gland_left": left,
                                                      "parotid_gland_right": right})
    assert par.found and par.geometry["glands"] == 2
    assert par.statistics.mean == pytest.approx(SUV["parotid"], rel=0.1)


def test_region_too_small_for_sphere_is_not_found(phantom):
    tiny = np.zeros(phantom.pet.shape, bool)
    tiny[100:104, 30:34, 30:34] = True  # 16 mm cube: no 30 mm sphere fits
    reg = liver_reference(phantom.pet, organ_masks={"liver": tiny}, exclude_outliers=False)
    assert not reg.found and "no 30 mm sphere fits" in reg.reason
    with pytest.raises(InvalidInputError, match="could not be found"):
        reg.require()


def test_no_liver_on_ct_is_a_typed_refusal(phantom):
    ct, pet = _crop(phantom, 75, 160)  # z 300-640 mm: the liver region, cheaper
    hu = ct.array.copy()
    hu[np.isin(phantom.ct_labels[75:160], [LABEL["liver"], LABEL["liver_lesion"]])] = -90.0
    reg = liver_reference(pet, ct.with_array(hu))
    assert not reg.found
    assert "under the right lung base" in reg.reason
    with pytest.raises(InvalidInputError, match="liver reference region could not be found"):
        reg.require()


def test_without_ct_every_estimate_says_why(phantom):
    regs = find_reference_regions(phantom.pet, None)
    for r in (regs.liver, regs.blood_pool, regs.parotid, regs.spleen):
        assert not r.found and "CT" in r.reason
    assert any("no CT" in w for w in regs.provenance.warnings)


def test_head_outside_field_of_view_parotid_not_found(phantom):
    ct, pet = _crop(phantom, 75, 158)  # z 300-632 mm: below the neck
    anat = PetCtAnatomy.build(pet, ct)
    reg = parotid_reference(pet, anatomy=anat)
    assert not reg.found and "field of view" in reg.reason


def test_ct_on_other_frame_of_reference_is_refused(phantom):
    ct = phantom.ct.with_array(phantom.ct.array)
    ct.frame_of_reference_uid = "1.2.3.999"
    with pytest.raises(InvalidInputError, match="frame of reference"):
        find_reference_regions(phantom.pet, ct)


def test_ct_outside_pet_field_of_view_is_refused(phantom):
    ct = Image(phantom.ct.array, phantom.ct.spacing, (5000.0, 0.0, 0.0), units="HU",
               frame_of_reference_uid=phantom.ct.frame_of_reference_uid)
    with pytest.raises(InvalidInputError, match="do not overlap"):
        liver_reference(phantom.pet, ct)


def test_non_hu_ct_is_refused(phantom):
    with pytest.raises(InvalidInputError, match="Hounsfield"):
        liver_reference(phantom.pet, phantom.pet)


def test_region_statistics_hand_computed():
    arr = np.zeros((3, 3, 3), np.float32)
    arr[1, 1, :] = [1.0, 2.0, 6.0]
    img = Image(arr, (2.0, 2.0, 2.0), units="SUVbw")
    m = arr > 0
    st = region_statistics(img, m)
    assert (st.mean, st.max, st.min, st.n_voxels) == (3.0, 6.0, 1.0, 3)
    assert st.sd == pytest.approx(np.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + (6 - 3) ** 2) / 2))
    assert st.volume_ml == pytest.approx(3 * 0.008)
    with pytest.raises(InvalidInputError):
        region_statistics(img, np.zeros((2, 2, 2), bool))
    with pytest.raises(InvalidInputError, match="differs from the PET grid"):
        spleen_reference(img, organ_masks={"spleen": np.ones((2, 2, 2), bool)})


def test_user_liver_sphere_prefers_the_right_lobe():
    # a big "left lobe" (+x) and a smaller right lobe (-x) joined by a bridge, 4 mm voxels
    arr = np.full((40, 40, 60), 5.0, np.float32)
    img = Image(arr, (4.0, 4.0, 4.0), (-120.0, -80.0, 0.0), units="SUVbw")
    liver = np.zeros(arr.shape, bool)
    liver[5:35, 5:35, 4:16] = True  # right lobe: large but flat, 48 x 120 x 120 mm (x, y, z)
    liver[10:30, 10:30, 36:56] = True  # left lobe: smaller but deeper, 80 mm cube
    liver[17:23, 17:23, 16:36] = True  # bridge
    reg = liver_reference(img, organ_masks={"liver": liver}, exclude_outliers=False)
    assert reg.found
    kji = np.argwhere(reg.mask)
    assert np.all(kji[:, 2] < 16) and np.all(liver[reg.mask])  # inside the right lobe
    # without the preference the deepest point would be in the left lobe
    dt = distance_inside_mm(liver, img)
    assert np.unravel_index(np.argmax(dt), dt.shape)[2] >= 36


def test_noisy_pet_still_gives_clean_liver_and_spleen_spheres(phantom, anatomy):
    from dataclasses import replace

    rng = np.random.default_rng(7)
    noisy = phantom.pet.with_array(
        phantom.pet.array * (1.0 + rng.normal(0.0, 0.2, phantom.pet.shape)).astype(np.float32))
    anat = replace(anatomy, pet=noisy, _body_depth=None)
    liver = liver_reference(noisy, anatomy=anat)
    spleen = spleen_reference(noisy, anatomy=anat)
    assert liver.found and np.all(phantom.pet_labels[liver.mask] == LABEL["liver"])
    assert spleen.found and np.all(phantom.pet_labels[spleen.mask] == LABEL["spleen"])
    # 20 % voxel noise over 251 voxels: the mean is still within ~3 SE of SUV 6
    assert liver.statistics.mean == pytest.approx(SUV["liver"], rel=0.05)
    assert liver.statistics.sd == pytest.approx(0.2 * SUV["liver"], rel=0.25)


def _segment_distance(pts: np.ndarray, a: tuple, b: tuple) -> np.ndarray:
    """Distance (mm) of points (..., 3) from the segment a-b."""
    a_, b_ = np.asarray(a, float), np.asarray(b, float)
    t = np.clip(((pts - a_) @ (b_ - a_)) / float((b_ - a_) @ (b_ - a_)), 0.0, 1.0)
    return np.linalg.norm(pts - (a_ + t[..., None] * (b_ - a_)), axis=-1)


def test_user_aorta_mask_with_iliac_arteries_uses_the_descending_thoracic_aorta():
    """An aorta mask that runs on into both iliac arteries (two components side by side below the
    bifurcation): the PERCIST cylinder must sit in the descending THORACIC aorta, where the
    ascending aorta is seen anterior of it, not in a 13 mm iliac artery where partial volume reads
    the blood low."""
    from scipy import ndimage

    sp = 4.0
    x = np.arange(-100.0, 100.0 + 1e-6, sp)
    y = np.arange(-60.0, 60.0 + 1e-6, sp)
    z = np.arange(-820.0, -340.0 + 1e-6, sp)
    Z, Y, X = np.meshgrid(z, y, x, indexing="ij")
    pts = np.stack([X, Y, Z], axis=-1)
    tubes = [((10, -30, -440), (10, -30, -372), 14.0),   # ascending aorta (anterior)
             ((10, -30, -372), (25, 30, -380), 13.0),    # arch
             ((25, 30, -380), (25, 30, -715), 12.0),     # descending aorta (posterior)
             ((25, 30, -715), (-45, 30, -800), 6.5),     # right common iliac artery
             ((25, 30, -715), (95, 30, -800), 6.5)]      # left common iliac artery
    aorta = np.zeros(Z.shape, bool)
    for a, b, r in tubes:
        aorta |= _segment_distance(pts, a, b) <= r
    blood = 2.0
    act = np.where(aorta, blood, 0.5)
    pet = Image(ndimage.gaussian_filter(act, 6.0 / 2.3548 / sp), (sp, sp, sp), (x[0], y[0], z[0]))
    bp = blood_pool_reference(pet, organ_masks={"aorta": aorta})
    assert bp.found and np.all(aorta[bp.mask])
    cx, cy, cz = bp.centre_mm
    assert abs(cx - 25.0) <= sp and abs(cy - 30.0) <= sp
    assert -440.0 - sp <= cz <= -372.0 + sp  # the levels where the ascending aorta is seen too
    assert not bp.provenance.warnings
    assert bp.statistics.mean == pytest.approx(blood, rel=0.03)

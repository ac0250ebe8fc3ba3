"""CT body / lung / bone masks against the analytic phantom, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from pet_anatomy_phantom import LABEL
from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.pet.anatomy import bone_mask, body_mask, ct_masks, fill_holes_per_slice, lung_mask


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


@pytest.fixture(scope="module")
def masks(anatomy):
    return anatomy.masks


def test_body_mask_matches_truth_and_contains_lungs(phantom, masks):
    truth = phantom.ct_labels > 0
    assert dice(masks.body, truth) > 0.99
    # the lungs and the bowel gas (air inside the patient) belong to the body
    assert masks.body[phantom.ct_labels == LABEL["lung"]].all()
    assert masks.body[phantom.ct_labels == LABEL["bowel_gas"]].all()


def test_lung_mask_matches_truth_and_excludes_bowel_gas(phantom, masks):
    truth = phantom.ct_labels == LABEL["lung"]
    assert dice(masks.lungs, truth) > 0.97
    assert not masks.lungs[phantom.ct_labels == LABEL["bowel_gas"]].any()
    assert not masks.lungs[phantom.ct_labels == 0].any()  # outside air is not lung


def test_bone_mask_includes_marrow_and_nothing_soft(phantom, masks):
    spine = np.isin(phantom.ct_labels, [LABEL["cortex"], LABEL["marrow"]])
    assert dice(masks.bone, spine) > 0.97
    # the 150 HU marrow is below the 200 HU threshold: it is there only through hole filling
    assert masks.bone[phantom.ct_labels == LABEL["marrow"]].mean() > 0.97
    soft = np.isin(phantom.ct_labels, [LABEL["liver"], LABEL["kidney"], LABEL["aorta"]])
    assert not masks.bone[soft].any()


def test_functions_agree_with_ct_masks(phantom, masks):
    np.testing.assert_array_equal(lung_mask(phantom.ct, masks.body), masks.lungs)
    np.testing.assert_array_equal(bone_mask(phantom.ct, masks.body), masks.bone)
    imgs = masks.as_images()
    assert imgs["bone"].units == "label" and imgs["bone"].same_grid(phantom.ct)


def test_fill_holes_per_slice_respects_max_hole_size():
    m = np.zeros((1, 20, 20), bool)
    m[0, 2:18, 2:18] = True
    m[0, 4:6, 4:6] = False  # 4-voxel hole
    m[0, 8:15, 8:15] = False  # 49-voxel hole
    out = fill_holes_per_slice(m, max_hole_voxels=10)
    assert out[0, 4:6, 4:6].all() and not out[0, 8:15, 8:15].any()
    assert fill_holes_per_slice(m)[0, 8:15, 8:15].all()


def test_refuses_non_hu_image(phantom):
    pet_like = phantom.ct.with_array(phantom.ct.array, units="SUVbw")
    with pytest.raises(InvalidInputError, match="Hounsfield"):
        body_mask(pet_like)
    with pytest.raises(InvalidInputError):
        ct_masks(pet_like)


def test_refuses_unrescaled_stored_values():
    raw = Image(np.full((4, 8, 8), 1024.0, np.float32), (1.0, 1.0, 1.0), units="HU")
    with pytest.raises(InvalidInputError, match="RescaleIntercept|stored pixel"):
        body_mask(raw)


def test_lungs_open_to_outside_air_use_the_parenchyma_fallback(phantom):
    # cut the chest wall on both sides so that both lungs touch the outside air
    x = phantom.ct.index_to_world(np.array([[i, 0, 0] for i in range(phantom.ct.shape[2])], float))[:, 0]
    z = phantom.ct.index_to_world(np.array([[0, 0, k] for k in range(phantom.ct.shape[0])], float))[:, 2]
    hu = phantom.ct.array.copy()
    cut = ((z > 470) & (z < 600))[:, None, None] & (np.abs(x) > 128)[None, None, :]
    hu[cut & (phantom.ct_labels != LABEL["lung"])[...]] = -1000.0
    ct = phantom.ct.with_array(hu)
    warnings: list[str] = []
    lungs = lung_mask(ct, body_mask(ct), warnings=warnings)
    truth = phantom.ct_labels == LABEL["lung"]
    assert dice(lungs, truth) > 0.95
    assert not lungs[phantom.ct_labels == 0].any()
    assert warnings and "convex hull" in warnings[0]

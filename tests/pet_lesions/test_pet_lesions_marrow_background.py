"""Bone lesions judged against the marrow, not the cortex (``bone_background: marrow``).

Phantom: a bone column on 4 mm voxels, marrow core (SUV 1.5, voxel SD 0.25, 250 HU) inside a
cortical ring (SUV 0.2, 1000 HU) in soft tissue (SUV 0.6). A 4-SD marrow noise voxel and a
2x2x2-voxel bone lesion at SUV 6 lie in the marrow. The noise voxel's z against the marrow is
4 by construction; against every bone-mask voxel the statistic depends on how much cortex the
shell holds (z 40 with a thick ring, 2.8 with a wide marrow core), which is what this guards against.
"""

from __future__ import annotations

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.pet.anatomy import MARROW_MAX_HU
from theranostix.pet.pipeline import bone_background_mask
from theranostix.pet.profiles import load_profile, profile_from_dict
from theranostix.pet.reference_regions import PetCtAnatomy
from theranostix.pet.segmentation import (
    HOST_BACKGROUND_MIN_VOXELS,
    host_background,
    lesion_local_significance,
)

SD = 0.25


def _column(n_marrow: int, ring: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    w = n_marrow + 2 * ring
    shape = (40, w + 8, w + 8)
    bone = np.zeros(shape, bool)
    bone[:, 4:4 + w, 4:4 + w] = True
    marrow = np.zeros(shape, bool)
    marrow[:, 4 + ring:4 + ring + n_marrow, 4 + ring:4 + ring + n_marrow] = True
    cortex = bone & ~marrow
    arr = np.full(shape, 0.6) + 0.1 * rng.standard_normal(shape)
    arr[cortex] = 0.2 + 0.03 * rng.standard_normal(int(cortex.sum()))
    arr[marrow] = 1.5 + SD * rng.standard_normal(int(marrow.sum()))
    hu = np.where(cortex, 1000.0, np.where(marrow, 250.0, 40.0))
    c = 4 + ring + n_marrow // 2
    lab = np.zeros(shape, np.int32)
    arr[10, c, c] = 1.5 + 4.0 * SD
    lab[10, c, c] = 1  # marrow noise
    arr[28:30, c - 1:c + 1, c - 1:c + 1] = 6.0
    lab[28:30, c - 1:c + 1, c - 1:c + 1] = 2  # bone lesion
    return Image(arr, (4.0,) * 3, units="SUVbw"), lab, bone, cortex, hu


@pytest.mark.parametrize(("n_marrow", "ring"), [(5, 3), (7, 3), (3, 3)])
def test_marrow_shell_separates_noise_from_a_lesion_whatever_the_cortex_fraction(n_marrow, ring):
    img, lab, bone, cortex, _ = _column(n_marrow, ring)
    z_bone = lesion_local_significance(img, lab, tissue_mask=bone)
    z_marrow = lesion_local_significance(img, lab, tissue_mask=bone, background_mask=~cortex)
    assert z_marrow[1] < 5.0 < 3 * 5.0 < z_marrow[2]
    # with every bone-mask voxel the rule fails one way or the other: the noise voxel passes
    # (cortex-dominated shell: tiny spread) or the lesion barely does (two-tissue spread)
    assert z_bone[1] >= 5.0 or z_bone[2] < 6.0


def test_background_mask_leaving_too_few_voxels_falls_back_and_wrong_shape_is_refused():
    img, lab, bone, cortex, _ = _column(5, 3)
    z_bone = lesion_local_significance(img, lab, tissue_mask=bone)
    nothing = np.zeros(img.shape, bool)
    assert lesion_local_significance(img, lab, tissue_mask=bone, background_mask=nothing) == z_bone
    with pytest.raises(InvalidInputError, match="background mask"):
        lesion_local_significance(img, lab, tissue_mask=bone, background_mask=nothing[:3])


def test_host_background_from_marrow_voxels_only():
    rng = np.random.default_rng(1)
    vals = np.where(np.arange(10)[None, None, :] < 5, 0.2, 1.5) + SD * rng.standard_normal((10, 10, 10))
    host = np.ones(vals.shape, np.int32)  # all bone
    near = np.ones(vals.shape, bool)
    marrow = np.broadcast_to(np.arange(10)[None, None, :] >= 5, vals.shape)
    bg_all, floor_all, _ = host_background(vals, host, (5, 5, 7), near, 0.6)
    bg_m, floor_m, src = host_background(vals, host, (5, 5, 7), near, 0.6, marrow)
    v = vals[marrow]
    med = np.median(v)
    assert src == "host_organ"
    assert bg_m == pytest.approx(max(np.percentile(v, 25.0), 0.6))
    assert floor_m == pytest.approx(med + 2.0 * 1.4826 * np.median(np.abs(v - med)))
    assert bg_m > bg_all  # the cortex no longer pulls the lesion's background down
    # fewer than HOST_BACKGROUND_MIN_VOXELS marrow voxels: all host voxels, as without the mask
    few = np.zeros(vals.shape, bool)
    few.flat[: HOST_BACKGROUND_MIN_VOXELS - 1] = True
    assert host_background(vals, host, (5, 5, 7), near, 0.6, few) == (bg_all, floor_all, "host_organ")


def _anatomy(img: Image, bone: np.ndarray | None, hu: np.ndarray | None) -> PetCtAnatomy:
    return PetCtAnatomy(pet=img, ct=None, masks=None, hu=hu, body=None, lungs=None, bone=bone,
                        provenance=Provenance())


def test_pipeline_mask_excludes_cortical_bone_only_for_marrow_profiles():
    img, _, bone, cortex, hu = _column(5, 3)
    prov = Provenance()
    psma = load_profile("psma-adaptive")
    assert psma.bone_background == "marrow"
    m = bone_background_mask(_anatomy(img, bone, hu), psma, prov)
    assert m is not None and np.array_equal(~m, bone & (hu >= MARROW_MAX_HU))
    assert np.array_equal(~m, cortex)
    assert "marrow" in prov.parameters["bone_background"]
    assert load_profile("fdg-percist-adaptive").bone_background == "bone"
    assert bone_background_mask(_anatomy(img, bone, hu), load_profile("fdg-percist-adaptive"),
                                Provenance()) is None
    assert bone_background_mask(_anatomy(img, None, None), psma, Provenance()) is None  # no CT


def test_profile_refuses_an_unknown_bone_background():
    with pytest.raises(InvalidInputError, match=r"(?s)profile 'x'.*bone_background"):
        profile_from_dict("x", {"threshold": {"kind": "fixed_suv", "suv": 3.0},
                                "bone_background": "spongy"})

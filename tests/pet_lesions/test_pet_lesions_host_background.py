"""Adaptive contour of a lesion inside an organ with uptake of its own (host-organ background).

Phantom: a 17 mL "gland" at SUV 2.5 in fat (SUV 0.3) holding a 14 mm primary at SUV 7, blurred by
a 5 mm FWHM PSF on 4 mm voxels, with correlated noise (white noise smoothed by 1 voxel, voxel SD
0.45 in the gland). The analytic truth is the voxelised lesion sphere.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.pet.profiles import AdaptiveRefinement
from theranostix.pet.segmentation import (
    HOST_BACKGROUND_QUANTILE,
    host_background,
    refine_adaptive,
)

VOX = 4.0


def _sphere(shape, centre_kji, radius_mm):
    k, j, i = np.indices(shape, dtype=float)
    c = np.asarray(centre_kji, float)
    return ((k - c[0]) ** 2 + (j - c[1]) ** 2 + (i - c[2]) ** 2) * VOX**2 <= radius_mm**2


def _phantom(seed: int):
    shape = (32, 32, 32)
    gland = _sphere(shape, (16, 16, 16), 16.0)
    lesion = _sphere(shape, (16, 16, 17.5), 7.0)
    act = np.full(shape, 0.3)
    act[gland] = 2.5
    act[lesion] = 7.0
    blurred = ndi.gaussian_filter(act, 5.0 / 2.3548 / VOX)
    rng = np.random.default_rng(seed)
    noise = ndi.gaussian_filter(rng.standard_normal(shape), 1.0)
    noise *= 0.45 / noise.std()
    img = Image(blurred + noise * np.sqrt(np.maximum(blurred, 0.3) / 2.5), (VOX,) * 3, units="SUVbw")
    return img, gland, lesion


def _dice(a, b):
    return 2.0 * (a & b).sum() / (a.sum() + b.sum())


@pytest.mark.parametrize("seed", [1, 4, 8])
def test_primary_in_a_gland_is_contoured_against_the_gland_not_the_fat(seed):
    img, gland, lesion = _phantom(seed)
    lab, _ = ndi.label(img.array >= 3.0, structure=ndi.generate_binary_structure(3, 2))
    seed_mask = lab == lab[16, 16, 17]  # the SUV >= 3 component holding the lesion, as segment_lesions
    r = AdaptiveRefinement(calibration="sphere", psf_fwhm_mm=5.0)
    host = gland.astype(np.int32)
    without = refine_adaptive(img, seed_mask, r)
    with_host = refine_adaptive(img, seed_mask, r, host_labels=host)
    n_true = int(lesion.sum())
    # the failure this guards against: against the fat, b + f (peak - b) is below the gland level
    assert without.sum() > 1.5 * n_true
    assert 0.5 * n_true <= with_host.sum() <= 1.6 * n_true
    assert _dice(with_host, lesion) >= 0.8
    assert _dice(with_host, lesion) > _dice(without, lesion) + 0.15


def test_host_background_uses_the_organ_quantile_and_a_noise_floor():
    rng = np.random.default_rng(0)
    vals = rng.normal(2.0, 0.5, (10, 10, 10))
    host = np.zeros(vals.shape, np.int32)
    host[:, :, :5] = 3
    near = np.ones(vals.shape, bool)
    bg, floor, src = host_background(vals, host, (5, 5, 2), near, 0.3)
    v = vals[host == 3]
    assert src == "host_organ"
    assert bg == pytest.approx(np.percentile(v, HOST_BACKGROUND_QUANTILE))
    med = np.median(v)
    assert floor == pytest.approx(med + 2.0 * 1.4826 * np.median(np.abs(v - med)))
    # peak outside any organ, or no host map: the shell median, no floor
    assert host_background(vals, host, (5, 5, 7), near, 0.3) == (0.3, None, "shell")
    assert host_background(vals, None, (5, 5, 2), near, 0.3) == (0.3, None, "shell")
    # the shell background wins when it is higher than the organ's quantile
    assert host_background(vals, host, (5, 5, 2), near, 9.0)[0] == 9.0


def test_host_labels_of_the_wrong_shape_are_refused():
    img, gland, lesion = _phantom(1)
    with pytest.raises(InvalidInputError, match="host label map"):
        refine_adaptive(img, lesion, AdaptiveRefinement(), host_labels=np.zeros((3, 3, 3), np.int32))


def test_significance_inside_a_host_organ_uses_the_organs_own_noise():
    """A noise focus of a gland (SUV 3.5 in a gland at 2.5 +- 0.3) stands far out of the fat
    around it (SUV 0.3 +- 0.03) but not out of the gland; a primary at SUV 6 does."""
    from theranostix.pet.segmentation import lesion_local_significance

    rng = np.random.default_rng(5)
    shape = (30, 30, 30)
    gland = _sphere(shape, (15, 15, 15), 24.0)
    arr = 0.3 + 0.03 * rng.standard_normal(shape)
    arr[gland] = 2.5 + 0.3 * rng.standard_normal(int(gland.sum()))
    labels = np.zeros(shape, np.int32)
    labels[10:12, 15, 15] = 1  # noise focus
    labels[19:21, 15:17, 15] = 2  # primary
    arr[labels == 1] = 3.5
    arr[labels == 2] = 6.0
    img = Image(arr, (VOX,) * 3, units="SUVbw")
    shell_only = lesion_local_significance(img, labels, shell_inner_mm=4.0, shell_width_mm=24.0)
    host = lesion_local_significance(img, labels, shell_inner_mm=4.0, shell_width_mm=24.0,
                                     host_labels=gland.astype(np.int32) * 7)
    assert shell_only[1] > 5 and shell_only[2] > 5  # against the fat both look significant
    assert host[1] < 5 < host[2]
    assert host[1] == pytest.approx((3.5 - 2.5) / 0.3, rel=0.2)
    with pytest.raises(InvalidInputError, match="host label map"):
        lesion_local_significance(img, labels, host_labels=np.zeros((2, 2, 2), np.int32))


def test_a_noise_region_filling_much_of_a_gland_is_judged_against_the_gland():
    """A 19-voxel noise region (SUV 3.3) in a 257-voxel gland at 2.5 +- 0.3 leaves fewer than 30
    interior gland voxels beyond the 2.1-voxel gap: the gap shrinks (1.5 voxels) and the region is
    still judged against the gland (z ~ 3), not against the fat around it (z ~ 90)."""
    from theranostix.pet.segmentation import (
        HOST_SIGNIFICANCE_GAP_VOXELS,
        HOST_SIGNIFICANCE_MIN_GAP_VOXELS,
        STRUCTURE_18,
        lesion_local_significance,
    )

    rng = np.random.default_rng(5)
    shape = (30, 30, 30)
    gland = _sphere(shape, (15, 15, 15), 16.0)
    arr = 0.3 + 0.03 * rng.standard_normal(shape)
    arr[gland] = 2.5 + 0.3 * rng.standard_normal(int(gland.sum()))
    region = _sphere(shape, (15, 15, 13), 6.0) & gland
    arr[region] = 3.3 + 0.1 * rng.standard_normal(int(region.sum()))
    img = Image(arr, (VOX,) * 3, units="SUVbw")
    labels = region.astype(np.int32)
    # the set-up: too few voxels beyond the full gap, enough beyond the reduced one
    dist = ndi.distance_transform_edt(~region, sampling=(VOX,) * 3)
    inner = ndi.binary_erosion(gland, STRUCTURE_18)
    assert (inner & (dist > HOST_SIGNIFICANCE_GAP_VOXELS * VOX)).sum() < 30
    assert (inner & (dist > HOST_SIGNIFICANCE_MIN_GAP_VOXELS * VOX)).sum() >= 30
    z_host = lesion_local_significance(img, labels, host_labels=gland.astype(np.int32) * 7)[1]
    z_shell = lesion_local_significance(img, labels)[1]
    assert z_host < 5 < z_shell
    assert z_host == pytest.approx((3.3 - 2.5) / 0.3, rel=0.35)


def test_a_scan_without_lesions_round_trips_through_json():
    """Burden of an empty lesion table: NaN SUVs are written as JSON null and read back as NaN
    (a complete responder's follow-up analysis folder must be readable by `respond`)."""
    from theranostix.pet.lesions import WholeBodyBurden
    from theranostix.pet.metrics import lesion_table

    img = Image(np.ones((5, 5, 5), np.float32), (4.0,) * 3, units="SUVbw")
    table = lesion_table(img, np.zeros((5, 5, 5), np.int32))
    assert table.lesions == [] and np.isnan(table.burden.suv_max_hottest)
    back = WholeBodyBurden.model_validate_json(table.burden.model_dump_json())
    assert back.n_lesions == 0 and np.isnan(back.suv_mean_whole_body) and np.isnan(back.suv_peak_hottest)

"""Sphere-calibrated adaptive threshold (Dice) and the spill-over (no own peak) false-positive rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.pet.profiles import AdaptiveRefinement
from theranostix.pet.segmentation import (
    blurred_sphere_profile,
    lesion_local_significance,
    lesions_without_own_peak,
    refine_adaptive,
    sphere_edge_fraction,
)

SIGMA5 = 5.0 / 2.3548200450309493


def test_profile_centre_matches_simulation_reference_table():
    # SIMULATION.md §6.3, RC_centre at 5 mm FWHM for D = 4, 6, 8, 10, 13 mm
    for d, rc in ((4, 0.171), (6, 0.427), (8, 0.686), (10, 0.864), (13, 0.975)):
        assert float(blurred_sphere_profile(0.0, d / 2, SIGMA5)) == pytest.approx(rc, abs=1.5e-3)


def test_profile_edge_matches_numerical_blur():
    h = 0.5  # mm grid
    g = (np.arange(81) - 40) * h
    zz, yy, xx = np.meshgrid(g, g, g, indexing="ij")
    R = 6.0
    ball = (xx**2 + yy**2 + zz**2 <= R * R).astype(float)
    b = ndimage.gaussian_filter(ball, SIGMA5 / h)
    k = int(round(R / h))
    assert float(blurred_sphere_profile(R, R, SIGMA5)) == pytest.approx(b[40, 40, 40 + k], abs=0.03)
    assert float(blurred_sphere_profile(0.0, R, SIGMA5)) == pytest.approx(b[40, 40, 40], abs=0.03)


def test_edge_fraction_limits_and_errors():
    assert sphere_edge_fraction(200.0, 5.0) == pytest.approx(0.5, abs=0.01)  # flat edge: half
    f10 = sphere_edge_fraction(10.0, 5.0, (4.0, 4.0, 4.0))
    assert 0.36 < f10 < 0.42  # well under the customary 50 %
    with pytest.raises(InvalidInputError):
        sphere_edge_fraction(0.0, 5.0)


def _phantom(d_mm: float, centre_off=(0.3, -0.7, 0.5), contrast=9.0):
    """Uniform sphere on a 1-mm grid, blurred by the 5-mm PSF, box-averaged to 4-mm voxels."""
    n = 4 * 20
    g = np.arange(n) + 0.5 - n / 2
    zz, yy, xx = np.meshgrid(g, g, g, indexing="ij")
    c = np.asarray(centre_off)
    fine = ((xx - c[0]) ** 2 + (yy - c[1]) ** 2 + (zz - c[2]) ** 2 <= (d_mm / 2) ** 2).astype(float)
    fine = 1.0 + contrast * ndimage.gaussian_filter(fine, SIGMA5)
    coarse = fine.reshape(20, 4, 20, 4, 20, 4).mean(axis=(1, 3, 5))
    gc = (np.arange(20) + 0.5 - 10) * 4.0
    zc, yc, xc = np.meshgrid(gc, gc, gc, indexing="ij")
    truth = (xc - c[0]) ** 2 + (yc - c[1]) ** 2 + (zc - c[2]) ** 2 <= (d_mm / 2) ** 2
    return Image(coarse.astype(np.float32), (4.0, 4.0, 4.0), units="SUVbw"), truth


@pytest.mark.parametrize("d_mm", [12.0, 20.0])
def test_sphere_calibrated_refinement_beats_fixed_half(d_mm):
    img, truth = _phantom(d_mm)
    seed = img.array >= 3.0
    dice = {}
    for cal in ("fixed", "sphere"):
        r = AdaptiveRefinement(calibration=cal, psf_fwhm_mm=5.0, secondary_peaks=False)
        m = refine_adaptive(img, seed, r)
        dice[cal] = 2 * (m & truth).sum() / (m.sum() + truth.sum())
    assert dice["sphere"] >= 0.8
    assert dice["sphere"] >= dice["fixed"]


def test_spillover_flank_removed_real_lesions_kept():
    arr = np.ones((30, 30, 30), np.float32)
    arr[5:15, 5:15, 5:15] = 40.0  # "bladder"
    arr[22, 22, 22] = 30.0  # a focal lesion far away
    arr[20:23, 5:8, 22] = 12.0  # two touching lesions: hot peak and a cooler shoulder
    arr[20:23, 8:10, 22] = 6.0
    img = Image(ndimage.gaussian_filter(arr, 1.0), (4.0, 4.0, 4.0), units="SUVbw")
    bladder = ndimage.binary_dilation(arr == 40.0, iterations=1)
    lab, _ = ndimage.label((img.array >= 3.0) & ~bladder)
    lab = lab.astype(np.int32)
    flanks = lesions_without_own_peak(img, lab)
    # every returned component touches the dilated bladder; the focal lesion is not returned
    assert flanks
    assert lab[22, 22, 22] not in flanks
    ring = ndimage.binary_dilation(bladder, iterations=1)
    for lid in flanks:
        assert (ring & (lab == lid)).any()
    # the cooler shoulder as its own label next to its hot neighbour is kept
    lab2 = lab.copy()
    hot = lab2 == lab[21, 6, 22]
    shoulder = hot & (np.arange(30)[None, :, None] >= 8)
    lab2[shoulder] = lab2.max() + 1
    out2 = lesions_without_own_peak(img, lab2)
    assert int(lab2[21, 9, 22]) not in out2


def test_spillover_bad_input():
    img = Image(np.ones((5, 5, 5), np.float32), (4.0, 4.0, 4.0), units="SUVbw")
    with pytest.raises(InvalidInputError):
        lesions_without_own_peak(img, np.zeros((4, 4, 4), int))
    with pytest.raises(InvalidInputError):
        lesions_without_own_peak(img, np.zeros((5, 5, 5), int), window_voxels=4)


def test_local_significance_marrow_noise_vs_lesion():
    rng = np.random.default_rng(3)
    arr = np.full((24, 24, 40), 0.8, np.float32)
    bone = np.zeros(arr.shape, bool)
    bone[9:16, 9:16, :] = True  # a "vertebral column" (28 mm) of marrow at SUV 2.5
    arr[bone] = 2.5
    arr += rng.normal(0, 0.25, arr.shape).astype(np.float32)
    arr[12, 12, 30] = 2.5 + 4 * 0.25  # a 4-SD marrow noise peak (z ~ 4 < 5)
    arr[11:14, 11:14, 8:11] = 9.0  # a bone lesion
    img = Image(arr, (4.0, 4.0, 4.0), units="SUVbw")
    lab = np.zeros(arr.shape, np.int32)
    lab[12, 12, 30] = 1
    lab[11:14, 11:14, 8:11] = 2
    z = lesion_local_significance(img, lab, tissue_mask=bone)
    assert z[1] < 5.0 < z[2]
    # without the tissue class the shell mixes marrow and soft tissue: the robust SD is then the
    # spread of two tissues, not noise (z of the lesion drops)
    z_mixed = lesion_local_significance(img, lab)
    assert z_mixed[2] < 0.8 * z[2]
    with pytest.raises(InvalidInputError):
        lesion_local_significance(img, lab[:, :, :10])

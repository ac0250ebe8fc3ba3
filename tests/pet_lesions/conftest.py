"""Analytic PET phantoms for the lesion tests: uniform spheres blurred by a Gaussian PSF.

The blurred profile of a uniform ball (radius R, value 1) convolved with an isotropic Gaussian
(sigma) is analytic:

    f(r) = 1/2 [erf((R - r)/(sigma sqrt2)) + erf((R + r)/(sigma sqrt2))]
           - sigma / (r sqrt(2 pi)) [exp(-(r - R)^2 / 2 sigma^2) - exp(-(r + R)^2 / 2 sigma^2)],

with f(0) = erf(a) - sqrt(2/pi) (R/sigma) exp(-R^2/2sigma^2), a = R/(sigma sqrt2)
(SIMULATION.md §6.3). Voxel values are averages over 3x3x3 sub-voxel points.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scipy.special import erf

from theranostix.core.image import Image

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def blurred_ball_profile(r: np.ndarray, radius_mm: float, sigma_mm: float) -> np.ndarray:
    """Value at distance r (mm) of a unit ball of radius R blurred by a Gaussian (sigma)."""
    r = np.asarray(r, dtype=float)
    s2 = sigma_mm * np.sqrt(2.0)
    R = radius_mm
    rr = np.maximum(r, 1e-3)
    val = 0.5 * (erf((R - rr) / s2) + erf((R + rr) / s2)) - sigma_mm / (rr * np.sqrt(2 * np.pi)) * (
        np.exp(-((rr - R) ** 2) / (2 * sigma_mm**2)) - np.exp(-((rr + R) ** 2) / (2 * sigma_mm**2))
    )
    centre = erf(R / s2) - np.sqrt(2 / np.pi) * (R / sigma_mm) * np.exp(-(R**2) / (2 * sigma_mm**2))
    return np.where(r < 1e-3, centre, val)


def make_phantom(
    shape: tuple[int, int, int] = (40, 40, 40),
    spacing: float = 4.0,
    background_suv: float = 1.0,
    spheres: list[tuple[tuple[float, float, float], float, float]] = (),
    fwhm_mm: float = 5.0,
    noise_sd_suv: float = 0.0,
    seed: int = 0,
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Image:
    """Blurred spheres on a uniform background, 4-mm voxels, optional correlated Gaussian noise.

    ``spheres`` holds (centre (x, y, z) mm relative to voxel [0,0,0], diameter mm, SUV *above*
    background). Noise is white Gaussian smoothed with sigma = 1 voxel, rescaled to
    ``noise_sd_suv`` per voxel.
    """
    sigma = fwhm_mm / FWHM_PER_SIGMA
    off = np.array([-1 / 3, 0.0, 1 / 3]) * spacing
    arr = np.full(shape, float(background_suv))
    for (cx, cy, cz), d, suv in spheres:
        reach = d / 2.0 + 6.0 * sigma + spacing  # the profile is < 1e-8 beyond
        lo = [max(int(np.floor((c - reach) / spacing)), 0) for c in (cz, cy, cx)]
        hi = [min(int(np.ceil((c + reach) / spacing)) + 1, n) for c, n in zip((cz, cy, cx), shape)]
        k, j, i = np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi)), indexing="ij")
        acc = np.zeros(k.shape)
        for oz in off:
            for oy in off:
                for ox in off:
                    r = np.sqrt((i * spacing + ox - cx) ** 2 + (j * spacing + oy - cy) ** 2
                                + (k * spacing + oz - cz) ** 2)
                    acc += blurred_ball_profile(r, d / 2.0, sigma)
        arr[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] += suv * acc / 27.0
    if noise_sd_suv > 0:
        rng = np.random.default_rng(seed)
        n = ndimage.gaussian_filter(rng.standard_normal(shape), 1.0, mode="wrap")
        arr += noise_sd_suv * n / n.std()
    return Image(arr, (spacing,) * 3, origin=origin, units="SUVbw")


@pytest.fixture
def ball_profile():
    """The :func:`blurred_ball_profile` function."""
    return blurred_ball_profile


@pytest.fixture
def phantom():
    """The :func:`make_phantom` factory."""
    return make_phantom

"""Small analytic phantoms for the scanner tests (no twin-body code needed)."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from theranostix.core.image import Image


def rc_centre(d_mm: float, fwhm_mm: float) -> float:
    """Analytic centre recovery of a uniform sphere blurred by a Gaussian (SIMULATION.md §6.3)."""
    s = fwhm_mm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    r = d_mm / 2.0
    return float(erf(r / (s * math.sqrt(2))) - math.sqrt(2 / math.pi) * (r / s)
                 * math.exp(-r * r / (2 * s * s)))


def blurred_sphere_profile(r_mm: np.ndarray, d_mm: float, fwhm_mm: float) -> np.ndarray:
    """Value at distance r from the centre of a unit sphere blurred by a 3-D Gaussian (exact)."""
    s = fwhm_mm / (2.0 * math.sqrt(2.0 * math.log(2.0)))
    R = d_mm / 2.0
    r = np.maximum(np.asarray(r_mm, dtype=float), 1e-9)
    a = 0.5 * (erf((R - r) / (math.sqrt(2) * s)) + erf((R + r) / (math.sqrt(2) * s)))
    b = s / (r * math.sqrt(2 * math.pi)) * (np.exp(-(R - r) ** 2 / (2 * s * s))
                                            - np.exp(-(R + r) ** 2 / (2 * s * s)))
    return a - b


def rc_voxel_centred(d_mm: float, fwhm_mm: float, voxel_mm: float, n: int = 12) -> float:
    """Mean of the blurred sphere over a cube voxel centred on the sphere (Gauss-Legendre)."""
    x, w = np.polynomial.legendre.leggauss(n)
    x = x * voxel_mm / 2
    w = w / 2
    X, Y, Z = np.meshgrid(x, x, x, indexing="ij")
    W = w[:, None, None] * w[None, :, None] * w[None, None, :]
    return float((blurred_sphere_profile(np.sqrt(X**2 + Y**2 + Z**2), d_mm, fwhm_mm) * W).sum())


def sphere_phantom(d_mm: float, truth_mm: float, voxel_mm: float, margin_mm: float = 14.0,
                   value: float = 1.0, units: str = "Bq/mL") -> tuple[Image, tuple[float, float, float]]:
    """A sphere (partial-volume ramp at the edge) centred on a scanner-voxel centre.

    The truth field of view is an odd number of scanner voxels wide, so the scanner grid built by
    ``scanner_grid`` has a voxel centred exactly on the sphere.
    """
    n_out = int(math.ceil((d_mm + 2 * margin_mm) / voxel_mm)) | 1
    ratio = voxel_mm / truth_mm
    n_in = int(round(n_out * ratio))
    assert abs(n_in * truth_mm - n_out * voxel_mm) < 1e-9
    c = (n_in - 1) / 2 * truth_mm
    ax = np.arange(n_in) * truth_mm - c
    Z, Y, X = np.meshgrid(ax, ax, ax, indexing="ij")
    r = np.sqrt(X**2 + Y**2 + Z**2)
    frac = np.clip((d_mm / 2 - r) / truth_mm + 0.5, 0.0, 1.0).astype(np.float32)
    img = Image(frac * np.float32(value), (truth_mm,) * 3, origin=(-c, -c, -c), units=units)
    return img, (0.0, 0.0, 0.0)


def body_phantom(liver_suv: float = 5.0, background_suv: float = 1.0,
                 spacing_mm: float = 2.0) -> tuple[Image, np.ndarray]:
    """A 20 cm cube of SUV 1 holding a 14 cm radius "liver" ball of ``liver_suv``."""
    n = 100
    ax = (np.arange(n) - (n - 1) / 2) * spacing_mm
    Z, Y, X = np.meshgrid(ax, ax, ax, indexing="ij")
    r = np.sqrt(X**2 + Y**2 + Z**2)
    arr = np.full((n, n, n), background_suv, np.float32)
    arr[r < 70] = liver_suv
    o = -(n - 1) / 2 * spacing_mm
    return Image(arr, (spacing_mm,) * 3, origin=(o, o, o), units="SUVbw"), r


def voi_values(img: Image, centre_mm: tuple[float, float, float], radius_mm: float) -> np.ndarray:
    """Voxel values of ``img`` whose centres lie within ``radius_mm`` of ``centre_mm``."""
    k, j, i = np.indices(img.shape)
    xyz = img.index_to_world(np.stack([i, j, k], axis=-1).reshape(-1, 3)).reshape(*img.shape, 3)
    d = np.linalg.norm(xyz - np.asarray(centre_mm), axis=-1)
    return img.array[d <= radius_mm]

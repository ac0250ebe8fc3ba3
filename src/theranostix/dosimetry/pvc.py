"""Partial-volume correction of region activities: the geometric transfer matrix (GTM).

A SPECT image is modelled as the sum of uniform regions blurred by the system's point-spread
function (isotropic Gaussian of FWHM ``fwhm_mm``):

``y(x) = sum_i c_i w_i(x)``,  ``w_i = PSF * 1_{R_i}``.

Averaging over each region's own VOI ``R_j`` gives the linear system
``t_j = sum_i G_ij c_i`` with ``G_ij = mean_{x in R_j} w_i(x)`` (Rousset, Ma & Evans, J Nucl Med
1998;39:904-911), solved for the true mean concentrations ``c``. The region activity is then
``c_i x volume_i``. The regions must be disjoint and should cover every source of activity (organs,
lesions, and the remainder of the body): activity in an unlabelled structure is attributed to its
neighbours. The result is exact for piecewise-uniform activity and a Gaussian PSF, and degrades
with non-uniform uptake inside a region, PSF mismatch and mis-registration.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))


def _bbox(mask: np.ndarray, pad: np.ndarray) -> tuple[slice, ...]:
    idx = np.nonzero(mask)
    lo = np.maximum(np.array([i.min() for i in idx]) - pad, 0)
    hi = np.minimum(np.array([i.max() for i in idx]) + pad + 1, mask.shape)
    return tuple(slice(int(a), int(b)) for a, b in zip(lo, hi))


def transfer_matrix(regions: dict[str, np.ndarray], spacing_xyz: Sequence[float], fwhm_mm: float,
                    ) -> tuple[list[str], np.ndarray]:
    """The GTM ``G[i, j]`` = mean over region j of region i's blurred indicator.

    Parameters
    ----------
    regions
        Disjoint boolean masks (same shape), name -> mask.
    spacing_xyz
        Voxel size (x, y, z) in mm.
    fwhm_mm
        Isotropic Gaussian PSF FWHM in mm.
    """
    if not fwhm_mm > 0:
        raise InvalidInputError(f"PSF FWHM must be positive, got {fwhm_mm}", where="psf_fwhm_mm")
    names = list(regions)
    masks = [np.asarray(regions[n], dtype=bool) for n in names]
    shape = masks[0].shape
    total = np.zeros(shape, dtype=np.int32)
    for n, m in zip(names, masks):
        if m.shape != shape:
            raise InvalidInputError(f"region {n!r} has shape {m.shape}, expected {shape}", where="GTM regions")
        if not m.any():
            raise InvalidInputError(f"region {n!r} is empty", where="GTM regions")
        total += m
    if total.max() > 1:
        raise InvalidInputError("GTM regions overlap", where="GTM regions", fix="make the region masks disjoint.")
    sigma_kji = (fwhm_mm / FWHM_PER_SIGMA) / np.asarray(spacing_xyz, dtype=float)[::-1]
    pad = np.ceil(4.0 * sigma_kji).astype(int)
    label = np.zeros(shape, dtype=np.int32)
    for i, m in enumerate(masks, start=1):
        label[m] = i
    sizes = np.bincount(label.ravel(), minlength=len(names) + 1)[1:].astype(float)
    g = np.zeros((len(names), len(names)))
    for i, m in enumerate(masks):
        box = _bbox(m, pad)
        w = ndimage.gaussian_filter(m[box].astype(np.float32), sigma=sigma_kji, mode="constant")
        sums = np.bincount(label[box].ravel(), weights=w.ravel(), minlength=len(names) + 1)[1:]
        g[i] = sums / sizes
    return names, g


def gtm_concentrations(images: Sequence[Image], regions: dict[str, np.ndarray], fwhm_mm: float
                       ) -> tuple[list[str], np.ndarray]:
    """Partial-volume-corrected mean concentration of every region in every image.

    Returns
    -------
    (names, c) with ``c[t, i]`` the corrected concentration (image units) of region ``i`` in image ``t``.
    """
    if not images:
        raise InvalidInputError("no images", where="GTM")
    names, g = transfer_matrix(regions, images[0].spacing, fwhm_mm)
    label = np.zeros(images[0].shape, dtype=np.int32)
    for i, n in enumerate(names, start=1):
        label[np.asarray(regions[n], dtype=bool)] = i
    sizes = np.bincount(label.ravel(), minlength=len(names) + 1)[1:].astype(float)
    cond = np.linalg.cond(g)
    if not np.isfinite(cond) or cond > 1e8:
        raise InvalidInputError(f"GTM is singular (condition number {cond:.2g})", where="GTM regions",
                                fix="merge regions much smaller than the PSF with a neighbour.")
    out = np.empty((len(images), len(names)))
    for t, im in enumerate(images):
        if im.shape != label.shape:
            raise InvalidInputError("image and regions differ in shape", where=f"GTM image {t}")
        obs = np.bincount(label.ravel(), weights=im.array.astype(np.float64).ravel(), minlength=len(names) + 1)[1:]
        out[t] = np.linalg.solve(g.T, obs / sizes)
    return names, out

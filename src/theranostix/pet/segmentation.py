"""Lesion segmentation: threshold rules, percent-of-SUVmax region growing, 18-connected lesions.

Pure functions: an SUV :class:`Image` and boolean masks in, masks / result models out.
The full pipeline is :func:`segment_lesions` (profile-driven; see :mod:`theranostix.pet.profiles`):

1. threshold rule of the profile (soft tissue) and, inside the bone mask, the bone rule (qPSMA);
2. physiological-uptake voxels (``exclude_mask``) removed; optional adaptive refinement of each
   threshold lesion (``profile.refinement``, :func:`refine_adaptive`);
3. small-lesion detector (optional) adds the detections that do not touch step-2 lesions;
4. lesions = 18-connected components (face + edge neighbours; corner-only contact does not join),
   smaller than ``min_volume_ml`` dropped;
5. per-lesion metrics and site (``site_rule``) in a :class:`~theranostix.pet.lesions.LesionTable`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.core.units import LABEL
from theranostix.pet.detection import STRUCTURE_18, Detection, detect_small_lesions
from theranostix.pet.lesions import LesionTable, RegionStats, SiteAssigner
from theranostix.pet.metrics import (
    as_mask,
    lesion_table,
    require_positive_uptake,
    require_suv_image,
)
from theranostix.pet.profiles import AdaptiveRefinement, DetectionProfile, ThresholdRule


# ---------------------------------------------------------------------------- components
def label_components(mask: np.ndarray, min_voxels: int = 1) -> tuple[np.ndarray, int]:
    """Label the 18-connected components of a boolean mask (autoPET convention).

    Two voxels belong to the same component when they share a face or an edge; voxels touching
    only at a corner are separate. Components smaller than ``min_voxels`` are removed.

    Returns
    -------
    (labels, n)
        int32 label map (0 background, 1..n in scan order) and the number of components.
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 3:
        raise InvalidInputError(f"a 3-D mask is needed, got shape {m.shape}", where="label_components")
    labels, n = ndimage.label(m, structure=STRUCTURE_18)
    labels = labels.astype(np.int32)
    if min_voxels > 1 and n:
        sizes = np.bincount(labels.ravel())
        keep = sizes >= min_voxels
        keep[0] = False
        remap = np.zeros(n + 1, dtype=np.int32)
        remap[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
        labels = remap[labels]
        n = int(keep.sum())
    return labels, int(n)


# ---------------------------------------------------------------------------- thresholds
def percist_liver_threshold(
    liver_mean_suv: float, liver_sd_suv: float, factor: float = 1.5, n_sd: float = 2.0
) -> float:
    """PERCIST 1.0 measurability threshold: ``factor`` x liver mean + ``n_sd`` x liver SD.

    Wahl et al., J Nucl Med 2009;50 Suppl 1:122S (1.5 and 2; SUL, 3-cm right-lobe liver VOI).
    """
    _check_liver(liver_mean_suv, liver_sd_suv)
    return float(factor * liver_mean_suv + n_sd * liver_sd_suv)


def qpsma_liver_threshold(liver_mean_suv: float, liver_sd_suv: float, scale: float = 4.30) -> float:
    """qPSMA soft-tissue threshold ``(scale / liver mean) x (liver mean + liver SD)``.

    Gafita et al., J Nucl Med 2019;60:1277; the formula and the constant 4.30 are marked [M, verify]
    in CRITERIA.md §2, hence a parameter.
    """
    _check_liver(liver_mean_suv, liver_sd_suv)
    return float(scale / liver_mean_suv * (liver_mean_suv + liver_sd_suv))


def liver_mean_sd_threshold(liver_mean_suv: float, liver_sd_suv: float, n_sd: float = 3.0) -> float:
    """Liver mean + ``n_sd`` x SD (Hirata et al., PLoS One 2014: 3 SD, 30-mm liver VOI)."""
    _check_liver(liver_mean_suv, liver_sd_suv)
    return float(liver_mean_suv + n_sd * liver_sd_suv)


def _check_liver(mean: float, sd: float) -> None:
    if not (np.isfinite(mean) and mean > 0):
        raise InvalidInputError(
            f"liver SUVmean must be a positive number, got {mean}", where="liver reference",
            fix="measure the liver reference region (pet.reference_regions) first.",
        )
    if not (np.isfinite(sd) and sd >= 0):
        raise InvalidInputError(f"liver SD must be >= 0, got {sd}", where="liver reference")


def threshold_mask(image: Image, threshold_suv: float) -> np.ndarray:
    """Boolean mask of voxels with SUV >= ``threshold_suv``."""
    require_suv_image(image)
    if not np.isfinite(threshold_suv):
        raise InvalidInputError(f"threshold must be finite, got {threshold_suv}", where="threshold")
    return np.asarray(image.array) >= threshold_suv


def region_grow_percent_of_max(
    image: Image,
    seeds: np.ndarray | Image,
    *,
    fraction: float = 0.41,
    background_suv: float = 0.0,
    max_radius_mm: float = 60.0,
    allowed_mask: np.ndarray | Image | None = None,
) -> np.ndarray:
    """Percent-of-local-SUVmax segmentation grown from seeds.

    For every 18-connected component of ``seeds``, the local maximum ``peak`` is the highest SUV
    in the component; the lesion is the 18-connected component of
    ``SUV >= background + fraction x (peak - background)`` holding that voxel, limited to a ball of
    ``max_radius_mm`` around it. EANM FDG guideline (Boellaard et al., EJNMMI 2015;42:328): 41 %
    (or 50 %) of SUVmax, background 0 -- with ``background_suv`` > 0 the contrast-oriented variant.

    Returns
    -------
    numpy.ndarray
        Union of the grown regions (bool).
    """
    require_suv_image(image)
    if not 0 < fraction < 1:
        raise InvalidInputError(f"fraction must be in (0, 1), got {fraction}", where="fraction")
    seed = as_mask(seeds, image, "seeds")
    allowed = (
        as_mask(allowed_mask, image, "allowed_mask") if allowed_mask is not None else None
    )
    arr = np.asarray(image.array, dtype=float)
    sp_kji = np.asarray(image.spacing[::-1])
    h = np.ceil(max_radius_mm / sp_kji).astype(int)
    out = np.zeros(arr.shape, dtype=bool)
    labels, n = label_components(seed)
    for lid, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        comp = labels[sl] == lid
        local = np.where(comp, arr[sl], -np.inf)
        pk = np.array(np.unravel_index(int(np.argmax(local)), local.shape)) + [s.start for s in sl]
        peak = float(arr[tuple(pk)])
        thr = background_suv + fraction * (peak - background_suv)
        lo = np.maximum(pk - h, 0)
        hi = np.minimum(pk + h + 1, arr.shape)
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        grid = np.meshgrid(*(np.arange(a, b) - c for a, b, c in zip(lo, hi, pk)), indexing="ij")
        ball = sum((g * s) ** 2 for g, s in zip(grid, sp_kji)) <= max_radius_mm**2
        cand = (arr[box] >= thr) & ball
        if allowed is not None:
            cand &= allowed[box]
        local_pk = tuple(pk - lo)
        if not cand[local_pk]:
            continue
        lab, _ = ndimage.label(cand, structure=STRUCTURE_18)
        out[box] |= lab == lab[local_pk]
    return out


def blurred_sphere_profile(r_mm: np.ndarray | float, radius_mm: float,
                           sigma_mm: float) -> np.ndarray:
    """Value at distance r from the centre of a uniform unit sphere blurred by an isotropic Gaussian.

    v(r) = 1/2 [erf((R - r)/(sigma sqrt2)) + erf((R + r)/(sigma sqrt2))]
           - sigma / (r sqrt(2 pi)) [exp(-(R - r)^2 / 2 sigma^2) - exp(-(R + r)^2 / 2 sigma^2)];
    at r = 0 it is the RC_centre of SIMULATION.md §6.3, erf(a) - sqrt(2/pi) (R/sigma) exp(-a^2),
    a = R / (sigma sqrt 2) (e.g. 0.864 for D = 10 mm at 5 mm FWHM).
    """
    from scipy.special import erf

    r = np.maximum(np.asarray(r_mm, dtype=float), 1e-6 * sigma_mm)
    s2 = sigma_mm * np.sqrt(2.0)
    g = np.exp(-((radius_mm - r) ** 2) / (2 * sigma_mm**2)) - np.exp(
        -((radius_mm + r) ** 2) / (2 * sigma_mm**2))
    return 0.5 * (erf((radius_mm - r) / s2) + erf((radius_mm + r) / s2)) - sigma_mm / (
        r * np.sqrt(2 * np.pi)) * g


def sphere_edge_fraction(diameter_mm: float, psf_fwhm_mm: float,
                         voxel_mm: Sequence[float] = (0.0, 0.0, 0.0)) -> float:
    """Background-corrected threshold fraction that contours a blurred sphere at its true edge.

    f(D) = v(R) / v(0) (:func:`blurred_sphere_profile`) with the effective blur
    sigma^2 = (FWHM / 2.3548)^2 + mean(voxel^2) / 12 (PSF plus the box average of a voxel).
    At 5 mm FWHM and 4 mm voxels f is 0.46 (D = 8 mm), 0.40 (10 mm), 0.38 (12-15 mm), 0.40
    (20 mm), 0.44 (30 mm) and -> 0.5 for large spheres; the usual fixed 50 % under-segments 8-20 mm lesions. Values
    are clipped to [0.3, 0.5] (diameters below ~6 mm are not contoured reliably by any fraction).
    This is the analytic form of the sphere calibrations of Jentzen et al. (J Nucl Med
    2007;48:108) and Schaefer et al. (EJNMMI 2008;35:1989).
    """
    if not (diameter_mm > 0 and psf_fwhm_mm > 0):
        raise InvalidInputError("diameter and PSF FWHM must be > 0", where="sphere_edge_fraction")
    vox = np.asarray(voxel_mm, dtype=float)
    sigma = float(np.sqrt((psf_fwhm_mm / 2.3548200450309493) ** 2 + np.mean(vox**2) / 12.0))
    R = diameter_mm / 2.0
    f = float(blurred_sphere_profile(R, R, sigma) / blurred_sphere_profile(0.0, R, sigma))
    return float(np.clip(f, 0.3, 0.5))


def lesions_without_own_peak(
    image: Image, labels: np.ndarray, *, sigma_voxels: float = 1.0, window_voxels: int = 3
) -> list[int]:
    """Labels of lesions that hold no local maximum of the smoothed image (spill-over flanks).

    The whole image (physiological organs included, no mask) is smoothed by a Gaussian of
    ``sigma_voxels``; a voxel is a local maximum when it equals the maximum over a cube of
    ``window_voxels``. A lesion without one rises towards something hotter outside it. It is
    reported unless that hotter neighbour -- the hottest smoothed voxel of its 18-neighbour ring --
    belongs to another lesion (a shoulder of a lesion cluster, kept). Typical case: the PSF tail
    of an excluded organ (bladder, kidney) crossing the SUV threshold.
    """
    require_suv_image(image)
    lab = np.asarray(labels)
    if lab.shape != image.shape:
        raise InvalidInputError(f"label map shape {lab.shape} does not match the image {image.shape}",
                                where="lesions_without_own_peak")
    if not (sigma_voxels >= 0 and window_voxels >= 3 and window_voxels % 2 == 1):
        raise InvalidInputError("sigma_voxels must be >= 0 and window_voxels odd and >= 3",
                                where="lesions_without_own_peak")
    sm = ndimage.gaussian_filter(np.asarray(image.array, np.float32), sigma_voxels)
    is_max = sm >= ndimage.maximum_filter(sm, size=window_voxels, mode="nearest")
    has_max = np.zeros(int(lab.max(initial=0)) + 1, bool)
    has_max[np.unique(lab[is_max])] = True
    out = []
    for lid, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None or has_max[lid]:
            continue
        box = tuple(slice(max(a.start - 1, 0), min(a.stop + 1, n)) for a, n in zip(sl, lab.shape))
        comp = lab[box] == lid
        ring = ndimage.binary_dilation(comp, STRUCTURE_18) & ~comp
        if ring.any():
            vals = np.where(ring, sm[box], -np.inf)
            q = np.unravel_index(int(np.argmax(vals)), vals.shape)
            if lab[box][q] > 0:
                continue
        out.append(lid)
    return out


#: Voxels of a host organ closer to the lesion than this many voxels (its PSF tail: FWHM 5 mm plus
#: one 4-mm voxel) are not part of its background in :func:`lesion_local_significance`.
HOST_SIGNIFICANCE_GAP_VOXELS: float = 2.1
#: When a lesion fills so much of its host organ that fewer than ``min_shell_voxels`` interior
#: voxels lie beyond :data:`HOST_SIGNIFICANCE_GAP_VOXELS`, the gap shrinks to this (the voxels
#: sharing a face or an edge with the lesion) before the fat/muscle shell is used: a noise region
#: filling a normal gland must be judged against the gland, not against the fat around it.
HOST_SIGNIFICANCE_MIN_GAP_VOXELS: float = 1.5


def lesion_local_significance(
    image: Image,
    labels: np.ndarray,
    *,
    tissue_mask: np.ndarray | None = None,
    exclude_mask: np.ndarray | None = None,
    shell_inner_mm: float = 10.0,
    shell_width_mm: float = 10.0,
    min_shell_voxels: int = 30,
    smooth_sigma_voxels: float = 0.0,
    host_labels: np.ndarray | None = None,
    background_mask: np.ndarray | None = None,
) -> dict[int, float]:
    """Noise-aware significance z of every lesion's SUVmax against its own tissue's background.

    For lesion L: the shell is the voxels at distance ``shell_inner_mm`` .. ``+ shell_width_mm``
    from L, in the *same tissue class* as L (with ``tissue_mask``, e.g. the CT bone mask: bone
    voxels for a lesion whose majority lies in it, non-bone voxels otherwise), not excluded, not in
    any lesion. z = (SUVmax_L - median_shell) / (1.4826 MAD_shell): the lesion's hottest voxel in
    units of the local per-voxel noise (robust SD) of its background tissue. A red-marrow noise
    peak crossing SUV 3 in a vertebra with marrow at SUV 2.5 has z ~ 3; real lesions have z >> 5.
    Lesions whose shell holds fewer than ``min_shell_voxels`` voxels get NaN. With
    ``smooth_sigma_voxels`` > 0 the statistic is computed on the Gaussian-smoothed image (max,
    median and MAD all on it): the SD is then that of the local mean, measured directly, so the
    spatial correlation of the noise is accounted for empirically.

    With ``host_labels`` (integer organ labels, 0 = none): a lesion whose hottest voxel lies in
    organ h is judged against that organ's own voxels instead of the shell -- the interior of the
    organ (eroded by one voxel, so its boundary's partial volume with the surroundings does not
    count as noise), less the voxels within :data:`HOST_SIGNIFICANCE_GAP_VOXELS` of the lesion
    (its PSF tail), within the lesion's box (shell outer bound + 1 voxel); fewer than
    ``min_shell_voxels`` such voxels: the gap shrinks to
    :data:`HOST_SIGNIFICANCE_MIN_GAP_VOXELS`, and when that still leaves too few, the shell is
    used as without a host. A noise
    peak of a normal prostate gland (PSMA SUV 2-3, voxel SD ~0.8) reaches SUV 4-5, far above the
    fat around it but only 2-4 robust SD above the gland.

    With ``background_mask`` (bool, image grid): only its voxels may be in a shell (e.g. every
    voxel but cortical bone, so that a bone lesion is judged against the marrow around it); where
    that leaves fewer than ``min_shell_voxels`` in the shell, the shell without it is used (a
    lesion in sclerotic or thin bone). Host-organ backgrounds are not affected.
    """
    require_suv_image(image)
    lab = np.asarray(labels)
    if lab.shape != image.shape:
        raise InvalidInputError(f"label map shape {lab.shape} does not match the image {image.shape}",
                                where="lesion_local_significance")
    if host_labels is not None and np.shape(host_labels) != lab.shape:
        raise InvalidInputError(f"host label map shape {np.shape(host_labels)} does not match the "
                                f"image {image.shape}", where="lesion_local_significance(host_labels)")
    if background_mask is not None:
        background_mask = as_mask(background_mask, image, "background mask (lesion_local_significance)")
    arr = np.asarray(image.array, dtype=float)
    if smooth_sigma_voxels > 0:
        arr = ndimage.gaussian_filter(arr, smooth_sigma_voxels)
    sp = np.asarray(image.spacing[::-1], dtype=float)
    r_out = shell_inner_mm + shell_width_mm
    g = np.ceil(r_out / sp).astype(int) + 1
    out: dict[int, float] = {}
    for lid, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        box = tuple(slice(max(a.start - h, 0), min(a.stop + h, n)) for a, h, n in zip(sl, g, lab.shape))
        comp = lab[box] == lid
        dist = ndimage.distance_transform_edt(~comp, sampling=sp)
        host = None
        if host_labels is not None:
            pk = np.unravel_index(int(np.argmax(np.where(comp, arr[box], -np.inf))), comp.shape)
            h = int(host_labels[box][pk])
            if h > 0:
                inner = ndimage.binary_erosion(host_labels[box] == h, STRUCTURE_18)
                for gap in (HOST_SIGNIFICANCE_GAP_VOXELS, HOST_SIGNIFICANCE_MIN_GAP_VOXELS):
                    host = inner & (dist > gap * float(sp.max()))
                    if int(host.sum()) >= min_shell_voxels:
                        break
        if host is not None and int(host.sum()) >= min_shell_voxels:
            shell = host
        else:
            shell = (dist >= shell_inner_mm) & (dist <= r_out) & (lab[box] == 0)
            if exclude_mask is not None:
                shell &= ~exclude_mask[box]
            if tissue_mask is not None:
                t = tissue_mask[box]
                shell &= t if t[comp].mean() >= 0.5 else ~t
            if background_mask is not None:
                narrowed = shell & background_mask[box]
                if int(narrowed.sum()) >= min_shell_voxels:
                    shell = narrowed
        v = arr[box][shell]
        if v.size < min_shell_voxels:
            out[lid] = float("nan")
            continue
        med = float(np.median(v))
        rsd = max(1.4826 * float(np.median(np.abs(v - med))), 1e-6)
        out[lid] = float((arr[box][comp].max() - med) / rsd)
    return out


#: Quantile (percent) of the host organ's voxels taken as a lesion's background when its hottest
#: voxel lies inside an organ mask (see :func:`host_background`). A low quantile rather than the
#: median so that a tumour filling up to ~3/4 of a gland (a prostate primary) does not raise its
#: own background; for an uninvolved organ it lies ~0.67 noise SD below the organ mean, which
#: lowers the contour threshold by only f x 0.67 SD (f ~ 0.4). Project choice, no literature value.
HOST_BACKGROUND_QUANTILE: float = 25.0
#: Fewest host-organ voxels within the shell's outer bound needed to use the host background.
HOST_BACKGROUND_MIN_VOXELS: int = 10
#: Inside a host organ the contour threshold is at least median + k x robust SD of the organ's
#: voxels (per-voxel noise plus heterogeneity): with k = 2 about 2 % of the organ's normal voxels
#: pass, well below the ~14 % at which noise voxels percolate into one 18-connected cluster, so
#: the contour stays on the lesion instead of spreading through a noisy gland. The same
#: "background + k SD" form as the liver-based thresholds (PERCIST, qPSMA). Project choice.
HOST_NOISE_K: float = 2.0


def host_background(values: np.ndarray, host_labels: np.ndarray | None, peak_index: tuple,
                    near: np.ndarray, shell_background: float | None,
                    background_mask: np.ndarray | None = None,
                    ) -> tuple[float | None, float | None, str]:
    """Background SUV of a lesion from its shell and, when it lies in an organ, from that organ.

    A lesion inside an organ with uptake of its own (a primary in the prostate gland, a metastasis
    in the liver) stands out of *that organ's* activity, not of the fat or the excluded voxels
    around it; with the shell median as background, b + f (peak - b) falls below the organ's own
    level and the contour takes in the whole organ (a 0.8 mL primary measured as the 8.7 mL gland).
    When the hottest voxel (``peak_index``) has a host label h > 0, the background is
    max(shell median, q) with q the :data:`HOST_BACKGROUND_QUANTILE` percentile of the organ-h
    voxels within ``near`` (the shell's outer bound, so a large organ gives its local level),
    whether or not they are excluded from lesions (a focal-rule liver excludes its normal voxels).
    Inside an organ the contour threshold also gets a floor, median + :data:`HOST_NOISE_K` x
    1.4826 MAD of those voxels, so that the organ's noise voxels do not join the contour.
    With ``background_mask`` only its host voxels are used (bone: the marrow, not the cortex),
    unless fewer than :data:`HOST_BACKGROUND_MIN_VOXELS` remain.

    Returns
    -------
    tuple
        (background SUV or ``None`` when neither is available, threshold floor SUV or ``None``,
        source: ``"shell"`` or ``"host_organ"``).
    """
    if host_labels is not None:
        h = int(host_labels[peak_index])
        if h > 0:
            host = (host_labels == h) & near
            if background_mask is not None:
                narrowed = host & background_mask
                if int(narrowed.sum()) >= HOST_BACKGROUND_MIN_VOXELS:
                    host = narrowed
            if int(host.sum()) >= HOST_BACKGROUND_MIN_VOXELS:
                v = values[host]
                q = float(np.percentile(v, HOST_BACKGROUND_QUANTILE))
                med = float(np.median(v))
                floor = med + HOST_NOISE_K * 1.4826 * float(np.median(np.abs(v - med)))
                bg = q if shell_background is None else max(q, shell_background)
                return bg, floor, "host_organ"
    return shell_background, None, "shell"


#: Largest factor by which the sub-voxel peak may exceed the hottest voxel's contrast.
SUBVOXEL_PEAK_MAX_GAIN: float = 1.5


def subvoxel_peak_value(values: np.ndarray, index: tuple, background: float) -> float:
    """Peak of a blurred focus between voxel centres, from its hottest voxel and the six face neighbours.

    A lesion seen through the PSF is locally Gaussian, so along each axis the logarithm of its
    contrast c = v - background is a parabola; the vertex of the parabola through the three voxels
    (-1, 0, +1) gives the contrast at the true maximum: ln c_max = ln c_0 + sum over axes of
    (ln c_+ - ln c_-)^2 / (8 (2 ln c_0 - ln c_+ - ln c_-)) (Gaussian three-point interpolation).
    The hottest *voxel* under-states the maximum of a small focus whose centre falls between voxel
    centres (up to half a voxel off on each axis): the contour at b + f (peak - b) then lies too
    low and the region is too large (noise-free 8 mm spheres, 4 mm voxels: 1.42x their volume on
    average over sampling phases, ``benchmarks/bench_small_volume.py``).
    An axis whose neighbours are not both above the background, or whose three points are not
    concave, adds nothing; the gain is at most :data:`SUBVOXEL_PEAK_MAX_GAIN`.
    """
    c0 = float(values[index]) - background
    if not c0 > 0:
        return float(values[index])
    total = 0.0
    for ax in range(values.ndim):
        if not 0 < index[ax] < values.shape[ax] - 1:
            continue
        lo, hi = list(index), list(index)
        lo[ax] -= 1
        hi[ax] += 1
        cm, cp = float(values[tuple(lo)]) - background, float(values[tuple(hi)]) - background
        if cm <= 0 or cp <= 0:
            continue
        l0, lm, lp = np.log(c0), np.log(cm), np.log(cp)
        curv = 2.0 * l0 - lm - lp
        if curv <= 0:
            continue
        total += min((lp - lm) ** 2 / (8.0 * curv), np.log(SUBVOXEL_PEAK_MAX_GAIN))
    return background + c0 * float(np.exp(min(total, np.log(SUBVOXEL_PEAK_MAX_GAIN))))


#: The sub-voxel peak is used for foci whose starting (``fraction``) contour is smaller than a
#: sphere of this many PSF FWHM: for larger lesions the hottest voxel lies on the flat top and
#: already gives the maximum, and the three-point fit only adds noise
#: (``benchmarks/bench_small_volume.py``: noise-free 15 mm spheres 0.95 of their volume with it on
#: every focus, 1.02 with this gate; with noise at contrast 3, 15 / 20 mm: 0.92 / 0.87 vs 1.00 / 0.92).
SUBVOXEL_PEAK_MAX_DIAMETER_FWHM: float = 2.5


def _small_focus(sub: np.ndarray, pk: tuple, bg: float, peak: float, r: AdaptiveRefinement,
                 allowed: np.ndarray, vox_mm3: float) -> bool:
    """Is the starting contour (``fraction`` of the voxel peak) smaller than
    :data:`SUBVOXEL_PEAK_MAX_DIAMETER_FWHM` x ``psf_fwhm_mm`` (volume-equivalent diameter)?"""
    cand = (sub >= bg + r.fraction * (peak - bg)) & allowed
    if not cand[pk]:
        return False
    lab, _ = ndimage.label(cand, structure=STRUCTURE_18)
    d_eq = (6.0 * float((lab == lab[pk]).sum()) * vox_mm3 / np.pi) ** (1.0 / 3.0)
    return d_eq < SUBVOXEL_PEAK_MAX_DIAMETER_FWHM * r.psf_fwhm_mm


#: Diameter bracket (mm) searched by the self-consistent sphere calibration.
CONSISTENT_DIAMETER_RANGE_MM: tuple[float, float] = (1.0, 200.0)
#: Bisection steps of the self-consistent sphere calibration (the bracket shrinks 2^-n in log D).
CONSISTENT_BISECTION_STEPS: int = 24


def subvoxel_volume_ml(values: np.ndarray, region: np.ndarray, threshold: float,
                       spacing_kji: np.ndarray, gradient_magnitude: np.ndarray | None = None) -> float:
    """Volume (mL) inside the iso-surface ``values == threshold`` around ``region``, to sub-voxel precision.

    Every voxel of ``region`` and of its one-voxel (18-connected) rim contributes the fraction of
    it that lies above the threshold when the image is locally linear,
    clip(0.5 + (v - threshold) / (|grad v| s), 0, 1), with s the voxel's mean edge (mm) and the
    gradient from central differences (SUV/mm). Unlike the voxel count it changes continuously
    with the threshold, so that a calibration can solve for the threshold at which the contour's
    volume equals the calibrating sphere's. ``gradient_magnitude`` (|grad v| of ``values``, SUV/mm,
    :func:`_gradient_magnitude`) may be passed when the same image is measured at many thresholds.
    """
    sp = np.asarray(spacing_kji, dtype=float)
    near = ndimage.binary_dilation(region, STRUCTURE_18)
    if gradient_magnitude is None:
        gradient_magnitude = _gradient_magnitude(values, sp)
    g = gradient_magnitude[near]
    s = float(np.prod(sp)) ** (1.0 / 3.0)
    w = np.clip(0.5 + (values[near] - threshold) / np.maximum(g * s, 1e-9), 0.0, 1.0)
    w[~region[near] & (w > 0.5)] = 0.5  # a rim voxel below the threshold is at most half inside
    w[region[near] & (w < 0.5)] = 0.5   # a region voxel (>= threshold) is at least half inside
    return float(w.sum() * np.prod(sp) / 1000.0)


def _gradient_magnitude(values: np.ndarray, spacing_kji: np.ndarray) -> np.ndarray:
    """|grad v| from central differences (value units per mm)."""
    return np.sqrt(sum(g**2 for g in np.gradient(values, *np.asarray(spacing_kji, dtype=float))))


def _consistent_sphere_region(sub: np.ndarray, pk: tuple, peak: float, bg: float, floor: float,
                              allowed: np.ndarray, r: AdaptiveRefinement,
                              spacing_xyz: Sequence[float]) -> tuple[np.ndarray | None, float]:
    """Self-consistent sphere calibration: the diameter D at which the contour at
    b + f(D) (peak - b) holds exactly the volume of a D sphere (``calibration="sphere_consistent"``;
    ``peak``: the hottest voxel's value or its sub-voxel estimate).

    The fixed-point iteration of ``"sphere"`` (D_{k+1} from the region of f(D_k)) is unstable
    below ~12 mm at 5 mm FWHM: f falls with D there (0.46 at 8 mm, 0.38 at 12 mm), so an
    over-sized first region lowers the fraction, which grows the region further, and the
    quantised voxel count jumps by whole voxel shells. Noise-free 8 mm spheres on 4 mm voxels were
    measured 1.42x their volume (mean over sampling phases). Here
    h(D) = V_subvoxel(b + f(D)(peak - b)) - pi D^3 / 6 is solved by bisection in log D
    (:data:`CONSISTENT_DIAMETER_RANGE_MM`); the region is the 18-connected component holding the
    peak at that threshold, capped one voxel beyond the starting ``fraction`` contour (as
    ``"sphere"``).

    Returns
    -------
    tuple
        (region or ``None`` when the peak voxel is not in the starting contour, the fraction used).
    """
    sp = np.asarray(spacing_xyz, dtype=float)[::-1]

    def region_at(frac: float, cap: np.ndarray | None) -> tuple[np.ndarray | None, float]:
        thr = max(bg + frac * (peak - bg), floor)
        cand = (sub >= thr) & allowed
        if cap is not None:
            cand &= cap
        if not cand[pk]:
            return None, thr
        lab, _ = ndimage.label(cand, structure=STRUCTURE_18)
        return lab == lab[pk], thr

    start, _ = region_at(r.fraction, None)
    if start is None:
        return None, r.fraction
    cap = ndimage.binary_dilation(start, STRUCTURE_18)
    grad = _gradient_magnitude(sub, sp)  # the same image at every threshold of the bisection

    def h(d: float) -> tuple[float, np.ndarray | None, float]:
        f = sphere_edge_fraction(d, r.psf_fwhm_mm, spacing_xyz)
        reg, thr = region_at(f, cap)
        if reg is None:
            return -np.inf, None, f
        return subvoxel_volume_ml(sub, reg, thr, sp, grad) - np.pi / 6.0 * d**3 / 1000.0, reg, f

    lo, hi = (np.log(v) for v in CONSISTENT_DIAMETER_RANGE_MM)
    h_lo, reg, f = h(float(np.exp(lo)))
    if h_lo <= 0:  # even the smallest sphere's contour holds less than that sphere
        return reg, f
    for _ in range(CONSISTENT_BISECTION_STEPS):
        mid = 0.5 * (lo + hi)
        if h(float(np.exp(mid)))[0] > 0:
            lo = mid
        else:
            hi = mid
    _, reg, f = h(float(np.exp(0.5 * (lo + hi))))
    return reg, f


def refine_adaptive(
    image: Image,
    mask: np.ndarray | Image,
    refinement: AdaptiveRefinement | None = None,
    *,
    allowed_mask: np.ndarray | Image | None = None,
    host_labels: np.ndarray | None = None,
    host_background_mask: np.ndarray | None = None,
) -> np.ndarray:
    """Re-segment each 18-connected component of ``mask`` at b + f x (peak - b).

    b is the median SUV in a shell (distance ``shell_inner_mm`` .. ``+ shell_width_mm`` from the
    component, allowed voxels only), peak the component's SUVmax. When ``host_labels`` (integer
    organ labels on the image grid, 0 = none) gives the peak voxel an organ, b is raised to that
    organ's own level (:func:`host_background`). The new region is the 18-connected component of
    ``SUV >= threshold`` (allowed voxels) holding the peak voxel, limited to the shell's outer
    bound. Components with neither an allowed shell voxel nor a host organ are kept unchanged.
    ``host_background_mask``: the host voxels that may give that level (see
    :func:`host_background`).

    Returns
    -------
    numpy.ndarray
        Union of the refined regions (bool).
    """
    require_suv_image(image)
    r = refinement or AdaptiveRefinement()
    m = as_mask(mask, image, "mask")
    allowed = (
        as_mask(allowed_mask, image, "allowed_mask") if allowed_mask is not None
        else np.ones(image.shape, bool)
    )
    arr = np.asarray(image.array, dtype=float)
    sp_kji = np.asarray(image.spacing[::-1])
    r_out = r.shell_inner_mm + r.shell_width_mm
    vox_mm3 = float(np.prod(sp_kji))
    margin = np.ceil(r_out / sp_kji).astype(int) + 1
    if host_labels is not None and np.shape(host_labels) != image.shape:
        raise InvalidInputError(f"host label map shape {np.shape(host_labels)} does not match the "
                                f"image {image.shape}", where="refine_adaptive(host_labels)")
    if host_background_mask is not None:
        host_background_mask = as_mask(host_background_mask, image, "host background mask (refine_adaptive)")
    out = np.zeros(image.shape, dtype=bool)
    labels, _ = label_components(m)
    for lid, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        lo = [max(s.start - g, 0) for s, g in zip(sl, margin)]
        hi = [min(s.stop + g, n) for s, g, n in zip(sl, margin, image.shape)]
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        comp = labels[box] == lid
        dist = ndimage.distance_transform_edt(~comp, sampling=sp_kji)
        shell = (dist >= r.shell_inner_mm) & (dist <= r_out) & allowed[box]
        sub = arr[box]
        pk = np.unravel_index(int(np.argmax(np.where(comp, sub, -np.inf))), comp.shape)
        bg, floor, _src = host_background(
            sub, None if host_labels is None else host_labels[box], pk, dist <= r_out,
            float(np.median(sub[shell])) if shell.any() else None,
            None if host_background_mask is None else host_background_mask[box])
        if bg is None:
            out[box] |= comp
            continue
        peak = float(sub[pk])
        floor = -np.inf if floor is None else min(floor, peak)
        if r.subvoxel_peak and _small_focus(sub, pk, bg, peak, r, allowed[box] & (dist <= r_out), vox_mm3):
            peak = subvoxel_peak_value(sub, pk, bg)
        frac = r.fraction
        region = None
        cap = None
        if r.calibration == "sphere_consistent":
            region, frac = _consistent_sphere_region(sub, pk, peak, bg, floor, allowed[box] & (dist <= r_out),
                                                     r, image.spacing)
        n_passes = {"sphere_consistent": 0, "sphere": r.max_iterations}.get(r.calibration, 1)
        for _ in range(n_passes):
            thr = max(bg + frac * (peak - bg), floor)
            cand = (sub >= thr) & allowed[box] & (dist <= r_out)
            if not cand[pk]:
                break
            lab, _ = ndimage.label(cand, structure=STRUCTURE_18)
            region = lab == lab[pk]
            if r.calibration != "sphere":
                break
            if cap is None:  # the calibrated contour may move at most one voxel out of the
                cap = ndimage.binary_dilation(region, STRUCTURE_18)  # starting one: no merging
            else:
                region &= cap
                lab, _ = ndimage.label(region, structure=STRUCTURE_18)
                region = lab == lab[pk]
            d_eq = (6.0 * region.sum() * vox_mm3 / np.pi) ** (1.0 / 3.0)
            new = sphere_edge_fraction(d_eq, r.psf_fwhm_mm, image.spacing)
            if abs(new - frac) < 0.005:
                break
            frac = new
        if region is None:
            out[box] |= comp
            continue
        out[box] |= region
        if not r.secondary_peaks:
            continue
        covered = region.copy()
        local_max = (sub == ndimage.maximum_filter(sub, size=r.peak_window_voxels)) & comp & ~covered
        order = np.argwhere(local_max)
        order = order[np.argsort(-sub[local_max])][: r.max_peaks]
        for q in map(tuple, order):
            if covered[q]:
                continue
            pq = float(sub[q])
            thr_q = max(bg + frac * (pq - bg), min(floor, pq))
            cand_q = (sub >= thr_q) & allowed[box] & (dist <= r_out) & ~covered
            if not cand_q[q]:
                continue
            lab_q, _ = ndimage.label(cand_q, structure=STRUCTURE_18)
            reg_q = lab_q == lab_q[q]
            out[box] |= reg_q
            covered |= reg_q
    return out


# ---------------------------------------------------------------------------- pipeline
class LesionSegmentation(BaseModel):
    """Result of :func:`segment_lesions`: the lesion table plus the label map (not serialised).

    Attributes
    ----------
    table
        Per-lesion metrics and whole-body burden.
    labels
        Label map (``Image``, units ``"label"``; 0 background, lesion ids as in ``table``).
    detections
        Small-lesion detector output (all accepted detections, including those inside threshold
        lesions).
    thresholds_suv
        The numeric thresholds used (``"soft_tissue"``, ``"bone"``).
    profile
        The profile used.
    provenance
        Parameters and warnings (fallbacks) of the run.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    table: LesionTable
    labels: Image = Field(exclude=True, repr=False)
    detections: list[Detection] = Field(default_factory=list)
    thresholds_suv: dict[str, float] = Field(default_factory=dict)
    profile: DetectionProfile
    provenance: Provenance = Field(default_factory=Provenance)


def _rule_mask(
    image: Image, rule: ThresholdRule, liver: RegionStats | None, where: str, prov: Provenance,
    allowed: np.ndarray,
) -> tuple[np.ndarray, float | None]:
    arr = np.asarray(image.array)
    if rule.needs_liver and liver is None:
        raise InvalidInputError(
            f"the {rule.kind} rule needs liver reference statistics", where=where,
            fix="pass liver_stats (theranostix.pet.reference_regions / metrics.region_statistics).",
        )
    if rule.kind == "none":
        return np.zeros(arr.shape, bool), None
    if rule.kind == "fixed_suv":
        thr = float(rule.suv)  # type: ignore[arg-type]
    elif rule.kind == "percist_liver":
        thr = percist_liver_threshold(liver.mean, liver.sd, rule.liver_factor, rule.n_sd)  # type: ignore[union-attr]
    elif rule.kind == "qpsma_liver":
        thr = qpsma_liver_threshold(liver.mean, liver.sd, rule.qpsma_scale)  # type: ignore[union-attr]
    elif rule.kind == "liver_mean_sd":
        thr = liver_mean_sd_threshold(liver.mean, liver.sd, rule.n_sd)  # type: ignore[union-attr]
    else:  # percent_of_max
        seeds = (arr >= float(rule.seed_suv)) & allowed  # type: ignore[arg-type]
        grown = region_grow_percent_of_max(
            image, seeds, fraction=rule.fraction, background_suv=rule.background_suv,
            max_radius_mm=rule.max_radius_mm, allowed_mask=allowed,
        )
        return grown, float(rule.seed_suv)  # type: ignore[arg-type]
    return (arr >= thr) & allowed, thr


def segment_lesions(
    image: Image,
    profile: DetectionProfile,
    *,
    exclude_mask: np.ndarray | Image | None = None,
    bone_mask: np.ndarray | Image | None = None,
    body_mask: np.ndarray | Image | None = None,
    liver_stats: RegionStats | None = None,
    site_rule: SiteAssigner | None = None,
    peak_rule: str = "partial",
    host_labels: np.ndarray | None = None,
    host_background_mask: np.ndarray | None = None,
) -> LesionSegmentation:
    """Segment and measure lesions according to a profile.

    Parameters
    ----------
    image
        PET in SUV units.
    profile
        Detection profile (``theranostix.pet.profiles.load_profile(name)``).
    exclude_mask
        Physiological uptake (kidneys, bladder, salivary glands, ...): never part of a lesion.
    bone_mask
        CT bone mask; used when the profile has a ``bone_threshold`` (qPSMA). Without it, the
        soft-tissue rule is applied everywhere and a warning is recorded in provenance.
    body_mask
        Optional body mask: lesions are searched inside it only.
    liver_stats
        Liver reference statistics (mean, SD) for liver-based rules.
    site_rule
        Site assignment rule (see :mod:`theranostix.pet.lesions`).
    peak_rule
        SUVpeak voxel rule (``"partial"`` or ``"centre"``).
    host_labels
        Optional integer organ labels on the image grid (0 = none): organs with uptake of their
        own that lesions can sit in (prostate gland, liver, ...). The adaptive contour of a lesion
        whose hottest voxel lies in one uses that organ's level as background
        (:func:`host_background`).
    host_background_mask
        Optional bool mask: the host voxels that may give that level (bone host: the marrow,
        i.e. every voxel but cortical bone).

    Raises
    ------
    InvalidInputError
        Non-SUV or empty image, masks off the grid, a liver-based rule without ``liver_stats``.
    """
    require_suv_image(image)
    require_positive_uptake(image)
    prov = Provenance(parameters={"profile": profile.model_dump(), "suv_peak_rule": peak_rule})
    excl = as_mask(exclude_mask, image, "exclude_mask") if exclude_mask is not None else None
    body = as_mask(body_mask, image, "body_mask") if body_mask is not None else None
    bone = as_mask(bone_mask, image, "bone_mask") if bone_mask is not None else None
    allowed = np.ones(image.shape, dtype=bool)
    if excl is not None:
        allowed &= ~excl
    if body is not None:
        allowed &= body
    if excl is None:
        prov.warn("no physiological-uptake mask given: physiological uptake is not excluded")

    thresholds: dict[str, float] = {}
    if profile.bone_threshold is not None and bone is None:
        prov.warn(
            f"profile {profile.name!r} has a bone rule but no bone mask was given: the soft-tissue "
            "rule was applied everywhere"
        )
    if profile.bone_threshold is not None and bone is not None:
        soft, t_soft = _rule_mask(image, profile.threshold, liver_stats, "threshold", prov,
                                  allowed & ~bone)
        hard, t_bone = _rule_mask(image, profile.bone_threshold, liver_stats, "bone_threshold",
                                  prov, allowed & bone)
        mask = soft | hard
        if t_bone is not None:
            thresholds["bone"] = t_bone
    else:
        mask, t_soft = _rule_mask(image, profile.threshold, liver_stats, "threshold", prov, allowed)
    if t_soft is not None:
        thresholds["soft_tissue"] = t_soft
    mask &= allowed
    if profile.refinement is not None and mask.any():
        mask = refine_adaptive(image, mask, profile.refinement, allowed_mask=allowed,
                               host_labels=host_labels, host_background_mask=host_background_mask)

    detections: list[Detection] = []
    det_voxels = np.zeros(image.shape, dtype=bool)
    det_score = np.zeros(image.shape, dtype=float)
    if profile.detector.enabled:
        restricted = excl is not None or body is not None
        det = detect_small_lesions(
            image, profile.detector, exclude_mask=~allowed if restricted else None
        )
        prov = prov.merged(det.provenance)
        detections = det.detections
        thr_labels, _ = label_components(mask)
        boxes = ndimage.find_objects(det.labels)
        for num, d in enumerate(det.detections, start=1):
            sl = boxes[num - 1]
            if sl is None:
                continue
            grown = tuple(
                slice(max(s.start - 1, 0), min(s.stop + 1, n)) for s, n in zip(sl, image.shape)
            )
            region = det.labels[grown] == num
            near = ndimage.binary_dilation(region, STRUCTURE_18)
            if thr_labels[grown][near].max(initial=0) > 0:
                continue  # touches a threshold lesion: already found
            det_voxels[grown] |= region
            det_score[grown][region] = np.maximum(det_score[grown][region], d.cnr)
        mask = mask | (det_voxels & allowed)

    min_voxels = max(1, int(np.ceil(profile.min_volume_ml / image.voxel_volume_ml - 1e-9)))
    labels, n = label_components(mask)
    if min_voxels > 1:
        labels2, n2 = label_components(mask, min_voxels=min_voxels)
        if n2 < n:
            prov.parameters["n_components_below_min_volume"] = n - n2
        labels, n = labels2, n2

    methods: dict[int, str] = {}
    scores: dict[int, float] = {}
    for lid, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        comp = labels[sl] == lid
        from_det = det_voxels[sl][comp]
        if from_det.any():
            scores[lid] = float(det_score[sl][comp].max())
            methods[lid] = "detector" if from_det.all() else "threshold+detector"
        else:
            methods[lid] = "threshold"
    prov.parameters["thresholds_suv"] = thresholds
    table = lesion_table(
        image, labels, site_rule=site_rule, methods=methods, detection_scores=scores,
        peak_rule=peak_rule, provenance=prov,
    )
    label_img = image.with_array(labels, units=LABEL)
    return LesionSegmentation(
        table=table, labels=label_img, detections=detections, thresholds_suv=thresholds,
        profile=profile, provenance=prov,
    )


def lesions_from_labels(
    image: Image,
    labels: np.ndarray | Image,
    *,
    site_rule: SiteAssigner | None = None,
    relabel_18: bool = False,
    peak_rule: str = "partial",
) -> LesionTable:
    """Measure lesions given as a user label map (e.g. a reader's segmentation).

    With ``relabel_18`` the non-zero voxels are relabelled as 18-connected components;
    otherwise each label value is one lesion.
    """
    require_suv_image(image)
    if relabel_18:
        arr = labels.array if isinstance(labels, Image) else np.asarray(labels)
        if arr.shape != image.shape:
            raise InvalidInputError(
                f"label map shape {arr.shape} does not match the image shape {image.shape}",
                where="labels",
            )
        labels, _ = label_components(arr != 0)
    return lesion_table(image, labels, site_rule=site_rule, peak_rule=peak_rule)


__all__: Sequence[str] = (
    "LesionSegmentation",
    "label_components",
    "lesion_local_significance",
    "lesions_from_labels",
    "lesions_without_own_peak",
    "liver_mean_sd_threshold",
    "percist_liver_threshold",
    "qpsma_liver_threshold",
    "blurred_sphere_profile",
    "refine_adaptive",
    "host_background",
    "sphere_edge_fraction",
    "region_grow_percent_of_max",
    "segment_lesions",
    "threshold_mask",
)

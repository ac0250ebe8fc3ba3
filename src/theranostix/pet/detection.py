"""Small-lesion detector for partial-volume-reduced lesions (matched filter vs local background).

Design (formulas and rationale in ``docs/pet-lesions.md``)
----------------------------------------------------------
A lesion much smaller than the PSF appears in the image as a blob close to a 3-D Gaussian of
sigma_b = sqrt(sigma_psf^2 + R^2/5) (R = lesion radius; R^2/5 is the per-axis variance of a
uniform ball). Its peak value is strongly reduced (SIMULATION.md §6.3: RC ~0.17 for a 4-mm
sphere at 5 mm FWHM), so a fixed SUV threshold misses it, but its *integrated* excess is kept.

0. Noise model, from the image itself: Gaussian noise autocorrelation rho(l) = rho1^(l^2) per
   axis, rho1 from the ratio of the robust variances of lag-2 and lag-1 differences
   (:func:`noise_lag1_correlation`), i.e. white noise smoothed by a Gaussian of sigma_n
   (:func:`noise_correlation_sigma_mm`); variance proportional to the local activity
   (Poisson counting, :data:`POISSON_NOISE_MODEL`).
1. Matched filter: for each tuned diameter D the image is correlated with a Gaussian whose
   variance is sigma_b^2 - 2 sigma_n^2 per axis (pre-whitened matched filter of a Gaussian blob
   in Gaussian-correlated noise, :data:`PREWHITEN_MATCHED_FILTER`), floored at 0 = no smoothing.
   With reconstructed PET noise correlated over about one 4-mm voxel (sigma_n ~ 4 mm) the image
   itself is the best filter of this family for 2-8 mm lesions; further smoothing lowers the
   lesion's peak faster than the (already correlated) noise (measured on the hot-node twins:
   SNR ratio to the Rose CNR 1.26 unfiltered, 0.93 with the plain sigma_b filter).
2. Candidates: local maxima (3x3x3) of the filtered image F with a fast contrast-to-noise ratio
   (mean of F in a *cubic* shell; noise from the RMS of normalised lag-1 differences there, from
   summed-volume tables) >= ``prefilter_factor`` x k.
3. Robust score: for each candidate, the local background b is the median of F over a
   *spherical shell* (inner radius r_in, width w) around it, ignoring excluded (physiological)
   voxels and voxels outside the image, and at least (unfiltered scale,
   :data:`LOCAL_BACKGROUND_FLOOR`) the median m_c of the image in the 5x5x5 cube around the
   candidate. Noise (default :data:`DEFAULT_NOISE_ESTIMATOR` = ``"lag_differences"``):
   s = 1.4826 MAD over the shell of the lag-1 differences of F along the three axes, each
   divided by sqrt(2 (1 - rho1_axis)) (so that it estimates the per-voxel SD of F) and by
   sqrt(m) (m = local mean), times sqrt(m_c): the noise at the candidate if there were no
   lesion. Differences are insensitive to smooth structure (organ walls, vessels, bowel) in the
   shell, which inflated the former estimator (``"shell_quantiles"``: max(1.4826 MAD,
   q84.13 - median) of F in the shell). CNR = (F(c) - b) / s. Candidates on the outer
   ``border_voxels`` layers are ignored.
4. Acceptance: CNR >= k (default 5, the Rose criterion constant; Rose, J Opt Soc Am 1948;38:196),
   contrast >= ``min_contrast_suv``; non-maximum suppression keeps the best candidate within one
   PSF FWHM; the best scale wins per location.
5. Segmentation of each detection on the raw image: threshold b_raw + f x (peak - b_raw) (f = 0.5
   by default; b_raw = median of the raw image in the same shell; peak = max of the raw image in
   the 3x3x3 neighbourhood), the 18-connected component holding the peak, within r_in.
   Segments larger than ``max_segment_ml`` are rejected as extended structures.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.pet.metrics import as_mask, require_positive_uptake, require_suv_image
from theranostix.pet.profiles import DetectorParams

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))  #: 2.3548
MAD_TO_SD = 1.4826  #: SD of a normal distribution per median absolute deviation
UPPER_QUANTILE = 84.134  #: percentile one SD above the median of a normal distribution
STRUCTURE_18 = ndimage.generate_binary_structure(3, 2)  #: face + edge neighbours (18-connectivity)

#: Noise estimators of the robust score (see the module docstring, step 3):
#: ``"lag_differences"`` -- local SD of the filtered image from the MAD of its lag-1 differences in
#: the shell, scaled by the noise correlation estimated from the whole image (insensitive to
#: smooth structure: organ walls, vessels, bowel in the shell do not inflate it);
#: ``"shell_quantiles"`` -- the former max(1.4826 MAD, q84.13 - median) of the filtered values in
#: the shell (inflated by any structure in the shell; kept for comparison).
NOISE_ESTIMATORS: tuple[str, ...] = ("lag_differences", "shell_quantiles")
#: Default noise estimator (measured on the hot-node twins, docs/pet-lesions.md section 4).
DEFAULT_NOISE_ESTIMATOR: str = "lag_differences"
#: Pre-whitened matched filter (default on): in noise with Gaussian autocorrelation of sigma_n
#: (per axis, mm) the optimal linear detector of a Gaussian blob of sigma_b is the Gaussian of
#: variance sigma_b^2 - 2 sigma_n^2 (w = C^-1 s, Gaussian kernels; e.g. Barrett & Myers,
#: Foundations of Image Science, 2004, ch. 13), floored at 0 (no smoothing) when the noise is
#: correlated over more than the blob itself -- the case of reconstructed PET with 4-mm voxels.
#: Off: the plain (white-noise) matched filter of sigma_b.
PREWHITEN_MATCHED_FILTER: bool = True
#: Count-dependent noise (default on): PET noise variance grows about in proportion to the local
#: activity (Poisson counting statistics; the twin's model, SIMULATION.md section 6.4). The lag-1
#: differences are divided by sqrt(m) (m = local mean, Gaussian-smoothed image), their robust SD is
#: the noise per unit sqrt(SUV), and the noise at a candidate under "no lesion" is that times
#: sqrt(m_c), m_c = median of the image in a cube of LOCAL_MEDIAN_HALF_WIDTH_VOXELS around it
#: (a 2-3 mm node covers a few of its 125 voxels). Without it, noise measured in a shell of cold fat
#: understates the noise of a candidate in warmer tissue (bone marrow: 2-3 false detections per
#: twin measured) and overstates it for a node in fat next to warmer structures.
POISSON_NOISE_MODEL: bool = True
#: Background floor (default on, with the count-dependent noise): the background of a candidate is
#: max(shell median, m_c). A 2-3 mm node covers at most ~7 of the 125 voxels of the m_c cube, so
#: m_c is the level of the tissue the candidate lies in; the shell median (10-30 mm away) alone
#: understates the background of a candidate inside a thin warm structure surrounded by fat
#: (ribs, pelvic cortex: 5 false detections in the hot-node twins 503-504, CNR 5.3-5.6).
LOCAL_BACKGROUND_FLOOR: bool = True
#: Gaussian sigma (voxels) of the local mean m that normalises the differences.
LOCAL_MEAN_SIGMA_VOXELS: float = 1.5
#: Half-width (voxels) of the cube whose median is the candidate's background level m_c.
LOCAL_MEDIAN_HALF_WIDTH_VOXELS: int = 2
#: Floor of m and m_c (SUV): cold regions (lung, air inside the body) do not get a vanishing noise.
MIN_LOCAL_MEAN_SUV: float = 0.1
#: Cap of the lag-1 noise correlation coefficient estimated from the image (numerical safety:
#: 1 - rho1 is a divisor).
MAX_LAG1_CORRELATION: float = 0.98


def _axis_pairs(a: np.ndarray, valid: np.ndarray, axis: int, lag: int) -> np.ndarray:
    """Differences a[x + lag] - a[x] along ``axis`` over pairs whose two voxels are valid."""
    n = a.shape[axis]
    if n <= lag:
        return np.zeros(0, dtype=a.dtype)
    hi = [slice(None)] * 3
    lo = [slice(None)] * 3
    hi[axis] = slice(lag, None)
    lo[axis] = slice(0, n - lag)
    ok = valid[tuple(hi)] & valid[tuple(lo)]
    return (a[tuple(hi)] - a[tuple(lo)])[ok]


def _robust_sd(x: np.ndarray) -> float:
    if x.size == 0:
        return 0.0
    med = float(np.median(x))
    return MAD_TO_SD * float(np.median(np.abs(x - med)))


def noise_lag1_correlation(arr: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """Lag-1 noise correlation rho1 per array axis (k, j, i), estimated from the image itself.

    Model: stationary noise with a Gaussian autocorrelation rho(l) = u^(l^2) along each axis
    (white noise smoothed by a Gaussian -- the usual model of post-filtered OSEM PET noise,
    SIMULATION.md section 6.4). Then Var(x[l+2] - x[l]) / Var(x[l+1] - x[l]) =
    (1 - u^4) / (1 - u) = 1 + u + u^2 + u^3 =: R, solved for u = rho1. The variances are robust
    (1.4826 x MAD) over all valid voxel pairs, so sparse structure edges do not enter; smooth
    structure raises R and therefore rho1, which makes the noise SD derived from lag-1 differences
    *larger* (conservative). R <= 1 gives white noise (rho1 = 0).

    Parameters
    ----------
    arr
        Image array (k, j, i).
    valid
        Voxels to use (all when None).

    Returns
    -------
    numpy.ndarray
        rho1 per axis, in [0, MAX_LAG1_CORRELATION].
    """
    a = np.asarray(arr, dtype=np.float32)
    v = np.ones(a.shape, bool) if valid is None else np.asarray(valid, bool)
    out = np.zeros(3)
    for ax in range(3):
        s1 = _robust_sd(_axis_pairs(a, v, ax, 1))
        s2 = _robust_sd(_axis_pairs(a, v, ax, 2))
        if s1 <= 0:
            continue
        r = (s2 / s1) ** 2
        if r <= 1.0:
            continue
        if r >= 4.0:
            out[ax] = MAX_LAG1_CORRELATION
            continue
        roots = np.roots([1.0, 1.0, 1.0, 1.0 - r])
        real = [float(x.real) for x in roots if abs(x.imag) < 1e-9 and 0.0 <= x.real <= 1.0]
        out[ax] = min(max(real) if real else 0.0, MAX_LAG1_CORRELATION)
    return out


def noise_correlation_sigma_mm(rho1: np.ndarray, spacing_kji: np.ndarray) -> np.ndarray:
    """Gaussian sigma (mm, per axis) of the noise-smoothing kernel giving lag-1 correlation rho1.

    White noise smoothed by a Gaussian of sigma_n has rho(l) = exp(-l^2 / (4 sigma_n^2)), so
    sigma_n = spacing / (2 sqrt(-ln rho1)) (0 for rho1 = 0).
    """
    r = np.clip(np.asarray(rho1, float), 0.0, MAX_LAG1_CORRELATION)
    out = np.zeros(3)
    pos = r > 0
    out[pos] = np.asarray(spacing_kji, float)[pos] / (2.0 * np.sqrt(-np.log(r[pos])))
    return out


def _normalised_differences(f: np.ndarray, valid: np.ndarray, rho1: np.ndarray) -> list[np.ndarray]:
    """Per axis: (f[x + 1] - f[x]) / sqrt(2 (1 - rho1)) at x (NaN where a voxel is invalid/outside).

    Each has the per-voxel noise SD of ``f`` as its SD for stationary noise.
    """
    out = []
    for ax in range(3):
        d = np.full(f.shape, np.nan, dtype=np.float32)
        n = f.shape[ax]
        hi = [slice(None)] * 3
        lo = [slice(None)] * 3
        hi[ax] = slice(1, n)
        lo[ax] = slice(0, n - 1)
        diff = (f[tuple(hi)] - f[tuple(lo)]) / np.float32(np.sqrt(2.0 * (1.0 - rho1[ax])))
        ok = valid[tuple(hi)] & valid[tuple(lo)]
        d[tuple(lo)] = np.where(ok, diff, np.nan)
        out.append(d)
    return out


class Detection(BaseModel):
    """One accepted small-lesion detection.

    Attributes
    ----------
    index_kji
        Voxel index of the filtered maximum, array order (k, j, i).
    position_lps_mm
        Its LPS position (mm).
    cnr
        Matched-filter contrast-to-noise ratio (robust shell statistics).
    contrast_suv
        Filtered value minus the local background b (SUV; module docstring, step 3).
    noise_sd_suv
        Noise SD of the filtered image at the candidate (SUV; module docstring, step 3).
    background_suv
        Median of the *raw* image in the shell (SUV).
    peak_suv
        Max of the raw image in the 3x3x3 neighbourhood (SUV).
    tuned_diameter_mm
        Lesion diameter of the filter scale that gave the best CNR.
    n_voxels
        Voxels of the segmented detection.
    """

    index_kji: tuple[int, int, int]
    position_lps_mm: tuple[float, float, float]
    cnr: float
    contrast_suv: float
    noise_sd_suv: float
    background_suv: float
    peak_suv: float
    tuned_diameter_mm: float
    n_voxels: int


class DetectionResult(BaseModel):
    """Detections with their segmentation (``labels``: 1..N in detection order; not serialised)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    detections: list[Detection]
    labels: np.ndarray = Field(exclude=True, repr=False)
    n_candidates_evaluated: int
    provenance: Provenance = Field(default_factory=Provenance)


def matched_filter_sigma_mm(psf_fwhm_mm: float, lesion_diameter_mm: float) -> float:
    """Sigma (mm) of the Gaussian matched to a uniform sphere of diameter D seen through the PSF.

    sigma_b^2 = (FWHM / 2.3548)^2 + (D/2)^2 / 5.
    """
    return float(np.sqrt((psf_fwhm_mm / FWHM_PER_SIGMA) ** 2 + (lesion_diameter_mm / 2.0) ** 2 / 5.0))


def _ball_offsets(spacing_kji: np.ndarray, r_in: float, r_out: float) -> np.ndarray:
    h = np.ceil(r_out / spacing_kji).astype(int)
    g = np.stack(
        np.meshgrid(*(np.arange(-a, a + 1) for a in h), indexing="ij"), axis=-1
    ).reshape(-1, 3)
    d = np.sqrt(((g * spacing_kji) ** 2).sum(axis=1))
    return g[(d >= r_in) & (d <= r_out)]


def _integral(a: np.ndarray) -> np.ndarray:
    """Summed-volume table with a leading zero plane on each axis (float64)."""
    out = np.zeros(tuple(n + 1 for n in a.shape), dtype=np.float64)
    out[1:, 1:, 1:] = a
    for ax in range(3):
        np.cumsum(out, axis=ax, out=out)
    return out


def _box_sums(table: np.ndarray, pts: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Sums over the boxes [p - h, p + h] (clipped to the array) at points ``pts`` (n, 3)."""
    shape = np.array(table.shape) - 1
    lo = np.clip(pts - h, 0, shape)
    hi = np.clip(pts + h + 1, 0, shape)
    total = np.zeros(len(pts))
    for bits in range(8):
        sel = [(hi if (bits >> ax) & 1 else lo)[:, ax] for ax in range(3)]
        sign = (-1) ** (3 - bin(bits).count("1"))
        total += sign * table[sel[0], sel[1], sel[2]]
    return total


def _box_shell_stats_at(
    f: np.ndarray, valid: np.ndarray, pts: np.ndarray, h_in: np.ndarray, h_out: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and SD of ``f`` over valid voxels of the cubic shell (half-widths h_in..h_out) at pts."""
    v = valid.astype(np.float64)
    fv = f * v
    sums = []
    for a in (v, fv, fv * f):
        t = _integral(a)
        sums.append(_box_sums(t, pts, h_out) - _box_sums(t, pts, h_in))
    cnt = np.maximum(sums[0], 1.0)
    mean = sums[1] / cnt
    var = np.maximum(sums[2] / cnt - mean**2, 0.0)
    return mean, np.sqrt(var)


def detect_small_lesions(
    image: Image,
    params: DetectorParams | None = None,
    *,
    exclude_mask: np.ndarray | Image | None = None,
    search_mask: np.ndarray | Image | None = None,
    noise_estimator: str | None = None,
    prewhiten: bool | None = None,
) -> DetectionResult:
    """Detect small, partial-volume-reduced lesions by a PSF-matched filter against local background.

    Parameters
    ----------
    image
        PET in SUV units.
    params
        Detector settings (:class:`~theranostix.pet.profiles.DetectorParams`; defaults when None).
    exclude_mask
        Physiological-uptake voxels: no detection there, and they do not enter background/noise
        statistics nor the segmented detections.
    search_mask
        Voxels where detections may be centred (e.g. the body); everywhere when None.
    noise_estimator
        One of :data:`NOISE_ESTIMATORS` (None: :data:`DEFAULT_NOISE_ESTIMATOR`).
    prewhiten
        Pre-whitened matched filter (None: :data:`PREWHITEN_MATCHED_FILTER`).

    Returns
    -------
    DetectionResult
        Accepted detections sorted by decreasing CNR and their label map (1..N).

    Raises
    ------
    InvalidInputError
        Non-SUV image, masks off the grid, unknown noise estimator.
    """
    require_suv_image(image)
    estimator = DEFAULT_NOISE_ESTIMATOR if noise_estimator is None else noise_estimator
    if estimator not in NOISE_ESTIMATORS:
        raise InvalidInputError(
            f"unknown noise estimator {estimator!r}",
            where="detect_small_lesions(noise_estimator=...)",
            fix=f"use one of {', '.join(NOISE_ESTIMATORS)}",
        )
    whiten = PREWHITEN_MATCHED_FILTER if prewhiten is None else bool(prewhiten)
    require_positive_uptake(image)
    p = params or DetectorParams()
    arr = np.asarray(image.array, dtype=np.float32)
    excl = (
        as_mask(exclude_mask, image, "exclude_mask")
        if exclude_mask is not None
        else np.zeros(arr.shape, bool)
    )
    search = as_mask(search_mask, image, "search_mask") if search_mask is not None else None
    valid = ~excl
    sp_kji = np.asarray(image.spacing[::-1], dtype=float)

    sigmas = [matched_filter_sigma_mm(p.psf_fwhm_mm, d) for d in p.lesion_diameters_mm]
    r_in = p.shell_inner_mm if p.shell_inner_mm is not None else 3.0 * np.sqrt(2.0) * max(sigmas)
    r_out = r_in + p.shell_width_mm
    shell = _ball_offsets(sp_kji, r_in, r_out)
    h_in = np.ceil(r_in / sp_kji).astype(int)
    h_out = np.maximum(np.round(r_out / sp_kji).astype(int), h_in + 1)
    work = arr
    rho1 = noise_lag1_correlation(work, valid)
    root_m = None  # sqrt of the local mean, normaliser of the count-dependent noise
    if POISSON_NOISE_MODEL and estimator != "shell_quantiles":
        m = ndimage.gaussian_filter(arr, LOCAL_MEAN_SIGMA_VOXELS, mode="nearest")
        root_m = np.sqrt(np.maximum(m, MIN_LOCAL_MEAN_SUV)).astype(np.float32)
    sigma_n_mm = noise_correlation_sigma_mm(rho1, sp_kji)
    # filter kernels (sigma per axis, voxels); identical kernels are evaluated once
    kernels: list[tuple[tuple[float, float, float], float]] = []  # (sigma_vox, tuned diameter)
    for sig, d in zip(sigmas, p.lesion_diameters_mm):
        var = np.full(3, sig**2) - (2.0 * sigma_n_mm**2 if whiten else 0.0)
        sv = tuple(float(x) for x in np.round(np.sqrt(np.maximum(var, 0.0)) / sp_kji, 6))
        if sv not in [k[0] for k in kernels]:
            kernels.append((sv, float(d)))
    prov = Provenance(
        parameters={
            "detector": p.model_dump(),
            "shell_inner_mm": float(r_in),
            "shell_outer_mm": float(r_out),
            "filter_sigmas_mm": sigmas,
            "noise_estimator": estimator,
            "prewhitened": whiten,
            "poisson_noise_model": POISSON_NOISE_MODEL,
            "noise_lag1_correlation_kji": [float(x) for x in rho1],
            "noise_correlation_sigma_mm_kji": [float(x) for x in sigma_n_mm],
            "filter_kernel_sigmas_voxels_kji": [list(k[0]) for k in kernels],
        }
    )
    if len(shell) < p.min_shell_voxels:
        raise InvalidInputError(
            f"the background shell holds only {len(shell)} voxels at this voxel size",
            where="DetectorParams.shell_width_mm",
            fix="widen the shell (shell_width_mm) or lower min_shell_voxels.",
        )

    # ---- candidates over all scales: (cnr_fast, scale index, flat index)
    cand: dict[int, tuple[float, int]] = {}
    filtered: list[np.ndarray] = []
    allowed_centre = valid.copy() if search is None else (valid & search)
    b = p.border_voxels
    if b:
        for ax in range(3):
            idx: list[slice] = [slice(None)] * 3
            idx[ax] = slice(0, b)
            allowed_centre[tuple(idx)] = False
            idx[ax] = slice(max(arr.shape[ax] - b, 0), None)
            allowed_centre[tuple(idx)] = False
    diffs: list[list[np.ndarray]] = []
    for si, (sv, _) in enumerate(kernels):
        f = ndimage.gaussian_filter(work, sigma=sv, mode="nearest") if any(sv) else work
        filtered.append(f)
        if estimator != "shell_quantiles":
            rho_f = rho1 if not any(sv) else noise_lag1_correlation(f, valid)
            dl = _normalised_differences(f, valid, rho_f)
            diffs.append([d / root_m for d in dl] if root_m is not None else dl)
        peaks = (f == ndimage.maximum_filter(f, size=3, mode="nearest")) & allowed_centre
        pts = np.argwhere(peaks)
        if len(pts) == 0:
            continue
        bmean, bsd = _box_shell_stats_at(f, valid, pts, h_in, h_out)
        if estimator != "shell_quantiles":  # pooled RMS of the normalised differences
            var = np.zeros(len(pts))
            for d in diffs[si]:
                ok = ~np.isnan(d)
                _, sd_ax = _box_shell_stats_at(np.where(ok, d, 0.0), ok, pts, h_in, h_out)
                var += sd_ax**2 / 3.0
            bsd = np.sqrt(var)
            if root_m is not None:
                bsd = bsd * root_m[pts[:, 0], pts[:, 1], pts[:, 2]]
        fval = f[pts[:, 0], pts[:, 1], pts[:, 2]]
        fast = (fval - bmean) / np.maximum(bsd, p.min_noise_sd_suv)
        keep = fast >= p.prefilter_factor * p.cnr_threshold
        for flat, v in zip(np.ravel_multi_index(pts[keep].T, arr.shape), fast[keep]):
            flat = int(flat)
            if flat not in cand or cand[flat][0] < v:
                cand[flat] = (float(v), si)
    order = sorted(cand.items(), key=lambda kv: -kv[1][0])
    if len(order) > p.max_candidates:
        prov.warn(
            f"{len(order)} detector candidates; only the {p.max_candidates} with the highest fast "
            "CNR were evaluated"
        )
        order = order[: p.max_candidates]

    # ---- robust shell statistics per candidate and scale
    shape = np.array(arr.shape)
    scored: list[tuple[float, int, int, float, float]] = []  # cnr, flat, scale, contrast, noise
    for flat, (_, _) in order:
        c = np.array(np.unravel_index(flat, arr.shape))
        pts = shell + c
        inside = np.all((pts >= 0) & (pts < shape), axis=1)
        pts = pts[inside]
        pts = pts[valid[pts[:, 0], pts[:, 1], pts[:, 2]]]
        if len(pts) < p.min_shell_voxels:
            continue
        best = None
        design = None
        scale_c = 1.0
        floor_c = -np.inf
        if root_m is not None:  # background level at the candidate (robust to the lesion itself)
            hw = LOCAL_MEDIAN_HALF_WIDTH_VOXELS
            lo_c = np.maximum(c - hw, 0)
            hi_c = np.minimum(c + hw + 1, shape)
            cube = tuple(slice(a0, a1) for a0, a1 in zip(lo_c, hi_c))
            cv = arr[cube][valid[cube]]
            m_c = float(np.median(cv)) if cv.size else float(np.median(arr[cube]))
            scale_c = float(np.sqrt(max(m_c, MIN_LOCAL_MEAN_SUV)))
            floor_c = m_c if LOCAL_BACKGROUND_FLOOR else -np.inf
        if p.detrend_background:
            rel = (pts - c) * sp_kji
            design = np.column_stack([np.ones(len(pts)), rel])
        for si, f in enumerate(filtered):
            vals = f[pts[:, 0], pts[:, 1], pts[:, 2]]
            if design is not None:  # remove a linear background trend across the shell
                coef = np.linalg.lstsq(design, vals, rcond=None)[0]
                vals = vals - design[:, 1:] @ coef[1:]
            med = float(np.median(vals))
            if estimator == "lag_differences":
                dv = np.concatenate([d[pts[:, 0], pts[:, 1], pts[:, 2]] for d in diffs[si]])
                noise = max(_robust_sd(dv[~np.isnan(dv)]) * scale_c, p.min_noise_sd_suv)
            else:
                upper = float(np.percentile(vals, UPPER_QUANTILE)) - med
                noise = max(MAD_TO_SD * float(np.median(np.abs(vals - med))), upper,
                            p.min_noise_sd_suv)
            if not any(kernels[si][0]):  # background floor on the unfiltered scale only
                med = max(med, floor_c)
            contrast = float(f[tuple(c)]) - med
            cnr = contrast / noise
            if best is None or cnr > best[0]:
                best = (cnr, flat, si, contrast, noise)
        if best and best[0] >= p.cnr_threshold and best[3] >= p.min_contrast_suv:
            scored.append(best)
    scored.sort(key=lambda t: -t[0])

    # ---- non-maximum suppression (one PSF FWHM) and segmentation
    labels = np.zeros(arr.shape, dtype=np.int32)
    accepted: list[Detection] = []
    kept_pos: list[np.ndarray] = []
    ball = _ball_offsets(sp_kji, 0.0, r_in)
    n_extended = 0
    for cnr, flat, si, contrast, noise in scored:
        c = np.array(np.unravel_index(flat, arr.shape))
        pos = image.index_to_world(c[::-1])
        if any(np.linalg.norm(pos - q) < p.psf_fwhm_mm for q in kept_pos):
            continue
        if labels[tuple(c)]:
            continue
        pts = shell + c
        pts = pts[np.all((pts >= 0) & (pts < shape), axis=1)]
        pts = pts[valid[pts[:, 0], pts[:, 1], pts[:, 2]]]
        b_raw = float(np.median(arr[pts[:, 0], pts[:, 1], pts[:, 2]]))
        lo = np.maximum(c - 1, 0)
        hi = np.minimum(c + 2, shape)
        nb = arr[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        nb_valid = valid[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]]
        if not nb_valid.any():
            continue
        nb_masked = np.where(nb_valid, nb, -np.inf)
        peak_local = np.unravel_index(int(np.argmax(nb_masked)), nb.shape)
        peak_idx = lo + np.array(peak_local)
        peak = float(arr[tuple(peak_idx)])
        thr = b_raw + p.segmentation_fraction * (peak - b_raw)
        region = _grow(arr, valid & (labels == 0), peak_idx, thr, ball)
        if not region.any():
            continue
        if p.max_segment_ml is not None and region.sum() * image.voxel_volume_ml > p.max_segment_ml:
            n_extended += 1
            continue
        lid = len(accepted) + 1
        labels[region] = lid
        kept_pos.append(pos)
        accepted.append(
            Detection(
                index_kji=tuple(int(x) for x in c),
                position_lps_mm=tuple(float(x) for x in pos),
                cnr=float(cnr),
                contrast_suv=float(contrast),
                noise_sd_suv=float(noise),
                background_suv=b_raw,
                peak_suv=peak,
                tuned_diameter_mm=kernels[si][1],
                n_voxels=int(region.sum()),
            )
        )
    prov.parameters["n_rejected_extended"] = n_extended
    return DetectionResult(
        detections=accepted, labels=labels, n_candidates_evaluated=len(order), provenance=prov
    )


def _grow(
    arr: np.ndarray, allowed: np.ndarray, seed: np.ndarray, thr: float, ball: np.ndarray
) -> np.ndarray:
    """18-connected component of (arr >= thr) & allowed holding ``seed``, within the ``ball`` offsets."""
    shape = np.array(arr.shape)
    h = np.abs(ball).max(axis=0)
    lo = np.maximum(seed - h, 0)
    hi = np.minimum(seed + h + 1, shape)
    sl = tuple(slice(a, b) for a, b in zip(lo, hi))
    inball = np.zeros(hi - lo, dtype=bool)
    pts = ball + seed - lo
    ok = np.all((pts >= 0) & (pts < hi - lo), axis=1)
    inball[tuple(pts[ok].T)] = True
    inball[tuple(seed - lo)] = True
    cand = (arr[sl] >= thr) & allowed[sl] & inball
    out = np.zeros(arr.shape, dtype=bool)
    if not cand[tuple(seed - lo)]:
        return out
    lab, _ = ndimage.label(cand, structure=STRUCTURE_18)
    out[sl] = lab == lab[tuple(seed - lo)]
    return out

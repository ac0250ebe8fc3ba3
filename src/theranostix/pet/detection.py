"""Small-lesion detector for partial-volume-reduced lesions (matched filter vs local background).

Design (formulas and rationale in ``docs/pet-lesions.md``)
----------------------------------------------------------
A lesion much smaller than the PSF appears in the image as a blob close to a 3-D Gaussian of
sigma_b = sqrt(sigma_psf^2 + R^2/5) (R = lesion radius; R^2/5 is the per-axis variance of a
uniform ball). Its peak value is strongly reduced (SIMULATION.md §6.3: RC ~0.17 for a 4-mm
sphere at 5 mm FWHM), so a fixed SUV threshold misses it, but its *integrated* excess is kept.

1. Matched filter: for each tuned diameter D the image is correlated with a Gaussian of sigma_b
   (the optimal linear detector of a known Gaussian blob in white noise).
2. Candidates: local maxima (3x3x3) of the filtered image F with a fast local contrast-to-noise
   ratio (mean and SD of F in a *cubic* shell, from summed-volume tables) >= ``prefilter_factor``
   x k.
3. Robust score: for each candidate, the local background b is the median of F over a
   *spherical shell* (inner radius r_in, width w) around it, ignoring excluded (physiological)
   voxels and voxels outside the image; the noise s = max(1.4826 x MAD, q84.13 - median, floor)
   of F in the same shell (the upper-quantile term is conservative for positively skewed noise).
   CNR = (F(c) - b) / s. Candidates on the outer ``border_voxels`` layers are ignored.
   Because the noise is measured on F itself, the correlation of PET noise and the filter's
   noise reduction are both accounted for.
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
        Filtered value minus shell median (SUV).
    noise_sd_suv
        Robust SD of the filtered image in the shell (SUV).
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

    Returns
    -------
    DetectionResult
        Accepted detections sorted by decreasing CNR and their label map (1..N).

    Raises
    ------
    InvalidInputError
        Non-SUV image, masks off the grid.
    """
    require_suv_image(image)
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
    prov = Provenance(
        parameters={
            "detector": p.model_dump(),
            "shell_inner_mm": float(r_in),
            "shell_outer_mm": float(r_out),
            "filter_sigmas_mm": sigmas,
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
    for si, sig in enumerate(sigmas):
        f = ndimage.gaussian_filter(arr, sigma=sig / sp_kji, mode="nearest")
        filtered.append(f)
        peaks = (f == ndimage.maximum_filter(f, size=3, mode="nearest")) & allowed_centre
        pts = np.argwhere(peaks)
        if len(pts) == 0:
            continue
        bmean, bsd = _box_shell_stats_at(f, valid, pts, h_in, h_out)
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
        if p.detrend_background:
            rel = (pts - c) * sp_kji
            design = np.column_stack([np.ones(len(pts)), rel])
        for si, f in enumerate(filtered):
            vals = f[pts[:, 0], pts[:, 1], pts[:, 2]]
            if design is not None:  # remove a linear background trend across the shell
                coef = np.linalg.lstsq(design, vals, rcond=None)[0]
                vals = vals - design[:, 1:] @ coef[1:]
            med = float(np.median(vals))
            upper = float(np.percentile(vals, UPPER_QUANTILE)) - med
            noise = max(MAD_TO_SD * float(np.median(np.abs(vals - med))), upper, p.min_noise_sd_suv)
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
                tuned_diameter_mm=float(p.lesion_diameters_mm[si]),
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

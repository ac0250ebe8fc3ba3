"""Evaluation against truth: autoPET voxel metrics, lesion-level detection, Rose criterion.

autoPET metrics (Gatidis et al., autoPET challenge; reference script ``val_script.py`` of
github.com/lab-midas/autoPET)
----------------------------------------------------------------------------------------
* Dice = 2|P n T| / (|P| + |T|) over the foreground voxels.
* False-positive volume (FPV): total volume (mL) of the 18-connected components of the
  prediction P that do not overlap the truth T at all.
* False-negative volume (FNV): total volume (mL) of the 18-connected components of T that do not
  overlap P at all.
* Empty-mask conventions used here (documented in docs/pet-lesions.md): when T is empty, Dice is
  NaN (undefined; the challenge excludes negative cases from the Dice average), FNV = 0 and FPV is
  the whole predicted volume. When P is empty and T is not, Dice = 0, FPV = 0, FNV = |T| v.

Lesion-level detection
----------------------
A true lesion (centre c, diameter D, optional truth mask) is *detected* by a predicted lesion
when the predicted mask overlaps the true mask by >= 1 voxel, or when the distance from c to the
nearest predicted voxel centre is <= D/2 + ``tolerance_mm`` (default 5 mm, about one PSF FWHM
and more than the 3.5-mm half-diagonal of a 4-mm voxel). Many-to-one matching is allowed (one
predicted blob covering two true nodes detects both). A predicted lesion matching no true
lesion is a false positive. With a truth label map, each true lesion also gets a Dice between
its mask and the union of the predicted lesions matched to it (0 when missed), restricted to the
voxels nearer to this true lesion than to any other (Voronoi partition of the truth masks): when
two touching true lesions are found as one 18-connected blob, each is scored on its own part
of the blob instead of the whole (the blob is otherwise counted twice). ``dice_voxels`` keeps
the counts for a voxel-pooled Dice over lesions, 2 sum|P_i n T_i| / sum(|P_i| + |T_i|). Sensitivity is stratified by true diameter bins
[2, 4), [4, 6), [6, 8), [8, 10), [10, 15), [15, 20), [20, inf) mm (and "<2").

Rose criterion
--------------
Rose (J Opt Soc Am 1948;38:196): an object is detectable when its signal-to-noise ratio
k = C sqrt(N) ... exceeds about 5. We use the region form

    CNR_Rose = (mean_R(S_lesion+bg) - mean_bg) / SD(mean over R of background noise)

where R is a detection region (default: voxels where the noiseless lesion signal is >= 50 % of its
maximum), and the denominator is the SD of the *mean over R* of the noise. For a stationary noise
field of per-voxel SD s and autocorrelation rho (rho(0) = 1) it is exactly

    SD(mean_R) = (s / N_R) sqrt( sum_{i in R} sum_{j in R} rho(x_i - x_j) )

(:func:`region_mean_noise_sd`, sum evaluated by correlating the indicator of R with rho). For white
noise this is s / sqrt(N_R). For white noise smoothed by a Gaussian of sigma (voxels) -- the twin's
noise model -- rho is the normalised self-correlation of the smoothing kernel, close to
exp(-d^2 / (4 sigma^2)) (:func:`smoothed_white_noise_autocorrelation`).

The earlier shortcut n_eff = max(N_R / N_c, 1) with N_c = sum_d rho(d) = (2 sqrt(pi) sigma)^3
(44.5 voxels for sigma = 1 voxel) is only the large-region limit: since
sum_j rho(x_i - x_j) <= N_c and rho <= 1, the exact n_eff = N_R^2 / sum sum rho is always >=
both N_R / N_c and 1, and for lesion-sized regions (N_R ~ 5-50 voxels) the shortcut
under-estimated n_eff by a factor 1.5-3.5 (CNR by up to ~1.9x; measured in
tests/pet_detection/test_pet_detect_rose.py against sliding-window means of simulated noise).
:func:`rose_cnr` keeps the shortcut (documented as a conservative lower bound);
:func:`rose_cnr_of_signal` uses the exact variance.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, Field
from scipy import ndimage

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.pet.detection import STRUCTURE_18

#: Lower edges (mm) of the diameter bins used for sensitivity (issue 4).
DIAMETER_BIN_EDGES_MM: tuple[float, ...] = (2.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0)
#: Rose (1948) detectability constant.
ROSE_K = 5.0


def _binary(a: np.ndarray | Image, where: str) -> np.ndarray:
    arr = a.array if isinstance(a, Image) else np.asarray(a)
    if arr.ndim != 3:
        raise InvalidInputError(f"a 3-D mask is needed, got shape {arr.shape}", where=where)
    return arr != 0


def _pair(pred: np.ndarray | Image, truth: np.ndarray | Image) -> tuple[np.ndarray, np.ndarray]:
    p = _binary(pred, "prediction")
    t = _binary(truth, "truth")
    if p.shape != t.shape:
        raise InvalidInputError(
            f"prediction shape {p.shape} differs from truth shape {t.shape}", where="evaluation",
            fix="resample both masks onto the same grid.",
        )
    if isinstance(pred, Image) and isinstance(truth, Image) and not pred.same_grid(truth):
        raise InvalidInputError("prediction and truth are on different grids", where="evaluation")
    return p, t


# ---------------------------------------------------------------------------- autoPET
class AutoPetMetrics(BaseModel):
    """autoPET voxel metrics of one case (conventions in the module docstring)."""

    dice: float
    false_positive_volume_ml: float
    false_negative_volume_ml: float
    truth_volume_ml: float
    prediction_volume_ml: float
    truth_empty: bool


def dice_score(pred: np.ndarray | Image, truth: np.ndarray | Image) -> float:
    """Dice = 2|P n T| / (|P| + |T|); NaN when the truth is empty (autoPET convention)."""
    p, t = _pair(pred, truth)
    nt = int(t.sum())
    if nt == 0:
        return float("nan")
    return float(2.0 * np.logical_and(p, t).sum() / (int(p.sum()) + nt))


def _unmatched_volume_voxels(a: np.ndarray, b: np.ndarray) -> int:
    """Voxels of the 18-connected components of ``a`` that do not overlap ``b``."""
    lab, n = ndimage.label(a, structure=STRUCTURE_18)
    if n == 0:
        return 0
    hit = np.zeros(n + 1, dtype=bool)
    hit[np.unique(lab[a & b])] = True
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    hit[0] = True
    return int(sizes[~hit].sum())


def false_positive_volume_ml(
    pred: np.ndarray | Image, truth: np.ndarray | Image, voxel_volume_ml: float
) -> float:
    """Volume (mL) of predicted 18-connected components with no overlap with the truth."""
    p, t = _pair(pred, truth)
    _check_vv(voxel_volume_ml)
    return _unmatched_volume_voxels(p, t) * voxel_volume_ml


def false_negative_volume_ml(
    pred: np.ndarray | Image, truth: np.ndarray | Image, voxel_volume_ml: float
) -> float:
    """Volume (mL) of true 18-connected components with no overlap with the prediction."""
    p, t = _pair(pred, truth)
    _check_vv(voxel_volume_ml)
    return _unmatched_volume_voxels(t, p) * voxel_volume_ml


def _check_vv(v: float) -> None:
    if not (np.isfinite(v) and v > 0):
        raise InvalidInputError(f"voxel volume must be > 0 mL, got {v}", where="voxel_volume_ml")


def autopet_metrics(
    pred: np.ndarray | Image, truth: np.ndarray | Image, voxel_volume_ml: float | None = None
) -> AutoPetMetrics:
    """Dice, FPV and FNV (mL) of one case. ``voxel_volume_ml`` defaults to the Image's voxel size."""
    p, t = _pair(pred, truth)
    if voxel_volume_ml is None:
        ref = truth if isinstance(truth, Image) else pred if isinstance(pred, Image) else None
        if ref is None:
            raise InvalidInputError(
                "voxel_volume_ml is needed when the masks are plain arrays", where="autopet_metrics"
            )
        voxel_volume_ml = ref.voxel_volume_ml
    _check_vv(voxel_volume_ml)
    return AutoPetMetrics(
        dice=dice_score(p, t),
        false_positive_volume_ml=_unmatched_volume_voxels(p, t) * voxel_volume_ml,
        false_negative_volume_ml=_unmatched_volume_voxels(t, p) * voxel_volume_ml,
        truth_volume_ml=float(t.sum() * voxel_volume_ml),
        prediction_volume_ml=float(p.sum() * voxel_volume_ml),
        truth_empty=not bool(t.any()),
    )


# ---------------------------------------------------------------------------- lesion detection
class TrueLesion(BaseModel):
    """One true lesion (from a twin's truth or a reader).

    Attributes
    ----------
    lesion_id
        Identifier.
    centre_lps_mm
        True centre (LPS, mm).
    diameter_mm
        True diameter (mm).
    label
        Value of this lesion in the truth label map, when one is given.
    rose_cnr
        Optional Rose contrast-to-noise ratio (see :func:`rose_cnr`).
    site
        Optional anatomical site.
    """

    lesion_id: int
    centre_lps_mm: tuple[float, float, float]
    diameter_mm: float = Field(ge=0)
    label: int | None = None
    rose_cnr: float | None = None
    site: str | None = None

    @classmethod
    def from_twin(
        cls, lesion: object, *, label: int | None = None, rose_cnr: float | None = None
    ) -> "TrueLesion":
        """Build from a twin truth lesion (any object with ``lesion_id``, ``centre_mm``,
        ``diameter_mm`` and optionally ``station``/``kind``, e.g. ``theranostix.twin.truth.TrueLesion``).
        """
        try:
            site = getattr(lesion, "station", None) or getattr(lesion, "kind", None)
            return cls(
                lesion_id=int(lesion.lesion_id),  # type: ignore[attr-defined]
                centre_lps_mm=tuple(float(x) for x in lesion.centre_mm),  # type: ignore[attr-defined]
                diameter_mm=float(lesion.diameter_mm),  # type: ignore[attr-defined]
                label=label, rose_cnr=rose_cnr, site=site,
            )
        except (AttributeError, TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"cannot read a true lesion from {type(lesion).__name__}: {exc}",
                where="TrueLesion.from_twin",
            ) from None


class LesionMatch(BaseModel):
    """Outcome for one true lesion."""

    lesion_id: int
    diameter_mm: float
    detected: bool
    matched_predictions: list[int]
    distance_mm: float | None
    rose_detectable: bool | None = None
    dice: float | None = None
    #: (|P_i n T_i|, |P_i|, |T_i|) behind ``dice``, for voxel-pooled Dice over lesions.
    dice_voxels: tuple[int, int, int] | None = None


class DetectionEvaluation(BaseModel):
    """Lesion-level detection result of one patient."""

    matches: list[LesionMatch]
    n_true: int
    n_detected: int
    n_predicted: int
    false_positive_ids: list[int]
    tolerance_mm: float

    @property
    def n_false_positives(self) -> int:
        """Number of predicted lesions matching no true lesion."""
        return len(self.false_positive_ids)


def diameter_bin(d_mm: float, edges: Sequence[float] = DIAMETER_BIN_EDGES_MM) -> str:
    """Bin label of a diameter: ``"<2"``, ``"2-4"``, ..., ``"20+"`` (lower edge inclusive)."""
    if d_mm < edges[0]:
        return f"<{edges[0]:g}"
    for lo, hi in zip(edges[:-1], edges[1:]):
        if lo <= d_mm < hi:
            return f"{lo:g}-{hi:g}"
    return f"{edges[-1]:g}+"


def evaluate_detection(
    pred_labels: np.ndarray | Image,
    truth: Sequence[TrueLesion],
    image: Image,
    *,
    truth_labels: np.ndarray | Image | None = None,
    tolerance_mm: float = 5.0,
    rose_k: float = ROSE_K,
) -> DetectionEvaluation:
    """Match predicted lesions (label map) to true lesions (rule in the module docstring).

    Parameters
    ----------
    pred_labels
        Predicted label map (0 background, lesion ids > 0) on the grid of ``image``.
    truth
        True lesions with centre (LPS mm) and diameter.
    image
        Any image on the evaluation grid (gives the geometry).
    truth_labels
        Optional truth label map; ``TrueLesion.label`` selects each lesion's voxels.
    tolerance_mm
        Distance allowance beyond the true radius (mm).
    rose_k
        Threshold for ``rose_detectable`` (when the true lesion carries ``rose_cnr``).
    """
    pl = pred_labels.array if isinstance(pred_labels, Image) else np.asarray(pred_labels)
    if pl.shape != image.shape:
        raise InvalidInputError(
            f"prediction label map shape {pl.shape} differs from the image {image.shape}",
            where="pred_labels",
        )
    tl = None
    if truth_labels is not None:
        tl = truth_labels.array if isinstance(truth_labels, Image) else np.asarray(truth_labels)
        if tl.shape != image.shape:
            raise InvalidInputError(
                f"truth label map shape {tl.shape} differs from the image {image.shape}",
                where="truth_labels",
            )
    if not tolerance_mm >= 0:
        raise InvalidInputError("tolerance_mm must be >= 0", where="evaluate_detection")
    pl = np.asarray(pl).astype(np.int64)
    pred_ids = [int(v) for v in np.unique(pl) if v != 0]
    pred_pts: dict[int, np.ndarray] = {}
    for lid, sl in enumerate(ndimage.find_objects(pl), start=1):
        if sl is None:
            continue
        idx = np.argwhere(pl[sl] == lid) + [s.start for s in sl]
        pred_pts[lid] = image.index_to_world(idx[:, ::-1].astype(float))

    partition = None
    if tl is not None and len({t.label for t in truth if t.label is not None}) > 1:
        # nearest true lesion of every voxel (Voronoi partition by distance to the truth masks)
        idx = ndimage.distance_transform_edt(tl == 0, return_distances=False, return_indices=True)
        partition = tl[tuple(idx)]
    matched_pred: set[int] = set()
    matches: list[LesionMatch] = []
    for t in truth:
        hits: set[int] = set()
        if tl is not None and t.label is not None:
            under = pl[tl == t.label]
            hits |= {int(v) for v in np.unique(under) if v != 0}
        best_d = None
        c = np.asarray(t.centre_lps_mm, dtype=float)
        for lid, pts in pred_pts.items():
            d = float(np.min(np.linalg.norm(pts - c[None, :], axis=1)))
            if best_d is None or d < best_d:
                best_d = d
            if d <= t.diameter_mm / 2.0 + tolerance_mm:
                hits.add(lid)
        matched_pred |= hits
        dice = None
        n_tp = n_pred = n_truth = 0
        if tl is not None and t.label is not None:
            tm = tl == t.label
            if tm.any():
                pm = np.isin(pl, sorted(hits)) if hits else np.zeros(pl.shape, bool)
                if partition is not None:  # a neighbouring true lesion's voxels are not this one's
                    pm &= partition == t.label
                n_tp, n_pred, n_truth = int((tm & pm).sum()), int(pm.sum()), int(tm.sum())
                dice = float(2.0 * n_tp / (n_truth + n_pred))
        matches.append(
            LesionMatch(
                lesion_id=t.lesion_id, diameter_mm=t.diameter_mm, detected=bool(hits),
                matched_predictions=sorted(hits), distance_mm=best_d,
                rose_detectable=None if t.rose_cnr is None else bool(t.rose_cnr >= rose_k),
                dice=dice, dice_voxels=(n_tp, n_pred, n_truth) if dice is not None else None,
            )
        )
    fps = [lid for lid in pred_ids if lid not in matched_pred]
    return DetectionEvaluation(
        matches=matches, n_true=len(truth), n_detected=sum(m.detected for m in matches),
        n_predicted=len(pred_ids), false_positive_ids=fps, tolerance_mm=tolerance_mm,
    )


class BinSensitivity(BaseModel):
    """Sensitivity in one diameter bin (and mean per-lesion Dice where a truth mask was given)."""

    n_true: int
    n_detected: int
    sensitivity: float
    n_rose_detectable: int
    n_rose_detectable_detected: int
    sensitivity_rose_detectable: float
    mean_dice: float | None = None


class DetectionSummary(BaseModel):
    """Detection performance over patients, by true diameter."""

    n_patients: int
    false_positives_per_patient: float
    by_diameter: dict[str, BinSensitivity]
    overall_sensitivity: float


def summarize_detection(
    evaluations: Sequence[DetectionEvaluation],
    edges: Sequence[float] = DIAMETER_BIN_EDGES_MM,
) -> DetectionSummary:
    """Sensitivity per diameter bin (also among Rose-detectable lesions) and FP per patient."""
    if not evaluations:
        raise InvalidInputError("no patient evaluations given", where="summarize_detection")
    bins: dict[str, list[int]] = {}
    dices: dict[str, list[float]] = {}
    for ev in evaluations:
        for m in ev.matches:
            key = diameter_bin(m.diameter_mm, edges)
            b = bins.setdefault(key, [0, 0, 0, 0])
            b[0] += 1
            b[1] += int(m.detected)
            if m.rose_detectable:
                b[2] += 1
                b[3] += int(m.detected)
            if m.dice is not None:
                dices.setdefault(key, []).append(m.dice)
    nan = float("nan")
    by = {
        k: BinSensitivity(
            n_true=v[0], n_detected=v[1], sensitivity=v[1] / v[0] if v[0] else nan,
            n_rose_detectable=v[2], n_rose_detectable_detected=v[3],
            sensitivity_rose_detectable=v[3] / v[2] if v[2] else nan,
            mean_dice=float(np.mean(dices[k])) if k in dices else None,
        )
        for k, v in bins.items()
    }
    n_true = sum(ev.n_true for ev in evaluations)
    n_det = sum(ev.n_detected for ev in evaluations)
    return DetectionSummary(
        n_patients=len(evaluations),
        false_positives_per_patient=sum(ev.n_false_positives for ev in evaluations)
        / len(evaluations),
        by_diameter=by,
        overall_sensitivity=n_det / n_true if n_true else nan,
    )


# ---------------------------------------------------------------------------- Rose criterion
def rose_cnr(
    mean_contrast_suv: float,
    noise_sd_suv: float,
    n_voxels: float,
    noise_correlation_voxels: float = 1.0,
) -> float:
    """Rose contrast-to-noise ratio of a region (Rose, J Opt Soc Am 1948;38:196).

    CNR = C / (s sqrt(N_c / N)), with C the mean contrast over the region (SUV above
    background), s the per-voxel background noise SD, N the region size (voxels) and N_c the
    voxels per independent noise sample (1 for white noise), n_eff = max(N / N_c, 1).

    This is the large-region shortcut: it is a *lower bound* of the exact n_eff (module
    docstring), conservative for lesion-sized regions; use :func:`rose_cnr_of_signal` /
    :func:`region_mean_noise_sd` for the exact value.
    """
    if not (noise_sd_suv > 0 and n_voxels > 0 and noise_correlation_voxels > 0):
        raise InvalidInputError(
            "noise SD, region size and correlation volume must be > 0", where="rose_cnr"
        )
    n_eff = max(n_voxels / noise_correlation_voxels, 1.0)
    return float(mean_contrast_suv * np.sqrt(n_eff) / noise_sd_suv)


def smoothed_white_noise_autocorrelation(sigma_voxels: float, *, truncate: float = 4.0) -> np.ndarray:
    """Autocorrelation (rho(0) = 1) of white noise smoothed by ``scipy.ndimage.gaussian_filter``.

    The smoothing kernel k is the one ``gaussian_filter(sigma_voxels, truncate=truncate)`` applies
    (obtained by filtering a unit impulse); the autocorrelation of the smoothed field is
    (k * k)(d) / sum(k^2), an odd-sized cube centred on lag 0. For sigma -> 0 it is a single 1
    (white noise). Continuous limit: exp(-|d|^2 / (4 sigma^2)).
    """
    if not (np.isfinite(sigma_voxels) and 0 <= sigma_voxels <= 10):
        raise InvalidInputError(f"sigma_voxels must be in [0, 10], got {sigma_voxels}",
                                where="smoothed_white_noise_autocorrelation")
    if sigma_voxels == 0:
        return np.ones((1, 1, 1))
    h = int(truncate * sigma_voxels + 0.5)
    n = 4 * h + 1  # room for the full self-correlation (support 2 x kernel radius)
    delta = np.zeros((n, n, n))
    delta[(n // 2,) * 3] = 1.0
    k = ndimage.gaussian_filter(delta, sigma_voxels, mode="constant", truncate=truncate)
    kk = k[n // 2 - h:n // 2 + h + 1, n // 2 - h:n // 2 + h + 1, n // 2 - h:n // 2 + h + 1]
    from scipy.signal import fftconvolve

    ac = fftconvolve(k, kk[::-1, ::-1, ::-1], mode="same")
    return ac / ac[(n // 2,) * 3]


def empirical_noise_autocorrelation(noise: np.ndarray, max_lag: int = 4,
                                    mask: np.ndarray | None = None) -> np.ndarray:
    """Autocorrelation of a (zero-mean) noise field, lags -max_lag..max_lag per axis (rho(0) = 1).

    rho(d) = sum_x n(x) n(x+d) / sum_x n(x)^2 over the voxel pairs both inside ``mask`` (all voxels
    when None), computed with FFTs (zero padding, normalised per lag by the number of pairs).
    Use it on a noise realisation (noisy - noiseless image) or on residuals in a uniform region.
    """
    n = np.asarray(noise, dtype=float)
    if n.ndim != 3 or max_lag < 0 or any(s <= 2 * max_lag for s in n.shape):
        raise InvalidInputError(f"need a 3-D field larger than 2 x max_lag, got {n.shape}",
                                where="empirical_noise_autocorrelation")
    m = np.ones(n.shape) if mask is None else np.asarray(mask, dtype=float)
    if m.shape != n.shape or m.sum() < 2:
        raise InvalidInputError("mask must match the noise field and hold voxels",
                                where="empirical_noise_autocorrelation")
    x = (n - (n * m).sum() / m.sum()) * m
    shape = [2 * s for s in n.shape]
    ax = (0, 1, 2)
    fx, fm = np.fft.rfftn(x, shape, axes=ax), np.fft.rfftn(m, shape, axes=ax)
    num = np.fft.irfftn(fx * np.conj(fx), shape, axes=ax)
    cnt = np.fft.irfftn(fm * np.conj(fm), shape, axes=ax)
    lags = np.r_[0:max_lag + 1, -max_lag:0]
    idx = np.ix_(lags, lags, lags)
    cov = num[idx] / np.maximum(np.round(cnt[idx]), 1.0)
    cov = np.fft.fftshift(cov)
    return cov / cov[(max_lag,) * 3]


def region_mean_noise_sd(
    region: np.ndarray, noise_sd_suv: float, autocorrelation: np.ndarray | None = None
) -> float:
    """Exact SD of the mean over ``region`` of stationary noise (module docstring).

    Parameters
    ----------
    region
        Boolean 3-D mask R (N voxels).
    noise_sd_suv
        Per-voxel noise SD s.
    autocorrelation
        rho on an odd-sized cube centred on lag 0 (rho(0) = 1), e.g.
        :func:`smoothed_white_noise_autocorrelation` or :func:`empirical_noise_autocorrelation`;
        None = white noise.

    Returns
    -------
    float
        (s / N) sqrt(sum_{i,j in R} rho(x_i - x_j)).
    """
    r = np.asarray(region, dtype=bool)
    nvox = int(r.sum())
    if r.ndim != 3 or nvox == 0 or not noise_sd_suv > 0:
        raise InvalidInputError("need a non-empty 3-D region and a noise SD > 0",
                                where="region_mean_noise_sd")
    if autocorrelation is None:
        return float(noise_sd_suv / np.sqrt(nvox))
    ac = np.asarray(autocorrelation, dtype=float)
    if ac.ndim != 3 or any(s % 2 == 0 for s in ac.shape) or not np.isclose(
            ac[tuple(s // 2 for s in ac.shape)], 1.0):
        raise InvalidInputError("autocorrelation must be an odd-sized 3-D cube with rho(0) = 1",
                                where="region_mean_noise_sd")
    sl = ndimage.find_objects(r.astype(np.uint8))[0]
    pad = [s // 2 for s in ac.shape]
    sub = np.pad(r[sl], [(p, p) for p in pad]).astype(float)
    from scipy.signal import fftconvolve

    conv = fftconvolve(sub, ac[::-1, ::-1, ::-1], mode="same")  # sum_j rho(x_i - x_j) at each i
    pair_sum = float(conv[sub > 0].sum())
    return float(noise_sd_suv * np.sqrt(max(pair_sum, nvox * 1e-12)) / nvox)


def rose_cnr_of_signal(
    lesion_signal: np.ndarray,
    noise_sd_suv: float,
    *,
    autocorrelation: np.ndarray | None = None,
    noise_correlation_sigma_voxels: float | None = None,
    region_fraction: float = 0.5,
) -> float:
    """Rose CNR of a noiseless lesion-only signal (voxel SUV above background).

    Region R = voxels where the signal is >= ``region_fraction`` x its maximum;
    CNR = mean_R(signal) / SD(mean_R of the noise), the SD computed exactly by
    :func:`region_mean_noise_sd` with the noise ``autocorrelation`` or, when
    ``noise_correlation_sigma_voxels`` is given, the autocorrelation of white noise smoothed by a
    Gaussian of that sigma (:func:`smoothed_white_noise_autocorrelation`). Neither: white noise.
    """
    s = np.asarray(lesion_signal, dtype=float)
    if s.size == 0 or not np.all(np.isfinite(s)) or s.max() <= 0:
        raise InvalidInputError("the lesion signal must be finite with a positive maximum",
                                where="rose_cnr_of_signal")
    if not 0 < region_fraction <= 1:
        raise InvalidInputError("region_fraction must be in (0, 1]", where="rose_cnr_of_signal")
    if not noise_sd_suv > 0:
        raise InvalidInputError("noise SD must be > 0", where="rose_cnr_of_signal")
    if autocorrelation is None and noise_correlation_sigma_voxels is not None:
        autocorrelation = smoothed_white_noise_autocorrelation(noise_correlation_sigma_voxels)
    region = s >= region_fraction * s.max()
    return float(s[region].mean() / region_mean_noise_sd(region, noise_sd_suv, autocorrelation))


def rose_detectable_fraction(cnrs: Sequence[float] | Mapping[int, float], k: float = ROSE_K) -> float:
    """Fraction of lesions with Rose CNR >= k (NaN for no lesion)."""
    vals = list(cnrs.values()) if isinstance(cnrs, Mapping) else list(cnrs)
    if not vals:
        return float("nan")
    return float(np.mean([v >= k for v in vals]))

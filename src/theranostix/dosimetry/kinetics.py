"""Fitting time-activity curves and integrating them: models, weighted least squares, AICc.

Every model is a sum of exponential terms ``A(t) = sum_i a_i exp(-lambda_i t)`` (t in h, A in MBq,
lambda in 1/h are *effective* rates = biological + physical), so every valid fit integrates
analytically to infinity as ``sum_i a_i / lambda_i``.

Models (k = number of fitted parameters)
----------------------------------------
``mono``        a1 e^(-l1 t)                                            k = 2
``bi``          a1 e^(-l1 t) + a2 e^(-l2 t)                             k = 4
``tri``         a1 e^(-l1 t) + a2 e^(-l2 t) + a3 e^(-l3 t)              k = 6
``mono_uptake`` a1 (e^(-l1 t) - e^(-lu t)),  lu > l1 (A(0) = 0)         k = 3
``bi_uptake``   a1 e^(-l1 t) + a2 e^(-l2 t) - (a1 + a2) e^(-lu t)       k = 5

Weighting: residuals are divided by sigma_i = the given uncertainty of each point (covariance then
absolute), or by ``relative_error x A_i`` (a constant relative error, the usual assumption for
count-based activities; covariance then scaled by the reduced chi-square, so the value of
``relative_error`` does not change parameters or their uncertainties).

Model selection: corrected Akaike information criterion
``AICc = n ln(WSSR/n) + 2k + 2k(k+1)/(n-k-1)`` (Glatting et al., Med Phys 2007;34:4285;
Kletting et al., Med Phys 2013;40:102504), defined only for n > k + 1: models with more parameters
than that are not candidates. Among *valid* fits the lowest AICc wins; Akaike weights are reported.

References
----------
MIRD Pamphlet 21: Bolch WE et al., J Nucl Med 2009;50:477-484 (schema, time-integrated activity).
Sarrut D et al., Med Phys 2017;44:6280-6288 (multi-model TAC fitting with AICc, voxel level).
Gear JI et al., EANM practical guidance on uncertainty analysis for MRT absorbed dose
calculations, Eur J Nucl Med Mol Imaging 2018;45:2456-2474 (TIA uncertainty from fit covariance).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, Field
from scipy.optimize import least_squares

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.dosimetry.tac import TimeActivityCurve
from theranostix.physics import DECAY_DATA, radionuclide

LN2 = math.log(2.0)

#: Parameter coefficient of variation above which a fit is flagged (Kletting et al. 2013: 50 %).
CV_WARNING_LIMIT = 0.5
#: |correlation| above which a parameter pair is flagged (Kletting et al. 2013: 0.8).
CORRELATION_WARNING_LIMIT = 0.8
#: Default constant relative error of each activity when no uncertainties are given.
DEFAULT_RELATIVE_ERROR = 0.10

Terms = list[tuple[float, float]]


# ---------------------------------------------------------------------------- model definitions
@dataclass(frozen=True)
class TacModel:
    """A TAC model: parameter names, terms (amplitude, rate) and bounds."""

    name: str
    param_names: tuple[str, ...]
    terms: Callable[[np.ndarray], Terms]
    washout_params: tuple[str, ...]
    uptake_params: tuple[str, ...] = ()
    jacobian: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None

    @property
    def n_params(self) -> int:
        return len(self.param_names)

    def evaluate(self, p: np.ndarray, t: np.ndarray) -> np.ndarray:
        out = np.zeros_like(t, dtype=float)
        for a, lam in self.terms(p):
            out = out + a * np.exp(-lam * t)
        return out

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = [], []
        for name in self.param_names:
            if name.startswith("a"):
                lo.append(0.0)
                hi.append(np.inf)
            else:  # rates: free sign (validity checked after the fit), within a sane range
                lo.append(-1.0)
                hi.append(100.0)
        return np.asarray(lo), np.asarray(hi)


def _sum_terms(p: np.ndarray) -> Terms:
    return [(float(p[2 * i]), float(p[2 * i + 1])) for i in range(len(p) // 2)]


def _sum_jac(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """d model / d params for sum-of-exponential models (columns a1, l1, a2, l2, ...)."""
    cols = []
    for i in range(len(p) // 2):
        e = np.exp(-p[2 * i + 1] * t)
        cols += [e, -p[2 * i] * t * e]
    return np.stack(cols, axis=1)


def _mono_uptake_jac(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    e1, eu = np.exp(-p[1] * t), np.exp(-p[2] * t)
    return np.stack([e1 - eu, -p[0] * t * e1, p[0] * t * eu], axis=1)


def _bi_uptake_jac(p: np.ndarray, t: np.ndarray) -> np.ndarray:
    e1, e2, eu = np.exp(-p[1] * t), np.exp(-p[3] * t), np.exp(-p[4] * t)
    return np.stack([e1 - eu, -p[0] * t * e1, e2 - eu, -p[2] * t * e2,
                     (p[0] + p[2]) * t * eu], axis=1)


MODELS: dict[str, TacModel] = {
    "mono": TacModel("mono", ("a1", "l1"), _sum_terms, ("l1",), jacobian=_sum_jac),
    "bi": TacModel("bi", ("a1", "l1", "a2", "l2"), _sum_terms, ("l1", "l2"), jacobian=_sum_jac),
    "tri": TacModel("tri", ("a1", "l1", "a2", "l2", "a3", "l3"), _sum_terms, ("l1", "l2", "l3"),
                    jacobian=_sum_jac),
    "mono_uptake": TacModel(
        "mono_uptake", ("a1", "l1", "lu"),
        lambda p: [(float(p[0]), float(p[1])), (-float(p[0]), float(p[2]))], ("l1",), ("lu",),
        jacobian=_mono_uptake_jac),
    "bi_uptake": TacModel(
        "bi_uptake", ("a1", "l1", "a2", "l2", "lu"),
        lambda p: [(float(p[0]), float(p[1])), (float(p[2]), float(p[3])),
                   (-float(p[0] + p[2]), float(p[4]))], ("l1", "l2"), ("lu",),
        jacobian=_bi_uptake_jac),
}

#: Models tried by ``model="auto"`` (those with n > k + 1 for the data at hand).
AUTO_MODELS: tuple[str, ...] = ("mono", "mono_uptake", "bi", "bi_uptake", "tri")


def tia_sum_of_exponentials(amplitudes: Sequence[float], rates_per_h: Sequence[float]) -> float:
    """Integral 0..inf of ``sum_i a_i exp(-l_i t)`` = ``sum_i a_i / l_i`` (MBq h for a in MBq).

    Raises
    ------
    InvalidInputError
        If a rate is <= 0 or not finite (the integral does not exist; such terms are never
        ignored), or the lengths differ.
    """
    if len(amplitudes) != len(rates_per_h) or len(amplitudes) == 0:
        raise InvalidInputError("amplitudes and rates must be non-empty lists of one length",
                                where="tia_sum_of_exponentials")
    total = 0.0
    for a, lam in zip(amplitudes, rates_per_h):
        if not (math.isfinite(a) and math.isfinite(lam)):
            raise InvalidInputError(f"term ({a}, {lam}) is not finite",
                                    where="tia_sum_of_exponentials")
        if lam <= 0:
            raise InvalidInputError(
                f"rate {lam} 1/h <= 0: the term never decays and has no finite integral",
                where="tia_sum_of_exponentials", fix="refit; do not drop the term.")
        total += a / lam
    return total


# ---------------------------------------------------------------------------- result models
class FitResult(BaseModel):
    """One model fitted to one time-activity curve, with diagnostics and its integral.

    ``tia_mbq_h`` is ``None`` whenever the fit is not ``valid``; ``invalid_reasons`` says why.
    """

    region: str
    model: str
    parameters: dict[str, float]
    parameter_stderr: dict[str, float | None]
    parameter_cv: dict[str, float | None]
    covariance: list[list[float]] | None
    correlation: list[list[float]] | None
    terms: list[tuple[float, float]] = Field(description="(amplitude MBq, effective rate 1/h)")
    n_points: int
    n_parameters: int
    residuals_mbq: list[float]
    weighted_residuals: list[float]
    wssr: float
    r_squared: float | None = Field(description="unweighted R²; None when undefined")
    aicc: float | None
    converged: bool
    valid: bool
    invalid_reasons: list[str] = Field(default_factory=list)
    absolute_sigma: bool
    tia_mbq_h: float | None = None
    tia_sd_mbq_h: float | None = None
    terminal_half_life_h: float | None = None
    provenance: Provenance

    def predict(self, times_h: Sequence[float]) -> np.ndarray:
        """Model activity (MBq) at ``times_h``."""
        t = np.asarray(times_h, float)
        return np.sum([a * np.exp(-lam * t) for a, lam in self.terms], axis=0)


class KineticsResult(BaseModel):
    """Model selection over candidate fits of one curve; ``chosen`` is the lowest-AICc valid fit."""

    region: str
    chosen: FitResult | None
    candidates: list[FitResult]
    akaike_weights: dict[str, float]
    skipped_models: dict[str, str] = Field(default_factory=dict)
    provenance: Provenance

    @property
    def tia_mbq_h(self) -> float | None:
        return None if self.chosen is None else self.chosen.tia_mbq_h


class TrapezoidResult(BaseModel):
    """Time-integrated activity by the trapezoid rule with head and tail extrapolations."""

    region: str
    tia_mbq_h: float
    head_mbq_h: float
    body_mbq_h: float
    tail_mbq_h: float
    tia_sd_mbq_h: float | None
    start_rule: str
    tail_rule: str
    provenance: Provenance


# ---------------------------------------------------------------------------- helpers
def _physical_rate(nuclide: str | None) -> float | None:
    return None if nuclide is None else radionuclide(nuclide).decay_constant_per_h


def _sigmas(tac: TimeActivityCurve, relative_error: float) -> tuple[np.ndarray, bool]:
    t, a, u = tac.arrays()
    if u is not None:
        return u, True
    if not relative_error > 0:
        raise InvalidInputError(f"relative_error must be > 0, got {relative_error}",
                                where="fit weighting")
    floor = 1e-3 * max(float(np.max(a)), 1e-12)
    return relative_error * np.maximum(a, floor), False


def _loglinear(t: np.ndarray, a: np.ndarray) -> tuple[float, float]:
    """(A0, lambda) of a log-linear regression on positive points (lambda >= 1e-4 /h)."""
    ok = a > 0
    if ok.sum() >= 2:
        slope, icpt = np.polyfit(t[ok], np.log(a[ok]), 1)
        lam = max(-slope, 1e-4)
        return float(math.exp(icpt)), float(lam)
    return float(max(a.max(), 1e-6)), 0.01


def _starts(model: TacModel, t: np.ndarray, a: np.ndarray) -> list[np.ndarray]:
    """Several starting points for the multi-start fit."""
    a0, lam = _loglinear(t, a)
    half = max(len(t) // 2, 2)
    a_tail, lam_tail = _loglinear(t[-half:], a[-half:])
    t1 = max(float(t[0]), 0.1)
    starts: list[list[float]] = []
    if model.name == "mono":
        starts = [[a0, lam], [a.max(), 1.0 / max(t.mean(), 1e-3)]]
    elif model.name == "bi":
        for f in (3.0, 10.0, 30.0):
            starts.append([a_tail, lam_tail, max(a0 - a_tail, 0.5 * a0), f * lam_tail])
    elif model.name == "tri":
        for f in (5.0, 20.0):
            starts.append([a_tail, lam_tail, 0.3 * a0, f * lam_tail, 0.3 * a0, f * f * lam_tail])
    elif model.name == "mono_uptake":
        for lu in (2.0 / t1, 0.5 / t1, 10.0 * lam_tail + 0.05, 5.0 / t1):
            starts.append([a_tail, lam_tail, lu])
    elif model.name == "bi_uptake":
        for f in (3.0, 10.0):
            for lu in (2.0 / t1, 0.5 / t1):
                starts.append([0.7 * a_tail, lam_tail, 0.5 * a0, f * lam_tail, lu])
    lo, hi = model.bounds()
    return [np.clip(np.asarray(s, float), lo + 1e-12, hi - 1e-12) for s in starts]


def _tia_of(model: TacModel, p: np.ndarray) -> float:
    return float(sum(a / lam for a, lam in model.terms(p)))


def _numeric_gradient(f: Callable[[np.ndarray], float], p: np.ndarray) -> np.ndarray:
    g = np.zeros_like(p)
    for j in range(len(p)):
        h = 1e-6 * max(abs(p[j]), 1e-6)
        dp = np.zeros_like(p)
        dp[j] = h
        g[j] = (f(p + dp) - f(p - dp)) / (2 * h)
    return g


def _jacobian(f: Callable[[np.ndarray], np.ndarray], p: np.ndarray) -> np.ndarray:
    """Central-difference Jacobian of a vector function at ``p``."""
    cols = []
    for j in range(len(p)):
        h = 1e-6 * max(abs(p[j]), 1e-6)
        dp = np.zeros_like(p)
        dp[j] = h
        cols.append((f(p + dp) - f(p - dp)) / (2 * h))
    return np.stack(cols, axis=1)


def _sort_components(model: TacModel, p: np.ndarray) -> np.ndarray:
    """Order the exponential components of bi/tri fits by increasing rate (slowest = 1)."""
    if model.name in ("bi", "tri"):
        pairs = sorted(((p[2 * i], p[2 * i + 1]) for i in range(len(p) // 2)), key=lambda x: x[1])
        return np.asarray([v for pair in pairs for v in pair], float)
    if model.name == "bi_uptake" and p[3] < p[1]:
        return np.asarray([p[2], p[3], p[0], p[1], p[4]], float)
    return p


def aicc(wssr: float, n_points: int, n_params: int) -> float | None:
    """Corrected Akaike information criterion; ``None`` when n <= k + 1 (undefined).

    ``AICc = n ln(WSSR/n) + 2k + 2k(k+1)/(n-k-1)``; WSSR is floored at 1e-300 so that
    noise-free data stay finite.
    """
    n, k = n_points, n_params
    if n <= k + 1:
        return None
    return n * math.log(max(wssr, 1e-300) / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)


# ---------------------------------------------------------------------------- fitting
def fit_model(
    tac: TimeActivityCurve,
    model: str,
    *,
    nuclide: str | None = None,
    relative_error: float = DEFAULT_RELATIVE_ERROR,
    allow_slower_than_physical: bool = False,
) -> FitResult:
    """Fit one model to a curve by weighted least squares and integrate it to infinity.

    Parameters
    ----------
    tac
        The time-activity curve.
    model
        One of :data:`MODELS` (``mono``, ``bi``, ``tri``, ``mono_uptake``, ``bi_uptake``).
    nuclide
        Radionuclide (e.g. ``"Lu-177"``); when given, washout rates slower than physical decay
        make the fit invalid (a negative biological clearance), unless
        ``allow_slower_than_physical``.
    relative_error
        Constant relative error of each activity used for the weights when the curve has no
        uncertainties (default 10 %).
    allow_slower_than_physical
        Accept effective rates below the physical decay constant (flagged as a warning instead).

    Returns
    -------
    FitResult
        With ``valid=False`` and ``tia_mbq_h=None`` when the fit did not converge, a rate is <= 0,
        an uptake rate is not faster than the washout, or a washout is slower than physical decay.

    Raises
    ------
    InvalidInputError
        Unknown model, or fewer points than parameters + 1.
    """
    if model not in MODELS:
        raise InvalidInputError(f"unknown model {model!r}", where="fit model",
                                fix=f"choose one of {', '.join(MODELS)} or 'auto'.")
    m = MODELS[model]
    k, n = m.n_params, tac.n_points
    if n <= k:
        raise InvalidInputError(
            f"model {model!r} has {k} parameters and needs at least {k + 1} time points; "
            f"the curve has {n}", where=f"time-activity curve {tac.region!r}",
            fix="use a model with fewer parameters, trapezoid integration or a single-time-point "
                "method.")
    t, a, _ = tac.arrays()
    sigma, absolute = _sigmas(tac, relative_error)
    lam_phys = _physical_rate(nuclide)
    prov = Provenance(
        parameters={"model": model, "weighting": "given uncertainties" if absolute else
                    f"constant relative error {relative_error:g} (covariance scaled)",
                    "nuclide": nuclide, "allow_slower_than_physical": allow_slower_than_physical,
                    "fit": "scipy.optimize.least_squares (trf), multi-start"},
        decay_data=DECAY_DATA if nuclide else None,
        inputs={"region": tac.region, "times_h": tac.times_h},
    )

    def resid(p: np.ndarray) -> np.ndarray:
        return (m.evaluate(p, t) - a) / sigma

    def resid_jac(p: np.ndarray) -> np.ndarray:
        return m.jacobian(p, t) / sigma[:, None]  # type: ignore[misc]

    lo, hi = m.bounds()
    best = None
    for p0 in _starts(m, t, a):
        try:
            r = least_squares(resid, p0, jac=resid_jac if m.jacobian else "2-point",
                              bounds=(lo, hi), method="trf", x_scale="jac",
                              max_nfev=2000, xtol=1e-12, ftol=1e-12, gtol=1e-12)
        except (ValueError, FloatingPointError):
            continue
        if not np.all(np.isfinite(r.fun)):
            continue
        if best is None or r.cost < best.cost - 1e-15 or (r.success and not best.success
                                                          and r.cost <= best.cost * (1 + 1e-9)):
            best = r
    reasons: list[str] = []
    if best is None:
        p = np.full(k, np.nan)
        converged = False
        reasons.append("the optimiser failed from every starting point")
        jac = None
    else:
        p = _sort_components(m, best.x)
        converged = bool(best.success and best.status > 0)
        if not converged:
            reasons.append(f"did not converge: {best.message}")
        jac = resid_jac(p) if m.jacobian else _jacobian(resid, p)

    pred = m.evaluate(p, t) if best is not None else np.full(n, np.nan)
    res = a - pred
    wres = -res / sigma
    wssr = float(np.sum(wres**2))
    sst = float(np.sum((a - a.mean()) ** 2))
    r_squared = float(1.0 - np.sum(res**2) / sst) if sst > 0 and best is not None else None

    # covariance (Jacobian of the weighted residuals): absolute or scaled by reduced chi-square
    cov = None
    names = m.param_names
    stderr: dict[str, float | None] = {nm: None for nm in names}
    cv: dict[str, float | None] = {nm: None for nm in names}
    corr = None
    if jac is not None:
        jtj = jac.T @ jac
        if np.linalg.cond(jtj) < 1e14:
            cov = np.linalg.inv(jtj)
            if not absolute:
                cov = cov * (wssr / (n - k))
            sd = np.sqrt(np.clip(np.diag(cov), 0, None))
            for j, nm in enumerate(names):
                stderr[nm] = float(sd[j])
                cv[nm] = float(sd[j] / abs(p[j])) if p[j] != 0 else None
            with np.errstate(divide="ignore", invalid="ignore"):
                corr = cov / np.outer(sd, sd)
        else:
            prov.warn("singular Jacobian: parameters are not identifiable from these points; "
                      "no covariance or TIA uncertainty")

    terms = m.terms(p) if best is not None else []
    idx = {nm: j for j, nm in enumerate(names)}
    if converged:
        for nm in names:
            if nm.startswith("l") and p[idx[nm]] <= 0:
                reasons.append(f"rate {nm} = {p[idx[nm]]:.4g} 1/h <= 0 (activity does not wash "
                               "out; no finite integral)")
        for nm in m.uptake_params:
            for w in m.washout_params:
                if p[idx[nm]] <= p[idx[w]]:
                    reasons.append(f"uptake rate {nm} is not faster than washout rate {w}")
        if lam_phys is not None:
            for w in m.washout_params:
                if 0 < p[idx[w]] < lam_phys * (1 - 1e-6):
                    msg = (f"washout rate {w} = {p[idx[w]]:.4g} 1/h is slower than physical decay "
                           f"({lam_phys:.4g} 1/h): negative biological clearance")
                    if allow_slower_than_physical:
                        prov.warn(msg + " (allowed by the caller)")
                    else:
                        reasons.append(msg)
        for nm in names:
            if nm.startswith("a") and p[idx[nm]] <= 1e-9 * max(float(a.max()), 1e-12):
                prov.warn(f"amplitude {nm} collapsed to 0: the model reduces to a simpler one")
        for j, nm in enumerate(names):
            if nm.startswith("l") and (p[j] >= hi[j] * 0.999 or p[j] <= lo[j] * 0.999):
                prov.warn(f"rate {nm} = {p[j]:.4g} 1/h sits at its bound: not determined by the "
                          "data (e.g. uptake faster than the first time point resolves)")
        for nm, c in cv.items():
            if c is not None and c > CV_WARNING_LIMIT:
                prov.warn(f"parameter {nm} poorly determined (CV {100 * c:.0f} % > "
                          f"{100 * CV_WARNING_LIMIT:.0f} %)")
        if corr is not None:
            bad = [(names[i], names[j]) for i in range(k) for j in range(i + 1, k)
                   if abs(corr[i, j]) > CORRELATION_WARNING_LIMIT]
            if bad:
                prov.warn("strongly correlated parameters (|r| > 0.8): "
                          + ", ".join(f"{x}/{y}" for x, y in bad))
    valid = converged and not reasons
    tia = tia_sd = t_half = None
    if valid:
        tia = _tia_of(m, p)
        if cov is not None:
            g = _numeric_gradient(lambda q: _tia_of(m, q), p)
            tia_sd = float(math.sqrt(max(float(g @ cov @ g), 0.0)))
        slowest = min(p[idx[w]] for w in m.washout_params)
        t_half = LN2 / slowest
    else:
        for rsn in reasons:
            prov.warn(f"{model} fit invalid, not integrated: {rsn}")
    return FitResult(
        region=tac.region, model=model,
        parameters={nm: float(p[j]) for j, nm in enumerate(names)},
        parameter_stderr=stderr, parameter_cv=cv,
        covariance=None if cov is None else cov.tolist(),
        correlation=None if corr is None else np.nan_to_num(corr).tolist(),
        terms=[(float(x), float(y)) for x, y in terms], n_points=n, n_parameters=k,
        residuals_mbq=res.tolist(), weighted_residuals=wres.tolist(), wssr=wssr,
        r_squared=r_squared, aicc=aicc(wssr, n, k), converged=converged, valid=valid,
        invalid_reasons=reasons, absolute_sigma=absolute, tia_mbq_h=tia, tia_sd_mbq_h=tia_sd,
        terminal_half_life_h=t_half, provenance=prov,
    )


def fit_tac(
    tac: TimeActivityCurve,
    model: str = "auto",
    *,
    nuclide: str | None = None,
    candidates: Sequence[str] = AUTO_MODELS,
    relative_error: float = DEFAULT_RELATIVE_ERROR,
    allow_slower_than_physical: bool = False,
) -> KineticsResult:
    """Fit a curve with one model, or choose among candidates by AICc (``model="auto"``).

    Only candidates with n > k + 1 points are fitted (AICc is undefined otherwise); their names
    and the reason are in ``skipped_models``. Invalid fits are listed but never chosen. When no
    candidate is valid, ``chosen`` is ``None`` and the provenance says why.

    Raises
    ------
    InvalidInputError
        Unknown model, or (auto) too few points for any candidate.
    """
    prov = Provenance(parameters={"model": model, "nuclide": nuclide,
                                  "candidates": list(candidates) if model == "auto" else [model],
                                  "selection": "lowest AICc among valid fits"},
                      decay_data=DECAY_DATA if nuclide else None,
                      inputs={"region": tac.region})
    kw = dict(nuclide=nuclide, relative_error=relative_error,
              allow_slower_than_physical=allow_slower_than_physical)
    if model != "auto":
        fit = fit_model(tac, model, **kw)
        prov = prov.merged(fit.provenance)
        return KineticsResult(region=tac.region, chosen=fit if fit.valid else None,
                              candidates=[fit], akaike_weights={model: 1.0} if fit.valid else {},
                              provenance=prov)
    skipped: dict[str, str] = {}
    fits: list[FitResult] = []
    for name in candidates:
        if name not in MODELS:
            raise InvalidInputError(f"unknown model {name!r}", where="candidates")
        k = MODELS[name].n_params
        if tac.n_points <= k + 1:
            skipped[name] = f"needs n > k + 1 = {k + 1} points for AICc, has {tac.n_points}"
            continue
        fits.append(fit_model(tac, name, **kw))
    if not fits:
        raise InvalidInputError(
            f"{tac.n_points} time points are too few to compare models by AICc "
            "(a model with k parameters needs n > k + 1)", where=f"curve {tac.region!r}",
            fix="choose a model explicitly (e.g. mono with 3 points) or use trapezoid/STP.")
    valid = [f for f in fits if f.valid and f.aicc is not None]
    weights: dict[str, float] = {}
    chosen = None
    if valid:
        best = min(f.aicc for f in valid)  # type: ignore[type-var]
        raw = {f.model: math.exp(-0.5 * (f.aicc - best)) for f in valid}  # type: ignore[operator]
        tot = sum(raw.values())
        weights = {k_: v / tot for k_, v in raw.items()}
        chosen = min(valid, key=lambda f: f.aicc)  # type: ignore[arg-type,return-value]
        prov = prov.merged(chosen.provenance)
    else:
        prov.warn("no candidate model gave a valid fit: no time-integrated activity")
    for f in fits:
        if not f.valid:
            prov.warn(f"{f.model}: invalid ({'; '.join(f.invalid_reasons)})")
    return KineticsResult(region=tac.region, chosen=chosen, candidates=fits,
                          akaike_weights=weights, skipped_models=skipped, provenance=prov)


# ---------------------------------------------------------------------------- trapezoid
def integrate_trapezoid(
    tac: TimeActivityCurve,
    *,
    nuclide: str,
    start: str = "zero",
    tail: str = "physical",
) -> TrapezoidResult:
    """Time-integrated activity by the trapezoid rule plus head and tail extrapolations.

    Parameters
    ----------
    start
        Rule before the first point t1: ``"zero"`` (A(0) = 0, linear rise to A(t1): head =
        A1 t1 / 2), ``"constant"`` (A = A1 from 0 to t1: head = A1 t1), or ``"exponential"``
        (the mono-exponential through the first two points extrapolated back to 0; needs the
        second activity below the first, otherwise refused).
    tail
        Rule after the last point tn: ``"physical"`` (physical decay only: tail = An / lambda_phys,
        an upper bound when biological clearance continues) or ``"last_two"`` (mono-exponential
        through the last two points, refused if slower than physical decay).

    Raises
    ------
    InvalidInputError
        Unknown rule, or a rule that does not apply to the data.
    """
    t, a, u = tac.arrays()
    lam_phys = radionuclide(nuclide).decay_constant_per_h
    n = len(t)
    w = np.zeros(n)  # TIA = sum w_i A_i (linear in the activities)
    if start == "zero":
        head_w = np.zeros(n)
        head_w[0] = t[0] / 2
    elif start == "constant":
        head_w = np.zeros(n)
        head_w[0] = t[0]
    elif start == "exponential":
        if n < 2 or not (0 < a[1] < a[0]):
            raise InvalidInputError("exponential back-extrapolation needs A(t2) < A(t1), both > 0",
                                    where="start rule", fix="use start='zero' or 'constant'.")
        lam = math.log(a[0] / a[1]) / (t[1] - t[0])
        head_w = np.zeros(n)
        head_w[0] = (math.exp(lam * t[0]) - 1) / lam  # integral 0..t1 of A1 e^{-lam (t - t1)}
    else:
        raise InvalidInputError(f"unknown start rule {start!r}", where="start rule",
                                fix="use 'zero', 'constant' or 'exponential'.")
    body_w = np.zeros(n)
    for i in range(n - 1):
        dt = t[i + 1] - t[i]
        body_w[i] += dt / 2
        body_w[i + 1] += dt / 2
    tail_w = np.zeros(n)
    if tail == "physical":
        tail_w[-1] = 1 / lam_phys
    elif tail == "last_two":
        if n < 2 or not (0 < a[-1] < a[-2]):
            raise InvalidInputError("tail from the last two points needs a decreasing end",
                                    where="tail rule", fix="use tail='physical'.")
        lam = math.log(a[-2] / a[-1]) / (t[-1] - t[-2])
        if lam < lam_phys:
            raise InvalidInputError("the last two points decay slower than physical decay",
                                    where="tail rule", fix="use tail='physical'.")
        tail_w[-1] = 1 / lam
    else:
        raise InvalidInputError(f"unknown tail rule {tail!r}", where="tail rule",
                                fix="use 'physical' or 'last_two'.")
    w = head_w + body_w + tail_w
    sd = None if u is None else float(np.sqrt(np.sum((w * u) ** 2)))
    prov = Provenance(parameters={"method": "trapezoid", "start_rule": start, "tail_rule": tail,
                                  "nuclide": nuclide},
                      decay_data=DECAY_DATA, inputs={"region": tac.region})
    if start == "exponential" or tail == "last_two":
        prov.warn("uncertainty ignores the dependence of the extrapolation rate on the data")
    return TrapezoidResult(
        region=tac.region, tia_mbq_h=float(w @ a), head_mbq_h=float(head_w @ a),
        body_mbq_h=float(body_w @ a), tail_mbq_h=float(tail_w @ a), tia_sd_mbq_h=sd,
        start_rule=start, tail_rule=tail, provenance=prov)

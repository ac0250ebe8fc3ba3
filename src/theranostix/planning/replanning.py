"""Re-planning after a cycle's post-therapy dosimetry: Bayesian update, then the remaining cycles.

Bayesian update (conjugate normal on the log scale)
---------------------------------------------------
The predicted dose per GBq of a region is log-normal: ``ln d ~ N(mu_0, s_0^2)`` with ``mu_0`` the
log of the predicted median and ``s_0`` the log-sd of the Monte-Carlo samples (the population
prior given this patient's diagnostic scan). A measurement ``m`` (post-therapy SPECT/CT dosimetry,
relative uncertainty CV) is modelled as ``ln m ~ N(ln d, s_m^2)`` with ``s_m^2 = ln(1 + CV^2)``.
The posterior is normal on the log scale with

    1/s_1^2 = 1/s_0^2 + 1/s_m^2,      mu_1 = s_1^2 (mu_0/s_0^2 + ln m / s_m^2),

i.e. a precision-weighted mean: it moves toward the measurement and its variance always shrinks.
Several cycles' measurements are applied one after the other (independent errors). A measured
effective half-life updates the region's (single-component) washout half-life the same way,
with the population log-sd as prior width; the dose-protraction factor G of later cycles follows.

Re-planning: the doses delivered by the measured cycles count toward the cumulative limits (BED
of each cycle from its measured dose and kinetics; a region not measured in a cycle counts its
posterior median dose), and the remaining cycles are planned with the posterior doses per GBq
(:func:`theranostix.planning.prescription.prescribe`).
"""

from __future__ import annotations

import math

from pydantic import BaseModel, Field, ValidationError, model_validator

from theranostix.core.errors import InvalidInputError, invalid_input_from_validation
from theranostix.core.provenance import Provenance
from theranostix.dosimetry.radiobiology import bed, g_factor, g_factor_mono
from theranostix.planning.prediction import LN2, Z95, DosePrediction, Interval
from theranostix.planning.prescription import (
    DeliveredDose,
    OrganLimitSpec,
    Prescription,
    default_limits,
    prescribe,
)

#: Default relative uncertainty (CV) of a post-therapy SPECT/CT organ dose when none is given
#: (typical 10-30 % for organ-level Lu-177 dosimetry; Gear et al., EANM uncertainty guidance,
#: EJNMMI 2018;45:2456).
DEFAULT_MEASUREMENT_CV = 0.20


class RegionMeasurement(BaseModel):
    """Post-therapy dosimetry of one region for one cycle.

    Give ``dose_gy_per_gbq`` or ``dose_gy`` (the cycle's absorbed dose, divided by the cycle's
    administered activity).
    """

    region: str
    dose_gy_per_gbq: float | None = Field(default=None, gt=0)
    dose_gy: float | None = Field(default=None, gt=0)
    relative_uncertainty: float = Field(default=DEFAULT_MEASUREMENT_CV, gt=0, le=5)
    effective_half_life_h: float | None = Field(default=None, gt=0)
    effective_half_life_relative_uncertainty: float = Field(default=DEFAULT_MEASUREMENT_CV, gt=0, le=5)

    @model_validator(mode="after")
    def _one(self) -> "RegionMeasurement":
        if (self.dose_gy_per_gbq is None) == (self.dose_gy is None):
            raise ValueError("give exactly one of dose_gy_per_gbq or dose_gy")
        return self


class CycleDosimetry(BaseModel):
    """Post-therapy dosimetry of one given cycle."""

    cycle: int = Field(ge=1)
    administered_gbq: float = Field(gt=0)
    regions: list[RegionMeasurement] = Field(default_factory=list)
    source: str | None = None

    def measured(self, region: str) -> RegionMeasurement | None:
        """The measurement of ``region`` in this cycle (None when not measured)."""
        return next((m for m in self.regions if m.region == region), None)

    def dose_per_gbq(self, m: RegionMeasurement) -> float:
        """Measured dose per GBq of ``m`` in this cycle."""
        return m.dose_gy_per_gbq if m.dose_gy_per_gbq is not None else m.dose_gy / self.administered_gbq  # type: ignore[operator]


def cycle_dosimetry_from_json(text: str, where: str = "prior dosimetry") -> CycleDosimetry:
    """Parse a :class:`CycleDosimetry` JSON text (``InvalidInputError`` when invalid)."""
    try:
        return CycleDosimetry.model_validate_json(text)
    except ValidationError as exc:
        raise invalid_input_from_validation(exc, "cycle dosimetry", where=where,
                                            fix="see docs/planning.md for the format") from exc


def log_sd_from_cv(cv: float) -> float:
    """Log-sd of a log-normal with coefficient of variation ``cv``: sqrt(ln(1 + cv^2))."""
    return math.sqrt(math.log1p(cv * cv))


def lognormal_posterior(prior_median: float, prior_log_sd: float, measured: float,
                        measured_log_sd: float) -> tuple[float, float]:
    """Conjugate normal update on the log scale; returns (posterior median, posterior log-sd)."""
    for name, v in (("prior_median", prior_median), ("measured", measured)):
        if not (math.isfinite(v) and v > 0):
            raise InvalidInputError(f"{name} must be > 0, got {v}", where="lognormal_posterior")
    for name, v in (("prior_log_sd", prior_log_sd), ("measured_log_sd", measured_log_sd)):
        if not (math.isfinite(v) and v > 0):
            raise InvalidInputError(f"{name} must be > 0, got {v}", where="lognormal_posterior")
    p0, pm = 1.0 / prior_log_sd**2, 1.0 / measured_log_sd**2
    var = 1.0 / (p0 + pm)
    mu = var * (math.log(prior_median) * p0 + math.log(measured) * pm)
    return math.exp(mu), math.sqrt(var)


class RegionUpdate(BaseModel):
    """Prior, measurements and posterior of one region's dose per GBq."""

    region: str
    prior_median_gy_per_gbq: float
    prior_log_sd: float
    measured_gy_per_gbq: list[float]
    measured_log_sd: list[float]
    posterior_median_gy_per_gbq: float
    posterior_log_sd: float
    prior_effective_half_life_h: float | None = None
    posterior_effective_half_life_h: float | None = None


def _checked_prior_widths(prior_log_sd: dict[str, float] | None) -> dict[str, float]:
    out: dict[str, float] = {}
    for k, v in (prior_log_sd or {}).items():
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise InvalidInputError(f"prior log-sd of {k!r} must be > 0, got {v!r}",
                                    where="prior_log_sd", fix="give a positive log-sd per region")
        out[str(k)] = float(v)
    return out


def update_prediction(prediction: DosePrediction, cycles: list[CycleDosimetry],
                      prior_log_sd: dict[str, float] | None = None,
                      ) -> tuple[DosePrediction, list[RegionUpdate]]:
    """Posterior dose prediction after the measured cycles (see the module docstring).

    Parameters
    ----------
    prediction
        The prior (prediction from the diagnostic scan).
    cycles
        Post-therapy dosimetry of the given cycles.
    prior_log_sd
        Optional prior width (log-sd of the prediction error) per region name, or ``"lesion"``
        for every lesion, replacing the Monte-Carlo log-sd of the population model: for a site that
        has measured its own prediction error (RMS of ln(predicted/measured) over its patients).
        Recorded in the provenance.

    Raises
    ------
    InvalidInputError
        A measured region that the prediction does not contain, duplicate cycle numbers or a
        non-positive prior width.
    """
    nums = [c.cycle for c in cycles]
    if len(set(nums)) != len(nums):
        raise InvalidInputError(f"duplicate cycle numbers {nums}", where="prior dosimetry")
    widths = _checked_prior_widths(prior_log_sd)
    post = prediction.model_copy(deep=True)
    post.provenance.parameters["bayesian_update"] = "conjugate normal on the log scale"
    if widths:
        post.provenance.parameters["prior_log_sd_override"] = widths
    names = {r.region for r in post.regions}
    updates = []
    for c in cycles:
        for m in c.regions:
            if m.region not in names:
                raise InvalidInputError(f"measured region {m.region!r} has no prediction",
                                        where=f"cycle {c.cycle}", fix=f"regions: {sorted(names)}")
    for r in post.regions:
        meas = [(c, c.measured(r.region)) for c in sorted(cycles, key=lambda x: x.cycle)]
        meas = [(c, m) for c, m in meas if m is not None]
        if not meas:
            continue
        med, sd = r.dose_gy_per_gbq.median, r.dose_log_sd
        sd = widths.get(r.region, widths.get("lesion", sd) if r.kind == "lesion" else sd)
        if sd <= 0:
            sd = 1e-6
        up = RegionUpdate(region=r.region, prior_median_gy_per_gbq=med, prior_log_sd=sd,
                          measured_gy_per_gbq=[], measured_log_sd=[],
                          posterior_median_gy_per_gbq=med, posterior_log_sd=sd)
        for c, m in meas:
            value, msd = c.dose_per_gbq(m), log_sd_from_cv(m.relative_uncertainty)
            med, sd = lognormal_posterior(med, sd, value, msd)
            up.measured_gy_per_gbq.append(value)
            up.measured_log_sd.append(msd)
        up.posterior_median_gy_per_gbq, up.posterior_log_sd = med, sd
        r.dose_gy_per_gbq = Interval(median=med, p05=med * math.exp(-Z95 * sd),
                                     p95=med * math.exp(Z95 * sd))
        r.dose_log_sd = sd
        hl = [(c, m) for c, m in meas if m.effective_half_life_h is not None]
        if hl:
            if len(r.effective_half_lives_h) != 1:
                post.provenance.warn(f"{r.region}: measured half-life not used (multi-component "
                                     "population kinetics)")
            else:
                t, tsd = r.effective_half_lives_h[0], r.effective_half_life_log_sds[0]
                up.prior_effective_half_life_h = t
                for _c, m in hl:
                    t, tsd = lognormal_posterior(t, tsd, m.effective_half_life_h,  # type: ignore[arg-type]
                                                 log_sd_from_cv(m.effective_half_life_relative_uncertainty))
                up.posterior_effective_half_life_h = t
                r.effective_half_lives_h = [t]
                r.effective_half_life_log_sds = [tsd]
                r.kinetics_terms = [(r.kinetics_terms[0][0], LN2 / t)] + list(r.kinetics_terms[1:])
                if len(r.kinetics_terms) > 1 and r.kinetics_terms[1][1] <= LN2 / t:
                    r.kinetics_terms = r.kinetics_terms[:1]
        updates.append(up)
    return post, updates


def _cycle_g(r_terms: list[tuple[float, float]], measured_t_eff: float | None,
             t_rep: float) -> float:
    if measured_t_eff is not None:
        return g_factor_mono(measured_t_eff, t_rep)
    return g_factor([t[0] for t in r_terms], [t[1] for t in r_terms], t_rep)


def delivered_doses(posterior: DosePrediction, cycles: list[CycleDosimetry],
                    limits: dict[str, OrganLimitSpec]) -> dict[str, DeliveredDose]:
    """Cumulative dose and BED delivered by the given cycles, per region.

    Measured regions use the cycle's measured dose (and measured half-life for G); others use the
    posterior median dose per GBq x the cycle's activity.
    """
    alpha = any(r.dose_quantity == "rbe_weighted_dose" for r in posterior.regions)
    out: dict[str, DeliveredDose] = {}
    for r in posterior.regions:
        lim = limits.get(r.region)
        total_d, total_b = 0.0, 0.0
        for c in cycles:
            m = c.measured(r.region)
            d = (c.dose_per_gbq(m) if m else r.dose_gy_per_gbq.median) * c.administered_gbq
            total_d += d
            if lim is not None and lim.quantity != "absorbed_dose":
                g = 0.0 if alpha else _cycle_g(r.kinetics_terms, m.effective_half_life_h if m else None,
                                               lim.repair_half_time_h)  # type: ignore[arg-type]
                total_b += float(bed(d, lim.alpha_beta_gy, g))  # type: ignore[arg-type]
        out[r.region] = DeliveredDose(dose_gy=total_d, bed_gy=total_b if lim is not None and
                                      lim.quantity != "absorbed_dose" else None)
    return out


class Replan(BaseModel):
    """Posterior prediction and the plan of the remaining cycles."""

    updates: list[RegionUpdate]
    posterior: DosePrediction
    delivered: dict[str, DeliveredDose]
    prescription: Prescription
    provenance: Provenance


def replan(
    prediction: DosePrediction,
    cycles: list[CycleDosimetry],
    *,
    n_cycles_total: int | None = None,
    limits: dict[str, OrganLimitSpec] | None = None,
    risk_factors: bool = False,
    activity_cap_gbq: float | None = None,
    organ_dose_basis: str = "median",
    prior_log_sd: dict[str, float] | None = None,
) -> Replan:
    """Update the prediction with the measured cycles and plan the remaining cycles.

    Parameters
    ----------
    prediction
        The prediction from the diagnostic scan (the prior).
    cycles
        Post-therapy dosimetry of the cycles already given (at least one).
    n_cycles_total
        Total planned cycles (default: the standard schedule's).
    limits, risk_factors, activity_cap_gbq, organ_dose_basis
        As :func:`theranostix.planning.prescription.prescribe`.
    prior_log_sd
        Site-calibrated prior widths per region (see :func:`update_prediction`).
    """
    if not cycles:
        raise InvalidInputError("no cycle dosimetry given", where="cycles",
                                fix="give the post-therapy dosimetry of at least one cycle")
    lims = default_limits(risk_factors) if limits is None else limits
    total = int(prediction.standard_schedule["cycles"]) if n_cycles_total is None else n_cycles_total
    remaining = total - len(cycles)
    if remaining < 1:
        raise InvalidInputError(f"{len(cycles)} cycles given of {total} planned: nothing to re-plan",
                                where="n_cycles_total", fix="raise the total number of cycles")
    post, updates = update_prediction(prediction, cycles, prior_log_sd)
    delivered = delivered_doses(post, cycles, lims)
    plan = prescribe(post, n_cycles=remaining, limits=lims, risk_factors=risk_factors,
                     delivered=delivered, cycles_already_given=len(cycles),
                     activity_cap_gbq=activity_cap_gbq, organ_dose_basis=organ_dose_basis)
    prov = Provenance(parameters={"cycles_measured": [c.cycle for c in cycles],
                                  "n_cycles_total": total, "remaining_cycles": remaining})
    unmeasured = [r.region for r in post.organs_at_risk if r.region not in {u.region for u in updates}]
    if unmeasured:
        prov.warn(f"not measured after therapy, prior prediction kept: {', '.join(unmeasured)}")
    return Replan(updates=updates, posterior=post, delivered=delivered, prescription=plan,
                  provenance=prov)

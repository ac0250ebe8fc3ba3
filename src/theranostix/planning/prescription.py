"""Activity per cycle under cumulative organ-at-risk limits, and the standard-schedule comparison.

Formulas
--------
Per cycle of activity ``A`` (GBq) an organ with dose per GBq ``d`` (Gy/GBq) receives ``D = d A``
and, in the linear-quadratic model, ``BED = D (1 + G D / (alpha/beta))`` with the dose-protraction
factor ``G`` of the organ's kinetics (:func:`theranostix.dosimetry.radiobiology.g_factor`;
mono-exponential ``G = T_rep / (T_rep + T_eff)``). G depends only on the shape of the dose rate,
so it is the same for every activity. Cycles far apart in time add in BED (full repair between
cycles; FACTS.md, Wessels et al. MIRD Pamphlet 20).

With ``n`` further cycles of equal activity, the already delivered ``B_0`` and the limit ``L``:

* BED limit: ``B_0 + n (d A + G d^2 A^2 / (alpha/beta)) = L``, the positive root
  ``A = 2 (L - B_0) / (n d + sqrt((n d)^2 + 4 n G d^2 (L - B_0) / (alpha/beta)))``;
* EQD2 limit: converted to BED, ``L_BED = L_EQD2 (1 + 2 / (alpha/beta))``;
* absorbed-dose limit (red marrow 2 Gy): ``A = (L - D_0) / (n d)``.

The highest activity per cycle is the minimum over the organs at risk (and an optional cap per
cycle); the organ (or the cap) reaching its limit is the binding limit.
Default limits: kidney BED 40 Gy without, 28 Gy with risk factors (Bodei et al. EJNMMI
2008;35:1847; MIRD Pamphlet 20), alpha/beta 2.6 Gy, T_rep 2.8 h; red marrow absorbed dose 2 Gy
(Hindorf et al. EJNMMI 2010;37:1238), read from ``dosimetry/data/radiobiology.yaml``.
For alpha emitters the RBE-weighted dose is used with G = 0 (no sublethal-damage repair modelled).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.dosimetry.radiobiology import bed, g_factor, g_factor_mono, radiobiology_table
from theranostix.planning.prediction import DosePrediction, Interval

Quantity = Literal["BED", "EQD2", "absorbed_dose"]


class OrganLimitSpec(BaseModel):
    """A cumulative limit for one organ at risk (all cycles together).

    ``alpha_beta_gy`` and ``repair_half_time_h`` are required for BED and EQD2 limits.
    """

    organ: str
    quantity: Quantity
    value_gy: float = Field(gt=0)
    alpha_beta_gy: float | None = Field(default=None, gt=0)
    repair_half_time_h: float | None = Field(default=None, gt=0)
    source: str = "user-defined"

    @model_validator(mode="after")
    def _lq(self) -> "OrganLimitSpec":
        if self.quantity != "absorbed_dose" and (self.alpha_beta_gy is None
                                                 or self.repair_half_time_h is None):
            raise ValueError(f"a {self.quantity} limit needs alpha_beta_gy and repair_half_time_h")
        return self

    @property
    def bed_limit_gy(self) -> float:
        """The limit expressed in the quantity that adds over cycles (BED, or absorbed dose)."""
        if self.quantity == "EQD2":
            return self.value_gy * (1.0 + 2.0 / self.alpha_beta_gy)  # type: ignore[operator]
        return self.value_gy


def default_limits(risk_factors: bool = False) -> dict[str, OrganLimitSpec]:
    """Kidney BED (40 Gy, or 28 Gy with risk factors) and red-marrow 2 Gy, from the radiobiology table."""
    table = radiobiology_table()
    kid = table["kidney"]
    want = "with risk" if risk_factors else "no risk"
    lim = next(x for x in kid.limits if x.quantity == "BED" and want in x.condition)
    rm = next(x for x in table["red_marrow"].limits if x.quantity == "absorbed_dose")
    return {
        "kidneys": OrganLimitSpec(organ="kidneys", quantity="BED", value_gy=lim.value_gy,
                                  alpha_beta_gy=kid.alpha_beta_gy,
                                  repair_half_time_h=kid.repair_half_time_h,
                                  source=f"{lim.source}; {lim.condition}"),
        "red_marrow": OrganLimitSpec(organ="red_marrow", quantity="absorbed_dose",
                                     value_gy=rm.value_gy, source=rm.source),
    }


def limits_from_mapping(data: Any, where: str = "limits") -> dict[str, OrganLimitSpec]:
    """Limits from a mapping (e.g. a parsed YAML file).

    Format::

        limits:
          kidneys: {quantity: BED, value_gy: 40, alpha_beta_gy: 2.6, repair_half_time_h: 2.8,
                    source: "Bodei 2008"}
          red_marrow: {quantity: absorbed_dose, value_gy: 2.0}

    (the top-level ``limits`` key is optional). Raises ``InvalidInputError`` on missing fields.
    """
    if isinstance(data, dict) and "limits" in data:
        data = data["limits"]
    if not isinstance(data, dict) or not data:
        raise InvalidInputError("expected a mapping organ -> {quantity, value_gy, ...}", where=where)
    out = {}
    for organ, row in data.items():
        if not isinstance(row, dict):
            raise InvalidInputError(f"limit of {organ!r} must be a mapping", where=where)
        try:
            out[str(organ)] = OrganLimitSpec(organ=str(organ), **row)
        except (ValidationError, TypeError) as exc:
            msg = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else str(exc)
            loc = ""
            if isinstance(exc, ValidationError) and exc.errors()[0].get("loc"):
                loc = f" (field {'.'.join(str(x) for x in exc.errors()[0]['loc'])})"
            raise InvalidInputError(f"limit of {organ!r}: {msg}{loc}", where=where,
                                    fix="give quantity (BED|EQD2|absorbed_dose), value_gy, and for "
                                        "BED/EQD2 alpha_beta_gy and repair_half_time_h") from exc
    return out


# ---------------------------------------------------------------------------- closed forms
def per_cycle_quantity(activity_gbq: float, dose_gy_per_gbq: float, quantity: Quantity,
                       alpha_beta_gy: float | None = None, g: float = 0.0) -> float:
    """Per-cycle contribution to the limit quantity (BED for BED/EQD2 limits, else dose), Gy."""
    d = activity_gbq * dose_gy_per_gbq
    if quantity == "absorbed_dose":
        return d
    return float(bed(d, alpha_beta_gy, g))  # type: ignore[arg-type]


def max_activity_per_cycle_gbq(
    dose_gy_per_gbq: float, limit_gy: float, n_cycles: int, *, quantity: Quantity = "BED",
    alpha_beta_gy: float | None = None, g: float = 0.0, delivered_gy: float = 0.0,
) -> float:
    """Highest equal activity per cycle (GBq) for ``n_cycles`` further cycles (closed form).

    Parameters
    ----------
    dose_gy_per_gbq
        Organ absorbed dose per GBq (> 0).
    limit_gy
        The limit in BED (for BED/EQD2 limits, already converted) or absorbed dose, Gy.
    n_cycles
        Number of further cycles (>= 1).
    quantity
        ``BED``/``EQD2`` (quadratic) or ``absorbed_dose`` (linear).
    alpha_beta_gy, g
        LQ alpha/beta (Gy) and dose-protraction factor of one cycle.
    delivered_gy
        BED (or absorbed dose) already delivered by previous cycles.

    Returns
    -------
    float
        GBq per cycle; 0 when the limit is already reached.
    """
    if not (math.isfinite(dose_gy_per_gbq) and dose_gy_per_gbq > 0):
        raise InvalidInputError(f"dose per GBq must be > 0, got {dose_gy_per_gbq}",
                                where="dose_gy_per_gbq")
    if not isinstance(n_cycles, int) or n_cycles < 1:
        raise InvalidInputError(f"number of cycles must be an integer >= 1, got {n_cycles!r}",
                                where="n_cycles")
    if not (math.isfinite(delivered_gy) and delivered_gy >= 0):
        raise InvalidInputError(f"delivered dose must be >= 0, got {delivered_gy}",
                                where="delivered_gy")
    remaining = limit_gy - delivered_gy
    if remaining <= 0:
        return 0.0
    nd = n_cycles * dose_gy_per_gbq
    if quantity == "absorbed_dose" or g == 0.0:
        return remaining / nd
    if alpha_beta_gy is None or alpha_beta_gy <= 0:
        raise InvalidInputError("alpha/beta is needed for a BED limit", where="alpha_beta_gy")
    a = n_cycles * g * dose_gy_per_gbq**2 / alpha_beta_gy
    return 2.0 * remaining / (nd + math.sqrt(nd * nd + 4.0 * a * remaining))


def cycles_within_limit(activity_gbq: float, dose_gy_per_gbq: float, limit_gy: float, *,
                        quantity: Quantity, alpha_beta_gy: float | None = None, g: float = 0.0,
                        delivered_gy: float = 0.0) -> int:
    """Number of further cycles of ``activity_gbq`` that keep the cumulative quantity <= limit."""
    q = per_cycle_quantity(activity_gbq, dose_gy_per_gbq, quantity, alpha_beta_gy, g)
    if q <= 0:
        return 10**6
    return max(int(math.floor((limit_gy - delivered_gy) / q * (1 + 1e-12))), 0)


# ---------------------------------------------------------------------------- plan models
class OrganAtRisk(BaseModel):
    """An organ at risk as the prescription needs it.

    Give ``kinetics_terms`` ((amplitude, rate 1/h) of the activity curve) or
    ``effective_half_life_h`` (mono-exponential) for BED limits.
    """

    organ: str
    dose_gy_per_gbq: float = Field(gt=0)
    kinetics_terms: list[tuple[float, float]] | None = None
    effective_half_life_h: float | None = Field(default=None, gt=0)
    delivered_dose_gy: float = Field(default=0.0, ge=0)
    delivered_bed_gy: float = Field(default=0.0, ge=0)


class DeliveredDose(BaseModel):
    """Cumulative dose already delivered to a region by previous cycles."""

    dose_gy: float = Field(ge=0)
    bed_gy: float | None = Field(default=None, ge=0)


class OrganPlanRow(BaseModel):
    """One organ at risk in the plan (Gy in the limit's quantity)."""

    organ: str
    quantity: Quantity
    limit_gy: float
    limit_source: str
    dose_gy_per_gbq: float
    g_factor: float | None
    delivered_gy: float
    max_activity_per_cycle_gbq: float
    cumulative_at_plan_gy: float
    fraction_of_limit_at_plan: float
    cumulative_standard_gy: float
    fraction_of_limit_standard: float
    standard_cycles_within_limit: int


class LesionPlanRow(BaseModel):
    """Predicted cumulative lesion absorbed dose (Gy) under the plan and the standard schedule."""

    region: str
    dose_gy_per_gbq: Interval
    cumulative_plan_gy: Interval
    cumulative_standard_gy: Interval


class Schedule(BaseModel):
    """A schedule of equal cycles."""

    activity_per_cycle_gbq: float
    cycles: int
    total_activity_gbq: float
    interval_weeks: float | None = None
    source: str | None = None


class Prescription(BaseModel):
    """Highest activity per cycle under the organ-at-risk limits, and the standard schedule."""

    therapy: str | None
    cycles_already_given: int
    plan: Schedule
    standard: Schedule
    binding_limit: str
    binding_organ: str | None
    organs: list[OrganPlanRow]
    lesions: list[LesionPlanRow]
    standard_within_limits: bool
    cycles_possible_at_standard_activity: int
    organ_dose_basis: str
    provenance: Provenance


def _g_for(oar: OrganAtRisk, lim: OrganLimitSpec, alpha: bool, prov: Provenance) -> float | None:
    if lim.quantity == "absorbed_dose":
        return None
    if alpha:
        return 0.0
    tr = lim.repair_half_time_h
    if oar.kinetics_terms:
        return g_factor([t[0] for t in oar.kinetics_terms], [t[1] for t in oar.kinetics_terms], tr)  # type: ignore[arg-type]
    if oar.effective_half_life_h:
        return g_factor_mono(oar.effective_half_life_h, tr)  # type: ignore[arg-type]
    raise InvalidInputError(f"{oar.organ}: kinetics are needed for a {lim.quantity} limit",
                            where="OrganAtRisk", fix="give kinetics_terms or effective_half_life_h")


def prescribe_organs(
    organs: list[OrganAtRisk],
    limits: dict[str, OrganLimitSpec],
    *,
    n_cycles: int,
    standard_activity_per_cycle_gbq: float = 7.4,
    standard_interval_weeks: float | None = None,
    standard_source: str | None = None,
    activity_cap_gbq: float | None = None,
    cycles_already_given: int = 0,
    alpha_emitter: bool = False,
    lesions: list[tuple[str, Interval, float]] | None = None,
    therapy: str | None = None,
    organ_dose_basis: str = "given",
) -> Prescription:
    """Plan ``n_cycles`` further equal cycles under ``limits`` (see the module docstring).

    Parameters
    ----------
    organs
        Organs at risk with dose per GBq, kinetics and doses already delivered.
    limits
        Organ name -> cumulative limit; organs without a limit are reported without constraint.
    n_cycles
        Number of further cycles to plan (>= 1).
    standard_activity_per_cycle_gbq, standard_interval_weeks, standard_source
        The standard schedule used for comparison (same number of further cycles).
    activity_cap_gbq
        Optional cap on the activity per cycle (GBq).
    cycles_already_given
        Recorded in the result.
    alpha_emitter
        RBE-weighted doses, G = 0.
    lesions
        (name, dose per GBq interval, delivered dose Gy) for tumour-dose predictions.
    """
    if not isinstance(n_cycles, int) or n_cycles < 1:
        raise InvalidInputError(f"number of cycles must be an integer >= 1, got {n_cycles!r}",
                                where="n_cycles")
    if not (math.isfinite(standard_activity_per_cycle_gbq) and standard_activity_per_cycle_gbq > 0):
        raise InvalidInputError("standard activity must be > 0 GBq", where="standard activity")
    if activity_cap_gbq is not None and not activity_cap_gbq > 0:
        raise InvalidInputError("the activity cap must be > 0 GBq", where="activity_cap_gbq")
    prov = Provenance(parameters={"n_cycles": n_cycles, "cycles_already_given": cycles_already_given,
                                  "limits": {k: v.model_dump() for k, v in limits.items()},
                                  "activity_cap_gbq": activity_cap_gbq,
                                  "cycles_add_in": "BED (full repair between cycles)"})
    if alpha_emitter:
        prov.warn("alpha emitter: limits applied to the RBE-weighted dose with G = 0")
    evaluated: list[tuple[OrganAtRisk, OrganLimitSpec, float | None, float, float]] = []
    names = {o.organ for o in organs}
    for organ, lim in limits.items():
        if organ not in names:
            prov.warn(f"limit for {organ!r} not evaluated: no dose prediction for it")
    for oar in organs:
        lim = limits.get(oar.organ)
        if lim is None:
            continue
        g = _g_for(oar, lim, alpha_emitter, prov)
        delivered = oar.delivered_dose_gy if lim.quantity == "absorbed_dose" else oar.delivered_bed_gy
        if lim.quantity != "absorbed_dose" and oar.delivered_dose_gy > 0 and oar.delivered_bed_gy == 0:
            raise InvalidInputError(f"{oar.organ}: a delivered dose without its BED",
                                    where="delivered", fix="give the BED of previous cycles")
        a_max = max_activity_per_cycle_gbq(oar.dose_gy_per_gbq, lim.bed_limit_gy, n_cycles,
                                           quantity=lim.quantity, alpha_beta_gy=lim.alpha_beta_gy,
                                           g=g or 0.0, delivered_gy=delivered)
        evaluated.append((oar, lim, g, delivered, a_max))
    if not evaluated:
        raise InvalidInputError("no organ at risk has both a dose prediction and a limit",
                                where="limits", fix=f"limits are given for {sorted(limits)}")
    best = min(evaluated, key=lambda e: e[4])
    activity, binding, binding_organ = best[4], f"{best[0].organ} {best[1].quantity}", best[0].organ
    if activity_cap_gbq is not None and activity_cap_gbq < activity:
        activity, binding, binding_organ = activity_cap_gbq, "activity cap per cycle", None
    if activity == 0.0:
        prov.warn(f"{best[0].organ}: limit already reached by the delivered cycles; no further activity")
    a_std = standard_activity_per_cycle_gbq
    rows = []
    for oar, lim, g, delivered, a_max in evaluated:
        q_plan = per_cycle_quantity(activity, oar.dose_gy_per_gbq, lim.quantity,
                                    lim.alpha_beta_gy, g or 0.0)
        q_std = per_cycle_quantity(a_std, oar.dose_gy_per_gbq, lim.quantity, lim.alpha_beta_gy,
                                   g or 0.0)
        cum_plan = delivered + n_cycles * q_plan
        cum_std = delivered + n_cycles * q_std
        rows.append(OrganPlanRow(
            organ=oar.organ, quantity="BED" if lim.quantity == "EQD2" else lim.quantity,
            limit_gy=lim.bed_limit_gy, limit_source=lim.source, dose_gy_per_gbq=oar.dose_gy_per_gbq,
            g_factor=g, delivered_gy=delivered, max_activity_per_cycle_gbq=a_max,
            cumulative_at_plan_gy=cum_plan, fraction_of_limit_at_plan=cum_plan / lim.bed_limit_gy,
            cumulative_standard_gy=cum_std, fraction_of_limit_standard=cum_std / lim.bed_limit_gy,
            standard_cycles_within_limit=cycles_within_limit(
                a_std, oar.dose_gy_per_gbq, lim.bed_limit_gy, quantity=lim.quantity,
                alpha_beta_gy=lim.alpha_beta_gy, g=g or 0.0, delivered_gy=delivered)))
    for oar in organs:
        if oar.organ not in limits:
            prov.parameters.setdefault("organs_without_limit", []).append(oar.organ)
    lesion_rows = []
    for name, d, given in lesions or []:
        def scaled(a: float, d: Interval = d, given: float = given) -> Interval:
            k = a * n_cycles
            return Interval(median=given + d.median * k, p05=given + d.p05 * k,
                            p95=given + d.p95 * k)
        lesion_rows.append(LesionPlanRow(region=name, dose_gy_per_gbq=d,
                                         cumulative_plan_gy=scaled(activity),
                                         cumulative_standard_gy=scaled(a_std)))
    std_ok = all(r.cumulative_standard_gy <= r.limit_gy * (1 + 1e-12) for r in rows)
    if not std_ok:
        over = [r.organ for r in rows if r.cumulative_standard_gy > r.limit_gy]
        prov.warn(f"the standard schedule exceeds the limit of {', '.join(over)}")
    return Prescription(
        therapy=therapy, cycles_already_given=cycles_already_given,
        plan=Schedule(activity_per_cycle_gbq=activity, cycles=n_cycles,
                      total_activity_gbq=activity * n_cycles, interval_weeks=standard_interval_weeks),
        standard=Schedule(activity_per_cycle_gbq=a_std, cycles=n_cycles,
                          total_activity_gbq=a_std * n_cycles, interval_weeks=standard_interval_weeks,
                          source=standard_source),
        binding_limit=binding, binding_organ=binding_organ, organs=rows, lesions=lesion_rows,
        standard_within_limits=std_ok,
        cycles_possible_at_standard_activity=min(r.standard_cycles_within_limit for r in rows),
        organ_dose_basis=organ_dose_basis, provenance=prov)


def _dose(interval: Interval, basis: str) -> float:
    if basis == "median":
        return interval.median
    if basis == "p95":
        return interval.p95
    raise InvalidInputError(f"organ dose basis must be 'median' or 'p95', got {basis!r}",
                            where="organ_dose_basis")


def prescribe(
    prediction: DosePrediction,
    *,
    n_cycles: int | None = None,
    limits: dict[str, OrganLimitSpec] | None = None,
    risk_factors: bool = False,
    delivered: dict[str, DeliveredDose] | None = None,
    cycles_already_given: int = 0,
    activity_cap_gbq: float | None = None,
    organ_dose_basis: str = "median",
) -> Prescription:
    """Plan the further cycles of a therapy from a :class:`DosePrediction`.

    Parameters
    ----------
    prediction
        Predicted doses per GBq (median kinetics give G).
    n_cycles
        Further cycles to plan; default: the standard number of cycles minus those already given.
    limits
        Limits by organ (default :func:`default_limits` with ``risk_factors``).
    delivered
        Cumulative dose (and BED) already delivered per region by previous cycles.
    cycles_already_given
        Number of cycles already given.
    activity_cap_gbq
        Optional cap on the activity per cycle (GBq).
    organ_dose_basis
        ``median`` (default) or ``p95`` (conservative: the 95th percentile of the organ dose per GBq).
    """
    std = prediction.standard_schedule
    if n_cycles is None:
        n_cycles = int(std["cycles"]) - cycles_already_given
        if n_cycles < 1:
            raise InvalidInputError("all standard cycles are already given", where="n_cycles",
                                    fix="give the number of further cycles explicitly")
    lims = default_limits(risk_factors) if limits is None else limits
    delivered = delivered or {}
    alpha = any(r.dose_quantity == "rbe_weighted_dose" for r in prediction.regions)
    organs = []
    zero = []
    for r in prediction.organs_at_risk:
        dv = delivered.get(r.region)
        if _dose(r.dose_gy_per_gbq, organ_dose_basis) <= 0:
            zero.append(r.region)
            continue
        organs.append(OrganAtRisk(organ=r.region, dose_gy_per_gbq=_dose(r.dose_gy_per_gbq, organ_dose_basis),
                                  kinetics_terms=r.kinetics_terms,
                                  delivered_dose_gy=dv.dose_gy if dv else 0.0,
                                  delivered_bed_gy=(dv.bed_gy or 0.0) if dv else 0.0))
    lesions = [(r.region, r.dose_gy_per_gbq,
                delivered[r.region].dose_gy if r.region in delivered else 0.0)
               for r in prediction.lesions]
    res = prescribe_organs(
        organs, lims, n_cycles=n_cycles,
        standard_activity_per_cycle_gbq=float(std["activity_per_cycle_gbq"]),
        standard_interval_weeks=std.get("interval_weeks"), standard_source=std.get("source"),
        activity_cap_gbq=activity_cap_gbq,
        cycles_already_given=cycles_already_given, alpha_emitter=alpha, lesions=lesions,
        therapy=prediction.therapy, organ_dose_basis=organ_dose_basis)
    res.provenance.parameters["risk_factors"] = risk_factors
    for name in zero:
        res.provenance.warn(f"{name}: predicted dose is 0 (no uptake): not constrained")
    for w in prediction.provenance.warnings:
        if w.startswith("plausibility"):
            res.provenance.warn(w)
    return res

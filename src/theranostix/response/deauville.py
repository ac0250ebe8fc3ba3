"""Lugano 2014 metabolic response of lymphoma from the Deauville score (Cheson et al., JCO
2014;32:3059; Barrington et al., JCO 2014;32:3048; CRITERIA.md §3.10).

* CMR: follow-up Deauville 1, 2 or 3 (DS3 is CMR by default; ``ds3_is_cmr=False`` treats it as
  inadequate response, as in some de-escalation trials).
* PMR: DS 4 or 5 with reduced uptake compared with baseline.
* NMR (no metabolic response): DS 4 or 5 without significant change.
* PMD: DS 4 or 5 with increased uptake compared with baseline, and/or new FDG-avid lesions
  consistent with lymphoma.

Lugano gives no number for "reduced" / "increased": ``change_threshold_fraction`` (default 0,
any change counts) is a named option; e.g. 0.3 requires a 30 % change.
"""

from __future__ import annotations

from typing import Literal

from theranostix.core.errors import InvalidInputError
from theranostix.pet.scores import CriterionResult, Reason, check_value, deauville_score, fmt, meets


def lugano_response(
    baseline_lesion_suv_max: float,
    followup_lesion_suv_max: float,
    mediastinum_suv: float,
    liver_suv: float,
    new_lesions: int = 0,
    *,
    liver_metric: Literal["max", "mean"] = "max",
    ds5_liver_factor: float = 2.0,
    ds3_is_cmr: bool = True,
    change_threshold_fraction: float = 0.0,
    followup_uptake_above_background: bool = True,
) -> CriterionResult:
    """Lugano metabolic response (CMR / PMR / NMR / PMD) with the follow-up Deauville score.

    ``mediastinum_suv`` and ``liver_suv`` are the follow-up reference values. Reasons:
    ``Lugano.deauville`` (with the Deauville reasons inlined), ``Lugano.new_lesions``,
    ``Lugano.uptake_change``.

    Raises
    ------
    InvalidInputError
        Negative values, zero baseline, negative new-lesion count.
    """
    b = check_value(baseline_lesion_suv_max, "baseline_lesion_suv_max", positive=True)
    f = check_value(followup_lesion_suv_max, "followup_lesion_suv_max")
    t = check_value(change_threshold_fraction, "change_threshold_fraction")
    if new_lesions is None or int(new_lesions) != new_lesions or new_lesions < 0:
        raise InvalidInputError(f"new_lesions {new_lesions!r} is not a count >= 0", where="new_lesions")
    ds = deauville_score(f, mediastinum_suv, liver_suv, liver_metric=liver_metric,
                         ds5_liver_factor=ds5_liver_factor,
                         uptake_above_background=followup_uptake_above_background)
    prov = ds.provenance.model_copy(deep=True)
    prov.parameters.update({"ds3_is_cmr": ds3_is_cmr, "change_threshold_fraction": t})
    d = int(ds.category)
    change = (f - b) / b
    reasons = [Reason(rule="Lugano.deauville", text=f"Follow-up Deauville score {d}: "
                      + "; ".join(r.text for r in ds.reasons), met=True,
                      values={"deauville": d}, option=f"ds3_is_cmr={ds3_is_cmr}")]
    reasons.append(Reason(rule="Lugano.new_lesions", text=f"{new_lesions} new FDG-avid lesion(s)",
                          met=new_lesions > 0, values={"new_lesions": new_lesions}))
    reduced = change < 0 and meets(-change, ">=", t)
    increased = change > 0 and meets(change, ">=", t)
    reasons.append(Reason(
        rule="Lugano.uptake_change",
        text=(f"Lesion SUVmax {fmt(b)} -> {fmt(f)} ({change * 100:+.1f} %): "
              + ("reduced" if reduced else "increased" if increased else "no significant change")
              + f" (threshold {t * 100:g} %)"),
        met=reduced or increased, values={"change_fraction": change},
        thresholds={"change_threshold_fraction": t},
        option=f"change_threshold_fraction={t}"))
    cmr_max = 3 if ds3_is_cmr else 2
    if new_lesions > 0:
        cat = "PMD"
    elif d <= cmr_max:
        cat = "CMR"
    elif increased:
        cat = "PMD"
    elif reduced:
        cat = "PMR"
    else:
        cat = "NMR"
    return CriterionResult(criterion="Lugano 2014 metabolic response (Deauville)", category=cat,
                           reasons=reasons, provenance=prov,
                           values={"deauville": d, "change_fraction": change, **ds.values})


__all__ = ["lugano_response"]

"""Krenning-type change of SSTR PET uptake between two scans (CRITERIA.md §3.11 [M]).

Not a validated response criterion: it reports how the Krenning-type grade of the reference
lesion changed (``"grade_increase"``, ``"grade_stable"``, ``"grade_decrease"``) and overrides
with ``"new_lesions"`` when new SSTR-positive lesions appeared, so a reader sees both.
"""

from __future__ import annotations

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.pet.scores import CriterionResult, Reason, krenning_grade


def krenning_change(
    baseline_lesion_suv_max: float,
    baseline_liver_suv_mean: float,
    followup_lesion_suv_max: float,
    followup_liver_suv_mean: float,
    *,
    baseline_spleen_suv_mean: float | None = None,
    followup_spleen_suv_mean: float | None = None,
    new_lesions: int = 0,
    equal_tolerance: float = 0.10,
) -> CriterionResult:
    """Change of the Krenning-type grade of one lesion between baseline and follow-up.

    Grades come from :func:`theranostix.pet.scores.krenning_grade` with ``equal_tolerance``.

    Raises
    ------
    InvalidInputError
        Invalid values (see :func:`krenning_grade`), negative ``new_lesions``.
    """
    if new_lesions is None or int(new_lesions) != new_lesions or new_lesions < 0:
        raise InvalidInputError(f"new_lesions {new_lesions!r} is not a count >= 0", where="new_lesions")
    gb = krenning_grade(baseline_lesion_suv_max, baseline_liver_suv_mean, baseline_spleen_suv_mean,
                        equal_tolerance=equal_tolerance)
    gf = krenning_grade(followup_lesion_suv_max, followup_liver_suv_mean, followup_spleen_suv_mean,
                        equal_tolerance=equal_tolerance)
    b, f = int(gb.category), int(gf.category)
    prov = Provenance(parameters={"equal_tolerance": equal_tolerance})
    for w in gb.provenance.warnings + gf.provenance.warnings:
        prov.warn(w)
    reasons = [
        Reason(rule="Krenning.baseline", text=f"Baseline grade {b}: " + gb.reasons[-1].text,
               met=True, values={"grade": b}),
        Reason(rule="Krenning.followup", text=f"Follow-up grade {f}: " + gf.reasons[-1].text,
               met=True, values={"grade": f}),
        Reason(rule="Krenning.new_lesions", text=f"{new_lesions} new SSTR-positive lesion(s)",
               met=new_lesions > 0, values={"new_lesions": new_lesions}),
    ]
    cat = ("new_lesions" if new_lesions > 0 else "grade_increase" if f > b
           else "grade_decrease" if f < b else "grade_stable")
    return CriterionResult(criterion="Krenning-type SSTR uptake change", category=cat,
                           reasons=reasons, flags=gb.flags + gf.flags, provenance=prov,
                           values={"baseline_grade": b, "followup_grade": f,
                                   "grade_change": f - b})


__all__ = ["krenning_change"]

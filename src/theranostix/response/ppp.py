"""PSMA PET Progression (PPP) criteria (Fanti et al., JNM 2020;61:678; CRITERIA.md §3.3).

Progressive disease is any of:

1. >= 2 new PSMA-positive distant lesions;
2. 1 new PSMA-positive lesion plus consistent clinical or laboratory data (e.g. PSA
   progression); confirmation by biopsy or correlative imaging within 3 months recommended;
3. an increase of >= 30 % in size or PSMA uptake of >= 1 existing lesion plus consistent
   clinical/lab data or confirmation by biopsy/imaging within 3 months.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.pet.scores import CriterionResult, Reason, check_comparator, check_value, meets


class ExistingLesionChange(BaseModel):
    """Change of one existing lesion between baseline and follow-up.

    Attributes
    ----------
    lesion_id
        Label.
    measure
        ``"size"`` (diameter or volume as the reader measures) or ``"uptake"`` (SUVmax/SUVpeak).
    baseline_value, followup_value
        The measure at both timepoints (same units).
    """

    lesion_id: str = ""
    measure: Literal["size", "uptake"]
    baseline_value: float
    followup_value: float


class PppInput(BaseModel):
    """Findings and clinical data for PPP.

    Attributes
    ----------
    new_distant_lesions
        New PSMA-positive distant (M1) lesions.
    new_other_lesions
        New PSMA-positive non-distant lesions (local, regional nodes).
    existing_lesions
        Changes of existing lesions (size or uptake).
    max_existing_increase_fraction
        Alternatively the largest fractional increase of an existing lesion (0.3 = 30 %).
    clinical_progression
        Consistent clinical or laboratory data (e.g. PSA progression): ``True``/``False``, or
        ``None`` when not available.
    confirmed_within_3_months
        Confirmation by biopsy or correlative imaging within 3 months (``None`` = not done).
    """

    new_distant_lesions: int = 0
    new_other_lesions: int = 0
    existing_lesions: list[ExistingLesionChange] = Field(default_factory=list)
    max_existing_increase_fraction: float | None = None
    clinical_progression: bool | None = None
    confirmed_within_3_months: bool | None = None


def ppp(
    data: PppInput,
    *,
    min_new_distant_lesions: int = 2,
    increase_fraction: float = 0.30,
    increase_boundary: Literal[">=", ">"] = ">=",
    rule3_requires: Literal["clinical_or_confirmation", "clinical_and_confirmation"] = "clinical_or_confirmation",
) -> CriterionResult:
    """PSMA PET Progression.

    Returns ``category`` ``"PD"`` (PSMA-PET progression), ``"non-PD"``, or ``"indeterminate"``
    when a rule hinges on clinical data or confirmation that is not available (``None``).
    Reasons ``PPP.rule1_new_distant``, ``PPP.rule2_single_new``, ``PPP.rule3_existing_increase``.

    Options: ``min_new_distant_lesions`` (2), ``increase_fraction`` (0.30, ``>=``),
    ``rule3_requires`` -- CRITERIA.md reads rule 3 as clinical data **or** confirmation
    (default); ``"clinical_and_confirmation"`` requires both.

    Raises
    ------
    InvalidInputError
        Negative counts or values; zero baseline in a lesion change.
    """
    for name in ("new_distant_lesions", "new_other_lesions"):
        v = getattr(data, name)
        if v < 0:
            raise InvalidInputError(f"{v} < 0", where=name, fix="give a count >= 0")
    if rule3_requires not in ("clinical_or_confirmation", "clinical_and_confirmation"):
        raise InvalidInputError(f"unknown rule3_requires {rule3_requires!r}", where="rule3_requires")
    op = check_comparator(increase_boundary, "increase_boundary")
    prov = Provenance(parameters={"min_new_distant_lesions": min_new_distant_lesions,
                                  "increase_fraction": increase_fraction,
                                  "increase_boundary": increase_boundary,
                                  "rule3_requires": rule3_requires})
    clin = data.clinical_progression
    conf = data.confirmed_within_3_months
    reasons: list[Reason] = []

    # rule 1
    r1 = data.new_distant_lesions >= min_new_distant_lesions
    reasons.append(Reason(rule="PPP.rule1_new_distant",
                          text=f"{data.new_distant_lesions} new distant lesion(s) "
                               f"{'>=' if r1 else '<'} {min_new_distant_lesions}",
                          met=r1, values={"new_distant_lesions": data.new_distant_lesions},
                          thresholds={"min_new_distant_lesions": min_new_distant_lesions,
                                      "comparator": ">="}))
    # rule 2
    n_new = data.new_distant_lesions + data.new_other_lesions
    if n_new >= 1:
        r2: bool | None = clin
        text = (f"{n_new} new PSMA-positive lesion(s) with "
                + ("consistent clinical/lab data" if clin else
                   "no consistent clinical/lab data" if clin is False else
                   "clinical/lab data not available"))
        if r2 and not conf:
            text += "; confirmation by biopsy or imaging within 3 months is recommended"
    else:
        r2 = False
        text = "No new PSMA-positive lesion"
    reasons.append(Reason(rule="PPP.rule2_single_new", text=text, met=r2,
                          values={"new_lesions": n_new, "clinical_progression": clin,
                                  "confirmed_within_3_months": conf}))
    # rule 3
    increases: list[tuple[str, float]] = []
    for i, ch in enumerate(data.existing_lesions):
        b = check_value(ch.baseline_value, f"existing_lesions[{i}].baseline_value", positive=True)
        f = check_value(ch.followup_value, f"existing_lesions[{i}].followup_value")
        increases.append((f"{ch.lesion_id or f'lesion {i + 1}'} {ch.measure}", (f - b) / b))
    if data.max_existing_increase_fraction is not None:
        v = data.max_existing_increase_fraction
        if v != v or v < -1:
            raise InvalidInputError(f"{v} is not a fractional change >= -1",
                                    where="max_existing_increase_fraction")
        increases.append(("largest existing-lesion change (given)", float(v)))
    if increases:
        name, top = max(increases, key=lambda t: t[1])
        grew = meets(top, op, increase_fraction)
    else:
        name, top, grew = "none", None, False
    if not grew:
        r3: bool | None = False
        text = (f"Largest existing-lesion increase {name} {top * 100:+.1f} % does not meet "
                f"{increase_boundary} {increase_fraction * 100:g} %" if top is not None
                else "No existing-lesion changes given")
    else:
        if rule3_requires == "clinical_or_confirmation":
            r3 = True if (clin or conf) else (None if (clin is None or conf is None) else False)
            need = "consistent clinical/lab data or confirmation within 3 months"
        else:
            r3 = True if (clin and conf) else (False if (clin is False or conf is False) else None)
            need = "consistent clinical/lab data and confirmation within 3 months"
        text = (f"Existing lesion {name} increased {top * 100:+.1f} % ({increase_boundary} "
                f"{increase_fraction * 100:g} %); requires {need}: clinical={clin}, "
                f"confirmed={conf}")
    reasons.append(Reason(rule="PPP.rule3_existing_increase", text=text, met=r3,
                          values={"largest_increase_fraction": top, "lesion": name,
                                  "clinical_progression": clin, "confirmed_within_3_months": conf},
                          thresholds={"increase_fraction": increase_fraction,
                                      "comparator": increase_boundary},
                          option=f"rule3_requires={rule3_requires}"))
    mets = [r.met for r in reasons]
    if any(m is True for m in mets):
        cat = "PD"
    elif any(m is None for m in mets):
        cat = "indeterminate"
        prov.warn("PPP depends on clinical data or confirmation that is not available")
    else:
        cat = "non-PD"
    return CriterionResult(criterion="PSMA PET Progression (PPP)", category=cat, reasons=reasons,
                           provenance=prov, values={"new_lesions": n_new,
                                                    "largest_increase_fraction": top})


__all__ = ["ExistingLesionChange", "PppInput", "ppp"]

"""Eligibility for radioligand therapy: VISION, TheraP (PSMA) and NETTER-1-style SSTR uptake.

Each function is pure: typed findings in, an :class:`EligibilityResult` out, with the decision
(``category``: ``"eligible"``, ``"not_eligible"`` or ``"indeterminate"``) and one
:class:`~theranostix.pet.scores.Reason` per rule, naming the lesion that decides it.
Definitions: ``shared/reference/pet/CRITERIA.md`` §3.8, §3.9, §3.11 (all [M]: thresholds are
named parameters with these defaults).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.pet.scores import (
    CriterionResult,
    Reason,
    check_comparator,
    check_value,
    fmt,
    krenning_grade,
    meets,
)

Decision = Literal["eligible", "not_eligible", "indeterminate"]


class EligibilityResult(CriterionResult):
    """Decision with the reasons; ``category`` is the decision, ``eligible`` a convenience."""

    @property
    def eligible(self) -> bool:
        """True only for a definite ``"eligible"`` decision."""
        return self.category == "eligible"


class PsmaLesion(BaseModel):
    """One metastatic lesion on the screening PSMA PET/CT.

    Attributes
    ----------
    lesion_id
        Label used in the reasons.
    kind
        ``"lymph_node"``, ``"visceral"`` (solid organ) or ``"bone"``.
    suv_max
        Lesion SUVmax on PSMA PET.
    short_axis_mm
        Short-axis diameter (nodes, visceral lesions) in mm on CT.
    soft_tissue_component_short_axis_mm
        Short axis of the soft-tissue component of a bone lesion (mm); 0 or ``None`` if none.
    measurable
        RECIST-measurable soft-tissue lesion (TheraP).
    fdg_positive
        FDG-avid on the companion FDG PET (TheraP discordance); ``None`` if not assessed.
    """

    lesion_id: str = ""
    kind: Literal["lymph_node", "visceral", "bone"]
    suv_max: float
    short_axis_mm: float | None = None
    soft_tissue_component_short_axis_mm: float | None = None
    measurable: bool = False
    fdg_positive: bool | None = None


def _name(les: PsmaLesion, i: int) -> str:
    return les.lesion_id or f"lesion {i + 1} ({les.kind})"


def vision_eligibility(
    lesions: list[PsmaLesion],
    liver_suv_mean: float,
    *,
    positive_boundary: Literal[">", ">="] = ">",
    node_short_axis_mm: float = 25.0,
    visceral_short_axis_mm: float = 10.0,
    bone_soft_tissue_short_axis_mm: float = 10.0,
) -> EligibilityResult:
    """VISION PSMA-PET eligibility ([68Ga]Ga-PSMA-11; Sartor et al. NEJM 2021; Kuo et al. JNM 2022).

    Rules (CRITERIA.md §3.8 [M]):

    * ``VISION.psma_positive``: at least one metastatic lesion with uptake > liver
      (lesion SUVmax compared with liver SUVmean; ``positive_boundary`` ">" default).
    * ``VISION.negative_node``: no PSMA-negative (uptake <= liver) lymph node with short axis
      >= ``node_short_axis_mm`` (25 mm).
    * ``VISION.negative_visceral``: no PSMA-negative solid-organ lesion with short axis
      >= ``visceral_short_axis_mm`` (10 mm).
    * ``VISION.negative_bone``: no PSMA-negative bone lesion with a soft-tissue component
      >= ``bone_soft_tissue_short_axis_mm`` (10 mm).

    Raises
    ------
    InvalidInputError
        Negative values, missing liver reference, or a PSMA-negative node/visceral lesion without
        its short axis (the exclusion rule cannot be decided without it).
    """
    liver = check_value(liver_suv_mean, "liver_suv_mean", positive=True,
                        fix="measure the liver SUVmean (3 cm sphere, right lobe)")
    pos_op = check_comparator(positive_boundary, "positive_boundary")
    for n, v in (("node_short_axis_mm", node_short_axis_mm),
                 ("visceral_short_axis_mm", visceral_short_axis_mm),
                 ("bone_soft_tissue_short_axis_mm", bone_soft_tissue_short_axis_mm)):
        check_value(v, n, positive=True)
    prov = Provenance(parameters={"positive_boundary": positive_boundary,
                                  "node_short_axis_mm": node_short_axis_mm,
                                  "visceral_short_axis_mm": visceral_short_axis_mm,
                                  "bone_soft_tissue_short_axis_mm": bone_soft_tissue_short_axis_mm})
    positives: list[str] = []
    offenders: dict[str, list[str]] = {"lymph_node": [], "visceral": [], "bone": []}
    details: dict[str, list[dict]] = {"lymph_node": [], "visceral": [], "bone": []}
    limits = {"lymph_node": node_short_axis_mm, "visceral": visceral_short_axis_mm,
              "bone": bone_soft_tissue_short_axis_mm}
    for i, les in enumerate(lesions):
        where = f"lesions[{i}]"
        suv = check_value(les.suv_max, f"{where}.suv_max")
        if meets(suv, pos_op, liver):
            positives.append(_name(les, i))
            continue
        if les.kind == "bone":
            size = check_value(les.soft_tissue_component_short_axis_mm,
                               f"{where}.soft_tissue_component_short_axis_mm", required=False)
            size = 0.0 if size is None else size
        else:
            size = check_value(les.short_axis_mm, f"{where}.short_axis_mm",
                               fix="measure the short axis on CT (PSMA-negative lesions decide "
                                   "VISION exclusion)")
        lim = limits[les.kind]
        details[les.kind].append({"lesion": _name(les, i), "suv_max": suv, "size_mm": size})
        if meets(size, ">=", lim):
            offenders[les.kind].append(f"{_name(les, i)} ({fmt(size)} mm, SUVmax {fmt(suv)})")
    reasons = [Reason(
        rule="VISION.psma_positive",
        text=(f"{len(positives)} lesion(s) with SUVmax {positive_boundary} liver SUVmean "
              f"{fmt(liver)}: {positives}" if positives else
              f"No lesion with SUVmax {positive_boundary} liver SUVmean {fmt(liver)}"),
        met=bool(positives), values={"positive_lesions": positives, "liver_suv_mean": liver},
        thresholds={"liver_suv_mean": liver, "comparator": positive_boundary},
        option=f"positive_boundary={positive_boundary}")]
    labels = {"lymph_node": ("negative_node", "lymph node", "short axis"),
              "visceral": ("negative_visceral", "solid-organ lesion", "short axis"),
              "bone": ("negative_bone", "bone lesion", "soft-tissue component short axis")}
    for kind, (rule, word, dim) in labels.items():
        bad = offenders[kind]
        reasons.append(Reason(
            rule=f"VISION.{rule}",
            text=(f"PSMA-negative {word}(s) with {dim} >= {fmt(limits[kind])} mm: {bad}" if bad
                  else f"No PSMA-negative {word} with {dim} >= {fmt(limits[kind])} mm "
                       f"({len(details[kind])} PSMA-negative {word}(s) checked)"),
            met=not bad, values={"psma_negative": details[kind]},
            thresholds={f"{kind}_short_axis_mm": limits[kind], "comparator": ">="}))
    ok = all(r.met for r in reasons)
    return EligibilityResult(criterion="VISION PSMA-PET eligibility",
                             category="eligible" if ok else "not_eligible", reasons=reasons,
                             provenance=prov)


def therap_eligibility(
    lesions: list[PsmaLesion],
    *,
    fdg_discordant_disease: bool | None = None,
    min_hottest_suv_max: float = 20.0,
    measurable_min_suv_max: float = 10.0,
    measurable_boundary: Literal[">", ">="] = ">",
) -> EligibilityResult:
    """TheraP PSMA/FDG PET eligibility (Hofman et al., Lancet 2021;397:797; CRITERIA §3.9 [M]).

    Rules:

    * ``TheraP.hottest_site``: SUVmax >= ``min_hottest_suv_max`` (20) at >= 1 site.
    * ``TheraP.measurable_sites``: SUVmax > ``measurable_min_suv_max`` (10) at every measurable
      site (``measurable_boundary`` ">" default; met vacuously without measurable sites).
    * ``TheraP.fdg_discordance``: no FDG-positive / PSMA-negative disease. Decided by
      ``fdg_discordant_disease`` if given; otherwise from the lesions' ``fdg_positive`` flags
      (a lesion FDG-positive with PSMA SUVmax <= ``measurable_min_suv_max`` is discordant —
      our operational reading of "PSMA-negative" for TheraP). If no FDG information is
      available the decision is ``"indeterminate"``.

    Raises
    ------
    InvalidInputError
        No lesions, negative SUV.
    """
    if not lesions:
        raise InvalidInputError("no lesions given", where="lesions",
                                fix="give the PSMA-positive sites with their SUVmax")
    check_value(min_hottest_suv_max, "min_hottest_suv_max", positive=True)
    check_value(measurable_min_suv_max, "measurable_min_suv_max", positive=True)
    op = check_comparator(measurable_boundary, "measurable_boundary")
    prov = Provenance(parameters={"min_hottest_suv_max": min_hottest_suv_max,
                                  "measurable_min_suv_max": measurable_min_suv_max,
                                  "measurable_boundary": measurable_boundary})
    suvs = [check_value(le.suv_max, f"lesions[{i}].suv_max") for i, le in enumerate(lesions)]
    i_hot = max(range(len(suvs)), key=suvs.__getitem__)
    hot_ok = meets(suvs[i_hot], ">=", min_hottest_suv_max)
    reasons = [Reason(
        rule="TheraP.hottest_site",
        text=(f"Hottest site {_name(lesions[i_hot], i_hot)} SUVmax {fmt(suvs[i_hot])} "
              f"{'>=' if hot_ok else '<'} {fmt(min_hottest_suv_max)}"),
        met=hot_ok, values={"hottest_suv_max": suvs[i_hot], "lesion": _name(lesions[i_hot], i_hot)},
        thresholds={"min_hottest_suv_max": min_hottest_suv_max, "comparator": ">="})]
    meas = [(i, le) for i, le in enumerate(lesions) if le.measurable]
    low = [f"{_name(le, i)} (SUVmax {fmt(suvs[i])})" for i, le in meas
           if not meets(suvs[i], op, measurable_min_suv_max)]
    reasons.append(Reason(
        rule="TheraP.measurable_sites",
        text=(f"Measurable site(s) with SUVmax not {op} {fmt(measurable_min_suv_max)}: {low}" if low
              else (f"All {len(meas)} measurable site(s) have SUVmax {op} {fmt(measurable_min_suv_max)}"
                    if meas else "No measurable sites: rule met vacuously")),
        met=not low, values={"measurable_sites": len(meas), "failing": low},
        thresholds={"measurable_min_suv_max": measurable_min_suv_max, "comparator": op},
        option=f"measurable_boundary={measurable_boundary}"))
    if fdg_discordant_disease is not None:
        disc = fdg_discordant_disease
        text = ("Reader reports FDG-positive / PSMA-negative (discordant) disease" if disc
                else "Reader reports no FDG-discordant disease")
    else:
        flagged = [le for le in lesions if le.fdg_positive is not None]
        if not flagged:
            disc = None
            text = "FDG PET information missing: discordance not assessable"
        else:
            bad = [f"{_name(le, i)} (PSMA SUVmax {fmt(suvs[i])})" for i, le in enumerate(lesions)
                   if le.fdg_positive and not meets(suvs[i], op, measurable_min_suv_max)]
            disc = bool(bad)
            text = (f"FDG-positive lesion(s) with low PSMA uptake (SUVmax not {op} "
                    f"{fmt(measurable_min_suv_max)}): {bad}" if bad
                    else "Every FDG-positive lesion is PSMA-positive")
    reasons.append(Reason(rule="TheraP.fdg_discordance", text=text,
                          met=None if disc is None else not disc,
                          values={"fdg_discordant_disease": disc}))
    if any(r.met is False for r in reasons):
        cat = "not_eligible"
    elif any(r.met is None for r in reasons):
        cat = "indeterminate"
        prov.warn("FDG PET discordance not assessed: TheraP eligibility indeterminate")
    else:
        cat = "eligible"
    return EligibilityResult(criterion="TheraP PSMA/FDG PET eligibility", category=cat,
                             reasons=reasons, provenance=prov)


class SstrLesion(BaseModel):
    """One target lesion on SSTR PET.

    Attributes
    ----------
    lesion_id
        Label for the reasons.
    suv_max
        Lesion SUVmax.
    """

    lesion_id: str = ""
    suv_max: float


def netter1_eligibility(
    lesions: list[SstrLesion],
    liver_suv_mean: float,
    spleen_suv_mean: float | None = None,
    *,
    min_grade: int = 2,
    equal_tolerance: float = 0.10,
) -> EligibilityResult:
    """NETTER-1-style SSTR eligibility: uptake >= liver (Krenning grade >= 2) in every target
    lesion (Strosberg et al. NEJM 2017; CRITERIA.md §3.11 [M]).

    Grades come from :func:`theranostix.pet.scores.krenning_grade` (``equal_tolerance`` is the
    band taken as "equal to liver", default +-10 %, our choice). One reason per lesion
    (``NETTER-1.lesion[i]``) and a summary rule ``NETTER-1.all_targets``.

    Raises
    ------
    InvalidInputError
        No lesions, missing liver reference, negative values.
    """
    if not lesions:
        raise InvalidInputError("no target lesions given", where="lesions",
                                fix="give the target lesions with their SUVmax")
    if min_grade not in (1, 2, 3, 4):
        raise InvalidInputError(f"min_grade {min_grade} not in 1..4", where="min_grade")
    prov = Provenance(parameters={"min_grade": min_grade, "equal_tolerance": equal_tolerance})
    reasons: list[Reason] = []
    failing = []
    for i, le in enumerate(lesions):
        g = krenning_grade(le.suv_max, liver_suv_mean, spleen_suv_mean,
                           equal_tolerance=equal_tolerance)
        grade = int(g.category)
        ok = grade >= min_grade
        name = le.lesion_id or f"lesion {i + 1}"
        if not ok:
            failing.append(name)
        reasons.append(Reason(rule=f"NETTER-1.lesion[{i}]",
                              text=f"{name}: Krenning grade {grade} ({g.reasons[-1].text})",
                              met=ok, values={"grade": grade, "suv_max": le.suv_max},
                              thresholds={"min_grade": min_grade, "comparator": ">="}))
        for w in g.provenance.warnings:
            prov.warn(w)
    reasons.append(Reason(rule="NETTER-1.all_targets",
                          text=(f"Target lesion(s) below grade {min_grade}: {failing}" if failing
                                else f"All {len(lesions)} target lesion(s) grade >= {min_grade} "
                                     "(uptake >= liver)"),
                          met=not failing, values={"failing": failing},
                          thresholds={"min_grade": min_grade}))
    return EligibilityResult(criterion="NETTER-1-style SSTR uptake eligibility",
                             category="not_eligible" if failing else "eligible",
                             reasons=reasons, provenance=prov)


__all__ = ["EligibilityResult", "PsmaLesion", "SstrLesion", "netter1_eligibility",
           "therap_eligibility", "vision_eligibility"]

"""Lesion-level PET scores, each a pure function returning the category and every reason.

Implemented (definitions: ``shared/reference/pet/CRITERIA.md``; full notes in ``docs/criteria.md``):

* :func:`mipsma_score` -- PROMISE V2 miPSMA expression score 0-3 (Seifert et al., Eur Urol
  2023;83:405; V1 Eiber et al., JNM 2018;59:469); spleen replaces liver for [18F]PSMA-1007.
* :func:`psma_rads` -- PSMA-RADS 1.0 (Rowe et al., JNM 2018;59:479, Table 1) and the 2.0 "5T"
  category for treated lesions (Werner et al., Eur Urol 2023).
* :func:`primary_score` -- PRIMARY 5-point intraprostatic score (Emmett et al.; PMC9635676 Table 2).
* :func:`krenning_grade` -- Krenning-type SSTR PET uptake grade 0-4 against liver and spleen.
* :func:`deauville_score` and :func:`qpet` -- Deauville 5-point scale and qPET (Hasenclever et al.,
  EJNMMI 2014;41:1301) for FDG in lymphoma.

Every result is a :class:`CriterionResult`: ``category`` plus ``reasons`` -- one :class:`Reason`
per rule evaluated, with the numbers compared, the thresholds and the option names -- and
``provenance`` (parameters and warnings). The shared pieces (:class:`Reason`,
:class:`CriterionResult`, :func:`meets`, :func:`check_value`) are used by
:mod:`theranostix.pet.staging`, :mod:`theranostix.planning.eligibility` and
:mod:`theranostix.response`.

Boundary arithmetic: all threshold comparisons go through :func:`meets`, which applies a relative
tolerance of 1e-9 so that values given in decimal (e.g. a 30 % fall computed from 10 -> 7 mL)
land exactly on the published boundary instead of on either side by floating-point rounding.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from theranostix.core.errors import InvalidInputError, UnsupportedInputError
from theranostix.core.provenance import Provenance

Comparator = Literal[">", ">=", "<", "<="]
REL_TOL = 1e-9


# --------------------------------------------------------------------------------------------
# Shared result model and helpers
# --------------------------------------------------------------------------------------------
class Reason(BaseModel):
    """One rule that was evaluated, in words and numbers.

    Attributes
    ----------
    rule
        Stable identifier of the rule, e.g. ``"PERCIST.PMR.relative_decrease"``.
    text
        Human-readable sentence stating the comparison and its outcome.
    met
        Whether the rule's condition held (``None`` when it could not be evaluated).
    values
        The measured numbers compared (name -> value).
    thresholds
        The thresholds and comparators used (name -> value).
    option
        The named option that decided a boundary or a choice, if any (``"name=value"``).
    """

    rule: str
    text: str
    met: bool | None = None
    values: dict[str, Any] = Field(default_factory=dict)
    thresholds: dict[str, Any] = Field(default_factory=dict)
    option: str | None = None


class CriterionResult(BaseModel):
    """The category a criterion assigned, with every reason and the provenance.

    Attributes
    ----------
    criterion
        Name and version of the criterion, e.g. ``"RECIP 1.0"``.
    category
        The category assigned (string, as worded by the criterion: ``"PR"``, ``"miN1"``, ``"3"``).
    reasons
        Every rule evaluated, in the order evaluated.
    flags
        Problems that limit the result (comparability failures, missing optional inputs). A result
        with flags must be read together with them; see each function for how flags change the
        category.
    values
        Derived numbers a reader may quote (e.g. relative change, qPET).
    provenance
        Parameters (thresholds and options) and warnings.
    """

    criterion: str
    category: str
    reasons: list[Reason] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list)
    values: dict[str, Any] = Field(default_factory=dict)
    provenance: Provenance = Field(default_factory=Provenance)

    def reason(self, rule: str) -> Reason:
        """Return the reason with identifier ``rule`` (``KeyError`` when absent)."""
        for r in self.reasons:
            if r.rule == rule:
                return r
        raise KeyError(rule)

    @property
    def rules(self) -> list[str]:
        """Identifiers of all reasons, in order."""
        return [r.rule for r in self.reasons]


def meets(value: float, op: Comparator, threshold: float) -> bool:
    """Compare ``value`` with ``threshold`` using ``op``, with a 1e-9 relative tolerance.

    ``>=`` and ``<=`` include values within the tolerance of the threshold; ``>`` and ``<``
    exclude them. This makes decimal inputs land on published boundaries exactly.
    """
    tol = REL_TOL * max(1.0, abs(threshold), abs(value))
    if op == ">=":
        return value >= threshold - tol
    if op == ">":
        return value > threshold + tol
    if op == "<=":
        return value <= threshold + tol
    if op == "<":
        return value < threshold - tol
    raise InvalidInputError(f"unknown comparator {op!r}", fix="use one of >, >=, <, <=")


def check_comparator(op: str, name: str, allowed: tuple[str, ...] = (">", ">=")) -> Comparator:
    """Validate a boundary option such as ``pr_boundary`` (must be one of ``allowed``)."""
    if op not in allowed:
        raise InvalidInputError(f"{op!r} is not a valid boundary", where=name,
                                fix=f"use one of {', '.join(allowed)}")
    return op  # type: ignore[return-value]


def check_value(value: float | None, name: str, *, positive: bool = False,
                required: bool = True, fix: str | None = None) -> float | None:
    """Check that ``value`` is a finite non-negative number (strictly positive if ``positive``).

    Raises
    ------
    InvalidInputError
        If the value is missing (and ``required``), not finite, negative, or zero when
        ``positive``.
    """
    if value is None:
        if required:
            raise InvalidInputError("value is missing", where=name,
                                    fix=fix or f"give {name}")
        return None
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{value!r} is not a number", where=name) from exc
    if not math.isfinite(v):
        raise InvalidInputError(f"{v} is not a finite number", where=name)
    if v < 0:
        raise InvalidInputError(f"{v} is negative", where=name,
                                fix=fix or "give a non-negative value")
    if positive and v == 0:
        raise InvalidInputError("value is zero; it is used as a denominator or reference",
                                where=name, fix=fix or "give a positive value")
    return v


def fmt(x: float | None) -> str:
    """Format a number for reason texts (4 significant digits)."""
    return "n/a" if x is None else f"{x:.4g}"


# --------------------------------------------------------------------------------------------
# Reference-region uptake
# --------------------------------------------------------------------------------------------
class ReferenceUptake(BaseModel):
    """Mean uptake (SUVmean) of the reference regions of one scan. Any may be missing.

    Attributes
    ----------
    blood_pool_suv_mean
        Blood pool (descending aorta / mediastinum) SUVmean.
    liver_suv_mean
        Liver SUVmean (3 cm sphere in the right lobe).
    parotid_suv_mean
        Parotid-gland SUVmean.
    spleen_suv_mean
        Spleen SUVmean.
    """

    blood_pool_suv_mean: float | None = None
    liver_suv_mean: float | None = None
    parotid_suv_mean: float | None = None
    spleen_suv_mean: float | None = None


HEPATOBILIARY_PSMA_LIGANDS: tuple[str, ...] = ("psma1007",)
"""Normalised names of PSMA ligands with predominantly hepatobiliary excretion, for which the
spleen replaces the liver as miPSMA reference (Seifert et al. 2023)."""


def _normalise_tracer(tracer: str | None) -> str:
    return re.sub(r"[^a-z0-9]", "", (tracer or "").lower())


def is_hepatobiliary_psma_ligand(tracer: str | None) -> bool:
    """True for ligands such as [18F]PSMA-1007 (any spelling: ``"18F-PSMA-1007"``, ...)."""
    t = _normalise_tracer(tracer)
    return any(name in t for name in HEPATOBILIARY_PSMA_LIGANDS)


# --------------------------------------------------------------------------------------------
# miPSMA expression score
# --------------------------------------------------------------------------------------------
def mipsma_score(
    lesion_suv_max: float,
    reference: ReferenceUptake,
    *,
    tracer: str | None = None,
    liver_reference: Literal["auto", "liver", "spleen"] = "auto",
) -> CriterionResult:
    """PROMISE V2 miPSMA expression score of one lesion.

    Lesion SUVmax is compared with reference-organ SUVmean (Seifert et al., Eur Urol
    2023;83:405; [M] in CRITERIA.md §3.4):

    ====  ==========================================
    0     SUVmax < blood pool
    1     blood pool <= SUVmax < liver
    2     liver <= SUVmax < parotid
    3     SUVmax >= parotid
    ====  ==========================================

    Parameters
    ----------
    lesion_suv_max
        Lesion SUVmax (g/mL).
    reference
        Reference SUVmean values; blood pool, liver (or spleen) and parotid are required.
    tracer
        Tracer name; for [18F]PSMA-1007 (hepatobiliary excretion) the spleen replaces the liver
        when ``liver_reference="auto"``.
    liver_reference
        ``"auto"`` (spleen for hepatobiliary ligands, else liver), or force ``"liver"`` /
        ``"spleen"``.

    Returns
    -------
    CriterionResult
        ``category`` ``"0"`` .. ``"3"``; reasons ``miPSMA.reference_organ``, ``miPSMA.blood_pool``,
        ``miPSMA.liver`` (or spleen), ``miPSMA.parotid``.

    Raises
    ------
    InvalidInputError
        Negative or missing values, unknown ``liver_reference``.
    """
    suv = check_value(lesion_suv_max, "lesion_suv_max")
    if liver_reference not in ("auto", "liver", "spleen"):
        raise InvalidInputError(f"unknown liver_reference {liver_reference!r}",
                                where="liver_reference", fix="use auto, liver or spleen")
    organ = liver_reference
    if organ == "auto":
        organ = "spleen" if is_hepatobiliary_psma_ligand(tracer) else "liver"
    prov = Provenance(parameters={"tracer": tracer, "liver_reference": liver_reference,
                                  "middle_reference_organ": organ})
    bp = check_value(reference.blood_pool_suv_mean, "blood_pool_suv_mean", positive=True,
                     fix="measure the blood pool (aortic cylinder) SUVmean")
    mid_name = f"{organ}_suv_mean"
    mid = check_value(getattr(reference, mid_name), mid_name, positive=True,
                      fix=f"measure the {organ} SUVmean"
                      + (" ([18F]PSMA-1007 uses the spleen)" if organ == "spleen" else ""))
    par = check_value(reference.parotid_suv_mean, "parotid_suv_mean", positive=True,
                      fix="measure the parotid-gland SUVmean")
    reasons = [Reason(
        rule="miPSMA.reference_organ",
        text=(f"Middle reference organ: {organ}"
              + (" (hepatobiliary-excreted ligand: spleen replaces liver)" if organ == "spleen"
                 and liver_reference == "auto" else "")),
        met=True, values={"tracer": tracer}, option=f"liver_reference={liver_reference}")]
    if not (bp <= mid <= par):
        prov.warn(f"reference uptakes are not ordered blood pool ({fmt(bp)}) <= {organ} "
                  f"({fmt(mid)}) <= parotid ({fmt(par)}); the score is computed as defined but "
                  "check the reference regions")
    ge_bp = meets(suv, ">=", bp)
    ge_mid = meets(suv, ">=", mid)
    ge_par = meets(suv, ">=", par)
    for key, ref, ok in (("blood_pool", bp, ge_bp), (organ, mid, ge_mid), ("parotid", par, ge_par)):
        reasons.append(Reason(
            rule=f"miPSMA.{key}",
            text=f"Lesion SUVmax {fmt(suv)} {'>=' if ok else '<'} {key} SUVmean {fmt(ref)}",
            met=ok, values={"lesion_suv_max": suv, f"{key}_suv_mean": ref},
            thresholds={f"{key}_suv_mean": ref, "comparator": ">="}))
    score = 3 if ge_par else 2 if ge_mid else 1 if ge_bp else 0
    if score == 3 and not ge_mid:  # unordered references: keep definitions explicit
        prov.warn("lesion >= parotid but < middle reference; score 3 assigned by the parotid rule")
    return CriterionResult(criterion="PROMISE V2 miPSMA expression score", category=str(score),
                           reasons=reasons, values={"lesion_suv_max": suv}, provenance=prov)


# --------------------------------------------------------------------------------------------
# PSMA-RADS
# --------------------------------------------------------------------------------------------
UptakeLevel = Literal["none", "equivocal", "intense"]
AnatomicFinding = Literal["benign_definitive", "suspicious", "atypical_benign_appearing",
                          "indeterminate", "none"]


class PsmaRadsInput(BaseModel):
    """Inputs of PSMA-RADS for one finding. The anatomic (CT/MRI) reading must be given.

    Attributes
    ----------
    tissue
        ``"soft_tissue"`` (nodes, organs, prostate) or ``"bone"``.
    site_typical_for_pca
        Whether the site is typical for prostate-cancer involvement (pelvic/retroperitoneal
        nodes, prostate, bone not atypical). ``False`` = atypical (e.g. axillary/hilar nodes).
    anatomic_finding
        Anatomic reading: ``"benign_definitive"`` (biopsy or pathognomonic benign finding),
        ``"suspicious"`` (anatomic finding indicative of cancer), ``"atypical_benign_appearing"``
        (bone: strongly suspected degenerative/benign), ``"indeterminate"`` (not definitive),
        ``"none"`` (no anatomic correlate).
    uptake_level
        Visual uptake: ``"none"``, ``"equivocal"`` (focal, low level such as blood pool) or
        ``"intense"``. If omitted, derived from ``lesion_suv_max`` (see :func:`psma_rads`);
        ``"none"`` must always be given explicitly.
    lesion_suv_max
        Lesion SUVmax, used only when ``uptake_level`` is omitted.
    blood_pool_suv_mean, liver_suv_mean
        Reference SUVmean for deriving the uptake level.
    previously_treated
        The lesion was treated locally before (PSMA-RADS 2.0 "T" categories).
    """

    tissue: Literal["soft_tissue", "bone"]
    site_typical_for_pca: bool
    anatomic_finding: AnatomicFinding
    uptake_level: UptakeLevel | None = None
    lesion_suv_max: float | None = None
    blood_pool_suv_mean: float | None = None
    liver_suv_mean: float | None = None
    previously_treated: bool = False


def psma_rads(
    finding: PsmaRadsInput,
    *,
    version: Literal["1.0", "2.0"] = "1.0",
    intense_reference: Literal["blood_pool", "liver"] = "blood_pool",
    intense_factor: float = 1.0,
) -> CriterionResult:
    """PSMA-RADS category of one finding as a decision table.

    PSMA-RADS 1.0 (Rowe et al., JNM 2018;59:479 Table 1; Eur Urol 2018;73:485):

    ==========================  ==========================================================
    1A                          benign-definitive anatomy, no uptake
    1B                          benign-definitive anatomy, focal uptake
    2                           equivocal uptake at an atypical soft-tissue site, or in a bone
                                lesion with atypical (benign-appearing) anatomy
    3A                          equivocal uptake, soft-tissue site typical for PCa
    3B                          equivocal uptake, bone lesion not definitive on anatomy
    3C                          intense uptake at a site atypical for PCa
    3D                          anatomically suspicious, no uptake
    4                           intense uptake, typical site, no definitive anatomic finding
    5                           intense uptake with a corresponding suspicious anatomic finding
    ==========================  ==========================================================

    PSMA-RADS 2.0 (Werner et al., Eur Urol 2023): adds **5T** -- intense uptake at a previously
    treated lesion. Other 2.0 rules for treated lesions are not encoded: such inputs raise
    :class:`~theranostix.core.errors.UnsupportedInputError` rather than be guessed.

    The standard defines "equivocal" visually (low level, such as blood pool) and no number.
    When ``uptake_level`` is not given it is derived: intense if
    ``lesion_suv_max > intense_factor x reference SUVmean`` with ``intense_reference``
    (default blood pool, factor 1.0; both named options), otherwise equivocal. "No uptake" is
    never derived and must be given as ``uptake_level="none"``.

    Raises
    ------
    InvalidInputError
        No uptake and no anatomic finding (nothing to classify); missing numbers to derive the
        uptake level; unknown version.
    """
    if version not in ("1.0", "2.0"):
        raise InvalidInputError(f"unknown PSMA-RADS version {version!r}", where="version",
                                fix="use 1.0 or 2.0")
    check_value(intense_factor, "intense_factor", positive=True)
    prov = Provenance(parameters={"version": version, "intense_reference": intense_reference,
                                  "intense_factor": intense_factor})
    reasons: list[Reason] = []
    level = finding.uptake_level
    if level is None:
        suv = check_value(finding.lesion_suv_max, "lesion_suv_max",
                          fix="give uptake_level (none/equivocal/intense) or lesion_suv_max")
        ref_name = f"{intense_reference}_suv_mean"
        ref = check_value(getattr(finding, ref_name), ref_name, positive=True,
                          fix=f"give {ref_name} to derive the uptake level, or give uptake_level")
        thr = intense_factor * ref
        intense = meets(suv, ">", thr)
        level = "intense" if intense else "equivocal"
        reasons.append(Reason(
            rule="PSMA-RADS.uptake_level",
            text=(f"Uptake level derived: SUVmax {fmt(suv)} {'>' if intense else '<='} "
                  f"{fmt(intense_factor)} x {intense_reference} SUVmean {fmt(ref)} = {fmt(thr)} "
                  f"-> {level}"),
            met=intense, values={"lesion_suv_max": suv, ref_name: ref},
            thresholds={"intense_above": thr, "comparator": ">"},
            option=f"intense_reference={intense_reference}, intense_factor={intense_factor}"))
    else:
        reasons.append(Reason(rule="PSMA-RADS.uptake_level",
                              text=f"Uptake level given by the reader: {level}", met=True,
                              values={"uptake_level": level}))
    anat = finding.anatomic_finding
    reasons.append(Reason(
        rule="PSMA-RADS.anatomy",
        text=(f"Tissue {finding.tissue}; site {'typical' if finding.site_typical_for_pca else 'atypical'}"
              f" for PCa; anatomic finding {anat}"),
        met=True, values={"tissue": finding.tissue, "site_typical_for_pca": finding.site_typical_for_pca,
                          "anatomic_finding": anat}))

    def done(cat: str, text: str) -> CriterionResult:
        reasons.append(Reason(rule="PSMA-RADS.category", text=text, met=True,
                              values={"uptake_level": level, "anatomic_finding": anat}))
        return CriterionResult(criterion=f"PSMA-RADS {version}", category=cat, reasons=reasons,
                               values={"uptake_level": level}, provenance=prov)

    if finding.previously_treated:
        if version == "1.0":
            prov.warn("lesion marked previously treated: PSMA-RADS 1.0 has no treated-lesion "
                      "categories; consider version 2.0")
        elif level == "intense" and anat != "benign_definitive":
            return done("5T", "PSMA-RADS 2.0: intense uptake at a previously treated lesion -> 5T")
        else:
            raise UnsupportedInputError(
                f"PSMA-RADS 2.0 treated-lesion rules for uptake {level!r} are not encoded",
                where="previously_treated",
                fix="classify this treated lesion visually, or use version 1.0")
    if anat == "benign_definitive":
        if level == "none":
            return done("1A", "Benign-definitive anatomic finding without uptake -> 1A")
        return done("1B", "Benign-definitive anatomic finding with focal uptake -> 1B")
    if level == "none":
        if anat == "suspicious":
            return done("3D", "Anatomically suspicious lesion lacking uptake -> 3D")
        raise InvalidInputError(
            "no uptake and no suspicious or benign anatomic finding: nothing to classify",
            where="PsmaRadsInput", fix="only classify findings with uptake or an anatomic lesion")
    if level == "equivocal":
        if finding.tissue == "bone":
            if anat == "atypical_benign_appearing" or not finding.site_typical_for_pca:
                return done("2", "Equivocal uptake in a bone lesion atypical of PCa "
                                 "(benign-appearing anatomy) -> 2")
            return done("3B", "Equivocal uptake in a bone lesion not definitive on anatomy -> 3B")
        if not finding.site_typical_for_pca:
            return done("2", "Equivocal uptake at a soft-tissue site atypical of PCa -> 2")
        return done("3A", "Equivocal uptake at a soft-tissue site typical of PCa -> 3A")
    # intense
    if not finding.site_typical_for_pca:
        return done("3C", "Intense uptake at a site atypical of PCa (consider another "
                          "malignancy) -> 3C")
    if anat == "suspicious":
        return done("5", "Intense uptake with a corresponding suspicious anatomic finding -> 5")
    return done("4", "Intense uptake at a site typical of PCa without a definitive anatomic "
                     "finding -> 4")


# --------------------------------------------------------------------------------------------
# PRIMARY score
# --------------------------------------------------------------------------------------------
PrimaryPattern = Literal["none", "diffuse_tz_or_symmetric_cz", "focal_tz", "focal_pz"]


def primary_score(
    pattern: PrimaryPattern,
    lesion_suv_max: float,
    *,
    tz_to_background_ratio: float | None = None,
    suv_max_threshold: float = 12.0,
    tz_ratio_threshold: float = 2.0,
) -> CriterionResult:
    """PRIMARY 5-point score of intraprostatic PSMA uptake (Emmett et al.; PMC9635676 Table 2).

    * 5: SUVmax > ``suv_max_threshold`` (default 12, strict ">" as published), any pattern.
    * 4: focal peripheral-zone activity.
    * 3: focal transition-zone activity >= ``tz_ratio_threshold`` (default 2) x background TZ.
    * 2: diffuse TZ or symmetric central-zone activity not reaching the margin. A focal TZ focus
      below the ratio threshold does not meet score 3 and is scored 2 (documented choice).
    * 1: no dominant pattern, low activity.

    Raises
    ------
    InvalidInputError
        Unknown pattern, negative SUV, ``focal_tz`` without ``tz_to_background_ratio``.
    """
    suv = check_value(lesion_suv_max, "lesion_suv_max")
    check_value(suv_max_threshold, "suv_max_threshold", positive=True)
    check_value(tz_ratio_threshold, "tz_ratio_threshold", positive=True)
    if pattern not in ("none", "diffuse_tz_or_symmetric_cz", "focal_tz", "focal_pz"):
        raise InvalidInputError(f"unknown PRIMARY pattern {pattern!r}", where="pattern",
                                fix="use none, diffuse_tz_or_symmetric_cz, focal_tz or focal_pz")
    prov = Provenance(parameters={"suv_max_threshold": suv_max_threshold,
                                  "tz_ratio_threshold": tz_ratio_threshold})
    high = meets(suv, ">", suv_max_threshold)
    reasons = [Reason(rule="PRIMARY.suv_max",
                      text=f"SUVmax {fmt(suv)} {'>' if high else '<='} {fmt(suv_max_threshold)}",
                      met=high, values={"lesion_suv_max": suv},
                      thresholds={"suv_max_threshold": suv_max_threshold, "comparator": ">"})]
    reasons.append(Reason(rule="PRIMARY.pattern", text=f"Pattern: {pattern}", met=True,
                          values={"pattern": pattern}))
    if pattern == "focal_tz":
        ratio = check_value(tz_to_background_ratio, "tz_to_background_ratio",
                            fix="give the focal TZ to background TZ uptake ratio")
        ok = meets(ratio, ">=", tz_ratio_threshold)
        reasons.append(Reason(
            rule="PRIMARY.tz_ratio",
            text=(f"Focal TZ activity {fmt(ratio)} x background {'>=' if ok else '<'} "
                  f"{fmt(tz_ratio_threshold)} x"), met=ok,
            values={"tz_to_background_ratio": ratio},
            thresholds={"tz_ratio_threshold": tz_ratio_threshold, "comparator": ">="}))
    if high:
        score = 5
    elif pattern == "focal_pz":
        score = 4
    elif pattern == "focal_tz":
        score = 3 if reasons[-1].met else 2
    elif pattern == "diffuse_tz_or_symmetric_cz":
        score = 2
    else:
        score = 1
    return CriterionResult(criterion="PRIMARY score", category=str(score), reasons=reasons,
                           values={"lesion_suv_max": suv}, provenance=prov)


# --------------------------------------------------------------------------------------------
# Krenning-type SSTR grade
# --------------------------------------------------------------------------------------------
def krenning_grade(
    lesion_suv_max: float,
    liver_suv_mean: float,
    spleen_suv_mean: float | None = None,
    *,
    uptake_visible: bool = True,
    equal_tolerance: float = 0.10,
) -> CriterionResult:
    """Krenning-type SSTR PET uptake grade of one lesion ([M], CRITERIA.md §3.11).

    ====  =========================================================================
    0     no uptake (``uptake_visible=False``)
    1     < liver
    2     = liver: ``|SUVmax / liver SUVmean - 1| <= equal_tolerance``
    3     > liver
    4     > spleen (requires ``spleen_suv_mean``; else grade 4 is not assessable and flagged)
    ====  =========================================================================

    ``equal_tolerance`` (default 0.10, i.e. within +-10 % of liver) is **our choice**: the
    Krenning scale is visual and defines no number for "equal". Lesion SUVmax is compared with
    reference SUVmean, as for miPSMA.

    Raises
    ------
    InvalidInputError
        Negative or missing values; zero liver uptake.
    """
    suv = check_value(lesion_suv_max, "lesion_suv_max")
    liver = check_value(liver_suv_mean, "liver_suv_mean", positive=True,
                        fix="measure the liver SUVmean (3 cm sphere, right lobe)")
    spleen = check_value(spleen_suv_mean, "spleen_suv_mean", positive=True, required=False)
    tol = check_value(equal_tolerance, "equal_tolerance")
    prov = Provenance(parameters={"equal_tolerance": tol})
    res = CriterionResult(criterion="Krenning-type SSTR PET grade", category="0",
                          values={"lesion_suv_max": suv, "lesion_to_liver": suv / liver},
                          provenance=prov)
    if not uptake_visible:
        res.reasons.append(Reason(rule="Krenning.uptake_visible", text="No lesion uptake -> 0",
                                  met=False))
        return res
    ratio = suv / liver
    lo, hi = 1.0 - tol, 1.0 + tol
    if meets(ratio, "<", lo):
        grade = 1
        word = "below"
    elif meets(ratio, "<=", hi):
        grade = 2
        word = "equal to"
    else:
        grade = 3
        word = "above"
    res.reasons.append(Reason(
        rule="Krenning.liver",
        text=(f"Lesion SUVmax {fmt(suv)} / liver SUVmean {fmt(liver)} = {fmt(ratio)}: {word} "
              f"liver (equal band {fmt(lo)}..{fmt(hi)})"),
        met=grade >= 2, values={"lesion_suv_max": suv, "liver_suv_mean": liver, "ratio": ratio},
        thresholds={"equal_low": lo, "equal_high": hi}, option=f"equal_tolerance={tol}"))
    if grade == 3:
        if spleen is None:
            res.flags.append("spleen SUVmean not given: grade 4 (> spleen) not assessable")
            prov.warn("spleen SUVmean not given: grade 4 not assessable; grade 3 reported")
            res.reasons.append(Reason(rule="Krenning.spleen", text="Spleen not given: grade 4 "
                                      "not assessable", met=None))
        else:
            above = meets(suv, ">", spleen)
            res.reasons.append(Reason(
                rule="Krenning.spleen",
                text=f"Lesion SUVmax {fmt(suv)} {'>' if above else '<='} spleen SUVmean {fmt(spleen)}",
                met=above, values={"lesion_suv_max": suv, "spleen_suv_mean": spleen},
                thresholds={"spleen_suv_mean": spleen, "comparator": ">"}))
            if above:
                grade = 4
    res.category = str(grade)
    return res


# --------------------------------------------------------------------------------------------
# Deauville and qPET
# --------------------------------------------------------------------------------------------
def deauville_score(
    lesion_suv_max: float,
    mediastinum_suv: float,
    liver_suv: float,
    *,
    liver_metric: Literal["max", "mean"] = "max",
    uptake_above_background: bool = True,
    new_lesion_unrelated_to_lymphoma: bool = False,
    ds5_liver_factor: float = 2.0,
) -> CriterionResult:
    """Deauville 5-point score of the most avid residual lesion (Lugano 2014; CRITERIA §3.10).

    * DS1: no uptake above background (``uptake_above_background=False``).
    * DS2: lesion <= mediastinum (blood pool).
    * DS3: > mediastinum and <= liver.
    * DS4: > liver ("moderately").
    * DS5: >= ``ds5_liver_factor`` x liver ("markedly"; Barrington et al. JCO 2014 quantify
      "markedly" as 2-3 x liver SUVmax; default 2.0 [M], a named option).
    * X: ``new_lesion_unrelated_to_lymphoma=True`` (new uptake unlikely related to lymphoma).

    ``liver_metric`` records whether ``liver_suv`` is the liver SUVmax (conventional for the
    quantitative Deauville reading) or SUVmean; for a SUVpeak/SUVmean ratio use :func:`qpet`.
    New lesions typical of lymphoma make DS5 in the response context (see
    :func:`theranostix.response.deauville.lugano_response`).
    """
    prov = Provenance(parameters={"liver_metric": liver_metric, "ds5_liver_factor": ds5_liver_factor})
    crit = "Deauville 5-point scale"
    if new_lesion_unrelated_to_lymphoma:
        return CriterionResult(criterion=crit, category="X", provenance=prov, reasons=[Reason(
            rule="Deauville.X", text="New uptake unlikely related to lymphoma -> X", met=True)])
    suv = check_value(lesion_suv_max, "lesion_suv_max")
    med = check_value(mediastinum_suv, "mediastinum_suv", positive=True,
                      fix="measure the mediastinal blood-pool SUV")
    liv = check_value(liver_suv, "liver_suv", positive=True, fix="measure the liver SUV")
    check_value(ds5_liver_factor, "ds5_liver_factor", positive=True)
    if liver_metric not in ("max", "mean"):
        raise InvalidInputError(f"unknown liver_metric {liver_metric!r}", where="liver_metric",
                                fix="use max or mean")
    if med > liv:
        prov.warn(f"mediastinum ({fmt(med)}) above liver ({fmt(liv)}): check the reference regions")
    if not uptake_above_background:
        return CriterionResult(criterion=crit, category="1", provenance=prov, reasons=[Reason(
            rule="Deauville.background", text="No uptake above background -> DS1", met=False)])
    reasons = []
    above_med = meets(suv, ">", med)
    reasons.append(Reason(rule="Deauville.mediastinum",
                          text=f"Lesion {fmt(suv)} {'>' if above_med else '<='} mediastinum {fmt(med)}",
                          met=above_med, values={"lesion_suv_max": suv, "mediastinum_suv": med},
                          thresholds={"mediastinum_suv": med, "comparator": ">"}))
    above_liv = meets(suv, ">", liv)
    reasons.append(Reason(rule="Deauville.liver",
                          text=f"Lesion {fmt(suv)} {'>' if above_liv else '<='} liver SUV{liver_metric} {fmt(liv)}",
                          met=above_liv, values={"lesion_suv_max": suv, f"liver_suv_{liver_metric}": liv},
                          thresholds={"liver_suv": liv, "comparator": ">"},
                          option=f"liver_metric={liver_metric}"))
    thr5 = ds5_liver_factor * liv
    marked = meets(suv, ">=", thr5)
    reasons.append(Reason(rule="Deauville.markedly_above_liver",
                          text=(f"Lesion {fmt(suv)} {'>=' if marked else '<'} {fmt(ds5_liver_factor)}"
                                f" x liver = {fmt(thr5)}"),
                          met=marked, values={"lesion_suv_max": suv},
                          thresholds={"ds5_threshold": thr5, "comparator": ">="},
                          option=f"ds5_liver_factor={ds5_liver_factor}"))
    if marked and above_liv:
        ds = 5
    elif above_liv:
        ds = 4
    elif above_med:
        ds = 3
    else:
        ds = 2
    return CriterionResult(criterion=crit, category=str(ds), reasons=reasons, provenance=prov,
                           values={"lesion_to_liver": suv / liv})


def qpet(
    lesion_suv_peak: float,
    liver_suv_mean: float,
    *,
    ds3_threshold: float = 0.95,
    ds4_threshold: float = 1.3,
    ds5_threshold: float = 2.0,
) -> CriterionResult:
    """qPET = lesion SUVpeak / liver SUVmean and its Deauville equivalent (Hasenclever et al.,
    EJNMMI 2014;41:1301: DS 3, 4, 5 correspond to qPET 0.95, 1.3 and 2.0).

    Each threshold is the lower bound (inclusive, ">=") of its category: qPET < 0.95 -> ``"1-2"``
    (qPET alone cannot separate DS1 from DS2), [0.95, 1.3) -> ``"3"``, [1.3, 2.0) -> ``"4"``,
    >= 2.0 -> ``"5"``. The thresholds are named options with these defaults.
    """
    peak = check_value(lesion_suv_peak, "lesion_suv_peak")
    liv = check_value(liver_suv_mean, "liver_suv_mean", positive=True,
                      fix="measure the liver SUVmean (3 cm sphere)")
    for n, v in (("ds3_threshold", ds3_threshold), ("ds4_threshold", ds4_threshold),
                 ("ds5_threshold", ds5_threshold)):
        check_value(v, n, positive=True)
    if not ds3_threshold < ds4_threshold < ds5_threshold:
        raise InvalidInputError("qPET thresholds must increase: ds3 < ds4 < ds5",
                                where="ds3_threshold/ds4_threshold/ds5_threshold")
    q = peak / liv
    reasons = [Reason(rule="qPET.value", text=f"qPET = SUVpeak {fmt(peak)} / liver SUVmean {fmt(liv)} = {fmt(q)}",
                      met=True, values={"lesion_suv_peak": peak, "liver_suv_mean": liv, "qpet": q})]
    cat = "1-2"
    for name, thr, c in (("ds3", ds3_threshold, "3"), ("ds4", ds4_threshold, "4"),
                         ("ds5", ds5_threshold, "5")):
        ok = meets(q, ">=", thr)
        reasons.append(Reason(rule=f"qPET.{name}", text=f"qPET {fmt(q)} {'>=' if ok else '<'} {fmt(thr)}",
                              met=ok, values={"qpet": q}, thresholds={f"{name}_threshold": thr,
                                                                      "comparator": ">="}))
        if ok:
            cat = c
    return CriterionResult(criterion="qPET (Deauville-equivalent)", category=cat, reasons=reasons,
                           values={"qpet": q},
                           provenance=Provenance(parameters={"ds3_threshold": ds3_threshold,
                                                             "ds4_threshold": ds4_threshold,
                                                             "ds5_threshold": ds5_threshold}))


__all__ = [
    "CriterionResult", "HEPATOBILIARY_PSMA_LIGANDS", "PsmaRadsInput", "Reason", "ReferenceUptake",
    "check_comparator", "check_value", "deauville_score", "is_hepatobiliary_psma_ligand",
    "krenning_grade", "meets", "mipsma_score", "primary_score", "psma_rads", "qpet",
]

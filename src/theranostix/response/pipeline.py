"""Response assessment of follow-up PET analyses against a baseline analysis.

:func:`assess_response` takes the PET analyses of a patient (``AnalysisResult`` of
:mod:`theranostix.pet.pipeline`: lesions, burden, reference regions, patient size, uptake time,
optionally the CT, SUV image and lesion label map) and, for each follow-up:

1. **Comparability checks.** Same patient (sex, birth data and a patient key when carried, height
   within ``max_height_diff_m``, weight within ``max_weight_rel_diff``) and same tracer -- a
   mismatch is *refused* (:class:`InvalidInputError`), never scored. A different SUV kind is
   refused too. PERCIST liver/uptake-time comparability is checked by
   :func:`theranostix.response.percist.percist` and flagged there (category ``NE``).
2. **Registration** of the follow-up CT to the baseline CT
   (:func:`theranostix.response.registration.register_followup`, rigid, optional B-spline). A
   registration whose body NCC is below ``min_ncc`` is refused (``on_registration_failure=
   "refuse"``, default) or kept with a flag (``"flag"``). Without CTs, the follow-up is assumed to
   share the baseline frame of reference and this is flagged.
3. **Lesion tracking** in baseline space (:func:`theranostix.response.tracking.track_lesions`,
   centroids mapped with ``RegistrationResult.followup_to_baseline``; label overlap when both
   label maps are present), per-lesion changes of volume, SUVmax and SUVpeak. A follow-up lesion
   without a baseline partner counts as *new* only when it is not a split fragment, its SUVmax
   reaches the follow-up blood-pool SUVmean (``new_lesion_min_uptake``) and the baseline image had no
   comparable uptake at its site (``new_lesion_baseline_fraction``); each failed check is
   written on the event. A follow-up lesion whose footprint had no uptake at baseline (below
   both) is matched only to a baseline lesion its mask overlaps (``overlap_only`` of
   ``track_lesions``): a lesion that appears beside a known one is new, not the known one moved.
4. **Criteria** from the analyses:

   * RECIP 1.0 -- PSMA-TV = ``burden.total_volume_ml``; new lesions from tracking.
   * PERCIST 1.0 -- SULpeak of the hottest lesion (``suv_peak_global``, PERCIST/QIBA 1 cm^3 sphere)
     with ``SUL = SUVbw x LBM / weight``, LBM by Janmahasatian 2005
     (:func:`theranostix.core.body_size.lbm_janmahasatian_kg`); liver (or blood-pool) reference
     from ``reference_regions`` -- on the follow-up, by default, the baseline liver VOI carried
     through the registration (:mod:`theranostix.response.reference_voi`), the follow-up's own
     VOI as recorded fallback; uptake times; TLG = total lesion activity in SUL.mL; the follow-up
     target measured at the baseline target's site when no lesion took it and the site stands out
     of its own tissue (``residual_target``); PMR excluded when another matched lesion increased
     > 30 % (:func:`_nontarget_increases`); the secondary sum of up to 5 hottest SULpeaks.
   * PPP -- new lesions split into distant / regional by site, existing-lesion changes (longest
     diameter and SUVmax) and the optional clinical inputs ``psa_progression`` and
     ``confirmed_within_3_months``.

Pure: analyses in, :class:`ResponseAssessment` out (no file access, no printing). No patient
identifier is copied into the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal, NamedTuple

import numpy as np
from pydantic import BaseModel, Field
from scipy import ndimage

from theranostix.core.body_size import lbm_janmahasatian_kg
from theranostix.core.errors import ComputationError, InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.pet.metrics import suv_peak_global
from theranostix.pet.pipeline import LOCAL_SIGNIFICANCE_K, site_kind
from theranostix.pet.reference_regions import PetCtAnatomy
from theranostix.pet.scores import CriterionResult, Reason, meets
from theranostix.pet.segmentation import lesion_local_significance
from theranostix.pet.staging import COMMON_ILIAC_STATIONS, REGIONAL_PELVIC_STATIONS
from theranostix.response.percist import (
    RESPONSE_ABS_SUL,
    RESPONSE_FRACTION,
    PercistLesion,
    PercistScan,
    percist,
)
from theranostix.response.ppp import ExistingLesionChange, PppInput, ppp
from theranostix.response.recip import recip, recip_single_lesion_dependence, single_lesion_flag
from theranostix.response.reference_voi import carry_reference_voi
from theranostix.response.tracking import (
    MERGED_INTO,
    SPLIT_FROM,
    LesionObservation,
    TrackingResult,
    track_lesions,
)

__all__ = ["CRITERIA", "ComparabilityCheck", "RegistrationSummary", "LesionChange",
           "FollowupAssessment", "ResponseAssessment", "assess_response", "check_same_patient",
           "sul_factor", "percist_organ", "REGIONAL_SITES"]

#: Criteria :func:`assess_response` can compute.
CRITERIA = ("recip", "percist", "ppp")

#: Sites counted as local/regional (not distant) by PPP rule 1: PROMISE regional pelvic node
#: stations, common iliac (regional in PROMISE; distant M1a in AJCC 8th -- pass your own set),
#: and the prostate / prostate bed.
REGIONAL_SITES: tuple[str, ...] = (REGIONAL_PELVIC_STATIONS + COMMON_ILIAC_STATIONS
                                   + ("prostate", "prostate_bed", "seminal_vesicles", "local"))

#: Largest accepted height difference between two studies of one patient (m).
MAX_HEIGHT_DIFF_M = 0.05
#: Largest accepted relative weight difference (patients lose weight on therapy; 30 % is a
#: generous plausibility gate, not a clinical rule).
MAX_WEIGHT_REL_DIFF = 0.30
#: Look-back check of new lesions: baseline SUVmax at the site / follow-up lesion SUVmax at or
#: above this means "uptake already present at baseline" (ASSUMED value, see assess_response).
NEW_LESION_BASELINE_FRACTION = 0.6
#: Flag of a follow-up lesion whose site already had uptake at baseline (see assess_response).
_UPTAKE_AT_BASELINE = "uptake already at baseline"
#: Margin (mm) added to the lesion's equivalent radius for the look-back sphere (PET voxel and
#: residual misregistration).
NEW_LESION_MARGIN_MM = 4.0
#: Where the look-back reads the baseline uptake (``new_lesion_lookback`` of assess_response).
NEW_LESION_LOOKBACKS: tuple[str, ...] = ("footprint", "sphere")
#: References a new lesion's SUVmax may be required to reach (``new_lesion_min_uptake``).
NEW_LESION_UPTAKE_REFERENCES: tuple[str, ...] = ("blood_pool", "liver", "none")
#: Which lesions RECIP's total tumour volumes add up (``recip_volume`` of :func:`assess_response`).
RECIP_VOLUME_MODES: tuple[str, ...] = ("comparable", "segmented")
#: Weight changes above this fraction are flagged (SUV normalisation changes with weight).
FLAG_WEIGHT_REL_DIFF = 0.10
#: What PERCIST does with uptake at the site of a baseline target that no follow-up lesion took
#: (``residual_target`` of :func:`assess_response`).
RESIDUAL_TARGET_MODES: tuple[str, ...] = ("measure", "flag")
#: Significance (robust noise SDs of the site's own tissue background) from which that residual
#: uptake is "distinguishable from the surrounding background" (PERCIST's CMR definition) and is
#: measured as the follow-up target: the Rose constant k = 5, the same rule the PET analysis keeps a
#: threshold lesion by (``theranostix.pet.pipeline.LOCAL_SIGNIFICANCE_K``). Measured on 40 FDG twin
#: pairs (benchmarks/bench_response_notes.md): the one unsegmented target with real residual
#: tumour scored z 9.3, ten sites without residual tumour z 1.1-2.0 and a faint bone target of a
#: pair that reads PMD by new lesions z 3.7.
RESIDUAL_SIGNIFICANCE_K = LOCAL_SIGNIFICANCE_K
#: PERCIST's PMR also needs "no increase > 30 % in SUL or size of other lesions". An increase is
#: counted for a matched non-target lesion whose SULpeak rises > 30 % and > 0.8 SUL (the
#: thresholds of PERCIST's own SULpeak progression, which guard against noise) or whose longest
#: diameter rises > 30 % and by at least this many mm (RECIST 1.1's absolute 5 mm for
#: progression; project choice: a 4 mm voxel makes a small lesion's diameter jump by > 30 %).
NONTARGET_MIN_DIAMETER_INCREASE_MM = 5.0


class ComparabilityCheck(BaseModel):
    """One comparability check between baseline and a follow-up."""

    name: str
    passed: bool | None  # None = could not be checked
    severity: Literal["refuse", "flag", "info"]
    text: str
    values: dict[str, Any] = Field(default_factory=dict)


class RegistrationSummary(BaseModel):
    """What the registration of a follow-up CT to the baseline CT gave."""

    performed: bool
    accepted: bool
    method: str | None = None
    ncc_before: float | None = None
    ncc_after: float | None = None
    mean_abs_hu_after: float | None = None
    translation_mm: tuple[float, float, float] | None = None
    rotation_deg: tuple[float, float, float] | None = None
    reason: str | None = None
    warnings: list[str] = Field(default_factory=list)


class LesionChange(BaseModel):
    """A tracked lesion with its values at both timepoints (relative changes = (fu - bl) / bl)."""

    status: str  # matched | new | disappeared
    trend: str | None = None
    baseline_id: int | None = None
    followup_id: int | None = None
    site: str | None = None
    distance_mm: float | None = None
    dice: float | None = None
    volume_ml_baseline: float | None = None
    volume_ml_followup: float | None = None
    suv_max_baseline: float | None = None
    suv_max_followup: float | None = None
    suv_peak_baseline: float | None = None
    suv_peak_followup: float | None = None
    diameter_mm_baseline: float | None = None
    diameter_mm_followup: float | None = None
    volume_change: float | None = None
    suv_max_change: float | None = None
    suv_peak_change: float | None = None
    flags: list[str] = Field(default_factory=list)


class FollowupAssessment(BaseModel):
    """Assessment of one follow-up against baseline."""

    index: int
    reference_time: datetime | None = None
    days_since_baseline: float | None = None
    checks: list[ComparabilityCheck]
    registration: RegistrationSummary
    tracking: TrackingResult
    lesions: list[LesionChange]
    n_new_lesions: int
    new_lesion_ids: list[int]
    values: dict[str, Any] = Field(default_factory=dict)
    criteria: dict[str, CriterionResult] = Field(default_factory=dict)
    flags: list[str] = Field(default_factory=list)

    def category(self, criterion: str) -> str | None:
        """Category of ``criterion`` (``"recip"``, ``"percist"``, ``"ppp"``) or None."""
        res = self.criteria.get(criterion)
        return None if res is None else res.category


class ResponseAssessment(BaseModel):
    """Response of every follow-up against the baseline analysis."""

    tracer: str
    criteria: list[str]
    baseline: dict[str, Any]
    followups: list[FollowupAssessment]
    provenance: Provenance


# ------------------------------------------------------------------------------------ helpers
def _norm_sex(v: Any) -> str | None:
    if v is None:
        return None
    s = str(v).strip().upper()[:1]
    return s if s in ("M", "F") else None


def check_same_patient(baseline: dict, followup: dict, *, max_height_diff_m: float = MAX_HEIGHT_DIFF_M,
                       max_weight_rel_diff: float = MAX_WEIGHT_REL_DIFF,
                       flag_weight_rel_diff: float = FLAG_WEIGHT_REL_DIFF) -> list[ComparabilityCheck]:
    """Checks that two ``AnalysisResult.patient`` dicts describe the same patient.

    Compared when present in both: ``sex``; ``birth_date`` / ``birth_year`` / ``patient_key``
    (exact); ``height_m`` (within ``max_height_diff_m``); ``weight_kg`` (refused beyond
    ``max_weight_rel_diff``, flagged beyond ``flag_weight_rel_diff``). Values are not copied into
    the checks for identifying keys (only whether they agree).
    """
    checks: list[ComparabilityCheck] = []
    sb, sf = _norm_sex(baseline.get("sex")), _norm_sex(followup.get("sex"))
    if sb and sf:
        checks.append(ComparabilityCheck(name="patient.sex", passed=sb == sf, severity="refuse",
                                         text=f"patient sex {sb} vs {sf}",
                                         values={"baseline": sb, "followup": sf}))
    for key in ("birth_date", "birth_year", "patient_key"):
        a, b = baseline.get(key), followup.get(key)
        if a not in (None, "") and b not in (None, ""):
            same = str(a) == str(b)
            checks.append(ComparabilityCheck(name=f"patient.{key}", passed=same, severity="refuse",
                                             text=f"{key} {'agrees' if same else 'differs'} between the studies"))
    hb, hf = baseline.get("height_m"), followup.get("height_m")
    if hb and hf:
        d = abs(float(hb) - float(hf))
        checks.append(ComparabilityCheck(
            name="patient.height", passed=d <= max_height_diff_m, severity="refuse",
            text=f"height {float(hb):.2f} m vs {float(hf):.2f} m (difference {d:.2f} m, limit {max_height_diff_m} m)",
            values={"baseline_m": float(hb), "followup_m": float(hf)}))
    wb, wf = baseline.get("weight_kg"), followup.get("weight_kg")
    if wb and wf:
        rel = abs(float(wf) - float(wb)) / float(wb)
        ok = rel <= max_weight_rel_diff
        checks.append(ComparabilityCheck(
            name="patient.weight", passed=ok, severity="refuse",
            text=f"weight {float(wb):.1f} kg vs {float(wf):.1f} kg ({rel * 100:.1f} %, limit {max_weight_rel_diff * 100:g} %)",
            values={"baseline_kg": float(wb), "followup_kg": float(wf), "rel_diff": rel}))
        if ok and rel > flag_weight_rel_diff:
            checks.append(ComparabilityCheck(
                name="patient.weight_change", passed=False, severity="flag",
                text=f"weight changed by {rel * 100:.1f} % (> {flag_weight_rel_diff * 100:g} %): SUVbw values less comparable",
                values={"rel_diff": rel}))
    if not checks:
        checks.append(ComparabilityCheck(name="patient", passed=None, severity="flag",
                                         text="no patient data to check that both studies are the same patient"))
    return checks


def sul_factor(patient: dict) -> float:
    """SUL / SUVbw = LBM (Janmahasatian 2005) / body weight.

    Raises
    ------
    InvalidInputError
        Weight, height or sex missing.
    """
    sex = _norm_sex(patient.get("sex")) or ("O" if patient.get("sex") else None)
    if sex is None:
        raise InvalidInputError("patient sex missing: LBM (Janmahasatian) for SUL needs it",
                                where="AnalysisResult.patient['sex']")
    w = patient.get("weight_kg")
    h = patient.get("height_m")
    lbm = lbm_janmahasatian_kg(w, None if h is None else float(h) * 100.0, sex)  # type: ignore[arg-type]
    return lbm / float(w)  # type: ignore[arg-type]


def _lesions(res: Any) -> list:
    table = getattr(res, "lesions", None)
    return list(getattr(table, "lesions", table) or [])


def _burden(res: Any) -> Any:
    b = getattr(res, "burden", None)
    if b is None and getattr(res, "lesions", None) is not None:
        b = getattr(res.lesions, "burden", None)
    if b is None:
        raise InvalidInputError("analysis has no whole-body burden", where="AnalysisResult.burden")
    return b


def _obs(les: Any) -> LesionObservation:
    return LesionObservation(lesion_id=int(les.lesion_id), centroid_mm=tuple(les.centroid_lps_mm),
                             volume_ml=float(les.volume_ml), suv_max=float(les.suv_max),
                             suv_peak=float(les.suv_peak_global))


def _region(res: Any, name: str) -> dict | None:
    reg = (getattr(res, "reference_regions", None) or {}).get(name)
    if reg is None:
        return None
    if hasattr(reg, "model_dump"):
        reg = reg.model_dump()
    if not reg.get("found", True) or reg.get("mean") is None:
        return None
    return reg


def _sphere_mask(image: Any, centre_lps_mm: np.ndarray, radius_mm: float) -> np.ndarray | None:
    """Voxels of ``image`` whose centres lie within ``radius_mm`` of a point (None: none inside)."""
    shape = np.asarray(image.array).shape
    c = np.asarray(image.world_to_index(centre_lps_mm), dtype=float)  # (i, j, k)
    sp = np.asarray(image.spacing, dtype=float)
    n = np.ceil(radius_mm / sp).astype(int)
    lo = np.maximum(np.floor(c).astype(int) - n, 0)
    hi = np.minimum(np.ceil(c).astype(int) + n + 1, np.asarray(shape[::-1]))
    if np.any(hi <= lo):
        return None
    ii, jj, kk = (np.arange(lo[d], hi[d]) for d in range(3))
    pts = np.stack(np.meshgrid(kk, jj, ii, indexing="ij"), axis=-1)[..., ::-1].reshape(-1, 3)
    world = np.asarray(image.index_to_world(pts))
    inside = np.linalg.norm(world - centre_lps_mm[None, :], axis=1) <= radius_mm
    if not inside.any():
        return None
    mask = np.zeros(shape, dtype=bool)
    mask[kk[0]:kk[-1] + 1, jj[0]:jj[-1] + 1, ii[0]:ii[-1] + 1] = inside.reshape(len(kk), len(jj), len(ii))
    return mask


def _max_in_sphere(image: Any, centre_lps_mm: np.ndarray, radius_mm: float) -> float | None:
    """Max of ``image`` over voxel centres within ``radius_mm`` of a point (None outside)."""
    mask = _sphere_mask(image, centre_lps_mm, radius_mm)
    return None if mask is None else float(np.asarray(image.array)[mask].max())


def _followup_reference(baseline: Any, fu: Any, reg: Any, mode: str, flags: list[str],
                        registration_ok: bool = True) -> tuple[dict[str, dict], dict[str, Any]]:
    """Follow-up liver reference at the baseline VOI location (see ``follow_reference``).

    Returns the override regions for the follow-up (``{"liver": {...}}`` or empty) and what was
    done, for the provenance: method used, the carried and the automatic values, fallback reason.
    """
    auto = _region(fu, "liver")
    info: dict[str, Any] = {"liver": {"mode": mode, "method": "automatic",
                                      "automatic": None if auto is None else
                                      {k: auto.get(k) for k in ("mean", "sd", "method", "centre_mm")}}}
    if mode == "automatic":
        return {}, info
    f_suv = getattr(fu, "suv", None)
    if not registration_ok:
        why = "the registration failed its quality check: the baseline VOI cannot be carried"
        carried = None
    elif f_suv is None:
        why = "follow-up SUV image not available"
        carried = None
    else:
        organs, names = getattr(fu, "organs", None), getattr(fu, "organ_names", None) or {}
        liver_labels = [int(k) for k, v in names.items() if str(v).lower().startswith("liver")]
        f_lab = getattr(fu, "labels", None)
        carried, why = carry_reference_voi(
            _region(baseline, "liver"), f_suv, name="liver",
            baseline_to_followup=None if reg is None else reg.baseline_to_followup,
            followup_organs=organs if liver_labels else None, organ_labels=liver_labels,
            followup_lesion_labels=f_lab)
    if carried is None:
        info["liver"]["fallback_reason"] = why
        flags.append(f"follow-up liver reference: automatic VOI used ({why})")
        return {}, info
    info["liver"].update(method="baseline_voi_carried", text=why,
                         carried={k: carried[k] for k in ("mean", "sd", "centre_mm")})
    return {"liver": carried}, info


def _ne(criterion: str, why: str) -> CriterionResult:
    prov = Provenance()
    prov.warn(why)
    return CriterionResult(criterion=criterion, category="NE", flags=[why],
                           reasons=[Reason(rule=f"{criterion}.not_evaluable", text=why, met=None)],
                           provenance=prov)


def _is_fdg(tracer: str) -> bool:
    return "fdg" in tracer.lower()


# ------------------------------------------------------------------------------- main function
def assess_response(
    baseline: Any,
    followups: Sequence[Any],
    *,
    criteria: Sequence[str] = ("recip", "percist", "ppp"),
    register: bool = True,
    deformable: bool = False,
    min_ncc: float = 0.5,
    on_registration_failure: Literal["refuse", "flag"] = "refuse",
    psa_progression: bool | None = None,
    confirmed_within_3_months: bool | None = None,
    regional_sites: Sequence[str] = REGIONAL_SITES,
    min_new_lesion_volume_ml: float = 0.0,
    new_lesion_baseline_fraction: float | None = NEW_LESION_BASELINE_FRACTION,
    new_lesion_min_uptake: Literal["liver", "blood_pool", "none"] = "blood_pool",
    new_lesion_lookback: Literal["footprint", "sphere"] = "footprint",
    percist_on_incomparable: Literal["flag", "refuse"] = "flag",
    max_height_diff_m: float = MAX_HEIGHT_DIFF_M,
    max_weight_rel_diff: float = MAX_WEIGHT_REL_DIFF,
    criterion_options: dict[str, dict[str, Any]] | None = None,
    registration_options: dict[str, Any] | None = None,
    follow_reference: Literal["carried", "automatic"] = "carried",
    residual_target: Literal["measure", "flag"] = "measure",
    residual_significance_k: float = RESIDUAL_SIGNIFICANCE_K,
    recip_volume: Literal["comparable", "segmented"] = "comparable",
) -> ResponseAssessment:
    """Assess every follow-up PET analysis against the baseline analysis.

    Parameters
    ----------
    baseline, followups
        ``AnalysisResult`` objects (:mod:`theranostix.pet.pipeline`); the CT (``.ct``, HU) is used
        for registration and the lesion label map (``.labels``) for overlap when present.
    criteria
        Any of ``"recip"``, ``"percist"``, ``"ppp"``.
    register
        Register follow-up CT to baseline CT when both are present.
    deformable
        Add a B-spline refinement after the rigid registration.
    min_ncc
        Registration quality gate (body-masked CT NCC after registration).
    on_registration_failure
        ``"refuse"`` (raise :class:`InvalidInputError`, default) or ``"flag"`` (track anyway with
        the rigid result, flagged).
    psa_progression, confirmed_within_3_months
        Clinical inputs of PPP (``None`` = not available -> PPP may be ``indeterminate``).
    regional_sites
        Lesion sites counted as non-distant by PPP.
    min_new_lesion_volume_ml
        New follow-up lesions smaller than this are listed but not counted as new lesions by the
        criteria (0 = every new lesion counts, default).
    new_lesion_baseline_fraction
        Look-back check of new lesions (what a reader does): when the baseline SUV image is
        available, the baseline SUVmax around the new lesion's position in baseline space (sphere
        of the lesion's equivalent radius + ``NEW_LESION_MARGIN_MM``) is compared with the lesion's
        follow-up SUVmax; at or above this fraction the uptake was already there at baseline
        (under the detection threshold or segmented differently): the lesion is listed with a flag
        but not counted as new. ``None`` disables the check. Default 0.6 (assumption, chosen so
        that a lesion twice as hot as its background counts as new; not from a publication).
        With the footprint look-back the same test runs for every follow-up lesion before
        tracking: one whose footprint's baseline SUVmax is below the fraction *and* below the
        baseline's ``new_lesion_min_uptake`` reference SUVmean (no uptake at the site at all) may
        match only a baseline lesion its mask overlaps (on 160 PSMA twin pairs every correct
        match overlapped; the two matches of a new node to a known node 10-14 mm away did not,
        benchmarks/bench_response_notes.md).
    new_lesion_lookback
        Where the look-back reads the baseline: ``"footprint"`` (default since 2026-11-24, eleventh
        session) -- the follow-up lesion's own voxels mapped onto the baseline grid through the
        registration (needs both label maps; otherwise the sphere, with a flag); ``"sphere"`` -- a
        sphere of the lesion's equivalent radius + ``NEW_LESION_MARGIN_MM`` around its mapped
        centroid (the default before). The sphere reaches into a known lesion beside a new one: on
        the PSMA twin pairs it hid new nodes appearing 10-15 mm from a treated node
        (benchmarks/bench_response_notes.md).
    new_lesion_min_uptake
        A new lesion counts only when its SUVmax is at least the follow-up reference SUVmean:
        ``"blood_pool"`` (default since 2026-11-24; miPSMA >= 1 of PROMISE V2, the uptake from which
        a lesion typical of cancer is PSMA-positive -- RECIP 1.0 judges new lesions visually),
        ``"liver"`` (miPSMA >= 2, the liver-based soft-tissue threshold of qPSMA used for RECIP's
        PSMA-VOL; the default before: on 20 PSMA twin pairs it missed the one visible new lesion
        fainter than the liver, blood pool missed none and added none) or ``"none"``. When the
        reference was not found the check is skipped and flagged.
    percist_on_incomparable
        Passed to :func:`percist` (``"flag"``: category NE with flags; ``"refuse"``: raise).
    max_height_diff_m, max_weight_rel_diff
        Same-patient gates (see :func:`check_same_patient`).
    criterion_options
        Extra keyword options per criterion, e.g. ``{"recip": {"pd_boundary": ">"}}``.
    registration_options
        Extra keyword options of :func:`register_followup` (e.g. ``working_spacing_mm``).
    follow_reference
        Follow-up liver reference for PERCIST: ``"carried"`` (default, what a reader does and
        PERCIST asks for: a sphere of the baseline VOI's size at the baseline VOI centre mapped
        through the registration, :func:`theranostix.response.reference_voi.carry_reference_voi`;
        the follow-up's automatic VOI is the fallback, recorded in the flags and in
        ``values["followup_reference_regions"]``) or ``"automatic"`` (each scan's own VOI).
    residual_target, residual_significance_k
        PERCIST when no follow-up lesion took the baseline target (tracking calls it
        "disappeared"): its follow-up SUVpeak is measured at its site -- its own baseline voxels
        carried through the registration -- together with the site's significance z, per tissue
        (SUVmax over the site's part in CT bone in robust noise SDs of the bone 10-20 mm around
        it, and likewise its soft-tissue part against soft tissue; the follow-up lesions left
        out; :func:`theranostix.pet.segmentation.lesion_local_significance`; see
        :func:`_residual_at_baseline_target`).
        PERCIST's CMR needs the target's uptake "below mean liver and indistinguishable from the
        surrounding background". With ``"measure"`` (default) a residual with z >=
        ``residual_significance_k`` (default 5, Rose) that is hotter than every segmented follow-up
        lesion *is* the follow-up target: its SULpeak enters the category (flagged). A residual at
        or above the liver that does not stand out of its surroundings is recorded in ``values``
        only (hot normal tissue, e.g. red marrow). With ``"flag"`` the category uses the segmented
        lesions only and a residual at or above the liver is flagged for review (the behaviour
        before 2026-11-24).
    recip_volume
        Which lesions RECIP's total tumour volumes (TTV) add up. ``"comparable"`` (default since
        2026-11-25) compares the same disease on both scans: left out are the lesions segmented on
        one scan only although their uptake is on both (the look-back found a "new" follow-up
        lesion's uptake already at baseline; a "disappeared" baseline lesion's uptake is still at
        the follow-up -- the same lesions PERCIST's TLG comparison leaves out, see
        :func:`_one_sided_segmentations`) and the "new" follow-up regions below the new-lesion
        uptake reference (not PSMA-positive: RECIP's TTV is the PSMA-positive volume). Split pieces
        of a matched lesion always count. Both TTVs, the ids left out and the category with every
        segmented lesion are in ``values`` and, when the categories differ, in a flag.
        ``"segmented"``: every segmented lesion (the behaviour before). Measured on 120 PSMA twin
        pairs (benchmarks/bench_response_notes.md): a 0.70 mL marrow region present on both scans
        but segmented on the follow-up only read a complete response PR, and a prostate region
        segmented at follow-up only made a +22 % TTV "rise" that read SD as PD.

    Raises
    ------
    InvalidInputError
        Unknown criterion, no follow-up, different patient, different tracer or SUV kind, or (with
        ``on_registration_failure="refuse"``) a failed registration.
    """
    crit = [c.strip().lower() for c in criteria]
    bad = [c for c in crit if c not in CRITERIA]
    if bad or not crit:
        raise InvalidInputError(f"unknown criteria {bad or crit!r}", where="criteria",
                                fix=f"use any of {', '.join(CRITERIA)}")
    if hasattr(followups, "lesions") or isinstance(followups, (str, bytes)):
        raise InvalidInputError("followups must be a list of analyses, got a single object",
                                where="followups", fix="pass [followup]")
    if not followups:
        raise InvalidInputError("no follow-up analysis given", where="followups")
    for name, value, allowed in (("on_registration_failure", on_registration_failure, ("refuse", "flag")),
                                 ("follow_reference", follow_reference, ("carried", "automatic")),
                                 ("residual_target", residual_target, RESIDUAL_TARGET_MODES),
                                 ("recip_volume", recip_volume, RECIP_VOLUME_MODES),
                                 ("new_lesion_lookback", new_lesion_lookback, NEW_LESION_LOOKBACKS),
                                 ("new_lesion_min_uptake", new_lesion_min_uptake, NEW_LESION_UPTAKE_REFERENCES)):
        if value not in allowed:
            raise InvalidInputError(f"unknown {name} {value!r}", where=name, fix="use " + " or ".join(allowed))
    if not (isinstance(residual_significance_k, (int, float)) and residual_significance_k > 0):
        raise InvalidInputError(f"residual_significance_k {residual_significance_k!r} is not a number > 0",
                                where="residual_significance_k", fix="give a significance in noise SDs, e.g. 5")
    opts = {k.lower(): dict(v) for k, v in (criterion_options or {}).items()}
    prov = Provenance(parameters={
        "criteria": crit, "register": register, "deformable": deformable, "min_ncc": min_ncc,
        "on_registration_failure": on_registration_failure, "psa_progression": psa_progression,
        "confirmed_within_3_months": confirmed_within_3_months,
        "min_new_lesion_volume_ml": min_new_lesion_volume_ml, "criterion_options": opts,
        "new_lesion_baseline_fraction": new_lesion_baseline_fraction,
        "new_lesion_min_uptake": new_lesion_min_uptake, "new_lesion_lookback": new_lesion_lookback,
        "registration_options": registration_options or {}, "follow_reference": follow_reference,
        "residual_target": residual_target, "residual_significance_k": residual_significance_k,
        "recip_volume": recip_volume, "sul": "SUVbw x LBM(Janmahasatian 2005) / weight"})
    tracer = str(baseline.tracer)
    if "percist" in crit and not _is_fdg(tracer):
        prov.warn(f"PERCIST 1.0 is defined for FDG; computed here on {tracer} (exploratory)")
    b_burden = _burden(baseline)
    b_les = _lesions(baseline)
    b_by_id = {int(x.lesion_id): x for x in b_les}
    b_time = getattr(baseline, "reference_time", None)

    out: list[FollowupAssessment] = []
    for n, fu in enumerate(followups, start=1):
        where = f"follow-up {n}"
        checks = check_same_patient(baseline.patient or {}, fu.patient or {},
                                    max_height_diff_m=max_height_diff_m,
                                    max_weight_rel_diff=max_weight_rel_diff)
        same_tracer = str(fu.tracer).lower() == tracer.lower()
        checks.append(ComparabilityCheck(name="tracer", passed=same_tracer, severity="refuse",
                                         text=f"tracer {tracer} vs {fu.tracer}"))
        bk, fk = getattr(baseline, "suv_kind", "bw"), getattr(fu, "suv_kind", "bw")
        checks.append(ComparabilityCheck(name="suv_kind", passed=bk == fk, severity="refuse",
                                         text=f"SUV kind {bk} vs {fk}"))
        f_time = getattr(fu, "reference_time", None)
        days = None
        if b_time is not None and f_time is not None:
            days = (f_time - b_time).total_seconds() / 86400.0
            checks.append(ComparabilityCheck(name="chronology", passed=days > 0, severity="refuse",
                                             text=f"follow-up {days:+.1f} days after baseline"))
        refused = [c for c in checks if c.severity == "refuse" and c.passed is False]
        if refused:
            raise InvalidInputError(
                f"{where} refused: " + "; ".join(c.text for c in refused),
                where=where, fix="compare studies of the same patient, tracer and SUV kind, in time order")
        flags = [c.text for c in checks if c.severity == "flag" and c.passed is not True]

        # ---- registration
        reg = None
        b_ct, f_ct = getattr(baseline, "ct", None), getattr(fu, "ct", None)
        if register and b_ct is not None and f_ct is not None:
            from theranostix.response.registration import register_followup
            try:
                reg = register_followup(b_ct, f_ct, deformable=deformable, min_ncc=min_ncc, mode="flag",
                                        **(registration_options or {}))
            except ComputationError as exc:
                if on_registration_failure == "refuse":
                    raise InvalidInputError(f"{where} refused: registration failed: {exc}", where=where,
                                            fix="check the CTs, or use on_registration_failure='flag'") from exc
                summary = RegistrationSummary(performed=True, accepted=False, reason=str(exc))
                flags.append(f"registration failed ({exc}); lesions tracked without registration")
            else:
                ok = reg.ncc_after >= min_ncc
                summary = RegistrationSummary(
                    performed=True, accepted=ok, method=reg.method, ncc_before=reg.ncc_before,
                    ncc_after=reg.ncc_after, mean_abs_hu_after=reg.mean_abs_hu_after,
                    translation_mm=reg.translation_mm, rotation_deg=reg.rotation_deg,
                    reason=None if ok else f"body NCC {reg.ncc_after:.3f} < {min_ncc}",
                    warnings=list(reg.provenance.warnings))
                if not ok:
                    if on_registration_failure == "refuse":
                        raise InvalidInputError(
                            f"{where} refused: registration quality too low (body CT NCC "
                            f"{reg.ncc_after:.3f} < {min_ncc}): different patient, body region or failed alignment",
                            where=where, fix="check the studies, or use on_registration_failure='flag'")
                    flags.append(f"registration quality low (NCC {reg.ncc_after:.3f} < {min_ncc}); "
                                 "tracking may be wrong")
        else:
            why = ("registration disabled" if not register else "no CT in one of the analyses")
            summary = RegistrationSummary(performed=False, accepted=False,
                                          reason=f"{why}: follow-up assumed in the baseline frame of reference")
            flags.append(summary.reason)  # type: ignore[arg-type]

        # ---- tracking
        f_les = _lesions(fu)
        f_by_id = {int(x.lesion_id): x for x in f_les}
        b_lab, f_lab = getattr(baseline, "labels", None), getattr(fu, "labels", None)
        f_on_b = None
        if b_lab is not None and f_lab is not None:
            if reg is not None:
                f_on_b = reg.resample_followup(f_lab, b_lab, interpolation="nearest").array
            elif b_lab.same_grid(f_lab):
                f_on_b = f_lab.array
        if f_on_b is not None:
            f_on_b = np.rint(f_on_b).astype(np.int64)  # follow-up lesion ids on the baseline grid
        b_suv = getattr(baseline, "suv", None)
        lookback = (_footprint_maxima(b_suv, b_lab, f_on_b, list(f_by_id))
                    if new_lesion_baseline_fraction is not None and new_lesion_lookback == "footprint" else {})
        b_ref = None if new_lesion_min_uptake == "none" else _region(baseline, new_lesion_min_uptake)
        tracking = track_lesions(
            [_obs(x) for x in b_les], [_obs(x) for x in f_les],
            followup_to_baseline=None if reg is None else reg.followup_to_baseline,
            baseline_labels=None if f_on_b is None else np.asarray(b_lab.array).astype(np.int64),
            followup_labels_on_baseline=f_on_b,
            overlap_only=_no_uptake_at_baseline(lookback, f_by_id, new_lesion_baseline_fraction, b_ref))
        changes: list[LesionChange] = []
        for m in tracking.matches:
            b = b_by_id.get(m.baseline_id) if m.baseline_id is not None else None
            f = f_by_id.get(m.followup_id) if m.followup_id is not None else None
            changes.append(LesionChange(
                status=m.status, trend=m.trend, baseline_id=m.baseline_id, followup_id=m.followup_id,
                site=(b.site if b is not None else f.site if f is not None else None),
                distance_mm=m.distance_mm, dice=m.dice,
                volume_ml_baseline=None if b is None else b.volume_ml,
                volume_ml_followup=None if f is None else f.volume_ml,
                suv_max_baseline=None if b is None else b.suv_max,
                suv_max_followup=None if f is None else f.suv_max,
                suv_peak_baseline=None if b is None else b.suv_peak_global,
                suv_peak_followup=None if f is None else f.suv_peak_global,
                diameter_mm_baseline=None if b is None else b.longest_diameter_mm,
                diameter_mm_followup=None if f is None else f.longest_diameter_mm,
                volume_change=m.volume_change, suv_max_change=m.suv_max_change,
                suv_peak_change=m.suv_peak_change, flags=list(m.flags)))
        if new_lesion_baseline_fraction is not None:
            if b_suv is None:
                if any(c.status == "new" for c in changes):
                    flags.append("baseline SUV image not available: new lesions not checked against baseline uptake")
            else:
                on_sphere: list[int] = []
                for c in changes:
                    if c.status != "new" or c.followup_id is None:
                        continue
                    fl = f_by_id[c.followup_id]
                    bmax, where = None, "in its footprint"
                    if new_lesion_lookback == "footprint":
                        bmax = lookback.get(int(c.followup_id))
                        if bmax is None:
                            on_sphere.append(int(c.followup_id))
                    if bmax is None:
                        bmax = _max_at_site(fl, b_suv, None if reg is None else reg.followup_to_baseline)
                        where = "around its site"
                    if bmax is not None and fl.suv_max > 0 and bmax >= new_lesion_baseline_fraction * fl.suv_max:
                        c.flags.append(f"{_UPTAKE_AT_BASELINE} (SUVmax {bmax:.2f} {where} vs {fl.suv_max:.2f}, "
                                       f">= {new_lesion_baseline_fraction:g}x): not counted as new")
                if on_sphere:
                    flags.append("new-lesion look-back: no label maps on a common grid for follow-up lesion(s) "
                                 f"{', '.join(map(str, on_sphere))}; the baseline was read in a sphere "
                                 f"(equivalent radius + {NEW_LESION_MARGIN_MM:g} mm) around the site instead")
        comparable_tv = "recip" in crit and recip_volume == "comparable"
        one_sided_b, one_sided_f = (_one_sided_segmentations(
            changes, b_by_id, getattr(fu, "suv", None), reg, new_lesion_baseline_fraction,
            b_lab=b_lab if new_lesion_lookback == "footprint" else None)
                                    if "percist" in crit or comparable_tv else (set(), set()))
        below_reference: set[int] = set()
        if new_lesion_min_uptake != "none":
            ref = _region(fu, new_lesion_min_uptake)
            if ref is None:
                if any(c.status == "new" for c in changes):
                    flags.append(f"follow-up {new_lesion_min_uptake} reference not found: new lesions "
                                 "not checked against it")
            else:
                for c in changes:
                    if c.status == "new" and c.suv_max_followup is not None and c.suv_max_followup < float(ref["mean"]):
                        if c.followup_id is not None and not any(fl.startswith(SPLIT_FROM) for fl in c.flags):
                            below_reference.add(int(c.followup_id))
                        c.flags.append(f"SUVmax {c.suv_max_followup:.2f} below the {new_lesion_min_uptake} "
                                       f"SUVmean {float(ref['mean']):.2f}: not counted as new")
        new_ids = [c.followup_id for c in changes
                   if c.status == "new" and not c.flags and c.volume_ml_followup is not None
                   and c.volume_ml_followup >= min_new_lesion_volume_ml]
        new_ids = [int(i) for i in new_ids if i is not None]
        n_new = len(new_ids)
        f_burden = _burden(fu)
        ref_override, ref_info = (_followup_reference(baseline, fu, reg, follow_reference, flags,
                                                      registration_ok=summary.accepted or not summary.performed)
                                  if "percist" in crit else ({}, {}))
        values: dict[str, Any] = {
            "baseline_tv_ml": float(b_burden.total_volume_ml), "followup_tv_ml": float(f_burden.total_volume_ml),
            "baseline_n_lesions": len(b_les), "followup_n_lesions": len(f_les), "new_lesions": n_new,
            "n_matched": tracking.n_matched, "n_disappeared": tracking.n_disappeared,
            "followup_reference_regions": ref_info}

        # ---- criteria
        results: dict[str, CriterionResult] = {}
        if "recip" in crit:
            left_b, left_f = ((one_sided_b, one_sided_f | below_reference) if comparable_tv else (set(), set()))
            tv = _recip_volumes(b_burden, f_burden, b_by_id, f_by_id, left_b, left_f, below_reference, values)
            try:
                results["recip"] = recip(tv[0], tv[1], n_new, **opts.get("recip", {}))
            except InvalidInputError as exc:
                results["recip"] = _ne("RECIP 1.0", f"RECIP not evaluable: {exc.message}")
            else:
                _recip_left_out_flag(results["recip"], values, n_new, opts.get("recip", {}))
                _recip_review(results["recip"], changes, b_by_id, f_by_id, set(new_ids), tv, values,
                              opts.get("recip", {}), left_out=(left_b, left_f))
        if "percist" in crit:
            results["percist"] = _percist_from(baseline, fu, n_new, percist_on_incomparable,
                                               opts.get("percist", {}), values, ref_override,
                                               tlg_skip=(one_sided_b, one_sided_f),
                                               residual=_residual_at_baseline_target(
                                                   b_les, changes, fu, reg, b_lab,
                                                   k=float(residual_significance_k)),
                                               residual_target=residual_target,
                                               residual_k=float(residual_significance_k), changes=changes)
            results["percist"].provenance.parameters["followup_reference_regions"] = ref_info
        if "ppp" in crit:
            n_distant = sum(1 for i in new_ids if str(f_by_id[i].site) not in set(regional_sites))
            existing = []
            for c in changes:
                if c.status != "matched":
                    continue
                if c.diameter_mm_baseline and c.diameter_mm_followup is not None:
                    existing.append(ExistingLesionChange(lesion_id=str(c.baseline_id), measure="size",
                                                         baseline_value=c.diameter_mm_baseline,
                                                         followup_value=c.diameter_mm_followup))
                if c.suv_max_baseline and c.suv_max_followup is not None:
                    existing.append(ExistingLesionChange(lesion_id=str(c.baseline_id), measure="uptake",
                                                         baseline_value=c.suv_max_baseline,
                                                         followup_value=c.suv_max_followup))
            try:
                results["ppp"] = ppp(PppInput(new_distant_lesions=n_distant, new_other_lesions=n_new - n_distant,
                                              existing_lesions=existing, clinical_progression=psa_progression,
                                              confirmed_within_3_months=confirmed_within_3_months),
                                     **opts.get("ppp", {}))
            except InvalidInputError as exc:
                results["ppp"] = _ne("PSMA PET Progression (PPP)", f"PPP not evaluable: {exc.message}")
        for name, r in results.items():
            for fl in r.flags:
                flags.append(f"{name}: {fl}")
        out.append(FollowupAssessment(
            index=n, reference_time=f_time, days_since_baseline=days, checks=checks, registration=summary,
            tracking=tracking, lesions=changes, n_new_lesions=n_new, new_lesion_ids=new_ids, values=values,
            criteria=results, flags=flags))
    base_summary = {"reference_time": b_time, "uptake_time_min": getattr(baseline, "uptake_time_min", None),
                    "tv_ml": float(b_burden.total_volume_ml), "n_lesions": len(b_les),
                    "suv_mean_whole_body": float(b_burden.suv_mean_whole_body)}
    return ResponseAssessment(tracer=tracer, criteria=crit, baseline=base_summary, followups=out,
                              provenance=prov)


def _mapped_site(lesion: Any, to_other: Any) -> tuple[np.ndarray, float]:
    """A lesion's centroid mapped by ``to_other`` (points -> points; None: identity) and its
    equivalent-sphere radius (mm)."""
    pt = np.asarray(lesion.centroid_lps_mm, dtype=float)[None, :]
    if to_other is not None:
        pt = to_other(pt)
    return pt[0], (3.0 * lesion.volume_ml * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)


def _footprint_maxima(b_suv: Any, b_lab: Any, f_on_b: np.ndarray | None,
                      followup_ids: list[int]) -> dict[int, float]:
    """Baseline SUVmax over each follow-up lesion's own voxels mapped onto the baseline grid.

    ``f_on_b`` holds the follow-up lesion ids resampled onto the baseline label grid (nearest
    neighbour, through the registration; integers). Empty when it or the baseline SUV image is
    missing or the SUV image is not on the label grid; a lesion with no voxel there is left out
    (the caller then reads a sphere). Unlike a sphere with a margin, the footprint does not reach
    into a known neighbouring lesion: a new node beside a treated one is judged by the baseline
    uptake where it now is.
    """
    if f_on_b is None or b_suv is None or b_lab is None or not b_lab.same_grid(b_suv) or not followup_ids:
        return {}
    present = set(np.unique(f_on_b).tolist())
    ids = [int(i) for i in followup_ids if int(i) in present]
    if not ids:
        return {}
    maxima = ndimage.maximum(np.asarray(b_suv.array), labels=f_on_b, index=ids)  # no float64 copy of the image
    return {i: float(v) for i, v in zip(ids, np.atleast_1d(maxima))}


def _no_uptake_at_baseline(lookback: dict[int, float], f_by_id: dict[int, Any], fraction: float | None,
                           reference: dict | None) -> list[int]:
    """Follow-up lesions whose footprint had no uptake at baseline: the baseline SUVmax there
    (``lookback``, :func:`_footprint_maxima`) is below ``fraction`` x the lesion's SUVmax and below
    the baseline ``reference`` region's SUVmean (when given). Tracking matches them only through
    mask overlap (``overlap_only`` of :func:`~theranostix.response.tracking.track_lesions`)."""
    if fraction is None:
        return []
    return [i for i, bmax in lookback.items()
            if bmax < fraction * f_by_id[i].suv_max and (reference is None or bmax < float(reference["mean"]))]


def _max_at_site(lesion: Any, other_suv: Any, to_other: Any) -> float | None:
    """SUVmax of the other scan at a lesion's site: within the lesion's equivalent radius +
    ``NEW_LESION_MARGIN_MM`` of its mapped centroid (see :func:`_mapped_site`)."""
    centre, r_eq = _mapped_site(lesion, to_other)
    return _max_in_sphere(other_suv, centre, r_eq + NEW_LESION_MARGIN_MM)


def _one_sided_segmentations(changes: list[LesionChange], b_by_id: dict[int, Any], f_suv: Any, reg: Any,
                             fraction: float | None, b_lab: Any = None) -> tuple[set[int], set[int]]:
    """Lesions segmented on one scan only although their uptake is on both (baseline ids, follow-up ids).

    Follow-up side: the "new" lesions the look-back check found already present at baseline (not
    split pieces of a matched lesion). Baseline side, the mirror check: a "disappeared" lesion
    (not merged) where the follow-up SUVmax over its own voxels carried onto the follow-up grid
    (``b_lab`` given: the baseline label map; :func:`_footprint_on`) -- else within its equivalent
    radius + ``NEW_LESION_MARGIN_MM`` of its centroid -- mapped through the registration, is at
    least ``fraction`` x its baseline SUVmax; such lesions are flagged. The footprint, like the
    look-back's, does not reach into a lesion that appeared beside it. Both are left out of
    PERCIST's TLG comparison and RECIP's TTVs (``recip_volume``), which then compare the same
    lesions on both scans plus the truly new and truly resolved ones: a lesion near the segmentation
    threshold that is segmented on one scan only is not a change in the extent of disease (measured:
    one such node made a +95 % TLG "rise" on a twin pair whose true TLG rose 56 %,
    benchmarks/bench_response_notes.md).
    """
    skip_f = {int(c.followup_id) for c in changes
              if c.status == "new" and c.followup_id is not None
              and any(fl.startswith(_UPTAKE_AT_BASELINE) for fl in c.flags)
              and not any(fl.startswith(SPLIT_FROM) for fl in c.flags)}
    skip_b: set[int] = set()
    if fraction is None or f_suv is None:
        return skip_b, skip_f
    for c in changes:
        if c.status != "disappeared" or c.flags or c.baseline_id is None:
            continue
        bl = b_by_id[int(c.baseline_id)]
        to_fu = None if reg is None else reg.baseline_to_followup
        fp = None if b_lab is None else _footprint_on(b_lab, int(c.baseline_id), f_suv, to_fu)
        fmax = _max_at_site(bl, f_suv, to_fu) if fp is None else float(np.asarray(f_suv.array)[fp].max())
        if fmax is not None and bl.suv_max > 0 and fmax >= fraction * bl.suv_max:
            c.flags.append(f"uptake still at follow-up (SUVmax {fmax:.2f} there vs {bl.suv_max:.2f}, "
                           f">= {fraction:g}x): left out of the TLG / TTV comparison")
            skip_b.add(int(c.baseline_id))
    return skip_b, skip_f


def percist_organ(site: str | None) -> str:
    """The organ a lesion counts against in PERCIST's "at most 2 per organ" rule (RECIST 1.1:
    every lymph node station is one organ, ``"lymph_node"``; so are the skeleton, ``"bone"``, and
    both lungs, ``"lung"``; other sites are their own organ)."""
    kind = site_kind(str(site)) if site else "unassigned"
    if kind == "node":
        return "lymph_node"
    if kind in ("bone", "lung", "liver", "prostate"):
        return kind
    return str(site or "unassigned")


def _percist_scan(res: Any, factor: float, regions: dict[str, dict] | None = None,
                  skip_ids: set[int] | None = None) -> PercistScan:
    les = _lesions(res)
    peak = max((float(x.suv_peak_global) for x in les), default=None)
    regions = regions or {}
    liver = regions.get("liver") or _region(res, "liver")
    bp = regions.get("blood_pool") or _region(res, "blood_pool")
    return PercistScan(
        sul_peak=None if peak is None else peak * factor,
        liver_sul_mean=None if liver is None else float(liver["mean"]) * factor,
        liver_sul_sd=None if liver is None or liver.get("sd") is None else float(liver["sd"]) * factor,
        blood_pool_sul_mean=None if bp is None else float(bp["mean"]) * factor,
        blood_pool_sul_sd=None if bp is None or bp.get("sd") is None else float(bp["sd"]) * factor,
        uptake_min=getattr(res, "uptake_time_min", None),
        tlg=float(sum(float(x.total_lesion_activity) for x in les
                      if int(x.lesion_id) not in (skip_ids or set()))) * factor,
        lesions=[PercistLesion(sul_peak=float(x.suv_peak_global) * factor, organ=percist_organ(x.site),
                               lesion_id=str(x.lesion_id)) for x in les])


def _baseline_target(b_les: list) -> Any:
    """PERCIST's baseline target: the lesion with the highest SUVpeak (``b_les`` not empty)."""
    return max(b_les, key=lambda x: float(x.suv_peak_global))


class _Residual(NamedTuple):
    """Follow-up uptake at the site of a baseline target no follow-up lesion took."""

    lesion_id: int
    site: str | None
    suv_peak: float
    z: float  # significance against the site's own tissue background (NaN: too few voxels)
    tissue: str  # background tissue the z was computed against


def _footprint_on(b_lab: Any, lesion_id: int, grid: Any, to_other: Any) -> np.ndarray | None:
    """A baseline lesion's own voxels carried onto another scan's grid (boolean mask on ``grid``).

    Every baseline voxel of the lesion is sampled at ``ceil(baseline spacing / grid spacing)``
    points per axis (so a finer target grid has no holes), the points are mapped by ``to_other``
    (points -> points; None: identity) and each lands in the nearest ``grid`` voxel. None when the
    lesion has no voxel or none lands inside the grid.
    """
    lab = np.asarray(b_lab.array)
    kji = np.argwhere(np.rint(lab).astype(np.int64) == int(lesion_id))
    if kji.size == 0:
        return None
    b_sp, g_sp = np.asarray(b_lab.spacing, float), np.asarray(grid.spacing, float)
    sub = np.maximum(np.ceil(b_sp / g_sp - 1e-6).astype(int), 1)
    offs = np.stack(np.meshgrid(*[(np.arange(n) + 0.5) / n - 0.5 for n in sub], indexing="ij"), -1).reshape(-1, 3)
    ijk = (kji[:, ::-1].astype(float)[:, None, :] + offs[None, :, :]).reshape(-1, 3)
    pts = np.asarray(b_lab.index_to_world(ijk))
    if to_other is not None:
        pts = np.asarray(to_other(pts))
    g = np.rint(np.asarray(grid.world_to_index(pts))).astype(int)
    shape = np.asarray(grid.array).shape
    ok = np.all((g >= 0) & (g < np.asarray(shape[::-1])), axis=1)
    if not ok.any():
        return None
    mask = np.zeros(shape, dtype=bool)
    mask[g[ok, 2], g[ok, 1], g[ok, 0]] = True
    return mask


def _residual_at_baseline_target(b_les: list, changes: list[LesionChange], fu: Any,
                                 reg: Any, b_lab: Any = None,
                                 k: float = RESIDUAL_SIGNIFICANCE_K) -> _Residual | None:
    """Follow-up SUVpeak and significance at the site of the baseline PERCIST target when no
    follow-up lesion took it.

    The baseline target is the lesion with the highest SUVpeak; when tracking calls it
    "disappeared" (not merged), the follow-up PERCIST SUVpeak (1 cm^3 sphere) is measured at its
    site: PERCIST's measurability threshold applies to the baseline only, so a target that fell
    below the segmentation threshold still has uptake a reader would measure.

    * The site is the target's own baseline voxels (``b_lab``) carried through the registration
      onto the follow-up grid (:func:`_footprint_on`), so the sphere centres lie where the tumour
      was, not in a structure beside it. Without baseline labels it is the sphere of the target's
      equivalent radius (at least one voxel) around its mapped centroid.
    * The site is judged per tissue (:func:`_site_parts`): its part in CT bone against bone, the
      rest against soft tissue. A part whose z reaches ``k`` stands out; the residual is the
      hottest such part (SUVpeak centres within it). When none stands out, the part with the
      highest z is reported (it is not used). Measured on the twins: a presacral mass that had
      displaced sacral marrow left normal marrow at its site; judged as one soft-tissue site it
      scored z 21.7 (its old sphere 21.4); its bone part scores z 1.4 against the marrow around it.

    Returns None when the target was matched or merged, without a follow-up SUV image, or when
    the site lies outside the follow-up image.
    """
    f_suv = getattr(fu, "suv", None)
    if not b_les or f_suv is None:
        return None
    tgt = _baseline_target(b_les)
    ch = next((c for c in changes if c.baseline_id is not None and int(c.baseline_id) == int(tgt.lesion_id)), None)
    if ch is None or ch.status != "disappeared" or any(fl.startswith(MERGED_INTO) for fl in ch.flags):
        return None
    to_fu = None if reg is None else reg.baseline_to_followup
    if b_lab is not None:
        mask = _footprint_on(b_lab, int(tgt.lesion_id), f_suv, to_fu)
    else:
        centre, r_eq = _mapped_site(tgt, to_fu)
        mask = _sphere_mask(f_suv, centre, max(r_eq, float(max(f_suv.spacing))))
    if mask is None:
        return None
    parts = [(float(suv_peak_global(f_suv, part)), z, tissue)
             for part, z, tissue in _site_parts(f_suv, mask, getattr(fu, "labels", None), getattr(fu, "ct", None))]
    standing = [p for p in parts if np.isfinite(p[1]) and p[1] >= k]
    if standing:
        peak, z, tissue = max(standing, key=lambda p: p[0])
    else:
        peak, z, tissue = max(parts, key=lambda p: p[1] if np.isfinite(p[1]) else -np.inf)
    return _Residual(int(tgt.lesion_id), tgt.site, peak, z, tissue)


def _site_parts(suv: Any, site: np.ndarray, labels: Any, ct: Any) -> list[tuple[np.ndarray, float, str]]:
    """A site split by tissue class, each part with its significance z and its tissue.

    :func:`theranostix.pet.segmentation.lesion_local_significance` with the part as the lesion:
    z is the part's SUVmax over the shell 10-20 mm around it, in the part's tissue class (CT bone,
    :class:`PetCtAnatomy`, for the part in bone; soft tissue for the rest), without the segmented
    lesions (``labels``, on the PET grid). Without a CT (or a CT that cannot be used) the site is
    one part and its shell takes every tissue, which the returned tissue text says.
    """
    lab = np.asarray(labels.array) if labels is not None else None
    excl = None if lab is None or lab.shape != site.shape else (lab > 0) & ~site
    bone, tissue = None, "all tissue (no CT)"
    if ct is not None:
        try:
            bone = PetCtAnatomy.build(suv, ct).bone
        except InvalidInputError as exc:
            tissue = f"all tissue (CT not usable: {exc.message})"
    if bone is None:
        parts = [(site, tissue)]
    else:
        parts = [(p, t) for p, t in ((site & bone, "bone"), (site & ~bone, "soft tissue")) if p.any()]
    out = []
    for part, t in parts:
        z = lesion_local_significance(suv, part.astype(np.int32), tissue_mask=bone, exclude_mask=excl)
        out.append((part, float(z.get(1, float("nan"))), t))
    return out


def _recip_review(res: CriterionResult, changes: Sequence[LesionChange], b_by_id: dict, f_by_id: dict,
                  new_ids: set[int], tv_ml: tuple[float, float], values: dict[str, Any],
                  options: dict, left_out: tuple[set[int], set[int]] = (set(), set())) -> None:
    """Leave-one-lesion-out check of a RECIP result (``recip_single_lesion_dependence``): the
    lesions the category rests on go to ``values["recip_single_lesion_dependence"]`` and a flag.
    Lesions left out of the TTVs (``left_out``: baseline ids, follow-up ids) count as absent."""
    tracks, rows = [], []
    for c in changes:
        b = b_by_id.get(c.baseline_id) if c.baseline_id is not None and c.baseline_id not in left_out[0] else None
        f = f_by_id.get(c.followup_id) if c.followup_id is not None and c.followup_id not in left_out[1] else None
        if b is None and f is None:
            continue
        tracks.append((0.0 if b is None else float(b.volume_ml), 0.0 if f is None else float(f.volume_ml),
                       c.followup_id is not None and int(c.followup_id) in new_ids))
        rows.append((c, b, f))
    dep = recip_single_lesion_dependence(tracks, tv_ml[0], tv_ml[1], len(new_ids), **options)
    out = []
    for i, cat in dep:
        c, b, f = rows[i]
        les = f if f is not None else b
        out.append({"baseline_id": c.baseline_id, "followup_id": c.followup_id, "status": c.status,
                    "site": None if les is None else les.site, "baseline_volume_ml": tracks[i][0],
                    "followup_volume_ml": tracks[i][1], "category_without": cat})
    values["recip_single_lesion_dependence"] = out
    if out:
        res.flags.append(single_lesion_flag(res.category, [
            (f"follow-up lesion {d['followup_id']}" if d["followup_id"] is not None else f"baseline lesion {d['baseline_id']}")
            + f" ({d['site'] or 'site unknown'}, {d['baseline_volume_ml']:.2f} -> {d['followup_volume_ml']:.2f} mL)"
            + f" -> {d['category_without']}" for d in out]))


def _recip_volumes(b_burden: Any, f_burden: Any, b_by_id: dict[int, Any], f_by_id: dict[int, Any],
                   left_b: set[int], left_f: set[int], below_reference: set[int],
                   values: dict[str, Any]) -> tuple[float, float]:
    """RECIP's baseline and follow-up TTV (mL): the segmented totals less the lesions left out
    (see ``recip_volume`` of :func:`assess_response`). Records ``values["recip_tv_ml"]`` and the
    lesions left out (``values["recip_left_out"]``: side, id, site, volume and why: "one-sided"
    -- segmented on one scan only although the uptake is on both -- or "below the uptake
    reference", the follow-up ids in ``below_reference``)."""
    out, tv = [], []
    for side, burden, by_id, left in (("baseline", b_burden, b_by_id, left_b), ("followup", f_burden, f_by_id, left_f)):
        gone = [by_id[i] for i in sorted(left) if i in by_id]
        tv.append(max(0.0, float(burden.total_volume_ml) - sum(float(x.volume_ml) for x in gone)))
        out += [{"side": side, "lesion_id": int(x.lesion_id), "site": x.site, "volume_ml": float(x.volume_ml),
                 "why": ("below the uptake reference" if side == "followup" and int(x.lesion_id) in below_reference
                         else "one-sided")} for x in gone]
    values["recip_tv_ml"] = {"baseline": tv[0], "followup": tv[1]}
    values["recip_left_out"] = out
    return tv[0], tv[1]


def _recip_left_out_flag(res: CriterionResult, values: dict[str, Any], n_new: int, options: dict) -> None:
    """Flag the lesions left out of RECIP's TTVs, with the category every segmented lesion gives
    when it differs (``values["recip_category_all_segmented"]``)."""
    gone = values.get("recip_left_out") or []
    if not gone:
        return
    every = recip(float(values["baseline_tv_ml"]), float(values["followup_tv_ml"]), n_new, **options).category
    values["recip_category_all_segmented"] = every
    text = "; ".join(f"{d['side']} lesion {d['lesion_id']} ({d['site'] or 'site unknown'}, {d['volume_ml']:.2f} mL, "
                     f"{d['why']})" for d in gone)
    res.flags.append(f"TTV compares the same disease on both scans (one-sided: segmented on one scan only "
                     f"although the uptake is on both): left out {text}"
                     + ("" if every == res.category else f"; with every segmented lesion: {every}"))


def _nontarget_increases(changes: Sequence[LesionChange], b_les: list, fb: float, ff: float,
                         fraction: float, abs_sul: float, boundary: str = ">") -> list[dict[str, Any]]:
    """Matched lesions other than the baseline target that increased by PERCIST's measure (see
    :data:`NONTARGET_MIN_DIAMETER_INCREASE_MM`): SULpeak > ``fraction`` and > ``abs_sul`` SUL up,
    or longest diameter > ``fraction`` and >= the minimum mm up; ``boundary`` (PERCIST's
    ``pmd_boundary``, default ``">"``) is the comparator of the fraction and the SUL step. A
    lesion split on the follow-up is judged by its largest piece (the matched one)."""
    if not b_les:
        return []
    target = int(_baseline_target(b_les).lesion_id)
    out: list[dict[str, Any]] = []
    for c in changes:
        if c.status != "matched" or c.baseline_id is None or int(c.baseline_id) == target:
            continue
        if c.suv_peak_baseline and c.suv_peak_followup is not None:
            b, f = c.suv_peak_baseline * fb, c.suv_peak_followup * ff
            if meets((f - b) / b, boundary, fraction) and meets(f - b, boundary, abs_sul):
                out.append({"baseline_id": int(c.baseline_id), "measure": "sul_peak", "baseline": b, "followup": f})
        if c.diameter_mm_baseline and c.diameter_mm_followup is not None:
            b, f = c.diameter_mm_baseline, c.diameter_mm_followup
            if meets((f - b) / b, boundary, fraction) and meets(f - b, ">=", NONTARGET_MIN_DIAMETER_INCREASE_MM):
                out.append({"baseline_id": int(c.baseline_id), "measure": "longest_diameter_mm",
                            "baseline": b, "followup": f})
    return out


def _percist_from(baseline: Any, fu: Any, n_new: int, on_incomparable: str, options: dict,
                  values: dict, followup_regions: dict[str, dict] | None = None,
                  tlg_skip: tuple[set[int], set[int]] = (set(), set()),
                  residual: _Residual | None = None, residual_target: str = "measure",
                  residual_k: float = RESIDUAL_SIGNIFICANCE_K,
                  changes: Sequence[LesionChange] = ()) -> CriterionResult:
    try:
        fb, ff = sul_factor(baseline.patient or {}), sul_factor(fu.patient or {})
    except InvalidInputError as exc:
        return _ne("PERCIST 1.0", f"PERCIST not evaluable: SUL needs {exc.message}")
    sb = _percist_scan(baseline, fb, skip_ids=tlg_skip[0])
    sf = _percist_scan(fu, ff, followup_regions, skip_ids=tlg_skip[1])
    site_note = None
    if residual is not None:
        r_sul = residual.suv_peak * ff
        stands_out = bool(np.isfinite(residual.z) and residual.z >= residual_k)
        values.update(residual_sul_peak_at_baseline_target=r_sul,
                      residual_significance_z=residual.z if np.isfinite(residual.z) else None,
                      residual_background_tissue=residual.tissue, residual_significance_k=residual_k)
        hottest = sf.sul_peak is None or r_sul > sf.sul_peak
        if residual_target == "measure" and stands_out and hottest:
            site_note = (f"follow-up target measured at the site of the baseline target (lesion "
                         f"{residual.lesion_id}), not segmented on the follow-up: SULpeak {r_sul:.2f} "
                         f"(segmented lesions: {'none' if sf.sul_peak is None else f'{sf.sul_peak:.2f}'}), "
                         f"{residual.z:.1f} noise SDs above its {residual.tissue} background "
                         f"(>= {residual_k:g}: distinguishable, so not a complete response)")
            site_lesion = PercistLesion(sul_peak=r_sul, organ=percist_organ(residual.site),
                                        lesion_id=f"site of baseline lesion {residual.lesion_id}")
            sf = sf.model_copy(update={"sul_peak": r_sul, "lesions": [*(sf.lesions or []), site_lesion]})
        elif (hottest and sf.liver_sul_mean is not None and r_sul >= sf.liver_sul_mean
              and (residual_target == "flag" or not np.isfinite(residual.z))):
            site_note = (f"residual uptake at the site of the baseline target (lesion {residual.lesion_id}), "
                         f"not segmented on the follow-up: SULpeak {r_sul:.2f} >= follow-up liver SULmean "
                         f"{sf.liver_sul_mean:.2f}"
                         + ("" if np.isfinite(residual.z) else "; its significance could not be computed")
                         + "; the category uses the segmented lesions only -- review the site")
    values.update(baseline_sul_factor=fb, followup_sul_factor=ff, baseline_sul_peak=sb.sul_peak,
                  followup_sul_peak=sf.sul_peak, baseline_tlg=sb.tlg, followup_tlg=sf.tlg,
                  tlg_left_out_baseline_ids=sorted(tlg_skip[0]), tlg_left_out_followup_ids=sorted(tlg_skip[1]))
    opts = dict(options)
    increases = _nontarget_increases(changes, _lesions(baseline), fb, ff,
                                     float(opts.get("response_fraction", RESPONSE_FRACTION)),
                                     float(opts.get("response_abs_sul", RESPONSE_ABS_SUL)),
                                     str(opts.get("pmd_boundary", ">")))
    values["nontarget_increases"] = increases
    if "nontarget_increase_over_30pct" not in opts:
        opts["nontarget_increase_over_30pct"] = bool(increases)
    if "reference" not in opts:
        if sb.liver_sul_mean is None and sb.blood_pool_sul_mean is not None:
            opts["reference"] = "blood_pool"
    try:
        res = percist(sb, sf, n_new, on_incomparable=on_incomparable, **opts)  # type: ignore[arg-type]
    except InvalidInputError as exc:
        if on_incomparable == "refuse" and "not comparable" in exc.message:
            raise
        return _ne("PERCIST 1.0", f"PERCIST not evaluable: {exc.message}")
    if increases:
        what = ", ".join(f"lesion {d['baseline_id']} {d['measure']} {d['baseline']:.3g} -> {d['followup']:.3g}"
                         for d in increases)
        res.flags.append(f"other lesions increased > 30 % ({what}): "
                         + ("PMR excluded" if opts["nontarget_increase_over_30pct"]
                            else "not applied (nontarget_increase_over_30pct given as an option)"))
    if opts.get("reference") == "blood_pool" and "reference" not in options:
        res.flags.append("liver reference not found at baseline: blood pool used for measurability")
        res.provenance.warn("liver reference not found: blood pool used")
    if site_note is not None:
        res.flags.append(site_note)
        res.provenance.warn(site_note)
    return res

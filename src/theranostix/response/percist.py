"""PERCIST 1.0 (FDG): response of the hottest lesion's SULpeak with comparability checks.

Wahl et al., JNM 2009;50 Suppl 1:122S; Practical PERCIST (O, Lodge, Wahl, Radiology 2016;
PMC4976461); CRITERIA.md §3.1 [V]. Summary:

* Measurable at baseline: SULpeak >= 1.5 x liver SULmean + 2 SD (liver) or >= 2.0 x blood-pool
  SULmean + 2 SD (blood pool, when the liver is diseased).
* Comparability: liver SULmean within 20 % **and** < 0.3 SUL between scans; uptake times within
  15 min.
* Target: the hottest lesion on each scan (need not be the same lesion).
* CMR: target below liver mean and at blood-pool level (SULpeak <= blood-pool SULmean by default;
  ``cmr_blood_pool_sd`` adds a noise band); no new lesions.
* PMR: SULpeak falls >= 30 % and >= 0.8 SUL; no new lesions.
* PMD: SULpeak rises > 30 % and > 0.8 SUL; or new FDG-avid lesions; or TLG > 75 % up with no
  SUL decline.
* SMD: none of the above.
* Optional secondary measure (reported, never used for the category): the sum of the SULpeaks of
  up to 5 of the hottest lesions, at most 2 per organ (Wahl 2009, after RECIST 1.1), with its
  relative change -- :func:`sum_of_hottest`.

Comparability failures are **never scored silently**. With ``on_incomparable="flag"`` (default)
the result's category is ``"NE"`` (not evaluable), ``flags`` lists each failure, and the
category the numbers would give is in ``values["category_if_comparable"]`` -- except PMD by new
lesions, which does not rest on SUL and is kept (still flagged).
With ``on_incomparable="refuse"`` an :class:`InvalidInputError` is raised instead.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.pet.scores import CriterionResult, Reason, check_comparator, check_value, fmt, meets


#: PERCIST's response thresholds on SULpeak: a change of 30 % and 0.8 SUL (PMR and PMD).
RESPONSE_FRACTION: float = 0.30
RESPONSE_ABS_SUL: float = 0.8
#: CMR's "indistinguishable from blood-pool levels": SULpeak <= blood-pool SULmean + this many SDs.
#: PERCIST gives no number; 0 (the mean itself) is the default. A 2 SD band (the noise margin of
#: PERCIST's measurability rule) was measured on the FDG twin pairs and not adopted: see
#: ``cmr_blood_pool_sd`` of :func:`percist`.
CMR_BLOOD_POOL_SD: float = 0.0
#: PERCIST's optional secondary measure: at most this many lesions in the sum of SULpeaks ...
SUM_MAX_LESIONS: int = 5
#: ... and at most this many per organ (Wahl 2009, after RECIST 1.1).
SUM_MAX_PER_ORGAN: int = 2


class PercistLesion(BaseModel):
    """One lesion for PERCIST's sum of the hottest lesions.

    Attributes
    ----------
    sul_peak
        Its SULpeak.
    organ
        The organ it counts against for the "at most 2 per organ" rule. Follow RECIST 1.1: all
        lymph nodes are one organ (``"lymph_node"``), so are the skeleton (``"bone"``) and both
        lungs (``"lung"``).
    lesion_id
        Optional identifier, echoed in the values.
    """

    sul_peak: float
    organ: str
    lesion_id: str | None = None


class PercistScan(BaseModel):
    """Measurements of one FDG PET scan (SUL = SUV normalised to lean body mass).

    Attributes
    ----------
    sul_peak
        SULpeak of the hottest lesion (1 cm^3 sphere). ``None`` (follow-up only) = no residual
        lesion uptake.
    liver_sul_mean, liver_sul_sd
        Liver SULmean and SD (3 cm sphere, right lobe).
    blood_pool_sul_mean, blood_pool_sul_sd
        Descending-aorta blood pool (1 cm x 2 cm cylinder).
    uptake_min
        Uptake time (injection to scan start) in minutes.
    tlg
        Total lesion glycolysis (SUL x mL), optional, for the TLG rule of PMD.
    lesions
        Optional per-lesion SULpeaks for the secondary measure (:func:`sum_of_hottest`); the
        baseline sum takes the measurable lesions only, the follow-up sum the hottest lesions
        (like the target, they need not be the same lesions).
    """

    sul_peak: float | None
    liver_sul_mean: float | None = None
    liver_sul_sd: float | None = None
    blood_pool_sul_mean: float | None = None
    blood_pool_sul_sd: float | None = None
    uptake_min: float | None = None
    tlg: float | None = None
    lesions: list[PercistLesion] | None = None


def sum_of_hottest(lesions: list[PercistLesion], *, max_lesions: int = SUM_MAX_LESIONS,
                   max_per_organ: int = SUM_MAX_PER_ORGAN,
                   min_sul_peak: float | None = None) -> tuple[float, list[PercistLesion]]:
    """PERCIST's secondary measure: the sum of the SULpeaks of up to ``max_lesions`` of the hottest
    lesions, at most ``max_per_organ`` per organ.

    Lesions are taken hottest first; one whose organ already has ``max_per_organ`` lesions is
    skipped (the next hottest elsewhere takes its place). With ``min_sul_peak`` only lesions at or
    above it count (the baseline's measurability threshold). Ties keep the input order.

    Returns
    -------
    tuple
        (sum of SULpeaks -- 0.0 when no lesion counts --, the lesions counted, hottest first).
    """
    if max_lesions < 1 or max_per_organ < 1:
        raise InvalidInputError(f"max_lesions {max_lesions} and max_per_organ {max_per_organ} must be >= 1",
                                where="sum_of_hottest")
    chosen: list[PercistLesion] = []
    per: dict[str, int] = {}
    for les in sorted(lesions, key=lambda x: -x.sul_peak):
        if len(chosen) == max_lesions:
            break
        if min_sul_peak is not None and les.sul_peak < min_sul_peak:
            break
        if per.get(les.organ, 0) >= max_per_organ:
            continue
        per[les.organ] = per.get(les.organ, 0) + 1
        chosen.append(les)
    return float(sum(x.sul_peak for x in chosen)), chosen


def percist(
    baseline: PercistScan,
    followup: PercistScan,
    new_lesions: int = 0,
    *,
    reference: Literal["liver", "blood_pool"] = "liver",
    on_incomparable: Literal["flag", "refuse"] = "flag",
    response_fraction: float = RESPONSE_FRACTION,
    response_abs_sul: float = RESPONSE_ABS_SUL,
    pmr_boundary: Literal[">=", ">"] = ">=",
    pmd_boundary: Literal[">=", ">"] = ">",
    liver_max_rel_diff: float = 0.20,
    liver_max_abs_diff_sul: float = 0.3,
    max_uptake_time_diff_min: float = 15.0,
    tlg_pmd_fraction: float = 0.75,
    nontarget_increase_over_30pct: bool = False,
    cmr_blood_pool_sd: float = CMR_BLOOD_POOL_SD,
) -> CriterionResult:
    """PERCIST 1.0 category.

    Parameters
    ----------
    baseline, followup
        The two scans. Baseline needs the reference mean and SD, and ``sul_peak`` unless new
        lesions are given: a baseline without any lesion (``sul_peak`` None) with new lesions at
        follow-up is PMD on the new lesions alone (as when the baseline lesion is not measurable).
    new_lesions
        New FDG-avid lesions typical of cancer (count).
    reference
        Measurability reference: ``"liver"`` (1.5 x mean + 2 SD) or ``"blood_pool"``
        (2.0 x mean + 2 SD) when the liver is diseased.
    on_incomparable
        ``"flag"`` (default: category ``"NE"`` with flags) or ``"refuse"`` (raise).
    response_fraction, response_abs_sul
        30 % and 0.8 SUL.
    pmr_boundary
        ``">="`` (default, Wahl 2009 Table) or ``">"`` (some texts say "> 30 %").
    pmd_boundary
        ``">"`` (default, Wahl 2009) or ``">="``.
    liver_max_rel_diff, liver_max_abs_diff_sul
        Comparability of the reference mean: within 20 % and < 0.3 SUL (both required).
    max_uptake_time_diff_min
        Uptake-time comparability, 15 min (difference <= 15 min passes).
    tlg_pmd_fraction
        TLG increase (> 75 %) with no SUL decline that makes PMD.
    nontarget_increase_over_30pct
        Another lesion increased > 30 % in SUL or size: blocks PMR (-> SMD).
    cmr_blood_pool_sd
        CMR asks the target's uptake to be "indistinguishable from surrounding background
        blood-pool levels" (Wahl 2009); PERCIST gives no number. It is read as follow-up SULpeak
        <= blood-pool SULmean + this many blood-pool SDs. Default 0: the mean itself. A SULpeak is
        the hottest 1 cm^3 sphere, so a site at blood-pool level reads above the blood-pool mean by
        noise alone; a band of 2 SD (the noise margin PERCIST's measurability rule puts above a
        reference mean) turned 3 resolved FDG twin pairs read PMR into CMR, but also 2 pairs with
        real residual disease measured below the liver into CMR, one of them on pairs never seen
        before (benchmarks/bench_response_notes.md), so it is an option, not the default. With a
        band > 0 and no follow-up blood-pool SD the mean is used and a warning is recorded.

    Raises
    ------
    InvalidInputError
        Negative values; missing baseline SULpeak or reference; ``on_incomparable="refuse"``
        with a comparability failure.
    """
    if reference not in ("liver", "blood_pool"):
        raise InvalidInputError(f"unknown reference {reference!r}", where="reference",
                                fix="use liver or blood_pool")
    if on_incomparable not in ("flag", "refuse"):
        raise InvalidInputError(f"unknown on_incomparable {on_incomparable!r}",
                                where="on_incomparable", fix="use flag or refuse")
    check_value(cmr_blood_pool_sd, "cmr_blood_pool_sd", fix="give a number of SDs >= 0, e.g. 0 (the mean, default) or 2")
    pmr_op = check_comparator(pmr_boundary, "pmr_boundary")
    pmd_op = check_comparator(pmd_boundary, "pmd_boundary")
    if new_lesions is None or int(new_lesions) != new_lesions or new_lesions < 0:
        raise InvalidInputError(f"new_lesions {new_lesions!r} is not a count >= 0", where="new_lesions")
    n_new = int(new_lesions)
    # without any baseline lesion only new lesions can decide (PMD); otherwise the SULpeak is required
    b = check_value(baseline.sul_peak, "baseline.sul_peak", positive=True, required=n_new == 0,
                    fix="give the SULpeak of the hottest baseline lesion")
    f = check_value(followup.sul_peak, "followup.sul_peak", required=False)
    ref_key = "liver" if reference == "liver" else "blood_pool"
    factor = 1.5 if reference == "liver" else 2.0
    b_ref = check_value(getattr(baseline, f"{ref_key}_sul_mean"), f"baseline.{ref_key}_sul_mean",
                        positive=True, fix=f"measure the baseline {ref_key} SULmean")
    b_sd = check_value(getattr(baseline, f"{ref_key}_sul_sd"), f"baseline.{ref_key}_sul_sd",
                       fix=f"measure the baseline {ref_key} SUL standard deviation")
    f_ref = check_value(getattr(followup, f"{ref_key}_sul_mean"), f"followup.{ref_key}_sul_mean",
                        positive=True, fix=f"measure the follow-up {ref_key} SULmean")
    f_liver = check_value(followup.liver_sul_mean, "followup.liver_sul_mean", positive=True,
                          required=False)
    f_bp = check_value(followup.blood_pool_sul_mean, "followup.blood_pool_sul_mean", positive=True,
                       required=False)
    for scan, nm in ((baseline, "baseline"), (followup, "followup")):
        check_value(scan.uptake_min, f"{nm}.uptake_min", required=False)
        check_value(scan.tlg, f"{nm}.tlg", required=False)
        check_value(scan.liver_sul_sd, f"{nm}.liver_sul_sd", required=False)
        check_value(scan.blood_pool_sul_sd, f"{nm}.blood_pool_sul_sd", required=False)
        for i, les in enumerate(scan.lesions or []):
            check_value(les.sul_peak, f"{nm}.lesions[{i}].sul_peak")
    prov = Provenance(parameters={
        "reference": reference, "on_incomparable": on_incomparable,
        "response_fraction": response_fraction, "response_abs_sul": response_abs_sul,
        "pmr_boundary": pmr_boundary, "pmd_boundary": pmd_boundary,
        "liver_max_rel_diff": liver_max_rel_diff, "liver_max_abs_diff_sul": liver_max_abs_diff_sul,
        "max_uptake_time_diff_min": max_uptake_time_diff_min, "tlg_pmd_fraction": tlg_pmd_fraction,
        "cmr_blood_pool_sd": cmr_blood_pool_sd})
    reasons: list[Reason] = []
    flags: list[str] = []

    # ---- comparability
    d_abs = abs(f_ref - b_ref)
    d_rel = d_abs / b_ref
    rel_ok = meets(d_rel, "<=", liver_max_rel_diff)
    abs_ok = meets(d_abs, "<", liver_max_abs_diff_sul)
    reasons.append(Reason(
        rule="PERCIST.comparability.reference_sul",
        text=(f"{ref_key} SULmean {fmt(b_ref)} -> {fmt(f_ref)}: difference {fmt(d_abs)} SUL "
              f"({d_rel * 100:.1f} %); limits <= {liver_max_rel_diff * 100:g} % and < "
              f"{fmt(liver_max_abs_diff_sul)} SUL -> {'comparable' if rel_ok and abs_ok else 'NOT comparable'}"),
        met=rel_ok and abs_ok,
        values={f"baseline_{ref_key}_sul_mean": b_ref, f"followup_{ref_key}_sul_mean": f_ref,
                "abs_diff_sul": d_abs, "rel_diff": d_rel},
        thresholds={"liver_max_rel_diff": liver_max_rel_diff,
                    "liver_max_abs_diff_sul": liver_max_abs_diff_sul}))
    if not rel_ok:
        flags.append(f"{ref_key} SULmean differs by {d_rel * 100:.1f} % (> {liver_max_rel_diff * 100:g} %)")
    if not abs_ok:
        flags.append(f"{ref_key} SULmean differs by {fmt(d_abs)} SUL (>= {fmt(liver_max_abs_diff_sul)})")
    if baseline.uptake_min is not None and followup.uptake_min is not None:
        dt = abs(followup.uptake_min - baseline.uptake_min)
        t_ok = meets(dt, "<=", max_uptake_time_diff_min)
        reasons.append(Reason(
            rule="PERCIST.comparability.uptake_time",
            text=(f"Uptake time {fmt(baseline.uptake_min)} -> {fmt(followup.uptake_min)} min: "
                  f"difference {fmt(dt)} min {'<=' if t_ok else '>'} {fmt(max_uptake_time_diff_min)} min"),
            met=t_ok, values={"baseline_uptake_min": baseline.uptake_min,
                              "followup_uptake_min": followup.uptake_min, "diff_min": dt},
            thresholds={"max_uptake_time_diff_min": max_uptake_time_diff_min}))
        if not t_ok:
            flags.append(f"uptake times differ by {fmt(dt)} min (> {fmt(max_uptake_time_diff_min)} min)")
    else:
        reasons.append(Reason(rule="PERCIST.comparability.uptake_time",
                              text="Uptake times not given: comparability not checked", met=None))
        prov.warn("uptake times not given: uptake-time comparability (15 min) not checked")
    if flags and on_incomparable == "refuse":
        raise InvalidInputError("scans are not comparable for PERCIST: " + "; ".join(flags),
                                where="baseline/followup",
                                fix="repeat with a comparable protocol, or use on_incomparable='flag'")

    # ---- measurability
    thr = factor * b_ref + 2.0 * b_sd
    if b is None:  # no baseline lesion, new lesions at follow-up: PMD on the new lesions alone
        reasons.append(Reason(
            rule="PERCIST.measurable",
            text=(f"No baseline lesion (measurability threshold {fmt(factor)} x {ref_key} SULmean "
                  f"{fmt(b_ref)} + 2 x SD {fmt(b_sd)} = {fmt(thr)}): the SULpeak criteria cannot apply"),
            met=False, values={"baseline_sul_peak": None},
            thresholds={"measurability_threshold": thr, "comparator": ">="}, option=f"reference={reference}"))
        reasons.append(Reason(rule="PERCIST.new_lesions", text=f"{n_new} new FDG-avid lesion(s) -> PMD",
                              met=True, values={"new_lesions": n_new}))
        flags.append("no lesion at baseline: PMD rests on the new lesions alone")
        return _result("PMD", n_new, reasons, flags, prov,
                       {"baseline_sul_peak": None, "followup_sul_peak": f, "measurability_threshold": thr})
    measurable = meets(b, ">=", thr)
    reasons.append(Reason(
        rule="PERCIST.measurable",
        text=(f"Baseline SULpeak {fmt(b)} {'>=' if measurable else '<'} {fmt(factor)} x {ref_key} "
              f"SULmean {fmt(b_ref)} + 2 x SD {fmt(b_sd)} = {fmt(thr)}"),
        met=measurable, values={"baseline_sul_peak": b},
        thresholds={"measurability_threshold": thr, "comparator": ">="},
        option=f"reference={reference}"))
    reasons.append(Reason(rule="PERCIST.new_lesions", text=f"{n_new} new FDG-avid lesion(s)",
                          met=n_new > 0, values={"new_lesions": n_new}))

    values: dict = {"baseline_sul_peak": b, "followup_sul_peak": f, "measurability_threshold": thr}
    f_eff = 0.0 if f is None else f
    change_abs = f_eff - b
    change = change_abs / b
    values.update({"sul_peak_change_fraction": change, "sul_peak_change_abs": change_abs})

    # CMR
    liver_for_cmr = f_liver
    if f is None:
        cmr = True
        cmr_text = "No residual lesion uptake at follow-up"
    elif liver_for_cmr is None or f_bp is None:
        cmr = False
        cmr_text = ("CMR not assessable: follow-up liver and blood-pool SULmean are needed")
    else:
        below_liver = meets(f, "<", liver_for_cmr)
        bp_sd = followup.blood_pool_sul_sd
        if bp_sd is None and cmr_blood_pool_sd > 0:
            prov.warn("follow-up blood-pool SD not given: CMR's blood-pool level is its mean")
        margin = 0.0 if bp_sd is None else cmr_blood_pool_sd * bp_sd
        bp_level = f_bp + margin
        at_bp = meets(f, "<=", bp_level)
        bp_text = (f"blood-pool SULmean {fmt(f_bp)}" if margin == 0 else
                   f"blood-pool level {fmt(bp_level)} (SULmean {fmt(f_bp)} + {cmr_blood_pool_sd:g} x SD {fmt(bp_sd)})")
        cmr = below_liver and at_bp
        cmr_text = (f"Follow-up SULpeak {fmt(f)} {'<' if below_liver else '>='} liver SULmean "
                    f"{fmt(liver_for_cmr)} and {'<=' if at_bp else '>'} {bp_text}")
    cmr_assessable = f is None or (liver_for_cmr is not None and f_bp is not None)
    cmr = cmr and n_new == 0
    reasons.append(Reason(rule="PERCIST.CMR", text=cmr_text + ("" if n_new == 0 else "; new lesions exclude CMR"),
                          met=cmr if (cmr_assessable or n_new) else None, values={"followup_sul_peak": f, "followup_liver_sul_mean": f_liver,
                                           "followup_blood_pool_sul_mean": f_bp}))
    # PMD
    rel_up = meets(change, pmd_op, response_fraction)
    abs_up = meets(change_abs, pmd_op, response_abs_sul)
    pmd_sul = rel_up and abs_up
    reasons.append(Reason(
        rule="PERCIST.PMD.sul_peak",
        text=(f"SULpeak change {change * 100:+.1f} % ({change_abs:+.3g} SUL): PMD needs "
              f"{pmd_boundary} {response_fraction * 100:g} % and {pmd_boundary} {fmt(response_abs_sul)} SUL"
              f" -> {'met' if pmd_sul else 'not met'}"),
        met=pmd_sul, values={"change_fraction": change, "change_abs_sul": change_abs},
        thresholds={"response_fraction": response_fraction, "response_abs_sul": response_abs_sul,
                    "comparator": pmd_boundary}, option=f"pmd_boundary={pmd_boundary}"))
    pmd_tlg = False
    if baseline.tlg is not None and followup.tlg is not None and baseline.tlg > 0:
        tlg_change = (followup.tlg - baseline.tlg) / baseline.tlg
        pmd_tlg = meets(tlg_change, ">", tlg_pmd_fraction) and change_abs >= 0
        values["tlg_change_fraction"] = tlg_change
        reasons.append(Reason(
            rule="PERCIST.PMD.tlg",
            text=(f"TLG change {tlg_change * 100:+.1f} % (PMD if > {tlg_pmd_fraction * 100:g} % "
                  "with no SUL decline)"),
            met=pmd_tlg, values={"tlg_change_fraction": tlg_change},
            thresholds={"tlg_pmd_fraction": tlg_pmd_fraction, "comparator": ">"}))
    # secondary measure (reported only)
    if baseline.lesions is not None and followup.lesions is not None:
        b_sum, b_in = sum_of_hottest(baseline.lesions, min_sul_peak=thr)
        f_sum, f_in = sum_of_hottest(followup.lesions)
        sum_change = (f_sum - b_sum) / b_sum if b_sum > 0 else None
        values.update(baseline_sul_peak_sum=b_sum, followup_sul_peak_sum=f_sum,
                      sul_peak_sum_change_fraction=sum_change,
                      baseline_sum_lesions=[x.lesion_id for x in b_in],
                      followup_sum_lesions=[x.lesion_id for x in f_in])
        reasons.append(Reason(
            rule="PERCIST.secondary.sum_of_hottest",
            text=(f"Sum of the SULpeaks of up to {SUM_MAX_LESIONS} hottest lesions (<= {SUM_MAX_PER_ORGAN} per "
                  f"organ; baseline: measurable ones): {fmt(b_sum)} ({len(b_in)} lesions) -> {fmt(f_sum)} "
                  f"({len(f_in)})" + ("" if sum_change is None else f", {sum_change * 100:+.1f} %")
                  + "; secondary measure, not used for the category"),
            met=None, values={"baseline_sum": b_sum, "followup_sum": f_sum, "change_fraction": sum_change},
            thresholds={"max_lesions": SUM_MAX_LESIONS, "max_per_organ": SUM_MAX_PER_ORGAN,
                        "baseline_min_sul_peak": thr}))
    # PMR
    rel_dn = meets(-change, pmr_op, response_fraction)
    abs_dn = meets(-change_abs, pmr_op, response_abs_sul)
    pmr = rel_dn and abs_dn and n_new == 0 and not nontarget_increase_over_30pct
    reasons.append(Reason(
        rule="PERCIST.PMR",
        text=(f"SULpeak fall {-change * 100:.1f} % ({-change_abs:.3g} SUL): PMR needs "
              f"{pmr_boundary} {response_fraction * 100:g} % and {pmr_boundary} {fmt(response_abs_sul)} SUL"
              + (", no new lesions" if n_new else "")
              + (", no other lesion increasing > 30 %" if nontarget_increase_over_30pct else "")
              + f" -> {'met' if pmr else 'not met'}"),
        met=pmr, values={"change_fraction": change, "change_abs_sul": change_abs,
                         "nontarget_increase_over_30pct": nontarget_increase_over_30pct},
        thresholds={"response_fraction": response_fraction, "response_abs_sul": response_abs_sul,
                    "comparator": pmr_boundary}, option=f"pmr_boundary={pmr_boundary}"))

    if n_new > 0:
        cat = "PMD"
    elif not measurable:
        cat = "NE"
        flags.append("no measurable lesion at baseline: PERCIST not evaluable (except new lesions)")
    elif cmr:
        cat = "CMR"
    elif pmd_sul or pmd_tlg:
        cat = "PMD"
    elif pmr:
        cat = "PMR"
    else:
        cat = "SMD"
    return _result(cat, n_new, reasons, flags, prov, values)


def _result(cat: str, n_new: int, reasons: list[Reason], flags: list[str], prov: Provenance,
            values: dict) -> CriterionResult:
    """The PERCIST result of category ``cat`` once the comparability checks among ``reasons`` are
    applied: not comparable -> NE, except PMD on new lesions (visual, not resting on SUL), which is
    kept with a warning. ``values`` gains ``category_if_comparable`` and ``comparable``."""
    values["category_if_comparable"] = cat
    comparable = not any(r.met is False for r in reasons if r.rule.startswith("PERCIST.comparability"))
    values["comparable"] = comparable
    if not comparable:
        if n_new > 0:
            prov.warn("scans not comparable, but PMD rests on new lesions (visual), not on SUL: "
                      "PMD kept; see flags")
        else:
            prov.warn("scans not comparable: category set to NE; see flags")
            cat = "NE"
    return CriterionResult(criterion="PERCIST 1.0", category=cat, reasons=reasons, flags=flags,
                           values=values, provenance=prov)


__all__ = ["PercistLesion", "PercistScan", "percist", "sum_of_hottest", "SUM_MAX_LESIONS",
           "SUM_MAX_PER_ORGAN", "RESPONSE_FRACTION", "RESPONSE_ABS_SUL"]

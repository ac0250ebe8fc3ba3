"""``theranostix demo``: make a digital twin, run every analysis, write a report folder.

The demo is a workflow (an edge of the architecture: it reads and writes files); each step is a
function that takes the shared :class:`DemoState`, runs one part of the Python API and adds a
section to the report and entries to ``results.json``. Adding a capability to the demo is adding a
step to :data:`STEPS`.

Report folder::

    report/index.html   the page (MIP, tables, where each file is)
    report/results.json every number shown, with provenance
    report/*.png        figures
    twin/               the digital twin (DICOM series and truth)
    outputs/            files produced by the analyses (NIfTI, DICOM SEG/SR, ...)
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from theranostix import __version__
from theranostix.core.errors import InvalidInputError
from theranostix.core.resample import resample_to
from theranostix.io.atomic import to_jsonable, write_json_atomic

Section = dict[str, Any]


@dataclass
class DemoState:
    """What the steps share."""

    root: Path
    seed: int
    tracer: str
    twin: Any = None
    pet: Any = None
    ct: Any = None
    truth: dict[str, Any] = field(default_factory=dict)
    lesion_labels_pet: Any = None
    analysis: Any = None
    organ_labels_pet: Any = None
    results: dict[str, Any] = field(default_factory=dict)
    sections: list[Section] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def report_dir(self) -> Path:
        return self.root / "report"

    @property
    def outputs_dir(self) -> Path:
        return self.root / "outputs"

    def rel(self, p: Path | str) -> str:
        """Path relative to the report folder (for links in the HTML)."""
        p = Path(p)
        try:
            return str(p.relative_to(self.report_dir))
        except ValueError:
            return str(Path("..") / p.relative_to(self.root)) if p.is_relative_to(self.root) else str(p)


def step_twin(st: DemoState) -> None:
    """Make the digital twin (PSMA PET/CT)."""
    from theranostix.twin.generate import make_twin

    st.twin = make_twin(st.root / "twin", tracer=st.tracer, seed=st.seed, pattern="oligometastatic",
                        therapy="lu177-psma617", followup_cycles=1)
    st.truth = json.loads(Path(st.twin.truth_json).read_text())
    s = st.twin.summary
    st.results["twin"] = {"tracer": st.twin.tracer, "nuclide": st.twin.nuclide, "vendor": st.twin.vendor,
                          "seed": st.seed, "summary": s,
                          "series": [{"role": r.role, "timepoint": r.timepoint, "path": str(r.path)}
                                     for r in st.twin.series]}
    st.sections.append({"title": "1. Digital twin",
                        "text": (f"A synthetic patient ({st.truth['patient'].get('sex', '?')}, "
                                 f"{s.get('weight_kg', 0):.1f} kg, {s.get('height_m', 0):.2f} m) imaged with "
                                 f"{st.twin.tracer} ({st.twin.nuclide}, {s.get('activity_mbq', 0):.0f} MBq), "
                                 f"{s.get('n_lesions')} true lesions, written as {st.twin.vendor}-style DICOM; "
                                 "then a [177Lu]Lu-PSMA-617 cycle imaged by SPECT/CT at 4, 24, 48, 96 and 168 h, "
                                 "and a follow-up PET/CT after the cycle. "
                                 "Truth is known for every number below.")})
    st.files += [("twin DICOM (baseline PET)", st.rel(st.twin.series_path("pet"))),
                 ("twin truth", st.rel(st.twin.truth_json))]


def step_inspect(st: DemoState) -> None:
    """Discover the series and whether they can be quantified."""
    from theranostix.io.dicom import discover

    series, skipped = discover(st.root / "twin")
    st.results["inspect"] = {"series": [s.model_dump(mode="json") for s in series], "n_skipped": len(skipped)}
    rows = [[s.modality, s.description, s.n_files, s.units or "–", s.quantitation or "–",
             "yes" if s.ready else "no", "; ".join(s.reasons) or "–"] for s in series]
    st.sections.append({"title": "2. Series found (theranostix inspect)",
                        "tables": [{"columns": ["modality", "description", "files", "units", "quantitation",
                                                "ready", "notes"], "rows": rows}],
                        "text": f"{len(series)} series; {len(skipped)} non-DICOM files skipped (truth NIfTI/JSON)."})


def step_suv(st: DemoState) -> None:
    """Read the PET to SUV, write NIfTI, compare organ and lesion uptake with the truth."""
    from theranostix.io.dicom import load_ct, load_pet
    from theranostix.io.nifti import read_nifti, write_nifti
    from theranostix.report.figures import mip_figure, save_figure

    st.pet = load_pet(st.twin.series_path("pet"))
    st.ct = load_ct(st.twin.series_path("ct"))
    suv_path = write_nifti(st.pet.image, st.outputs_dir / "suv.nii.gz",
                           sidecar={"administration": st.pet.administration, "reference_time": st.pet.reference_time,
                                    "suvbw_to_bqml": st.pet.suvbw_to_bqml, "provenance": st.pet.provenance})
    organs, organ_meta = read_nifti(st.twin.organ_labels)
    lesions, _ = read_nifti(st.twin.lesion_labels)
    st.organ_labels_pet = resample_to(organs, st.pet.image, interpolation="nearest")
    st.lesion_labels_pet = resample_to(lesions, st.pet.image, interpolation="nearest")
    names = {int(k): v for k, v in (organ_meta.get("labels") or st.truth.get("organ_labels") or {}).items()}
    true_suv = st.truth.get("organ_suv_mean", {})
    img = st.pet.image.array
    rows = []
    organ_out = []
    # organs measured on a core eroded by one voxel: partial volume at organ edges is not an SUV error
    from scipy import ndimage

    for lid, name in sorted(names.items()):
        if name not in true_suv:
            continue
        m = st.organ_labels_pet.array == lid
        core = ndimage.binary_erosion(m, iterations=1)
        if core.sum() < 10:
            continue
        meas = float(img[core].mean())
        t = float(true_suv[name])
        organ_out.append({"organ": name, "true_suv_mean": t, "measured_suv_mean": meas,
                          "error_pct": 100 * (meas - t) / t if t else None, "n_voxels": int(core.sum())})
        rows.append([name, t, meas, f"{100 * (meas - t) / t:+.1f} %" if t else "–"])
    les_rows = []
    for les in st.truth.get("lesions", []):
        smax = _max_near(st.pet.image, les["centre_mm"], les["diameter_mm"] / 2.0)
        les_rows.append([les["lesion_id"], les["kind"], les.get("station") or "–", les["diameter_mm"],
                         les["volume_ml"], les["suv"], smax])
    fig = save_figure(mip_figure(st.pet.image, st.lesion_labels_pet, title="coronal MIP, true lesions outlined"),
                      st.report_dir / "mip_truth.png")
    arr = st.pet.image.array
    st.results["suv"] = {"output": str(suv_path), "units": st.pet.image.units,
                         "reference_time": st.pet.reference_time, "administration": st.pet.administration,
                         "stats": {"min": float(arr.min()), "mean": float(arr.mean()), "max": float(arr.max())},
                         "organs": organ_out, "provenance": st.pet.provenance}
    st.sections.append({
        "title": "3. Quantitative PET (theranostix suv)",
        "text": (f"SUVbw from DICOM; decay reference {st.pet.reference_time} "
                 f"({st.pet.provenance.parameters.get('reference_time_source')}). Organ SUVmean measured on "
                 "each organ eroded by one PET voxel, against the twin's true uptake (noise and the 5 mm PSF "
                 "remain)."),
        "figures": [{"path": st.rel(fig), "caption": "Coronal MIP (SUVbw 0–10), true lesions outlined in red"}],
        "tables": [{"caption": "Organs", "columns": ["organ", "true SUVmean", "measured SUVmean", "error"], "rows": rows},
                   {"caption": "True lesions (twin) and their measured SUVmax",
                    "columns": ["#", "kind", "site", "diameter mm", "volume mL", "true SUV", "measured SUVmax"],
                    "rows": les_rows}],
        "notes": [f"warning: {w}" for w in st.pet.provenance.warnings]})
    st.files.append(("SUV NIfTI + sidecar", st.rel(suv_path)))


def step_dosimetry(st: DemoState) -> None:
    """Post-therapy dosimetry of the Lu-177 cycle (5 SPECT/CT timepoints)."""
    from theranostix.io.dicom.rtdose import write_rtdose
    from theranostix.io.nifti import write_nifti
    from theranostix.report.figures import dvh_figure, save_figure, tac_figure
    from theranostix.dosimetry.pipeline import align_timepoints, region_dosimetry
    from theranostix.io.masks import read_organ_masks
    from theranostix.io.nifti import read_nifti
    from theranostix.workflows.dosimetry_study import lesion_masks, load_timepoints, masks_on_grid

    dirs = sorted(p.path.parent for p in st.twin.series if p.role == "spect")
    spects, cts, admin = load_timepoints(dirs)
    images, align_prov = align_timepoints([s.image for s in spects], cts)
    grid = images[0]
    organs = masks_on_grid(read_organ_masks(st.twin.organ_labels), grid)
    les_img, _ = read_nifti(st.twin.lesion_labels)
    lesions = lesion_masks(les_img, grid)
    from theranostix.core.resample import resample_to

    ct = resample_to(cts[0], grid, default_value=-1000.0) if cts else None
    from theranostix.workflows.dosimetry_study import structure_masks

    partition = structure_masks(read_organ_masks(st.twin.organ_labels), grid)
    res, dose = region_dosimetry(images, [s.hours_after_administration for s in spects], {**organs, **lesions},
                                 administered_mbq=admin.activity_mbq, lesion_regions=list(lesions), ct=ct,
                                 voxel=True, psf_fwhm_mm=DEMO_SPECT_FWHM_MM, partition=partition)
    out = st.outputs_dir / "dosimetry"
    write_nifti(dose, out / "dose.nii.gz", sidecar={"provenance": res.provenance})
    write_rtdose(dose, out / "rtdose.dcm", referenced_series_uid=spects[0].series_uid)
    tac_png = save_figure(tac_figure([r for r in res.regions if r.kind == "organ"]), st.report_dir / "tac.png")
    dvh_png = save_figure(dvh_figure(dose.array, organs), st.report_dir / "dvh.png")
    kin = st.truth.get("therapy", {}).get("kinetics", {}).get("regions", {})
    from theranostix.workflows.dosimetry_study import DEFAULT_GROUPS

    rows = []
    for r in res.regions:
        members = DEFAULT_GROUPS.get(r.region, (r.region,))
        true = sum(kin[m]["tia_mbq_h"] for m in members if m in kin) or None
        rows.append([r.region, r.kind, round(r.mass_g, 1), r.method, round(r.tia_mbq_h),
                     round(true) if true else "–", f"{100 * (r.tia_mbq_h - true) / true:+.1f} %" if true else "–",
                     round(r.effective_half_life_h, 1) if r.effective_half_life_h else "–",
                     round(r.dose_gy, 2), round(r.dose_gy_per_gbq, 3),
                     round(r.voxel_mean_dose_gy, 2) if r.voxel_mean_dose_gy is not None else "–",
                     round(r.bed_gy, 2) if r.bed_gy else "–"])
    st.results["dosimetry"] = res
    st.sections.append({
        "title": "4. Post-therapy dosimetry (theranostix dosimetry)",
        "text": (f"{admin.activity_mbq / 1000:.1f} GBq [177Lu]Lu-PSMA-617; timepoints registered on CT; "
                 "organ masks as a user would import them (here the twin's organ labels); region activities "
                 f"corrected for partial volume by the geometric transfer matrix with the system's "
                 f"{DEMO_SPECT_FWHM_MM:g} mm SPECT resolution; TACs fitted with AICc model selection; self-dose "
                 "with sphere S values of the organ mass; voxel dose by dose-voxel-kernel convolution."),
        "figures": [{"path": st.rel(tac_png), "caption": "Time-activity curves and fits"},
                    {"path": st.rel(dvh_png), "caption": "Cumulative DVHs (voxel dose)"}],
        "tables": [{"columns": ["region", "kind", "mass g", "model", "TIA MBq·h", "true TIA", "TIA error",
                                "T_eff h", "dose Gy", "Gy/GBq", "voxel mean Gy", "BED Gy"], "rows": rows}],
        "notes": [f"warning: {w}" for w in res.provenance.warnings + align_prov.warnings]})
    st.files += [("dose map (NIfTI)", st.rel(out / "dose.nii.gz")), ("dose map (DICOM RTDOSE)", st.rel(out / "rtdose.dcm"))]


def _organ_masks_on(st: DemoState, grid: Any) -> dict:
    """The twin's organ labels as named masks on ``grid`` (as a user's imported masks would be)."""
    from theranostix.io.masks import read_organ_masks
    from theranostix.workflows.dosimetry_study import structure_masks

    return structure_masks(read_organ_masks(st.twin.organ_labels), grid)


def step_analyze(st: DemoState) -> None:
    """PET analysis: lesions, metrics, PROMISE staging, miPSMA, VISION/TheraP, DICOM SEG/SR."""
    from theranostix.pet.evaluation import TrueLesion, evaluate_detection
    from theranostix.io.analysis_folder import write_analysis
    from theranostix.pet.pipeline import analyze_study
    from theranostix.report.figures import mip_figure, save_figure

    res = analyze_study(st.pet, st.ct, tracer="auto", organ_masks=_organ_masks_on(st, st.pet.image))
    st.analysis = res
    files = write_analysis(res, st.outputs_dir / "analysis", source_pet_dir=st.twin.series_path("pet"))
    names = {les.lesion_id: str(les.lesion_id) for les in res.lesions.lesions}
    fig = save_figure(mip_figure(res.suv, res.labels, lesion_names=names,
                                 title="coronal MIP, detected lesions outlined and numbered"),
                      st.report_dir / "mip_detected.png")
    truth = [TrueLesion(lesion_id=les["lesion_id"], centre_lps_mm=tuple(les["centre_mm"]),
                        diameter_mm=les["diameter_mm"], label=les["lesion_id"]) for les in st.truth.get("lesions", [])]
    ev = None
    try:
        ev = evaluate_detection(res.labels, truth, res.suv, truth_labels=st.lesion_labels_pet)
    except Exception as exc:  # evaluation is a report extra; never hide why it is missing
        st.results["analysis_evaluation_error"] = repr(exc)
    rows = [[les.lesion_id, les.site, round(les.suv_max, 2), round(les.suv_peak_global, 2) if les.suv_peak_global else "–",
             round(les.suv_mean, 2), round(les.volume_ml, 2),
             round(les.longest_diameter_mm, 1) if getattr(les, "longest_diameter_mm", None) else "–",
             round(les.short_axis_mm, 1) if getattr(les, "short_axis_mm", None) else "–"]
            for les in res.lesions.lesions]
    b = res.burden
    refs = [[k, "yes" if v.get("found") else "no", v.get("mean"), v.get("sd"), v.get("method") or "–",
             v.get("reason") or "–"] for k, v in res.reference_regions.items()]
    stage = res.scores.get("promise_mitnm", {})
    elig = [[k, v.get("decision", "–") if isinstance(v, dict) else "–",
             "; ".join(r.get("text", "") for r in (v.get("reasons") or [])[:3]) if isinstance(v, dict) else ""]
            for k, v in res.eligibility.items()]
    text = (f"{len(res.lesions.lesions)} lesions found (tracer {res.tracer}; organ masks imported as a user would, "
            f"here the twin's organ labels). PSMA-TV {getattr(b, 'total_volume_ml', float('nan')):.1f} mL. "
            f"PROMISE V2: {stage.get('category', stage.get('refused', '–'))}.")
    if ev is not None:
        text += (f" Against the twin's truth: {ev.n_detected}/{ev.n_true} true lesions found, "
                 f"{len(ev.false_positive_ids)} false positive(s).")
    st.results["analysis"] = res
    st.results["analysis_evaluation"] = ev
    st.sections.append({
        "title": "5. PET analysis (theranostix analyze)", "text": text,
        "figures": [{"path": st.rel(fig), "caption": "Coronal MIP, detected lesions outlined and numbered"}],
        "tables": [{"caption": "Lesions", "columns": ["#", "site", "SUVmax", "SUVpeak", "SUVmean", "volume mL",
                                                      "longest mm", "short axis mm"], "rows": rows},
                   {"caption": "Reference regions", "columns": ["region", "found", "mean SUV", "SD", "method", "reason"],
                    "rows": refs},
                   {"caption": "Eligibility", "columns": ["rule set", "decision", "reasons (first three)"], "rows": elig}],
        "notes": [f"warning: {w}" for w in res.provenance.warnings]})
    st.files += [(f"analysis: {k}", st.rel(v)) for k, v in files.items()]


def step_followup(st: DemoState) -> None:
    """Follow-up PET/CT after the cycle: analysis, registration, tracking, RECIP/PERCIST, timeline."""
    from theranostix.io.dicom import load_ct, load_pet
    from theranostix.pet.pipeline import analyze_study
    from theranostix.report.figures import save_figure
    from theranostix.response.pipeline import assess_response
    from theranostix.response.timeline import build_timeline, timeline_figure

    fu_pet = load_pet(st.twin.series_path("pet", "followup"))
    fu_ct = load_ct(st.twin.series_path("ct", "followup"))
    # the twin's organ map is the follow-up's too (one anatomy, one frame of reference), as a user's
    # per-scan organ masks would be
    fu = analyze_study(fu_pet, fu_ct, tracer="auto", organ_masks=_organ_masks_on(st, fu_pet.image))
    ass = assess_response(st.analysis, [fu], criteria=("recip", "percist", "ppp"))
    fa = ass.followups[0]
    dos = st.results.get("dosimetry")
    tl = build_timeline(st.analysis, followups=[fu], dosimetry=[dos] if dos is not None else [], assessment=ass)
    fig = save_figure(timeline_figure(tl), st.report_dir / "timeline.png")
    crit_rows = [[name, c.category, "; ".join(r.text for r in c.reasons[:3])] for name, c in fa.criteria.items()]
    true_fu = st.truth.get("followup", {}).get("response", {})
    st.results["response"] = ass
    st.results["timeline"] = tl
    st.sections.append({
        "title": "6. Follow-up (theranostix respond)",
        "text": (f"Follow-up PET/CT registered to baseline on CT; {len(fu.lesions.lesions)} lesions; "
                 f"{fa.n_new_lesions} new. True simulated response of the twin: "
                 f"{true_fu.get('response_class', '–')}, true tumour volume change "
                 f"{true_fu.get('total_volume_change_pct', float('nan')):+.0f} %, "
                 f"{len(true_fu.get('new_lesions', []))} true new lesion(s)."),
        "figures": [{"path": st.rel(fig), "caption": "Patient timeline"}],
        "tables": [{"caption": "Response criteria", "columns": ["criterion", "category", "reasons (first three)"],
                    "rows": crit_rows}],
        "notes": [f"PERCIST follow-up liver VOI: "
                  f"{fa.values.get('followup_reference_regions', {}).get('liver', {}).get('method', '–')}"]
        + [f"warning: {f}" for f in fa.flags]})


def step_plan(st: DemoState) -> None:
    """Therapy plan from the PET analysis folder; re-planned with the cycle-1 dosimetry."""
    from theranostix.io.analysis_folder import read_analysis
    from theranostix.planning.prediction import predict_therapy_doses
    from theranostix.planning.prescription import prescribe
    from theranostix.planning.replanning import CycleDosimetry, RegionMeasurement, replan
    from theranostix.planning.uptake import uptake_from_analysis

    analysis = read_analysis(st.outputs_dir / "analysis")
    uptake = uptake_from_analysis(analysis)  # organ masks + CT of the analysis, 6 mm PV handling
    pred = predict_therapy_doses(uptake, therapy="lu177-psma617", n_samples=2000, seed=st.seed)
    plan = prescribe(pred, n_cycles=6)
    dos = st.results.get("dosimetry")
    names = {r.region for r in pred.regions}
    meas = [] if dos is None else [
        RegionMeasurement(region=r.region, dose_gy_per_gbq=r.dose_gy_per_gbq, relative_uncertainty=0.20,
                          effective_half_life_h=r.effective_half_life_h
                          if r.effective_half_life_h and r.effective_half_life_h > 0 else None)
        for r in dos.regions if r.kind == "organ" and r.region in names and r.dose_gy_per_gbq > 0]
    # the dosimetry reports parotid and submandibular glands apart; the plan's salivary glands are
    # both together: mass-weighted dose (energy / mass of the combined region)
    parts = [r for r in (dos.regions if dos is not None else [])
             if r.region in ("parotid_glands", "submandibular_glands") and r.dose_gy_per_gbq > 0]
    if "salivary_glands" in names and len(parts) == 2:
        meas.append(RegionMeasurement(
            region="salivary_glands", relative_uncertainty=0.20,
            dose_gy_per_gbq=sum(r.dose_gy_per_gbq * r.mass_g for r in parts) / sum(r.mass_g for r in parts)))
    rp = None
    if meas:
        rp = replan(pred, [CycleDosimetry(cycle=1, administered_gbq=dos.administered_mbq / 1000.0,
                                          regions=meas, source="demo SPECT/CT 4-168 h")],
                    n_cycles_total=6)
    measured = {m.region: m.dose_gy_per_gbq for m in meas}
    post = {u.region: u.posterior_median_gy_per_gbq for u in rp.updates} if rp is not None else {}
    rows = []
    for r in pred.organs_at_risk:
        d = r.dose_gy_per_gbq
        rows.append([r.region, round(r.mass_g, 1), round(d.median, 3), f"{d.p05:.3f}–{d.p95:.3f}",
                     round(measured[r.region], 3) if r.region in measured else "–",
                     round(post[r.region], 3) if r.region in post else "–"])
    org_rows = [[o.organ, o.quantity, o.limit_gy, round(o.dose_gy_per_gbq, 3), round(o.max_activity_per_cycle_gbq, 2),
                 f"{100 * o.fraction_of_limit_standard:.0f} %"] for o in plan.organs]
    les_rows = [[le.region, round(le.dose_gy_per_gbq.median, 2), round(le.cumulative_plan_gy.median, 1),
                 round(le.cumulative_standard_gy.median, 1)] for le in plan.lesions]
    elig = analysis.eligibility or {}
    elig_rows = [[name, str(res.get("decision") or res.get("category", "–")),
                  "; ".join(str(x.get("text", x)) if isinstance(x, dict) else str(x) for x in res.get("reasons", []))]
                 for name, res in elig.items() if isinstance(res, dict)]
    st.results["plan"] = {"uptake": uptake, "prediction": pred, "prescription": plan, "replan": rp}
    text = (f"[177Lu]Lu-PSMA-617 predicted from the [68Ga]Ga-PSMA-11 analysis folder (organ masks and CT of the "
            f"analysis; partial-volume handling of glands, kidneys, spleen and lesions; population ratios and "
            f"kinetics with their spread, 2000 Monte-Carlo samples). Plan: "
            f"{plan.plan.activity_per_cycle_gbq:.1f} GBq x {plan.plan.cycles} cycles "
            f"({plan.plan.total_activity_gbq:.1f} GBq), binding limit: {plan.binding_limit}. Standard schedule "
            f"{plan.standard.activity_per_cycle_gbq:g} GBq x {plan.standard.cycles}: "
            f"{'within' if plan.standard_within_limits else 'NOT within'} the organ limits.")
    if rp is not None:
        text += (f" Re-planned after cycle 1 with the measured dosimetry: "
                 f"{rp.prescription.plan.activity_per_cycle_gbq:.1f} GBq x {rp.prescription.plan.cycles} further "
                 f"cycles, binding limit: {rp.prescription.binding_limit}.")
    st.sections.append({
        "title": "7. Therapy plan from the diagnostic PET (theranostix plan)",
        "text": text,
        "tables": [{"caption": "Predicted absorbed dose per GBq (organs at risk), this cycle's measured dosimetry and "
                               "the Bayesian posterior",
                    "columns": ["organ", "mass g", "predicted Gy/GBq (median)", "5–95 %", "measured Gy/GBq (cycle 1)",
                                "posterior Gy/GBq"], "rows": rows},
                   {"caption": "Prescription under cumulative organ-at-risk limits (6 cycles)",
                    "columns": ["organ", "limit on", "limit Gy", "Gy/GBq", "max GBq per cycle", "standard schedule uses"],
                    "rows": org_rows},
                   {"caption": "Predicted lesion doses (Gy/GBq; cumulative Gy, plan vs standard schedule)",
                    "columns": ["lesion", "Gy/GBq", "plan Gy", "standard Gy"], "rows": les_rows},
                   {"caption": "Eligibility (from the PET analysis)", "columns": ["rule set", "decision", "reasons"],
                    "rows": elig_rows}],
        "notes": [f"warning: {w}" for w in pred.provenance.warnings + plan.provenance.warnings
                  + (rp.provenance.warnings if rp is not None else [])]})


#: SPECT resolution (FWHM, mm) of the twin's scanner model, used for GTM partial-volume correction.
DEMO_SPECT_FWHM_MM = 12.0


#: The demo's steps, in order: (name shown in the progress bar, function).
STEPS: list[tuple[str, Callable[[DemoState], None]]] = [
    ("making the digital twin", step_twin),
    ("inspecting the series", step_inspect),
    ("computing SUV", step_suv),
    ("post-therapy dosimetry", step_dosimetry),
    ("analysing the PET", step_analyze),
    ("follow-up response", step_followup),
    ("planning the next cycles", step_plan),
]


def run_demo(out_dir: str | Path, *, seed: int = 7, tracer: str = "psma-ga68",
             progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Run the demo into ``out_dir`` and return the results dictionary.

    Parameters
    ----------
    out_dir
        Folder to write the twin, outputs and report into (created; must be empty or a previous demo).
    progress
        Called as ``progress(step_name, index, total)`` before each step.
    """
    from theranostix.report.html import write_report

    root = Path(out_dir)
    if root.exists() and any(root.iterdir()) and not (root / "report" / "results.json").exists() \
            and not (root / "twin").exists():
        raise InvalidInputError("output folder exists and is not empty", where=root,
                                fix="choose a new folder or an earlier demo folder.")
    st = DemoState(root=root, seed=seed, tracer=tracer)
    st.report_dir.mkdir(parents=True, exist_ok=True)
    st.outputs_dir.mkdir(parents=True, exist_ok=True)
    for i, (name, fn) in enumerate(STEPS):
        if progress:
            progress(name, i, len(STEPS))
        t0 = time.perf_counter()
        fn(st)
        st.timings_s[name] = round(time.perf_counter() - t0, 2)
    st.results["timings_s"] = st.timings_s
    st.results["software"] = f"theranostix {__version__}"
    results_path = write_json_atomic(st.report_dir / "results.json", st.results)
    st.files.append(("all numbers (JSON)", st.rel(results_path)))
    index = write_report(st.report_dir / "index.html", {
        "title": "theranostix demo",
        "subtitle": f"digital twin seed {seed}, tracer {tracer} — theranostix {__version__}",
        "sections": st.sections, "files": st.files,
        "footer": ("Synthetic patient; not a medical device. Timings: "
                   + ", ".join(f"{k} {v:.1f} s" for k, v in st.timings_s.items())),
    })
    return {"report": str(index), "results": str(results_path), "timings_s": st.timings_s,
            **{k: to_jsonable(v) for k, v in st.results.items() if k in ("suv",)}}


def _max_near(image: Any, centre_mm: Any, radius_mm: float) -> float:
    """Maximum of ``image`` within ``radius_mm`` + one voxel of a point (LPS mm)."""
    ijk = image.world_to_index(np.asarray(centre_mm, dtype=float))
    r_vox = (radius_mm + max(image.spacing)) / np.asarray(image.spacing)
    lo = np.maximum(np.floor(ijk - r_vox).astype(int), 0)
    hi = np.minimum(np.ceil(ijk + r_vox).astype(int) + 1, np.asarray(image.size_ijk))
    if np.any(hi <= lo):
        return float("nan")
    k, j, i = np.meshgrid(*(np.arange(lo[a], hi[a]) for a in (2, 1, 0)), indexing="ij")
    pts = image.index_to_world(np.stack([i, j, k], axis=-1).reshape(-1, 3))
    near = np.linalg.norm(pts - np.asarray(centre_mm, dtype=float), axis=1) <= radius_mm + max(image.spacing)
    vals = image.array[lo[2]:hi[2], lo[1]:hi[1], lo[0]:hi[0]].reshape(-1)[near]
    return float(vals.max()) if vals.size else float("nan")


def finite(x: float) -> float | None:
    """``x`` or ``None`` when not finite (JSON-friendly)."""
    return float(x) if np.isfinite(x) else None

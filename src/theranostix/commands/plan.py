"""``theranostix plan``: predicted therapy doses, activity per cycle under organ limits, re-planning."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.table import Table

from theranostix.commands._common import JsonOption, console, print_json
from theranostix.core.errors import InvalidInputError


def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise InvalidInputError(f"{what} file not found", where=path, fix="check the path")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"cannot read the {what} file: {exc}", where=path) from exc


def _read_limits(path: Path):
    import yaml

    from theranostix.planning.prescription import limits_from_mapping

    try:
        data = yaml.safe_load(_read_text(path, "limits"))
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"not valid YAML/JSON: {exc}", where=path) from exc
    return limits_from_mapping(data, where=str(path))


def _read_cycles(paths: list[Path]):
    from theranostix.planning.replanning import CycleDosimetry, cycle_dosimetry_from_json

    cycles: list[CycleDosimetry] = []
    for p in paths:
        text = _read_text(p, "prior dosimetry")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"not JSON: {exc}", where=p) from exc
        items = data if isinstance(data, list) else [data]
        for item in items:
            cycles.append(cycle_dosimetry_from_json(json.dumps(item), where=str(p)))
    return cycles


def _load_uptake(input_path: Path, ct: Path | None, organs: Path | None, tracer: str,
                 pv_fwhm_mm: float | None, hematocrit: float | None):
    """(DiagnosticUptake, AnalysisResult | None, kind) from an uptake JSON, analysis folder or PET folder."""
    from theranostix.planning.uptake import diagnostic_uptake_from_json, uptake_from_analysis

    if not input_path.exists():
        raise InvalidInputError("input not found", where=input_path,
                                fix="give an analyze output folder, a PET DICOM folder or an uptake JSON")
    if input_path.is_file():
        if ct is not None or organs is not None:
            raise InvalidInputError("--ct/--organs apply to a PET DICOM folder, not to an uptake JSON",
                                    where=input_path)
        return (diagnostic_uptake_from_json(_read_text(input_path, "uptake"), where=str(input_path)),
                None, "uptake JSON")
    from theranostix.io.analysis_folder import is_analysis_folder, read_analysis

    if is_analysis_folder(input_path):
        if ct is not None or organs is not None:
            raise InvalidInputError("--ct/--organs are not used with an analysis folder (it holds "
                                    "its CT and organ masks)", where=input_path)
        analysis = read_analysis(input_path)
        kind = "analysis folder"
    else:
        from theranostix.io.dicom import load_ct, load_pet
        from theranostix.io.masks import read_organ_masks
        from theranostix.pet.pipeline import analyze_study

        if ct is not None and not ct.is_dir():
            raise InvalidInputError("CT folder not found", where=ct)
        if organs is not None and not organs.exists():
            raise InvalidInputError("organ-mask path not found", where=organs)
        if organs is None and ct is None:
            raise InvalidInputError("a PET folder needs organ masks for planning", where=input_path,
                                    fix="add --organs MASKS (e.g. TotalSegmentator output) and/or "
                                        "--ct CT_DIR, or run `theranostix analyze` first")
        pet = load_pet(input_path)
        ct_img = load_ct(ct) if ct is not None else None
        masks = read_organ_masks(organs, reference=ct_img) if organs is not None else None
        analysis = analyze_study(pet, ct_img, tracer=tracer, organ_masks=masks)
        kind = "PET folder (analysed)"
    uptake = uptake_from_analysis(analysis, pv_fwhm_mm=pv_fwhm_mm, hematocrit=hematocrit)
    return uptake, analysis, kind


def _eligibility_rows(analysis) -> list[tuple[str, str, list[str]]]:
    """(rule set, decision, reasons) from an analysis' eligibility dump."""
    rows = []
    elig = analysis.eligibility if analysis is not None else {}
    for name, res in (elig or {}).items():
        if not isinstance(res, dict):
            continue
        decision = str(res.get("decision", res.get("category", "-")))
        reasons = []
        for r in res.get("reasons", []) or []:
            reasons.append(str(r.get("text", r)) if isinstance(r, dict) else str(r))
        rows.append((name, decision, reasons))
    return rows


def _parse_prior_widths(items: list[str] | None) -> dict[str, float] | None:
    """``["kidneys=0.12", "lesion=0.5"]`` -> {region: log-sd} (InvalidInputError when malformed)."""
    if not items:
        return None
    out: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            width = float(value)
        except ValueError:
            width = float("nan")
        if not sep or not name.strip() or not (width > 0 and width < 10):
            raise InvalidInputError(f"--prior-log-sd {item!r} is not REGION=LOG_SD with 0 < LOG_SD < 10",
                                    where="--prior-log-sd", fix="e.g. --prior-log-sd kidneys=0.15")
        out[name.strip()] = width
    return out


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def _print_tables(prediction, prescription, replan, eligibility=None) -> None:
    which = "posterior after post-therapy dosimetry" if replan is not None else "median"
    unit = "Gy(RBE)/GBq" if any(r.dose_quantity == "rbe_weighted_dose"
                               for r in prediction.regions) else "Gy/GBq"
    t = Table(title=f"Predicted dose per GBq — {prediction.therapy_name} "
                    f"({which}, [5–95 %], {prediction.n_samples} samples)")
    for col in ("region", "diag %IA", "mass (g)", "T_eff (h)", f"dose ({unit})", "interval"):
        t.add_column(col)
    for r in prediction.regions:
        t.add_row(r.region, _fmt(r.diagnostic_percent_ia), _fmt(r.mass_g),
                  "/".join(_fmt(x) for x in r.effective_half_lives_h),
                  _fmt(r.dose_gy_per_gbq.median),
                  f"[{_fmt(r.dose_gy_per_gbq.p05)}, {_fmt(r.dose_gy_per_gbq.p95)}]")
    console.print(t)
    if replan is not None:
        u = Table(title="Bayesian update from post-therapy dosimetry")
        for col in ("region", "prior", "measured", "posterior", "log-sd prior → post"):
            u.add_column(col)
        for x in replan.updates:
            u.add_row(x.region, _fmt(x.prior_median_gy_per_gbq),
                      ", ".join(_fmt(v) for v in x.measured_gy_per_gbq),
                      _fmt(x.posterior_median_gy_per_gbq),
                      f"{x.prior_log_sd:.3f} → {x.posterior_log_sd:.3f}")
        console.print(u)
    p = prescription
    s = Table(title=f"Prescription: {p.plan.cycles} further cycle(s) "
                    f"({p.cycles_already_given} already given)")
    for col in ("organ", "limit", "delivered", "max GBq/cycle", "plan: cumulative", "% limit",
                "standard: cumulative", "% limit", "standard cycles within limit"):
        s.add_column(col)
    for o in p.organs:
        s.add_row(o.organ, f"{o.quantity} {o.limit_gy:g} Gy", _fmt(o.delivered_gy),
                  _fmt(o.max_activity_per_cycle_gbq), _fmt(o.cumulative_at_plan_gy),
                  f"{100 * o.fraction_of_limit_at_plan:.0f}", _fmt(o.cumulative_standard_gy),
                  f"{100 * o.fraction_of_limit_standard:.0f}", str(o.standard_cycles_within_limit))
    console.print(s)
    console.print(f"Plan: [bold]{p.plan.activity_per_cycle_gbq:.2f} GBq[/] x {p.plan.cycles} "
                  f"= {p.plan.total_activity_gbq:.2f} GBq; binding limit: [bold]{p.binding_limit}[/]")
    console.print(f"Standard: {p.standard.activity_per_cycle_gbq:g} GBq x {p.standard.cycles} "
                  f"= {p.standard.total_activity_gbq:.2f} GBq "
                  f"({'within' if p.standard_within_limits else 'EXCEEDS'} the limits; "
                  f"{p.cycles_possible_at_standard_activity} cycles possible at that activity)")
    if p.lesions:
        lt = Table(title="Predicted cumulative lesion absorbed dose (Gy)")
        for col in ("lesion", f"dose ({unit})", "plan", "standard"):
            lt.add_column(col)
        for le in p.lesions:
            lt.add_row(le.region, _fmt(le.dose_gy_per_gbq.median),
                       f"{_fmt(le.cumulative_plan_gy.median)} [{_fmt(le.cumulative_plan_gy.p05)}, "
                       f"{_fmt(le.cumulative_plan_gy.p95)}]",
                       f"{_fmt(le.cumulative_standard_gy.median)}")
        console.print(lt)
    if eligibility:
        et = Table(title="Eligibility (from the PET analysis)")
        for col in ("rule set", "decision", "reasons"):
            et.add_column(col)
        for name, decision, reasons in eligibility:
            et.add_row(name, decision, "; ".join(reasons) or "-")
        console.print(et)
    warnings = list(prediction.provenance.warnings) + [
        w for w in p.provenance.warnings if w not in prediction.provenance.warnings]
    if replan is not None:
        warnings += replan.provenance.warnings
    for w in warnings:
        console.print(f"[yellow]warning:[/] {w}")


def _plan(
    input_path: Path = typer.Argument(..., help="`analyze` output folder, PET DICOM folder (with "
                                                "--organs and/or --ct) or DiagnosticUptake JSON."),
    therapy: str = typer.Option("lu177-psma617", "--therapy",
                                help="lu177-psma617, lu177-dotatate or ac225-psma617."),
    cycles: int | None = typer.Option(None, "--cycles",
                                      help="Total cycles planned (default: standard schedule)."),
    prior_dosimetry: list[Path] | None = typer.Option(
        None, "--prior-dosimetry", help="JSON of a given cycle's post-therapy dosimetry (repeatable)."),
    limits: Path | None = typer.Option(None, "--limits", help="YAML/JSON file of organ limits."),
    risk_factors: bool = typer.Option(False, "--risk-factors",
                                      help="Kidney risk factors: BED limit 28 Gy instead of 40 Gy."),
    max_activity_gbq: float | None = typer.Option(None, "--max-activity-gbq",
                                                  help="Cap on the activity per cycle, GBq."),
    dose_basis: str = typer.Option("median", "--dose-basis",
                                   help="Organ dose per GBq used: median or p95 (conservative)."),
    ct: Path | None = typer.Option(None, "--ct", help="CT folder (PET folder input only)."),
    organs: Path | None = typer.Option(None, "--organs", help="Organ masks: NIfTI label map, folder "
                                       "of NIfTI masks, DICOM SEG or RTSTRUCT (PET folder input only)."),
    tracer: str = typer.Option("auto", "--tracer", help="Diagnostic tracer (PET folder input only)."),
    pet_fwhm_mm: float = typer.Option(6.0, "--pet-fwhm-mm", help="PET resolution for the partial-"
                                      "volume handling of small organs and lesions; 0 = plain VOI sums."),
    hematocrit: float | None = typer.Option(None, "--hematocrit",
                                            help="Haematocrit for the blood-based marrow estimate."),
    prior_log_sd: list[str] | None = typer.Option(
        None, "--prior-log-sd", help="Site-calibrated prior width for the re-planning, REGION=LOG_SD "
        "(region name or 'lesion'; repeatable); default: the population model's spread."),
    samples: int = typer.Option(4000, "--samples", help="Monte-Carlo samples."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    json_out: bool = JsonOption,
) -> None:
    """Predict therapy doses from diagnostic uptake and plan the activity per cycle."""
    from theranostix.planning.prediction import predict_therapy_doses
    from theranostix.planning.prescription import prescribe
    from theranostix.planning.replanning import replan as do_replan

    if pet_fwhm_mm < 0:
        raise InvalidInputError(f"--pet-fwhm-mm must be >= 0, got {pet_fwhm_mm}", where="--pet-fwhm-mm")
    if dose_basis not in ("median", "p95"):
        raise InvalidInputError(f"--dose-basis must be median or p95, got {dose_basis!r}",
                                where="--dose-basis")
    if cycles is not None and cycles < 1:
        raise InvalidInputError(f"--cycles must be >= 1, got {cycles}", where="--cycles")
    widths = _parse_prior_widths(prior_log_sd)
    if widths and not prior_dosimetry:
        raise InvalidInputError("--prior-log-sd needs --prior-dosimetry (it is the prior width of the "
                                "re-planning update)", where="--prior-log-sd")
    lims = _read_limits(limits) if limits is not None else None
    cycle_data = _read_cycles(prior_dosimetry) if prior_dosimetry else []
    uptake, analysis, kind = _load_uptake(input_path, ct, organs, tracer,
                                          pet_fwhm_mm if pet_fwhm_mm > 0 else None, hematocrit)
    prediction = predict_therapy_doses(uptake, therapy, n_samples=samples, seed=seed)
    replan_result = None
    if prior_dosimetry:
        replan_result = do_replan(prediction, cycle_data, n_cycles_total=cycles,
                                  limits=lims, risk_factors=risk_factors,
                                  activity_cap_gbq=max_activity_gbq, organ_dose_basis=dose_basis,
                                  prior_log_sd=widths)
        prescription = replan_result.prescription
    else:
        prescription = prescribe(prediction, n_cycles=cycles, limits=lims,
                                 risk_factors=risk_factors, activity_cap_gbq=max_activity_gbq,
                                 organ_dose_basis=dose_basis)
    elig = _eligibility_rows(analysis)
    if json_out:
        print_json({"input": str(input_path), "input_kind": kind, "uptake": uptake,
                    "prediction": prediction, "prescription": prescription,
                    "replan": replan_result,
                    "eligibility": analysis.eligibility if analysis is not None else None})
        return
    console.print(f"Input: {kind} {input_path}")
    _print_tables(replan_result.posterior if replan_result else prediction, prescription,
                  replan_result, elig)


def register(app: typer.Typer) -> None:
    """Add the ``plan`` verb."""
    app.command("plan")(_plan)

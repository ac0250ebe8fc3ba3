"""Calculator verbs for physicists: ``theranostix bed`` and ``theranostix tia``."""

from __future__ import annotations

import typer
from rich.table import Table

from theranostix.commands._common import JsonOption, console, parse_float_list, print_json
from theranostix.core.errors import ComputationError, InvalidInputError


def _bed(
    dose_gy: float = typer.Option(..., "--dose-gy", help="Absorbed dose, Gy."),
    t_eff_h: float = typer.Option(..., "--t-eff-h", help="Effective half-life, h (mono-exponential)."),
    alpha_beta: float | None = typer.Option(None, "--alpha-beta", help="alpha/beta, Gy."),
    t_rep_h: float | None = typer.Option(None, "--t-rep-h", help="Repair half-time, h."),
    organ: str | None = typer.Option(None, "--organ",
                                     help="Organ for parameters and limits (default kidney)."),
    json_out: bool = JsonOption,
) -> None:
    """BED and EQD2 of an absorbed dose with mono-exponential kinetics (linear-quadratic)."""
    from theranostix.dosimetry.radiobiology import compute_bed

    used_default = organ is None and (alpha_beta is None or t_rep_h is None)
    result = compute_bed(dose_gy, effective_half_life_h=t_eff_h,
                         organ=organ or ("kidney" if used_default else None),
                         alpha_beta_gy=alpha_beta, repair_half_time_h=t_rep_h)
    if used_default:
        result.provenance.warn("no --organ given: kidney parameters/limits used where missing")
    if json_out:
        print_json(result)
        return
    table = Table(title=f"BED ({result.organ or 'custom parameters'})")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, val in [("dose (Gy)", result.dose_gy), ("alpha/beta (Gy)", result.alpha_beta_gy),
                      ("T_rep (h)", result.repair_half_time_h), ("T_eff (h)", t_eff_h),
                      ("G", result.g_factor), ("BED (Gy)", result.bed_gy),
                      ("EQD2 (Gy)", result.eqd2_gy)]:
        table.add_row(name, f"{val:.6g}")
    for lim in result.limits:
        table.add_row(f"{lim.quantity} limit {lim.limit_gy:g} Gy ({lim.condition})",
                      f"{100 * lim.fraction_of_limit:.1f} %" + (" EXCEEDED" if lim.exceeded else ""))
    console.print(table)
    for w in result.provenance.warnings:
        console.print(f"[yellow]warning:[/] {w}")


def _tia(
    times_h: str = typer.Option(..., "--times-h", help="Comma-separated times after injection, h."),
    activities_mbq: str = typer.Option(..., "--activities-mbq", help="Comma-separated activities, MBq."),
    uncertainties_mbq: str | None = typer.Option(None, "--uncertainties-mbq",
                                                 help="Comma-separated 1-sigma uncertainties, MBq."),
    nuclide: str = typer.Option("Lu-177", "--nuclide", help="Radionuclide."),
    model: str = typer.Option("auto", "--model",
                              help="auto, mono, bi, tri, mono_uptake or bi_uptake."),
    region: str = typer.Option("region", "--region", help="Region name."),
    json_out: bool = JsonOption,
) -> None:
    """Fit a time-activity curve, choose the model by AICc and integrate it to infinity."""
    from theranostix.dosimetry.kinetics import fit_tac
    from theranostix.dosimetry.tac import TimeActivityCurve

    t = parse_float_list(times_h, "--times-h")
    a = parse_float_list(activities_mbq, "--activities-mbq")
    u = parse_float_list(uncertainties_mbq, "--uncertainties-mbq") if uncertainties_mbq else None
    if len(t) != len(a):
        raise InvalidInputError(f"{len(t)} times but {len(a)} activities",
                                where="--times-h/--activities-mbq",
                                fix="give one activity per time point.")
    tac = TimeActivityCurve(times_h=t, activities_mbq=a, uncertainties_mbq=u, region=region)
    result = fit_tac(tac, model, nuclide=nuclide)
    if json_out:
        print_json(result)
        if result.chosen is None:
            raise ComputationError("no valid fit: " + "; ".join(result.provenance.warnings))
        return
    table = Table(title=f"Model selection ({region}, {nuclide})")
    for col in ("model", "k", "AICc", "weight", "R²", "TIA (MBq·h)", "status"):
        table.add_column(col)
    for f in result.candidates:
        table.add_row(
            f.model + (" *" if result.chosen is not None and f.model == result.chosen.model else ""),
            str(f.n_parameters), "-" if f.aicc is None else f"{f.aicc:.2f}",
            f"{result.akaike_weights.get(f.model, 0.0):.3f}",
            "-" if f.r_squared is None else f"{f.r_squared:.4f}",
            "-" if f.tia_mbq_h is None else f"{f.tia_mbq_h:.1f}",
            "valid" if f.valid else "invalid: " + "; ".join(f.invalid_reasons))
    for name, why in result.skipped_models.items():
        table.add_row(name, "-", "-", "-", "-", "-", f"skipped: {why}")
    console.print(table)
    for w in result.provenance.warnings:
        console.print(f"[yellow]warning:[/] {w}")
    c = result.chosen
    if c is None:
        raise ComputationError("no valid fit: the time-integrated activity is not computed")
    sd = "n/a" if c.tia_sd_mbq_h is None else f"{c.tia_sd_mbq_h:.1f}"
    console.print(f"chosen model: [bold]{c.model}[/]   TIA = {c.tia_mbq_h:.1f} ± {sd} MBq·h   "
                  f"effective (terminal) half-life = {c.terminal_half_life_h:.2f} h")


def register(app: typer.Typer) -> None:
    """Add the ``bed`` and ``tia`` verbs."""
    app.command("bed")(_bed)
    app.command("tia")(_tia)

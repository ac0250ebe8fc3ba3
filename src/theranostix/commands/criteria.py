"""``theranostix criteria ...``: calculators for readers who measured by hand.

Sub-commands (each with ``--json``): ``recip``, ``percist``, ``ppp``, ``deauville`` (with qPET
and Lugano response), ``mipsma``, ``promise``, ``krenning``, ``primary``, ``psma-rads``,
``vision``, ``therap``, ``netter1``. Measurements are
options; the verbs call the pure functions of :mod:`theranostix.pet.scores`,
:mod:`theranostix.pet.staging` and :mod:`theranostix.response.criteria` and print the category
with every reason. Exit codes: 0 result printed (including flagged / not-evaluable results),
2 invalid input.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from theranostix.commands._common import JsonOption, console, print_json
from theranostix.core.errors import InvalidInputError

criteria_app = typer.Typer(
    help="Response criteria, PET scores and staging from measurements given as options.",
    no_args_is_help=True,
)


def _show(results: dict, json_out: bool) -> None:
    """Print one or several CriterionResult objects as JSON or rich tables."""
    if json_out:
        print_json(results if len(results) > 1 else next(iter(results.values())))
        return
    for res in results.values():
        title = f"{res.criterion}: [bold]{res.category}[/]"
        would = res.values.get("category_if_comparable")
        if would and would != res.category:
            title += f" (would be {would} if the scans were comparable)"
        t = Table(title=title)
        t.add_column("rule")
        t.add_column("met")
        t.add_column("reason")
        for r in res.reasons:
            t.add_row(r.rule, "-" if r.met is None else ("yes" if r.met else "no"), r.text)
        for f in res.flags:
            t.add_row("[red]flag[/]", "", f)
        for w in res.provenance.warnings:
            t.add_row("[yellow]warning[/]", "", w)
        console.print(t)


@criteria_app.command("recip")
def recip_cmd(
    baseline_tv_ml: float = typer.Option(..., "--baseline-tv-ml", help="Baseline PSMA total tumour volume (mL)."),
    followup_tv_ml: float = typer.Option(..., "--followup-tv-ml", help="Follow-up PSMA total tumour volume (mL)."),
    new_lesions: int = typer.Option(0, "--new-lesions", help="Number of new PSMA-positive lesions."),
    pr_boundary: str = typer.Option(">=", "--pr-boundary", help="'>=' (default) or '>' for the 30 % fall."),
    pd_boundary: str = typer.Option(">=", "--pd-boundary", help="'>=' (default) or '>' for the 20 % rise."),
    lesion: Optional[list[str]] = typer.Option(
        None, "--lesion", help="BASELINE_ML:FOLLOWUP_ML[:new] of one lesion (0 on a scan without it; ':new' if "
        "counted as new); repeat. Lists the lesions the category rests on (each left out in turn)."),
    json_out: bool = JsonOption,
) -> None:
    """RECIP 1.0 from PSMA total tumour volume and new lesions."""
    from theranostix.response.recip import recip, recip_single_lesion_dependence, single_lesion_flag

    opts = {"pr_boundary": pr_boundary, "pd_boundary": pd_boundary}
    res = recip(baseline_tv_ml, followup_tv_ml, new_lesions, **opts)  # type: ignore[arg-type]
    if lesion:
        tracks = _recip_tracks(lesion, baseline_tv_ml, followup_tv_ml, new_lesions)
        dep = recip_single_lesion_dependence(tracks, baseline_tv_ml, followup_tv_ml, new_lesions, **opts)
        res.values["single_lesion_dependence"] = [{"lesion": i + 1, "category_without": c} for i, c in dep]
        if dep:
            res.flags.append(single_lesion_flag(res.category, [f"--lesion {i + 1} ({lesion[i]}) -> {c}" for i, c in dep]))
    _show({"recip": res}, json_out)


def _recip_tracks(items: list[str], b_tv: float, f_tv: float, n_new: int) -> list[tuple[float, float, bool]]:
    """``BASELINE_ML:FOLLOWUP_ML[:new]`` strings -> tracks for ``recip_single_lesion_dependence``."""
    tracks = []
    for i, item in enumerate(items, start=1):
        parts = item.split(":")
        try:
            vb, vf = float(parts[0]), float(parts[1])
        except (ValueError, IndexError):
            vb = vf = float("nan")
        tag = parts[2].strip().lower() if len(parts) == 3 else ""
        if not (vb >= 0 and vf >= 0) or len(parts) > 3 or tag not in ("", "new") or (tag and vb > 0):
            raise InvalidInputError(f"--lesion {item!r} is not BASELINE_ML:FOLLOWUP_ML[:new] with volumes >= 0 "
                                    "(a new lesion has baseline volume 0)", where=f"--lesion (occurrence {i})",
                                    fix="e.g. 4.2:1.8, 0:2.1 (a region on the follow-up only) or 0:0.9:new")
        tracks.append((vb, vf, tag == "new"))
    for k, (total, name) in enumerate(((b_tv, "--baseline-tv-ml"), (f_tv, "--followup-tv-ml"))):
        if sum(t[k] for t in tracks) > total * (1 + 1e-6) + 1e-9:
            raise InvalidInputError(f"the --lesion volumes add up to more than {name} {total:g} mL",
                                    where=f"--lesion / {name}", fix="the totals include every listed lesion")
    if sum(t[2] for t in tracks) > n_new:
        raise InvalidInputError(f"more lesions marked ':new' than --new-lesions {n_new}",
                                where="--lesion / --new-lesions")
    return tracks


def _percist_lesions(items: list[str] | None, option: str) -> list | None:
    """``SULPEAK:ORGAN`` strings -> PercistLesion list (None when not given); a SULpeak of 0 is
    "no lesion" (a follow-up without lesions)."""
    from theranostix.response.percist import PercistLesion

    if not items:
        return None
    out = []
    for i, item in enumerate(items, start=1):
        value, sep, organ = item.partition(":")
        try:
            sul = float(value)
        except ValueError:
            sul = float("nan")
        if not sep or not organ.strip() or not sul >= 0:
            raise InvalidInputError(f"{option} {item!r} is not SULPEAK:ORGAN with SULPEAK >= 0",
                                    where=f"{option} (occurrence {i})", fix="e.g. 5.2:lung or 3.1:lymph_node")
        if sul > 0:
            out.append(PercistLesion(sul_peak=sul, organ=organ.strip().lower(), lesion_id=str(i)))
    return out


@criteria_app.command("percist")
def percist_cmd(
    baseline_sulpeak: float = typer.Option(
        ..., "--baseline-sulpeak",
        help="Baseline SULpeak of the hottest lesion (0 = no baseline lesion: only new lesions can decide, PMD)."),
    followup_sulpeak: float = typer.Option(..., "--followup-sulpeak", help="Follow-up SULpeak of the hottest lesion (0 = none)."),
    baseline_liver_mean: Optional[float] = typer.Option(None, "--baseline-liver-mean", help="Baseline liver SULmean."),
    baseline_liver_sd: Optional[float] = typer.Option(None, "--baseline-liver-sd", help="Baseline liver SUL SD."),
    followup_liver_mean: Optional[float] = typer.Option(None, "--followup-liver-mean", help="Follow-up liver SULmean."),
    baseline_blood_pool_mean: Optional[float] = typer.Option(None, "--baseline-blood-pool-mean", help="Baseline blood-pool SULmean."),
    baseline_blood_pool_sd: Optional[float] = typer.Option(None, "--baseline-blood-pool-sd", help="Baseline blood-pool SUL SD."),
    followup_blood_pool_mean: Optional[float] = typer.Option(None, "--followup-blood-pool-mean", help="Follow-up blood-pool SULmean (needed for CMR)."),
    followup_blood_pool_sd: Optional[float] = typer.Option(
        None, "--followup-blood-pool-sd", help="Follow-up blood-pool SUL SD (CMR's blood-pool level; without it the mean)."),
    baseline_uptake_min: Optional[float] = typer.Option(None, "--baseline-uptake-min", help="Baseline uptake time (min)."),
    followup_uptake_min: Optional[float] = typer.Option(None, "--followup-uptake-min", help="Follow-up uptake time (min)."),
    baseline_tlg: Optional[float] = typer.Option(None, "--baseline-tlg", help="Baseline TLG (optional)."),
    followup_tlg: Optional[float] = typer.Option(None, "--followup-tlg", help="Follow-up TLG (optional)."),
    baseline_lesion: Optional[list[str]] = typer.Option(
        None, "--baseline-lesion", help="SULPEAK:ORGAN of a baseline lesion for the secondary sum of up to 5 "
                                        "hottest lesions (<= 2 per organ; all nodes one organ); repeat."),
    followup_lesion: Optional[list[str]] = typer.Option(
        None, "--followup-lesion", help="SULPEAK:ORGAN of a follow-up lesion for the secondary sum; repeat."),
    new_lesions: int = typer.Option(0, "--new-lesions", help="Number of new FDG-avid lesions typical of cancer."),
    other_lesion_increase: bool = typer.Option(
        False, "--other-lesion-increase", help="Another lesion increased > 30 % in SUL or size (excludes PMR)."),
    reference: str = typer.Option("liver", "--reference", help="Measurability reference: liver or blood_pool."),
    on_incomparable: str = typer.Option("flag", "--on-incomparable", help="flag (category NE + flags) or refuse (exit 2)."),
    pmr_boundary: str = typer.Option(">=", "--pmr-boundary", help="'>=' (default) or '>'."),
    pmd_boundary: str = typer.Option(">", "--pmd-boundary", help="'>' (default) or '>='."),
    cmr_blood_pool_sd: float = typer.Option(
        0.0, "--cmr-blood-pool-sd",
        help="CMR: follow-up SULpeak at blood-pool level = <= blood-pool SULmean + this many SDs (default 0: the mean)."),
    json_out: bool = JsonOption,
) -> None:
    """PERCIST 1.0 with liver-SUL and uptake-time comparability checks."""
    from theranostix.response.percist import PercistScan, percist

    if bool(baseline_lesion) != bool(followup_lesion):
        raise InvalidInputError("the secondary sum needs the lesions of both scans",
                                where="--baseline-lesion/--followup-lesion",
                                fix="give both, or neither (a follow-up without lesions: --followup-lesion 0:none)")
    base = PercistScan(sul_peak=None if baseline_sulpeak == 0 else baseline_sulpeak, liver_sul_mean=baseline_liver_mean,
                       liver_sul_sd=baseline_liver_sd, blood_pool_sul_mean=baseline_blood_pool_mean,
                       blood_pool_sul_sd=baseline_blood_pool_sd, uptake_min=baseline_uptake_min,
                       tlg=baseline_tlg, lesions=_percist_lesions(baseline_lesion, "--baseline-lesion"))
    fu = PercistScan(sul_peak=None if followup_sulpeak == 0 else followup_sulpeak, liver_sul_mean=followup_liver_mean,
                     blood_pool_sul_mean=followup_blood_pool_mean, blood_pool_sul_sd=followup_blood_pool_sd,
                     uptake_min=followup_uptake_min,
                     tlg=followup_tlg, lesions=_percist_lesions(followup_lesion, "--followup-lesion"))
    res = percist(base, fu, new_lesions, reference=reference,  # type: ignore[arg-type]
                  on_incomparable=on_incomparable, pmr_boundary=pmr_boundary,  # type: ignore[arg-type]
                  pmd_boundary=pmd_boundary,  # type: ignore[arg-type]
                  nontarget_increase_over_30pct=other_lesion_increase, cmr_blood_pool_sd=cmr_blood_pool_sd)
    _show({"percist": res}, json_out)


@criteria_app.command("ppp")
def ppp_cmd(
    new_distant_lesions: int = typer.Option(0, "--new-distant-lesions", help="New PSMA-positive distant lesions."),
    new_other_lesions: int = typer.Option(0, "--new-other-lesions", help="New PSMA-positive local/regional lesions."),
    max_increase_pct: Optional[float] = typer.Option(None, "--max-increase-pct",
                                                     help="Largest increase in size or uptake of an existing lesion (%)."),
    clinical_progression: Optional[bool] = typer.Option(
        None, "--clinical-progression/--no-clinical-progression",
        help="Consistent clinical or laboratory data (e.g. PSA progression); omit if unknown."),
    confirmed: Optional[bool] = typer.Option(
        None, "--confirmed/--not-confirmed",
        help="Confirmed by biopsy or correlative imaging within 3 months; omit if not done."),
    rule3_requires: str = typer.Option("clinical_or_confirmation", "--rule3-requires",
                                       help="clinical_or_confirmation (default) or clinical_and_confirmation."),
    json_out: bool = JsonOption,
) -> None:
    """PSMA PET Progression (PPP, Fanti 2020)."""
    from theranostix.response.ppp import PppInput, ppp

    data = PppInput(new_distant_lesions=new_distant_lesions, new_other_lesions=new_other_lesions,
                    max_existing_increase_fraction=None if max_increase_pct is None else max_increase_pct / 100.0,
                    clinical_progression=clinical_progression, confirmed_within_3_months=confirmed)
    _show({"ppp": ppp(data, rule3_requires=rule3_requires)}, json_out)  # type: ignore[arg-type]


@criteria_app.command("deauville")
def deauville_cmd(
    lesion_suvmax: Optional[float] = typer.Option(None, "--lesion-suvmax", help="Follow-up lesion SUVmax (most avid)."),
    liver_suvmax: Optional[float] = typer.Option(None, "--liver-suvmax", help="Liver SUVmax (reference for Deauville)."),
    liver_suvmean: Optional[float] = typer.Option(None, "--liver-suvmean", help="Liver SUVmean (qPET; Deauville if no SUVmax)."),
    mediastinum: Optional[float] = typer.Option(None, "--mediastinum", help="Mediastinal blood-pool SUV."),
    lesion_suvpeak: Optional[float] = typer.Option(None, "--lesion-suvpeak", help="Lesion SUVpeak for qPET."),
    no_uptake: bool = typer.Option(False, "--no-uptake", help="No uptake above background (DS1)."),
    ds5_liver_factor: float = typer.Option(2.0, "--ds5-liver-factor", help="'Markedly above liver' factor (default 2)."),
    baseline_lesion_suvmax: Optional[float] = typer.Option(None, "--baseline-lesion-suvmax",
                                                           help="Baseline lesion SUVmax: also give the Lugano response."),
    new_lesions: int = typer.Option(0, "--new-lesions", help="New FDG-avid lesions (Lugano response)."),
    json_out: bool = JsonOption,
) -> None:
    """Deauville 5-point score, qPET and (with a baseline) the Lugano metabolic response."""
    from theranostix.pet.scores import deauville_score, qpet
    from theranostix.response.deauville import lugano_response

    results: dict = {}
    liver, metric = (liver_suvmax, "max") if liver_suvmax is not None else (liver_suvmean, "mean")
    if lesion_suvmax is not None or no_uptake:
        if liver is None or mediastinum is None:
            raise InvalidInputError("Deauville needs the liver and mediastinum references",
                                    where="--liver-suvmax/--liver-suvmean, --mediastinum",
                                    fix="give --liver-suvmax (or --liver-suvmean) and --mediastinum")
        results["deauville"] = deauville_score(lesion_suvmax or 0.0, mediastinum, liver, liver_metric=metric,  # type: ignore[arg-type]
                                               uptake_above_background=not no_uptake,
                                               ds5_liver_factor=ds5_liver_factor)
        if baseline_lesion_suvmax is not None:
            results["lugano"] = lugano_response(
                baseline_lesion_suvmax, lesion_suvmax or 0.0, mediastinum, liver, new_lesions,
                liver_metric=metric, ds5_liver_factor=ds5_liver_factor,  # type: ignore[arg-type]
                followup_uptake_above_background=not no_uptake)
    if lesion_suvpeak is not None:
        if liver_suvmean is None:
            raise InvalidInputError("qPET needs the liver SUVmean", where="--liver-suvmean")
        results["qpet"] = qpet(lesion_suvpeak, liver_suvmean)
    if not results:
        raise InvalidInputError("nothing to score", where="criteria deauville",
                                fix="give --lesion-suvmax with references, or --lesion-suvpeak with --liver-suvmean")
    _show(results, json_out)


@criteria_app.command("mipsma")
def mipsma_cmd(
    lesion_suvmax: float = typer.Option(..., "--lesion-suvmax", help="Lesion SUVmax."),
    blood_pool: Optional[float] = typer.Option(None, "--blood-pool", help="Blood-pool SUVmean."),
    liver: Optional[float] = typer.Option(None, "--liver", help="Liver SUVmean."),
    parotid: Optional[float] = typer.Option(None, "--parotid", help="Parotid SUVmean."),
    spleen: Optional[float] = typer.Option(None, "--spleen", help="Spleen SUVmean ([18F]PSMA-1007)."),
    tracer: Optional[str] = typer.Option(None, "--tracer", help="Tracer, e.g. PSMA-11, DCFPyL, PSMA-1007."),
    liver_reference: str = typer.Option("auto", "--liver-reference", help="auto, liver or spleen."),
    json_out: bool = JsonOption,
) -> None:
    """PROMISE V2 miPSMA expression score of one lesion."""
    from theranostix.pet.scores import ReferenceUptake, mipsma_score

    ref = ReferenceUptake(blood_pool_suv_mean=blood_pool, liver_suv_mean=liver,
                          parotid_suv_mean=parotid, spleen_suv_mean=spleen)
    _show({"mipsma": mipsma_score(lesion_suvmax, ref, tracer=tracer,
                                  liver_reference=liver_reference)}, json_out)  # type: ignore[arg-type]


def _load_lesion_file(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise InvalidInputError("file not found", where=path) from exc
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"not readable JSON ({exc})", where=path,
                                fix="give a JSON list of lesion records or {\"lesions\": [...]}") from exc
    if isinstance(data, list):
        return {"lesions": data}
    if isinstance(data, dict) and isinstance(data.get("lesions"), list):
        return data
    raise InvalidInputError("expected a list of lesion records or an object with 'lesions'", where=path)


@criteria_app.command("promise")
def promise_cmd(
    lesions_file: Optional[Path] = typer.Option(None, "--lesions", help="JSON file: list of lesion records "
                                                 "{kind, station, organ, extent, count, diffuse_marrow}."),
    local: list[str] = typer.Option([], "--local", help="Local focus with extent (organ_confined, extraprostatic, "
                                    "seminal_vesicle, adjacent_structure); repeat per focus."),
    node: list[str] = typer.Option([], "--node", help="Positive node station, optionally STATION:COUNT; repeat."),
    bone: int = typer.Option(0, "--bone", help="Number of bone lesions."),
    dmi: bool = typer.Option(False, "--dmi", help="Diffuse marrow involvement."),
    organ: list[str] = typer.Option([], "--organ", help="Visceral lesion organ (lung, liver, ...); repeat."),
    prostatectomy: bool = typer.Option(False, "--prostatectomy", help="Prior radical prostatectomy (local = miTr)."),
    version: str = typer.Option("v2", "--version", help="PROMISE version: v2 (miN1/miN2) or v1 (miN1a/miN1b)."),
    ajcc_common_iliac: bool = typer.Option(False, "--ajcc-common-iliac", help="Count common-iliac nodes as M1a (AJCC)."),
    json_out: bool = JsonOption,
) -> None:
    """PROMISE miTNM from a JSON lesion list and/or options."""
    from pydantic import ValidationError

    from theranostix.pet.staging import LesionSite, StagingInput, promise_mitnm

    records: list[dict] = []
    prior = prostatectomy
    if lesions_file is not None:
        data = _load_lesion_file(lesions_file)
        records.extend(data["lesions"])
        prior = prior or bool(data.get("prior_prostatectomy", False))
    for ext in local:
        records.append({"kind": "local", "extent": ext})
    for spec in node:
        station, _, count = spec.partition(":")
        try:
            n = int(count) if count else 1
        except ValueError as exc:
            raise InvalidInputError(f"{spec!r}: count is not an integer", where="--node",
                                    fix="write e.g. obturator_left:2") from exc
        records.append({"kind": "lymph_node", "station": station, "count": n})
    if bone or dmi:
        records.append({"kind": "bone", "count": max(bone, 1), "diffuse_marrow": dmi})
    for o in organ:
        records.append({"kind": "organ", "organ": o})
    sites = []
    for i, rec in enumerate(records):
        try:
            sites.append(LesionSite.model_validate(rec))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidInputError(f"invalid lesion record: {first['msg']}",
                                    where=f"lesions[{i}].{'.'.join(str(p) for p in first['loc'])}",
                                    fix="kind is local, lymph_node, bone or organ; extent is "
                                        "organ_confined, extraprostatic, seminal_vesicle or adjacent_structure") from exc
    res = promise_mitnm(StagingInput(lesions=sites, prior_prostatectomy=prior), version=version,  # type: ignore[arg-type]
                        common_iliac_regional=not ajcc_common_iliac)
    _show({"promise": res}, json_out)


@criteria_app.command("krenning")
def krenning_cmd(
    lesion_suvmax: float = typer.Option(..., "--lesion-suvmax", help="Lesion SUVmax."),
    liver: float = typer.Option(..., "--liver", help="Liver SUVmean."),
    spleen: Optional[float] = typer.Option(None, "--spleen", help="Spleen SUVmean (grade 4)."),
    equal_tolerance: float = typer.Option(0.10, "--equal-tolerance", help="Band around liver taken as equal (0.10)."),
    json_out: bool = JsonOption,
) -> None:
    """Krenning-type SSTR PET grade of one lesion."""
    from theranostix.pet.scores import krenning_grade

    _show({"krenning": krenning_grade(lesion_suvmax, liver, spleen, equal_tolerance=equal_tolerance)}, json_out)


@criteria_app.command("primary")
def primary_cmd(
    pattern: str = typer.Option(..., "--pattern", help="none, diffuse_tz_or_symmetric_cz, focal_tz or focal_pz."),
    lesion_suvmax: float = typer.Option(..., "--lesion-suvmax", help="Intraprostatic SUVmax."),
    tz_ratio: Optional[float] = typer.Option(None, "--tz-ratio", help="Focal TZ / background TZ uptake ratio."),
    json_out: bool = JsonOption,
) -> None:
    """PRIMARY 5-point intraprostatic score."""
    from theranostix.pet.scores import primary_score

    _show({"primary": primary_score(pattern, lesion_suvmax,  # type: ignore[arg-type]
                                    tz_to_background_ratio=tz_ratio)}, json_out)


def _psma_lesions(path: Path) -> list:
    from pydantic import ValidationError

    from theranostix.planning.eligibility import PsmaLesion

    out = []
    for i, rec in enumerate(_load_lesion_file(path)["lesions"]):
        try:
            out.append(PsmaLesion.model_validate(rec))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise InvalidInputError(f"invalid lesion record: {first['msg']}",
                                    where=f"{path}: lesions[{i}].{'.'.join(str(p) for p in first['loc'])}",
                                    fix="records need kind (lymph_node, visceral, bone) and suv_max") from exc
    return out


@criteria_app.command("vision")
def vision_cmd(
    lesions_file: Path = typer.Option(..., "--lesions", help="JSON list of lesions {kind, suv_max, short_axis_mm, "
                                      "soft_tissue_component_short_axis_mm, lesion_id}."),
    liver: float = typer.Option(..., "--liver", help="Liver SUVmean."),
    json_out: bool = JsonOption,
) -> None:
    """VISION PSMA-PET eligibility."""
    from theranostix.planning.eligibility import vision_eligibility

    _show({"vision": vision_eligibility(_psma_lesions(lesions_file), liver)}, json_out)


@criteria_app.command("therap")
def therap_cmd(
    lesions_file: Path = typer.Option(..., "--lesions", help="JSON list of lesions {kind, suv_max, measurable, "
                                      "fdg_positive, lesion_id}."),
    fdg_discordant: Optional[bool] = typer.Option(None, "--fdg-discordant/--no-fdg-discordant",
                                                  help="Reader's FDG/PSMA discordance call; omit to use the lesion flags."),
    json_out: bool = JsonOption,
) -> None:
    """TheraP PSMA/FDG PET eligibility."""
    from theranostix.planning.eligibility import therap_eligibility

    _show({"therap": therap_eligibility(_psma_lesions(lesions_file),
                                        fdg_discordant_disease=fdg_discordant)}, json_out)


@criteria_app.command("netter1")
def netter1_cmd(
    lesion_suvmax: str = typer.Option(..., "--lesion-suvmax", help="Target-lesion SUVmax values, comma-separated."),
    liver: float = typer.Option(..., "--liver", help="Liver SUVmean."),
    spleen: Optional[float] = typer.Option(None, "--spleen", help="Spleen SUVmean."),
    json_out: bool = JsonOption,
) -> None:
    """NETTER-1-style SSTR eligibility (every target lesion >= liver)."""
    from theranostix.commands._common import parse_float_list
    from theranostix.planning.eligibility import SstrLesion, netter1_eligibility

    values = parse_float_list(lesion_suvmax, "--lesion-suvmax")
    _show({"netter1": netter1_eligibility([SstrLesion(suv_max=v) for v in values], liver, spleen)}, json_out)


@criteria_app.command("psma-rads")
def psma_rads_cmd(
    tissue: str = typer.Option(..., "--tissue", help="soft_tissue or bone."),
    typical: bool = typer.Option(..., "--typical/--atypical", help="Site typical for prostate cancer?"),
    anatomy: str = typer.Option(..., "--anatomy", help="benign_definitive, suspicious, atypical_benign_appearing, "
                                "indeterminate or none."),
    uptake: Optional[str] = typer.Option(None, "--uptake", help="none, equivocal or intense (else derived from SUVs)."),
    lesion_suvmax: Optional[float] = typer.Option(None, "--lesion-suvmax", help="Lesion SUVmax."),
    blood_pool: Optional[float] = typer.Option(None, "--blood-pool", help="Blood-pool SUVmean."),
    treated: bool = typer.Option(False, "--treated", help="Previously treated lesion (v2.0 5T)."),
    version: str = typer.Option("1.0", "--version", help="1.0 or 2.0."),
    json_out: bool = JsonOption,
) -> None:
    """PSMA-RADS category of one finding (anatomic reading given explicitly)."""
    from pydantic import ValidationError

    from theranostix.pet.scores import PsmaRadsInput, psma_rads

    try:
        finding = PsmaRadsInput(tissue=tissue, site_typical_for_pca=typical, anatomic_finding=anatomy,  # type: ignore[arg-type]
                                uptake_level=uptake, lesion_suv_max=lesion_suvmax,  # type: ignore[arg-type]
                                blood_pool_suv_mean=blood_pool, previously_treated=treated)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidInputError(f"invalid value: {first['msg']}",
                                where="--" + ".".join(str(p) for p in first["loc"]).replace("_", "-")) from exc
    _show({"psma_rads": psma_rads(finding, version=version)}, json_out)  # type: ignore[arg-type]


def register(app: typer.Typer) -> None:
    """Add the ``criteria`` sub-app to the main CLI."""
    app.add_typer(criteria_app, name="criteria")

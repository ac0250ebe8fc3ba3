"""``theranostix respond BASELINE FOLLOWUP [FOLLOWUP...] --out DIR``: response to therapy.

Each input is either an earlier ``theranostix analyze`` output folder (holding ``lesions.json``,
read with :func:`theranostix.pet.pipeline.read_analysis`) or a study folder with DICOM PET (and
CT), analysed here with :func:`theranostix.pet.pipeline.analyze_study`. The analyses go to
:func:`theranostix.response.pipeline.assess_response`; ``response.json`` (assessment + timeline)
and ``timeline.png`` are written atomically to ``--out``.

Exit codes: 0 assessed (flagged results included, see ``flags``), 2 invalid input or a refused
pair (different patient or tracer, failed registration), 1 other errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from theranostix.commands._common import JsonOption, console, print_json, write_json_atomic
from theranostix.core.errors import InvalidInputError


def load_analysis(folder: Path, tracer: str = "auto") -> Any:
    """An ``AnalysisResult`` from an analyze output folder or a DICOM study folder."""
    from theranostix.pet import pipeline as pp

    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInputError("not a folder", where=folder,
                                fix="give an `analyze` output folder or a study folder with DICOM PET/CT")
    if (folder / "lesions.json").is_file():
        from theranostix.io.analysis_folder import read_analysis

        return read_analysis(folder)
    from theranostix.io.dicom import discover, load_ct, load_pet

    series, _ = discover(folder)
    pets = [s for s in series if s.modality == "PT"]
    cts = [s for s in series if s.modality == "CT"]
    if not pets:
        raise InvalidInputError("no lesions.json and no DICOM PET series in the folder", where=folder,
                                fix="give an `analyze` output folder or a study folder with DICOM PET/CT")
    if len(pets) > 1 or len(cts) > 1:
        raise InvalidInputError(f"{len(pets)} PET and {len(cts)} CT series in the folder: ambiguous",
                                where=folder, fix="give a folder with one PET (and one CT) series, "
                                                  "or run `theranostix analyze` first")
    pet = load_pet(pets[0].folder, series_uid=pets[0].series_instance_uid)
    ct = load_ct(cts[0].folder, series_uid=cts[0].series_instance_uid) if cts else None
    return pp.analyze_study(pet, ct, tracer=tracer)


def register(app: typer.Typer) -> None:
    """Add the ``respond`` verb."""

    @app.command("respond")
    def respond_cmd(
        inputs: list[Path] = typer.Argument(..., help="BASELINE then one or more FOLLOWUP folders "
                                                      "(analyze outputs or DICOM study folders)."),
        out: Path = typer.Option(..., "--out", help="Output folder (response.json, timeline.png)."),
        criteria: str = typer.Option("recip,percist,ppp", "--criteria",
                                     help="Comma-separated: recip, percist, ppp."),
        tracer: str = typer.Option("auto", "--tracer", help="Tracer for study folders (auto or a profile key)."),
        psa_progression: Optional[bool] = typer.Option(
            None, "--psa-progression/--no-psa-progression",
            help="PPP clinical input: consistent PSA/clinical progression (unset = not available)."),
        confirmed: Optional[bool] = typer.Option(
            None, "--confirmed/--not-confirmed",
            help="PPP: progression confirmed by biopsy or imaging within 3 months (unset = not done)."),
        no_register: bool = typer.Option(False, "--no-register", help="Skip CT registration."),
        flag_registration: bool = typer.Option(
            False, "--flag-registration-failure",
            help="Keep a pair whose registration fails the quality check (flagged) instead of refusing it."),
        new_lesion_uptake: str = typer.Option(
            "blood_pool", "--new-lesion-uptake",
            help="A new lesion counts when its SUVmax reaches the follow-up reference SUVmean: "
                 "blood_pool (miPSMA >= 1, default), liver (miPSMA >= 2) or none."),
        new_lesion_lookback: str = typer.Option(
            "footprint", "--new-lesion-lookback",
            help="Where the look-back reads the baseline uptake of a new lesion: footprint (default: "
                 "the lesion's own voxels mapped onto the baseline) or sphere (radius + 4 mm around it)."),
        residual_target: str = typer.Option(
            "measure", "--residual-target",
            help="PERCIST, when no follow-up lesion took the baseline target: measure (default: uptake "
                 "at its site that stands out of its own tissue by >= 5 noise SDs is the follow-up "
                 "target) or flag (category from the segmented lesions, the site flagged for review)."),
        recip_volume: str = typer.Option(
            "comparable", "--recip-volume",
            help="Which lesions RECIP's total tumour volumes add up: comparable (default: not the "
                 "lesions segmented on one scan only although their uptake is on both, nor new regions "
                 "below the uptake reference) or segmented (every segmented lesion)."),
        json_out: bool = JsonOption,
    ) -> None:
        """Response of follow-up PET studies against baseline (RECIP 1.0, PERCIST 1.0, PPP)."""
        from theranostix.report.figures import save_figure
        from theranostix.response.pipeline import (
            NEW_LESION_LOOKBACKS,
            NEW_LESION_UPTAKE_REFERENCES,
            RECIP_VOLUME_MODES,
            RESIDUAL_TARGET_MODES,
            assess_response,
        )
        from theranostix.response.timeline import build_timeline, timeline_figure

        if len(inputs) < 2:
            raise InvalidInputError("need a BASELINE and at least one FOLLOWUP folder", where="inputs")
        crit = [c.strip().lower() for c in criteria.split(",") if c.strip()]
        for option, value, allowed in (("--new-lesion-uptake", new_lesion_uptake, NEW_LESION_UPTAKE_REFERENCES),
                                       ("--new-lesion-lookback", new_lesion_lookback, NEW_LESION_LOOKBACKS),
                                       ("--residual-target", residual_target, RESIDUAL_TARGET_MODES),
                                       ("--recip-volume", recip_volume, RECIP_VOLUME_MODES)):
            if value not in allowed:  # before any input is read
                raise InvalidInputError(f"unknown {option} {value!r}", where=option, fix="use " + ", ".join(allowed))
        if out.exists() and not out.is_dir():
            raise InvalidInputError("output path exists and is not a folder", where=out)
        analyses = [load_analysis(p, tracer) for p in inputs]
        res = assess_response(analyses[0], analyses[1:], criteria=crit, register=not no_register,
                              on_registration_failure="flag" if flag_registration else "refuse",
                              psa_progression=psa_progression, confirmed_within_3_months=confirmed,
                              new_lesion_min_uptake=new_lesion_uptake,  # type: ignore[arg-type]
                              new_lesion_lookback=new_lesion_lookback,  # type: ignore[arg-type]
                              residual_target=residual_target,  # type: ignore[arg-type]
                              recip_volume=recip_volume)  # type: ignore[arg-type]
        tl = build_timeline(analyses[0], followups=analyses[1:], assessment=res)
        doc = {"assessment": res.model_dump(mode="json"), "timeline": tl.model_dump(mode="json"),
               "inputs": ["baseline"] + [f"follow-up {i}" for i in range(1, len(inputs))]}
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "response.json", doc)
        save_figure(timeline_figure(tl), out / "timeline.png")
        if json_out:
            print_json(doc)
            return
        t = Table(title=f"Response ({res.tracer})")
        t.add_column("timepoint")
        t.add_column("TV (mL)")
        t.add_column("lesions (new)")
        for c in res.criteria:
            t.add_column(c.upper())
        t.add_column("flags")
        t.add_row("baseline", f"{res.baseline['tv_ml']:.1f}", str(res.baseline["n_lesions"]),
                  *([""] * len(res.criteria)), "")
        for fa in res.followups:
            t.add_row(f"follow-up {fa.index}", f"{fa.values['followup_tv_ml']:.1f}",
                      f"{fa.values['followup_n_lesions']} ({fa.n_new_lesions})",
                      *[fa.category(c) or "-" for c in res.criteria], "; ".join(fa.flags) or "-")
        console.print(t)
        console.print(f"wrote {out / 'response.json'} and {out / 'timeline.png'}")

"""``theranostix twin``: make a digital twin (DICOM series + ground truth) in a folder."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from theranostix.commands._common import (
    JsonOption,
    console,
    err_console,
    parse_float_list,
    print_json,
)


def register(app: typer.Typer) -> None:
    """Add the ``twin`` verb to the CLI."""

    @app.command("twin")
    def twin(
        out: Path = typer.Option(..., "--out", help="Output folder (new, empty, or a previous twin)."),
        tracer: str = typer.Option("psma-ga68", "--tracer",
                                   help="psma-ga68, psma-dcfpyl, psma-1007, fdg, dotatate-ga68."),
        seed: int = typer.Option(7, "--seed", help="Seed of everything random."),
        sex: str = typer.Option("male", "--sex", help="male or female."),
        pattern: str = typer.Option("nodal", "--pattern",
                                    help="localized, nodal, oligometastatic, disseminated."),
        therapy: str | None = typer.Option(None, "--therapy",
                                           help="lu177-psma617 or lu177-dotatate: adds SPECT/CT "
                                                "at 4, 24, 48, 96, 168 h."),
        followup_cycles: int = typer.Option(0, "--followup-cycles",
                                            help="Add a follow-up PET/CT after N cycles."),
        vendor: str = typer.Option("siemens", "--vendor", help="siemens, ge or philips headers."),
        fwhm_mm: float = typer.Option(5.0, "--fwhm-mm", help="PET resolution FWHM (mm)."),
        voxel_mm: float = typer.Option(4.0, "--voxel-mm", help="PET voxel size (mm)."),
        spect_times: str = typer.Option("4,24,48,96,168", "--spect-times",
                                        help="SPECT/CT times in h after the therapy injection."),
        truth_mm: float = typer.Option(2.0, "--truth-mm",
                                       help="Truth-grid spacing (mm); coarser is faster."),
        json_out: bool = JsonOption,
    ) -> None:
        """Make a synthetic patient with known truth: PET/CT DICOM, optional Lu-177 SPECT/CT
        series and follow-up, NIfTI label maps and truth.json."""
        from theranostix.twin.generate import make_twin

        times_h = tuple(parse_float_list(spect_times, "--spect-times"))

        def progress(msg: str) -> None:
            if not json_out:
                err_console.print(f"[dim]twin:[/] {msg}", highlight=False)

        result = make_twin(out, tracer=tracer, seed=seed, sex=sex, pattern=pattern,
                           therapy=therapy, followup_cycles=followup_cycles, vendor=vendor,
                           fwhm_mm=fwhm_mm, voxel_mm=voxel_mm, spect_times_h=times_h,
                           truth_spacing_mm=truth_mm, progress=progress)
        if json_out:
            print_json(result)
            return
        table = Table(title=f"Digital twin {result.patient_id} ({result.tracer}, {result.vendor})")
        table.add_column("timepoint")
        table.add_column("series")
        table.add_column("files", justify="right")
        table.add_column("folder")
        for s in result.series:
            table.add_row(s.timepoint, s.modality, str(s.n_files), str(s.path))
        console.print(table)
        console.print(f"truth: {result.truth_json}")
        console.print(
            f"{result.summary['n_lesions']} lesions; weight {result.summary['weight_kg']} kg; "
            f"{result.summary['activity_mbq']:.0f} MBq; made in {result.summary['elapsed_s']} s")

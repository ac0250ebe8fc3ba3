"""``theranostix inspect PATH``: what series are here, and can they be quantified."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from theranostix.commands._common import JsonOption, console, print_json


def register(app: typer.Typer) -> None:
    @app.command("inspect")
    def inspect_cmd(
        path: Path = typer.Argument(..., help="File or folder (searched recursively)."),
        json_out: bool = JsonOption,
    ) -> None:
        """List the DICOM series under PATH with modality, size, units and quantitation readiness."""
        from theranostix.io.dicom import discover

        series, skipped = discover(path)
        if json_out:
            print_json({"path": str(path), "series": series,
                        "skipped": [{"file": f, "reason": r} for f, r in skipped]})
            return
        table = Table(title=f"{len(series)} series under {path}")
        for col in ("modality", "description", "files", "size", "units", "quantitation", "ready", "reasons"):
            table.add_column(col)
        for s in series:
            size = f"{s.columns}x{s.rows}x{s.n_frames}" if s.rows else "-"
            table.add_row(s.modality, s.description, str(s.n_files), size, s.units or "-",
                          s.quantitation or "-", "[green]yes[/]" if s.ready else "[red]no[/]",
                          "; ".join(s.reasons))
        console.print(table)
        if skipped:
            console.print(f"{len(skipped)} file(s) skipped (not DICOM or no series UID); "
                          "use --json for the list.")

"""``theranostix dosimetry SERIES_DIR... --masks MASKS --out DIR``: a therapy cycle's absorbed doses."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import typer
from rich.table import Table

from theranostix.commands._common import JsonOption, console, print_json
from theranostix.core.errors import InvalidInputError


def register(app: typer.Typer) -> None:
    @app.command("dosimetry")
    def dosimetry_cmd(
        series_dirs: list[Path] = typer.Argument(..., help="One folder per timepoint (SPECT + CT)."),
        masks: Path = typer.Option(..., "--masks", help="Organ masks: NIfTI label map with names, DICOM SEG, RTSTRUCT or a folder of per-organ NIfTI."),
        out: Path = typer.Option(..., "--out", help="Output folder."),
        lesions: Path = typer.Option(None, "--lesions", help="Lesion label map (NIfTI), one id per lesion."),
        calibration: float = typer.Option(None, "--calibration-cps-per-mbq", help="SPECT sensitivity (cps/MBq) when not in the header."),
        administered_mbq: float = typer.Option(None, "--administered-mbq", help="Administered activity when not in the header."),
        injection_time: str = typer.Option(None, "--injection-time", help="Injection datetime (ISO) when not in the header."),
        nuclide: str = typer.Option("Lu-177", "--nuclide"),
        margin_mm: float = typer.Option(None, "--margin-mm", help="Dilate organ VOIs by this margin (SPECT spill-out)."),
        psf_fwhm_mm: float = typer.Option(None, "--psf-fwhm-mm", help="SPECT resolution (FWHM, mm): enables GTM partial-volume correction of region activities (needs a label map of all structures)."),
        no_voxel: bool = typer.Option(False, "--no-voxel", help="Skip the voxel dose map (faster)."),
        json_out: bool = JsonOption,
    ) -> None:
        """Fit time-activity curves, integrate, and compute organ and lesion absorbed doses."""
        from theranostix.dosimetry.pipeline import DEFAULT_MARGIN_MM
        from theranostix.workflows.dosimetry_study import run_dosimetry_study

        t_inj = None
        if injection_time:
            try:
                t_inj = datetime.fromisoformat(injection_time)
            except ValueError as exc:
                raise InvalidInputError(f"{injection_time!r} is not an ISO datetime", where="--injection-time") from exc
        res, files = run_dosimetry_study(series_dirs, masks, out, lesions_path=lesions,
                                         calibration_cps_per_mbq=calibration, administered_mbq=administered_mbq,
                                         injection_time=t_inj, nuclide=nuclide,
                                         margin_mm=DEFAULT_MARGIN_MM if margin_mm is None else margin_mm,
                                         voxel=not no_voxel, psf_fwhm_mm=psf_fwhm_mm)
        if json_out:
            print_json({"result": res, "files": {k: str(v) for k, v in files.items()}})
            return
        t = Table(title=f"{res.nuclide}, {res.administered_mbq:.0f} MBq — absorbed doses")
        for c in ("region", "kind", "mass g", "model", "TIA MBq·h", "T_eff h", "dose Gy", "Gy/GBq", "BED Gy"):
            t.add_column(c)
        for r in res.regions:
            t.add_row(r.region, r.kind, f"{r.mass_g:.1f}", r.method,
                      f"{r.tia_mbq_h:.0f}" + (f" ± {r.tia_sd_mbq_h:.0f}" if r.tia_sd_mbq_h else ""),
                      f"{r.effective_half_life_h:.1f}" if r.effective_half_life_h else "–",
                      f"{r.dose_gy:.2f}", f"{r.dose_gy_per_gbq:.3f}", f"{r.bed_gy:.2f}" if r.bed_gy else "–")
        console.print(t)
        for w in res.provenance.warnings:
            console.print(f"[yellow]warning:[/] {w}")
        for k, v in files.items():
            console.print(f"{k}: {v}")

"""``theranostix analyze PET_DIR [--ct CT_DIR] [--organs MASKS] [--tracer auto|NAME] --out DIR``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from theranostix.commands._common import JsonOption, console, err_console, print_json
from theranostix.core.errors import InvalidInputError


def _fmt(v: object, nd: int = 2) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def register(app: typer.Typer) -> None:
    @app.command("analyze")
    def analyze_cmd(
        pet_dir: Path = typer.Argument(..., help="Folder holding the PET series."),
        ct: Path = typer.Option(None, "--ct", help="Folder holding the CT of the same PET/CT."),
        organs: Path = typer.Option(None, "--organs",
                                    help="Organ masks: NIfTI label map, folder of NIfTI masks, "
                                         "DICOM SEG or RTSTRUCT (needs --ct)."),
        tracer: str = typer.Option("auto", "--tracer",
                                   help="auto (DICOM Radiopharmaceutical) or psma-ga68, "
                                        "psma-dcfpyl, psma-1007, fdg, dotatate-ga68."),
        profile: str = typer.Option(None, "--profile", help="Detection profile (default: the tracer's)."),
        out: Path = typer.Option(..., "--out", help="Output folder (lesions.json, lesions.nii.gz, "
                                                    "suv.nii.gz, seg.dcm, sr.dcm, mip.png)."),
        json_out: bool = JsonOption,
    ) -> None:
        """Detect and measure lesions, stage (PROMISE miTNM) and check VISION/TheraP eligibility."""
        from theranostix.io.dicom import load_ct, load_pet
        from theranostix.io.masks import read_organ_masks
        from theranostix.io.analysis_folder import write_analysis
        from theranostix.pet.pipeline import analyze_study

        if not pet_dir.is_dir():
            raise InvalidInputError("PET folder not found", where=pet_dir)
        if ct is not None and not ct.is_dir():
            raise InvalidInputError("CT folder not found", where=ct)
        if organs is not None and not organs.exists():
            raise InvalidInputError("organ-mask path not found", where=organs)
        if out.exists() and not out.is_dir():
            raise InvalidInputError("--out exists and is not a folder", where=out)
        pet = load_pet(pet_dir)
        ct_img = load_ct(ct) if ct is not None else None
        masks = None
        if organs is not None:
            masks = read_organ_masks(organs, reference=ct_img)
        result = analyze_study(pet, ct_img, tracer=tracer, organ_masks=masks, profile=profile)
        if ct is None and not json_out:
            err_console.print("[yellow]warning:[/] no CT: no bone mask, no CT reference regions, "
                              "physiological uptake not excluded (documented fallback)",
                              highlight=False)
        paths = write_analysis(result, out, source_pet_dir=pet_dir)
        doc = result.model_dump(mode="json")
        doc["files"] = {k: str(v) for k, v in paths.items()}
        if json_out:
            print_json(doc)
            return
        t = Table(title=f"{len(result.lesions.lesions)} lesion(s), tracer {result.tracer}")
        for col in ("id", "site", "SUVmax", "SUVpeak", "SUVmean", "vol mL", "short mm", "method",
                    "miPSMA"):
            t.add_column(col)
        mip = result.scores.get("mipsma", {})
        for les in result.lesions.lesions:
            sc = mip.get(str(les.lesion_id), {}) if isinstance(mip, dict) else {}
            t.add_row(str(les.lesion_id), les.site, _fmt(les.suv_max), _fmt(les.suv_peak_global),
                      _fmt(les.suv_mean), _fmt(les.volume_ml), _fmt(les.short_axis_mm, 1),
                      les.method, str(sc.get("category", "-")))
        console.print(t)
        b = result.burden
        s = Table(title="burden, references, staging, eligibility")
        s.add_column("item")
        s.add_column("value")
        s.add_row("PSMA-TV / TL (mL, SUV.mL)", f"{b.total_volume_ml:.2f} / {b.total_lesion_activity:.2f}")
        for name, r in result.reference_regions.items():
            s.add_row(f"reference {name}", f"SUVmean {_fmt(r['mean'])}" if r["found"]
                      else f"not found: {r['reason']}")
        st = result.scores.get("promise_mitnm")
        if st:
            s.add_row("PROMISE miTNM", str(st.get("category", st.get("refused"))))
        for k in ("vision", "therap"):
            e = result.eligibility.get(k)
            if e:
                s.add_row(k, str(e.get("category", "refused: " + str(e.get("refused")))))
        for w in result.provenance.warnings[:12]:
            s.add_row("[yellow]warning[/]", w)
        for k, v in paths.items():
            s.add_row(f"file {k}", str(v))
        console.print(s)

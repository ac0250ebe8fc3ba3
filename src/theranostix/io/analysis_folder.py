"""The folder an analysis is written to and read back from (the file edge of ``pet.pipeline``).

Layout of ``theranostix analyze ... --out DIR``:

* ``lesions.json`` — the whole :class:`~theranostix.pet.pipeline.AnalysisResult` (JSON; it is also
  the sidecar of ``lesions.nii.gz``);
* ``lesions.nii.gz`` — lesion label map on the PET grid (label = lesion id);
* ``suv.nii.gz`` — the SUV image analysed;
* ``ct.nii.gz`` — the CT (HU) the analysis used, on its own grid, so follow-up registration can
  run from the folder alone;
* ``organs.nii.gz`` — the organ masks used (user or CT+PET estimate) as one label map on the PET
  grid; its sidecar ``{"labels": {label: organ}}`` makes it a valid ``--organs`` input;
* ``seg.dcm`` / ``sr.dcm`` — DICOM SEG and TID 1500 SR referencing the source PET (when the source
  PET folder is known and there is at least one lesion);
* ``mip.png`` — maximum-intensity projection with the lesions outlined.

Every file is written atomically (:mod:`theranostix.io.atomic`).
"""

from __future__ import annotations

import json
from pathlib import Path

from theranostix.core.errors import InvalidInputError
from theranostix.pet.pipeline import AnalysisResult, site_kind


def _seg_lesions(result: AnalysisResult) -> list[dict]:
    return [{"lesion_id": les.lesion_id, "kind": site_kind(les.site),
             "label": f"lesion {les.lesion_id} {les.site}", "suv_max": les.suv_max,
             "suv_mean": les.suv_mean, "suv_peak": les.suv_peak_global, "volume_ml": les.volume_ml}
            for les in result.lesions.lesions]


def write_analysis(result: AnalysisResult, out_dir: Path, *,
                   source_pet_dir: Path | None = None) -> dict[str, Path]:
    """Write an analysis folder (layout in the module docstring); returns {kind: path}."""
    from theranostix.io.atomic import write_json_atomic
    from theranostix.io.nifti import write_nifti
    from theranostix.report.figures import mip_figure, save_figure

    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError("output path exists and is not a folder", where=out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    doc = result.model_dump(mode="json")
    if result.labels is not None:  # lesions.json is the sidecar of lesions.nii.gz (io.nifti rule)
        paths["labels"] = write_nifti(result.labels, out_dir / "lesions.nii.gz", sidecar=doc)
        paths["lesions_json"] = out_dir / "lesions.json"
    else:
        paths["lesions_json"] = write_json_atomic(out_dir / "lesions.json", doc)
    if result.suv is not None:
        paths["suv"] = write_nifti(result.suv, out_dir / "suv.nii.gz",
                                   sidecar={"kind": "SUV image analysed", "units": result.suv.units})
    if result.ct is not None:
        paths["ct"] = write_nifti(result.ct, out_dir / "ct.nii.gz",
                                  sidecar={"kind": "CT used by the analysis", "units": "HU"})
    if result.organs is not None:
        src = result.provenance.parameters.get("organ_mask_source", "")
        paths["organs"] = write_nifti(
            result.organs, out_dir / "organs.nii.gz",
            sidecar={"kind": "organ masks used by the analysis", "source": src,
                     "labels": {str(k): v for k, v in result.organ_names.items()}})
    if source_pet_dir is not None and result.labels is not None and result.lesions.lesions:
        from theranostix.io.dicom.seg_sr import source_pet_datasets, write_seg, write_sr
        sources = source_pet_datasets(source_pet_dir)
        les = _seg_lesions(result)
        seg = write_seg(result.labels, les, sources, out_dir / "seg.dcm")
        write_sr(seg, les, sources, out_dir / "sr.dcm")
        paths["seg"], paths["sr"] = out_dir / "seg.dcm", out_dir / "sr.dcm"
    if result.suv is not None:
        fig = mip_figure(result.suv, result.labels,
                         title=f"{result.tracer}: {len(result.lesions.lesions)} lesion(s)")
        paths["mip"] = save_figure(fig, out_dir / "mip.png")
    return paths


def is_analysis_folder(path: Path) -> bool:
    """True when ``path`` is a folder holding an analysis ``lesions.json``."""
    return Path(path).is_dir() and (Path(path) / "lesions.json").is_file()


def read_analysis(out_dir: Path) -> AnalysisResult:
    """Read a folder written by :func:`write_analysis` (labels, SUV, CT and organs when present)."""
    from theranostix.io.nifti import read_nifti

    out_dir = Path(out_dir)
    p = out_dir / "lesions.json"
    if not p.is_file():
        raise InvalidInputError("no lesions.json in the analysis folder", where=out_dir,
                                fix="run `theranostix analyze ... --out DIR` first")
    try:
        result = AnalysisResult.model_validate(json.loads(p.read_text()))
    except (ValueError, TypeError) as exc:
        raise InvalidInputError(f"lesions.json is not an analysis result: {exc}"[:300], where=p) from None
    if (out_dir / "lesions.nii.gz").is_file():
        result.labels, _ = read_nifti(out_dir / "lesions.nii.gz")
    if (out_dir / "suv.nii.gz").is_file():
        result.suv, _ = read_nifti(out_dir / "suv.nii.gz")
    if (out_dir / "ct.nii.gz").is_file():
        result.ct, _ = read_nifti(out_dir / "ct.nii.gz")
    if (out_dir / "organs.nii.gz").is_file():
        result.organs, side = read_nifti(out_dir / "organs.nii.gz")
        try:
            result.organ_names = {int(k): str(v) for k, v in side.get("labels", {}).items()}
        except (TypeError, ValueError):
            raise InvalidInputError("organs.nii.gz sidecar 'labels' is not {label: name}",
                                    where=out_dir / "organs.nii.gz") from None
    return result


__all__ = ["is_analysis_folder", "read_analysis", "write_analysis"]

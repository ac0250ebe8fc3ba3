"""Series discovery: point at any folder tree, get one line per series and whether it is usable."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from theranostix.core.errors import InvalidInputError
from theranostix.io.dicom.files import scan
from theranostix.io.dicom.geometry import refuse_multiframe, sort_and_check
from theranostix.io.dicom.pet import assess_pet_headers

_IMAGE_MODALITIES = {"PT", "CT", "NM", "MR"}


class SeriesInfo(BaseModel):
    """What one series is, and whether theranostix can quantify it.

    Attributes
    ----------
    quantitation
        ``"SUV"`` (PET ready for SUV), ``"HU"`` (CT), ``"Bq/mL"`` (SPECT in BQML),
        ``"counts"`` (SPECT needing a calibration factor), or ``None`` when not quantifiable.
    ready
        True when the series can be read into physical units without extra input.
    reasons
        Why not ready, or the warnings that reading it will record.
    """

    series_instance_uid: str
    study_instance_uid: str = ""
    modality: str
    sop_class_uid: str = ""
    description: str = ""
    manufacturer: str = ""
    n_files: int
    rows: int | None = None
    columns: int | None = None
    n_frames: int | None = None
    units: str | None = None
    folder: str
    quantitation: str | None = None
    ready: bool = False
    reasons: list[str] = Field(default_factory=list)


def _assess_geometry(items) -> list[str]:
    try:
        refuse_multiframe(items[0][1], items[0][0])
        if int(items[0][1].get("NumberOfFrames", 1) or 1) == 1:
            sort_and_check(items)
    except InvalidInputError as exc:
        return [exc.message]
    return []


def discover(path: str | Path) -> tuple[list[SeriesInfo], list[tuple[str, str]]]:
    """Find every DICOM series under ``path``.

    Returns
    -------
    (series, skipped)
        One :class:`SeriesInfo` per SeriesInstanceUID (sorted by modality then description), and
        ``(file, reason)`` for every file that was skipped (not DICOM, no series UID).
    """
    found = scan(path, with_pixels=False)
    out: list[SeriesInfo] = []
    for uid, items in found.series.items():
        f0, d0 = items[0]
        mod = str(d0.get("Modality", "") or "")
        folders = {str(f.parent) for f, _ in items}
        info = SeriesInfo(
            series_instance_uid=uid, study_instance_uid=str(d0.get("StudyInstanceUID", "") or ""),
            modality=mod, sop_class_uid=str(d0.get("SOPClassUID", "") or ""),
            description=str(d0.get("SeriesDescription", "") or ""),
            manufacturer=str(d0.get("Manufacturer", "") or ""), n_files=len(items),
            rows=int(d0.Rows) if "Rows" in d0 else None,
            columns=int(d0.Columns) if "Columns" in d0 else None,
            n_frames=(int(d0.get("NumberOfFrames", 1) or 1) if len(items) == 1 else len(items)),
            units=str(d0.get("Units", "") or "") or None,
            folder=folders.pop() if len(folders) == 1 else str(Path(path)),
        )
        if mod == "PT":
            ready, reasons, _ = assess_pet_headers(items)
            info.quantitation = "SUV" if ready else None
            info.ready, info.reasons = ready, reasons
        elif mod == "CT":
            reasons = _assess_geometry(items)
            info.quantitation = "HU" if not reasons else None
            info.ready, info.reasons = not reasons, reasons
        elif mod == "NM":
            reasons = _assess_geometry(items)
            if (info.units or "").upper() == "BQML":
                info.quantitation = "Bq/mL"
                info.ready = not reasons
            else:
                info.quantitation = "counts"
                info.ready = False
                reasons.append("counts: needs a calibration factor (cps/MBq) to give Bq/mL")
            info.reasons = reasons
        elif mod in _IMAGE_MODALITIES:
            info.reasons = [f"modality {mod} is not quantified by theranostix"]
        else:
            info.reasons = [f"non-image object ({mod or 'no modality'})"]
        out.append(info)
    out.sort(key=lambda s: (s.modality, s.description, s.series_instance_uid))
    return out, [(str(f), why) for f, why in found.skipped]

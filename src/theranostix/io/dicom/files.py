"""Finding DICOM files in a folder tree and grouping them into series."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from theranostix.core.errors import InvalidInputError


@dataclass
class FileScan:
    """Result of scanning a path: DICOM headers grouped by series, and the files skipped."""

    series: dict[str, list[tuple[Path, Dataset]]] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def iter_files(path: str | Path) -> list[Path]:
    """All regular files under ``path`` (or ``[path]`` for a file), sorted, hidden files skipped."""
    p = Path(path)
    if not p.exists():
        raise InvalidInputError("path does not exist", where=p, fix="check the path.")
    if p.is_file():
        return [p]
    files = sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
    if not files:
        raise InvalidInputError("folder contains no files", where=p)
    return files


def read_header(path: Path) -> Dataset | None:
    """Read a DICOM header without pixel data; ``None`` if the file is not DICOM."""
    try:
        return pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, EOFError, OSError, ValueError, TypeError, AttributeError):
        return None


def scan(path: str | Path, with_pixels: bool = False) -> FileScan:
    """Read every file under ``path`` and group DICOM datasets by SeriesInstanceUID.

    Parameters
    ----------
    path
        A file or folder (searched recursively).
    with_pixels
        Read pixel data as well (one pass for loaders); headers only otherwise (discovery).
    """
    out = FileScan()
    groups: dict[str, list[tuple[Path, Dataset]]] = defaultdict(list)
    for f in iter_files(path):
        try:
            ds = pydicom.dcmread(f, stop_before_pixels=not with_pixels)
        except (InvalidDicomError, EOFError, OSError, ValueError, TypeError, AttributeError) as exc:
            out.skipped.append((f, f"not a readable DICOM file ({type(exc).__name__})"))
            continue
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        if not uid:
            out.skipped.append((f, "DICOM file without SeriesInstanceUID (0020,000E)"))
            continue
        groups[uid].append((f, ds))
    out.series = dict(groups)
    return out


def select_series(path: str | Path, modality: str | tuple[str, ...], series_uid: str | None = None,
                  with_pixels: bool = True, label: str | None = None):
    """Pick one series of the given modality under ``path`` (refusing ambiguity).

    Returns ``(series_uid, [(file, dataset), ...], skipped files)``. ``label`` names the kind of
    series in messages (e.g. ``"PET"``); default: the modality codes.
    """
    mods = (modality,) if isinstance(modality, str) else modality
    what = label or "/".join(mods)
    found = scan(path, with_pixels=with_pixels)
    cands = {u: it for u, it in found.series.items() if str(it[0][1].get("Modality", "")) in mods}
    if series_uid is not None:
        if series_uid not in cands:
            raise InvalidInputError(f"series {series_uid} is not a {what} series (Modality {'/'.join(mods)})"
                                    if series_uid in found.series else f"series {series_uid} not found", where=path)
        return series_uid, cands[series_uid], found.skipped
    if not cands:
        others = sorted({str(it[0][1].get("Modality", "?")) for it in found.series.values()})
        raise InvalidInputError(
            f"no {what} series (Modality {'/'.join(mods)}) found" + (f"; found {', '.join(others)}" if others else ""),
            where=path, fix=f"point at the {what} series folder.")
    if len(cands) > 1:
        desc = "; ".join(f"{u} ({it[0][1].get('SeriesDescription', '')}, {len(it)} files)" for u, it in cands.items())
        raise InvalidInputError(f"{len(cands)} {what} series found: {desc}", where=path,
                                fix="point at one series folder or pass series_uid.")
    uid = next(iter(cands))
    return uid, cands[uid], found.skipped

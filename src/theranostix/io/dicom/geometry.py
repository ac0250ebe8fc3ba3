"""Slice geometry of single-frame DICOM series: sorting, spacing, orientation checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from theranostix.core.errors import InvalidInputError

Vec3 = tuple[float, float, float]


def _floats(ds: Dataset, keyword: str, n: int, where: Path) -> np.ndarray:
    v = ds.get(keyword)
    if v is None or len(v) != n:
        raise InvalidInputError(
            f"missing or malformed {keyword}", where=f"{where} {keyword}",
            fix="the series must have per-slice geometry (ImagePositionPatient, "
                "ImageOrientationPatient, PixelSpacing).",
        )
    return np.asarray([float(x) for x in v], dtype=float)


def sort_and_check(items: list[tuple[Path, Dataset]], tol_mm: float = 0.01
                   ) -> tuple[list[tuple[Path, Dataset]], Vec3, Vec3, tuple[float, ...]]:
    """Sort slices along the slice normal and derive the volume geometry.

    Returns
    -------
    items, spacing (i, j, k) mm, origin (LPS mm of the first sorted slice's first voxel),
    direction (row-major 3x3, columns = i, j, k axes).

    Raises
    ------
    InvalidInputError
        Mixed orientations, sizes or pixel spacings; duplicate slice positions (dynamic/gated data);
        uneven slice spacing; fewer than two slices.
    """
    if len(items) < 2:
        raise InvalidInputError(
            f"a volume needs at least 2 slices, found {len(items)}", where=items[0][0] if items else None,
        )
    f0, d0 = items[0]
    iop = _floats(d0, "ImageOrientationPatient", 6, f0)
    ps = _floats(d0, "PixelSpacing", 2, f0)
    rows, cols = int(d0.Rows), int(d0.Columns)
    row_cos, col_cos = iop[:3], iop[3:]
    normal = np.cross(row_cos, col_cos)
    if not np.isclose(np.linalg.norm(normal), 1.0, atol=1e-3):
        raise InvalidInputError("ImageOrientationPatient is not two orthonormal vectors",
                                where=f"{f0} ImageOrientationPatient (0020,0037)")
    positions = []
    for f, ds in items:
        if not np.allclose(_floats(ds, "ImageOrientationPatient", 6, f), iop, atol=1e-4):
            raise InvalidInputError(
                "mixed series: slices with different ImageOrientationPatient",
                where=f"{f} (0020,0037)", fix="point at a folder holding one series only.")
        if int(ds.Rows) != rows or int(ds.Columns) != cols:
            raise InvalidInputError("mixed series: slices with different Rows/Columns",
                                    where=f"{f} (0028,0010/0011)")
        if not np.allclose(_floats(ds, "PixelSpacing", 2, f), ps, atol=1e-4):
            raise InvalidInputError("mixed series: slices with different PixelSpacing",
                                    where=f"{f} (0028,0030)")
        positions.append(_floats(ds, "ImagePositionPatient", 3, f))
    pos = np.asarray(positions)
    dist = pos @ normal
    order = np.argsort(dist, kind="stable")
    dist = dist[order]
    gaps = np.diff(dist)
    if np.any(gaps < tol_mm):
        k = int(np.argmin(gaps))
        raise InvalidInputError(
            "two or more slices share one position (dynamic, gated or duplicated data)",
            where=f"{items[order[k]][0]} and {items[order[k + 1]][0]} ImagePositionPatient",
            fix="split the frames into separate series; dynamic/gated PET is not supported yet.")
    dz = float(np.median(gaps))
    if np.max(np.abs(gaps - dz)) > max(tol_mm, 0.01 * dz):
        raise InvalidInputError(
            f"uneven slice spacing ({gaps.min():.3f}–{gaps.max():.3f} mm): missing slices?",
            where=f"{f0.parent}", fix="make sure every slice of the series is present.")
    items = [items[i] for i in order]
    origin = tuple(float(x) for x in pos[order[0]])
    direction = tuple(float(x) for x in np.column_stack([row_cos, col_cos, normal]).ravel())
    spacing = (float(ps[1]), float(ps[0]), dz)
    return items, spacing, origin, direction  # type: ignore[return-value]


def refuse_multiframe(ds: Dataset, where: Path) -> None:
    """Refuse Enhanced / Legacy Converted Enhanced multi-frame images we do not parse properly."""
    enhanced = {
        "1.2.840.10008.5.1.4.1.1.130": "Enhanced PET Image Storage",
        "1.2.840.10008.5.1.4.1.1.128.1": "Legacy Converted Enhanced PET Image Storage",
        "1.2.840.10008.5.1.4.1.1.2.1": "Enhanced CT Image Storage",
        "1.2.840.10008.5.1.4.1.1.2.2": "Legacy Converted Enhanced CT Image Storage",
    }
    sop = str(ds.get("SOPClassUID", ""))
    if sop in enhanced:
        raise InvalidInputError(
            f"{enhanced[sop]} (multi-frame) is not supported",
            where=f"{where} SOPClassUID (0008,0016)",
            fix="export the series as classic single-frame images (one file per slice).")
    if int(ds.get("NumberOfFrames", 1) or 1) > 1 and str(ds.get("Modality", "")) in ("PT", "CT"):
        raise InvalidInputError(
            "multi-frame PET/CT files are not supported", where=f"{where} NumberOfFrames (0028,0008)",
            fix="export the series as single-frame images.")

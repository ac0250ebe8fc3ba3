"""CT series in Hounsfield units."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from theranostix.core import units as U
from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.io.dicom.files import select_series
from theranostix.io.dicom.geometry import refuse_multiframe, sort_and_check


def load_ct(path: str | Path, series_uid: str | None = None) -> Image:
    """Read a CT series as a float32 Image in HU (RescaleSlope/Intercept applied per slice)."""
    uid, items, _ = select_series(path, "CT", series_uid)
    refuse_multiframe(items[0][1], items[0][0])
    items, spacing, origin, direction = sort_and_check(items)
    d0 = items[0][1]
    arr = np.empty((len(items), int(d0.Rows), int(d0.Columns)), dtype=np.float32)
    for k, (f, ds) in enumerate(items):
        rtype = str(ds.get("RescaleType", "HU") or "HU").upper()
        if rtype not in ("HU", "US"):
            raise InvalidInputError(f"RescaleType {rtype!r} is not HU", where=f"{f} RescaleType (0028,1054)")
        try:
            px = ds.pixel_array
        except Exception as exc:
            raise InvalidInputError(f"cannot decode pixel data ({exc})", where=f"{f} PixelData") from exc
        slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
        icpt = float(ds.get("RescaleIntercept", 0.0) or 0.0)
        np.multiply(px, np.float32(slope), out=arr[k], casting="unsafe")
        arr[k] += np.float32(icpt)
    return Image(array=arr, spacing=spacing, origin=origin, direction=direction, units=U.HU,
                 frame_of_reference_uid=str(d0.get("FrameOfReferenceUID", "") or "") or None,
                 metadata={"modality": "CT", "series_instance_uid": uid,
                           "study_instance_uid": str(d0.get("StudyInstanceUID", ""))})

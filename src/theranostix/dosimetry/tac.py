"""Time-activity curves (TAC) of regions, and their extraction from registered images.

A :class:`TimeActivityCurve` holds the activity of one region (organ, lesion, blood) at a few
times after administration. :func:`tac_from_images` builds one curve per region from a list of
quantitative images (Bq/mL) that are already registered to a common grid.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.units import BQML


def _check_list(name: str, values: list[float], *, allow_negative: bool = False) -> None:
    for i, v in enumerate(values):
        if v is None or not math.isfinite(v):
            raise InvalidInputError(
                f"value {i} ({v!r}) is not a finite number", where=name,
                fix="remove or correct the missing/NaN measurement.",
            )
        if not allow_negative and v < 0:
            raise InvalidInputError(f"value {i} ({v}) is negative", where=name,
                                    fix="activities, times and uncertainties must be >= 0.")


class TimeActivityCurve(BaseModel):
    """Activity of one region over time.

    Attributes
    ----------
    times_h
        Times after the start of administration, in hours, strictly increasing, >= 0.
    activities_mbq
        Activity in the region at each time, in MBq (>= 0, finite).
    uncertainties_mbq
        Optional standard uncertainty of each activity, in MBq (> 0). When given, fits are weighted
        by ``1/u^2`` and the parameter covariance is absolute.
    region
        Name of the region (e.g. ``"kidney_left"``).

    Raises
    ------
    InvalidInputError
        On mismatched lengths, NaN/inf, negative values, or times that are not strictly increasing.
    """

    model_config = ConfigDict(frozen=True)

    times_h: list[float]
    activities_mbq: list[float]
    uncertainties_mbq: list[float] | None = None
    region: str = "region"

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        self._validate()

    def _validate(self) -> None:
        where = f"time-activity curve {self.region!r}"
        n = len(self.times_h)
        if n == 0:
            raise InvalidInputError("no time points", where=where)
        if len(self.activities_mbq) != n:
            raise InvalidInputError(
                f"{n} times but {len(self.activities_mbq)} activities", where=where,
                fix="give one activity per time point.",
            )
        if self.uncertainties_mbq is not None and len(self.uncertainties_mbq) != n:
            raise InvalidInputError(
                f"{n} times but {len(self.uncertainties_mbq)} uncertainties", where=where,
                fix="give one uncertainty per time point.",
            )
        _check_list(f"{where} times_h", self.times_h)
        _check_list(f"{where} activities_mbq", self.activities_mbq)
        if self.uncertainties_mbq is not None:
            _check_list(f"{where} uncertainties_mbq", self.uncertainties_mbq)
            if any(u <= 0 for u in self.uncertainties_mbq):
                raise InvalidInputError("uncertainties must be > 0", where=where,
                                        fix="omit uncertainties to use a relative-error model.")
        if any(b <= a for a, b in zip(self.times_h, self.times_h[1:])):
            raise InvalidInputError(
                f"times must be strictly increasing, got {self.times_h}", where=where,
                fix="sort the time points and merge duplicates.",
            )

    @property
    def n_points(self) -> int:
        """Number of time points."""
        return len(self.times_h)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(times_h, activities_mbq, uncertainties_mbq or None) as float arrays."""
        u = None if self.uncertainties_mbq is None else np.asarray(self.uncertainties_mbq, float)
        return np.asarray(self.times_h, float), np.asarray(self.activities_mbq, float), u


def tac_from_images(
    images: list[Image],
    times_h: list[float],
    masks: dict[str, np.ndarray],
) -> dict[str, TimeActivityCurve]:
    """Time-activity curves of masked regions from registered quantitative images.

    Activity of a region at time *t* = sum over the mask of (Bq/mL) x voxel volume (mL), in MBq.
    The images must already be registered and resampled to one grid (the masks' grid).

    Parameters
    ----------
    images
        One image per time point, units ``"Bq/mL"``, all on the same grid.
    times_h
        Time of each image after administration, hours.
    masks
        Region name -> boolean array of the images' shape ``(nz, ny, nx)``.

    Returns
    -------
    dict[str, TimeActivityCurve]
        One curve per region (no uncertainties: counting statistics are not modelled here).

    Raises
    ------
    InvalidInputError
        Mismatched counts, units other than Bq/mL, different grids, masks of another shape or
        type, empty masks.
    """
    if len(images) == 0:
        raise InvalidInputError("no images given", where="tac_from_images")
    if len(images) != len(times_h):
        raise InvalidInputError(f"{len(images)} images but {len(times_h)} times",
                                where="tac_from_images", fix="give one time per image.")
    if not masks:
        raise InvalidInputError("no masks given", where="tac_from_images")
    ref = images[0]
    for n, img in enumerate(images):
        if img.units != BQML:
            raise InvalidInputError(f"image {n} is in {img.units!r}, not Bq/mL",
                                    where="tac_from_images",
                                    fix="convert SPECT/PET to activity concentration first.")
        if not img.same_grid(ref):
            raise InvalidInputError(f"image {n} is not on the grid of image 0",
                                    where="tac_from_images",
                                    fix="register and resample all time points to one grid.")
    out: dict[str, TimeActivityCurve] = {}
    for name, mask in masks.items():
        m = np.asarray(mask)
        if m.dtype != bool:
            raise InvalidInputError(f"mask {name!r} has dtype {m.dtype}, not bool",
                                    where="tac_from_images", fix="pass mask arrays as bool.")
        if m.shape != ref.shape:
            raise InvalidInputError(f"mask {name!r} has shape {m.shape}, images {ref.shape}",
                                    where="tac_from_images")
        if not m.any():
            raise InvalidInputError(f"mask {name!r} is empty", where="tac_from_images")
        acts = [float(np.sum(img.array[m], dtype=np.float64) * img.voxel_volume_ml * 1e-6)
                for img in images]
        out[name] = TimeActivityCurve(times_h=list(map(float, times_h)),
                                      activities_mbq=acts, region=name)
    return out

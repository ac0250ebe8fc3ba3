"""Dose-volume histograms (DVH) and dose-volume metrics of a region.

Definitions (every voxel in the mask has the same volume)
---------------------------------------------------------
- Cumulative DVH V(D): fraction (and volume, mL) of the region receiving a dose >= D.
- Differential DVH: volume (mL) per dose bin of width ``bin_width_gy``.
- D_x (e.g. D2, D50, D98): the minimum dose received by the hottest x % of the volume, i.e. the
  (100 - x)-th percentile of voxel doses, linearly interpolated between voxel values
  (``numpy.quantile``, method "linear"). D98 is a near-minimum, D2 a near-maximum (ICRU 83).
- V_x: fraction of the region volume receiving >= x Gy (computed on voxel values, not on bins).
- Dmean, Dmin, Dmax: mean, minimum, maximum of voxel doses.

Reference: ICRU Report 83 (2010), section 3.7 (D_near-max = D2 %, D_near-min = D98 %, median D50 %).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from pydantic import BaseModel

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance


class DVHResult(BaseModel):
    """DVH of one region: histogram and metrics (doses in Gy, volumes in mL)."""

    region: str
    n_voxels: int
    volume_ml: float
    bin_edges_gy: list[float]
    differential_volume_ml: list[float]
    cumulative_fraction: list[float]
    d_mean_gy: float
    d_min_gy: float
    d_max_gy: float
    d_percent_gy: dict[str, float]
    v_gy_fraction: dict[str, float]
    provenance: Provenance

    def dose_at_volume(self, percent: float) -> float:
        """D_x for a percent already computed (e.g. 2, 50, 98)."""
        return self.d_percent_gy[f"D{percent:g}"]


def dose_at_percent(doses_gy: np.ndarray, percent: float) -> float:
    """D_x: minimum dose to the hottest ``percent`` % of equal-volume voxels (Gy)."""
    if not 0 <= percent <= 100:
        raise InvalidInputError(f"percent must lie in [0, 100], got {percent}", where="D_x")
    return float(np.quantile(np.asarray(doses_gy, float), 1.0 - percent / 100.0))


def compute_dvh(
    dose_gy: np.ndarray,
    mask: np.ndarray,
    voxel_volume_ml: float,
    *,
    region: str = "region",
    bin_width_gy: float | None = None,
    d_percents: Sequence[float] = (2.0, 50.0, 98.0),
    v_thresholds_gy: Sequence[float] = (),
) -> DVHResult:
    """DVH and metrics of the voxels of ``dose_gy`` inside ``mask``.

    Parameters
    ----------
    dose_gy
        Dose array (any shape), Gy.
    mask
        Boolean array of the same shape.
    voxel_volume_ml
        Volume of one voxel, mL.
    bin_width_gy
        Histogram bin width; default: Dmax/200 (or 1e-6 Gy for an all-zero region).
    d_percents
        Percentages x for D_x.
    v_thresholds_gy
        Doses x (Gy) for V_x.

    Raises
    ------
    InvalidInputError
        Shape/type mismatch, empty mask, NaN or negative doses, non-positive voxel volume or bin.
    """
    d = np.asarray(dose_gy)
    m = np.asarray(mask)
    if m.dtype != bool:
        raise InvalidInputError(f"mask dtype is {m.dtype}, not bool", where=f"DVH {region}")
    if m.shape != d.shape:
        raise InvalidInputError(f"mask shape {m.shape} != dose shape {d.shape}",
                                where=f"DVH {region}")
    if not (np.isfinite(voxel_volume_ml) and voxel_volume_ml > 0):
        raise InvalidInputError(f"voxel volume must be > 0 mL, got {voxel_volume_ml}",
                                where=f"DVH {region}")
    v = d[m].astype(float)
    if v.size == 0:
        raise InvalidInputError("mask is empty", where=f"DVH {region}")
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise InvalidInputError("dose has NaN/inf or negative values in the region",
                                where=f"DVH {region}")
    dmax = float(v.max())
    width = bin_width_gy if bin_width_gy is not None else (dmax / 200.0 if dmax > 0 else 1e-6)
    if not (np.isfinite(width) and width > 0):
        raise InvalidInputError(f"bin width must be > 0 Gy, got {width}", where=f"DVH {region}")
    nbins = int(np.floor(dmax / width)) + 1
    edges = np.arange(nbins + 1) * width
    counts, _ = np.histogram(v, bins=edges)
    # cumulative fraction >= lower edge of each bin, plus the final edge
    cum = np.concatenate([np.cumsum(counts[::-1])[::-1], [0]]) / v.size
    d_pct = {f"D{p:g}": dose_at_percent(v, p) for p in d_percents}
    v_frac = {f"V{x:g}": float(np.mean(v >= x)) for x in v_thresholds_gy}
    prov = Provenance(parameters={"bin_width_gy": width, "voxel_volume_ml": voxel_volume_ml,
                                  "D_x": "(100-x) percentile, linear interpolation"})
    return DVHResult(region=region, n_voxels=int(v.size), volume_ml=float(v.size * voxel_volume_ml),
                     bin_edges_gy=edges.tolist(),
                     differential_volume_ml=(counts * voxel_volume_ml).astype(float).tolist(),
                     cumulative_fraction=cum.tolist(), d_mean_gy=float(v.mean()),
                     d_min_gy=float(v.min()), d_max_gy=dmax, d_percent_gy=d_pct,
                     v_gy_fraction=v_frac, provenance=prov)

"""Follow-up reference VOI placed at the baseline VOI location carried through the registration.

PERCIST 1.0 (Wahl et al., J Nucl Med 2009;50 Suppl 1:122S, "Practical PERCIST", O JH et al.,
JAMA Oncol 2016 / PMC4976461) asks for the liver reference (3 cm sphere, normal right lobe) to
be measured in the *same region* on every scan, and checks that its SULmean agrees within 20 %
and < 0.3 SUL. A reader places the follow-up VOI where the baseline VOI was. Placing it
independently on each scan (at the deepest point of an automatically found liver) moves it
between scans; the liver's own heterogeneity then appears as a change of the reference.

:func:`carry_reference_voi` places a sphere of the baseline VOI's diameter at the baseline centre
mapped into the follow-up frame (``baseline_to_followup`` of the registration, or the identity
when the studies share a frame of reference) and measures the follow-up SUV there with the same
voxel rule as :mod:`theranostix.pet.reference_regions` (voxel centres inside the sphere; mean,
SD with ddof = 1, max). It refuses (returns ``None`` with the reason; the caller then keeps the
automatic follow-up VOI and records that in provenance) when

* the baseline region has no centre or was not found,
* the carried sphere is not wholly inside the follow-up image,
* the follow-up organ map is given and less than ``min_inside_fraction`` of the sphere lies in
  the organ (the organ moved, or the registration is off there),
* a follow-up lesion lies in the sphere (the "normal liver" is no longer normal there).

Pure: images and dicts in, a dict out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from theranostix.core.image import Image

__all__ = ["carry_reference_voi", "MIN_INSIDE_FRACTION", "REFERENCE_SPHERE_DIAMETER_MM"]

#: Sphere diameters (mm) of the reference VOIs of PERCIST 1.0 (liver 3 cm; Wahl 2009) and the
#: spleen sphere of :mod:`theranostix.pet.reference_regions` (no standard).
REFERENCE_SPHERE_DIAMETER_MM: dict[str, float] = {"liver": 30.0, "spleen": 20.0}
#: Fraction of the carried sphere that must lie in the follow-up organ mask (ASSUMED: a sphere
#: partly outside the organ mixes in background; 0.9 tolerates one voxel layer of mask mismatch).
MIN_INSIDE_FRACTION: float = 0.9


def carry_reference_voi(
    region: dict[str, Any] | None,
    followup_suv: Image,
    *,
    name: str = "liver",
    baseline_to_followup: Callable[[np.ndarray], np.ndarray] | None = None,
    followup_organs: Image | None = None,
    organ_labels: Sequence[int] = (),
    followup_lesion_labels: Image | None = None,
    diameter_mm: float | None = None,
    min_inside_fraction: float = MIN_INSIDE_FRACTION,
) -> tuple[dict[str, Any] | None, str]:
    """Measure a follow-up reference region at the baseline VOI location.

    Parameters
    ----------
    region
        The baseline reference-region dict (``AnalysisResult.reference_regions[name]``) with
        ``centre_mm`` (LPS, mm).
    followup_suv
        Follow-up SUV image.
    name
        Region name (``"liver"``, ``"spleen"``), for the default diameter and the texts.
    baseline_to_followup
        Maps baseline LPS points (N, 3) to follow-up LPS points; ``None`` = same frame.
    followup_organs, organ_labels
        Optional follow-up organ label map (any grid) and the labels of this organ in it.
    followup_lesion_labels
        Optional follow-up lesion label map; a lesion voxel in the sphere refuses the VOI.
    diameter_mm
        Sphere diameter (mm); default ``REFERENCE_SPHERE_DIAMETER_MM[name]``.
    min_inside_fraction
        Smallest fraction of the sphere that must lie in the organ mask (when given).

    Returns
    -------
    (dict | None, str)
        The follow-up region dict (``found``, ``mean``, ``sd``, ``max``, ``volume_ml``,
        ``method="baseline_voi_carried"``, ``centre_mm``) or ``None``, and the reason/description.
    """
    if not region or not region.get("found", True) or region.get("centre_mm") is None:
        return None, f"baseline {name} VOI has no centre"
    d = float(diameter_mm if diameter_mm is not None else REFERENCE_SPHERE_DIAMETER_MM.get(name, 30.0))
    c_b = np.asarray(region["centre_mm"], dtype=float).reshape(1, 3)
    c_f = c_b if baseline_to_followup is None else np.asarray(baseline_to_followup(c_b), dtype=float)
    c_f = c_f.reshape(3)
    mask = _sphere(followup_suv, c_f, d / 2.0)
    if mask is None:
        return None, f"carried {name} VOI lies (partly) outside the follow-up image"
    if followup_organs is not None and len(organ_labels):
        lab = _on_grid(followup_organs, followup_suv)
        inside = float(np.isin(lab[mask], list(organ_labels)).mean())
        if inside < min_inside_fraction:
            return None, (f"only {100 * inside:.0f} % of the carried {name} VOI lies in the follow-up "
                          f"{name} mask (< {100 * min_inside_fraction:.0f} %)")
    if followup_lesion_labels is not None:
        les = _on_grid(followup_lesion_labels, followup_suv)
        if np.any(les[mask] > 0):
            return None, f"a follow-up lesion lies in the carried {name} VOI"
    vals = np.asarray(followup_suv.array, dtype=float)[mask]
    out = {"found": True, "mean": float(vals.mean()),
           "sd": float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
           "max": float(vals.max()), "volume_ml": float(vals.size * followup_suv.voxel_volume_ml),
           "method": "baseline_voi_carried", "reason": None,
           "centre_mm": [float(v) for v in c_f]}
    how = "through the registration" if baseline_to_followup is not None else "in the shared frame"
    return out, (f"follow-up {name} VOI ({d:g} mm sphere) at the baseline VOI location carried {how}: "
                 f"centre {tuple(round(float(v), 1) for v in c_f)} mm")


def _sphere(image: Image, centre_lps_mm: np.ndarray, radius_mm: float) -> np.ndarray | None:
    """Voxels whose centres lie within ``radius_mm`` of a point; None when it leaves the image."""
    shape = image.shape
    c = np.asarray(image.world_to_index(centre_lps_mm), dtype=float)  # (i, j, k)
    sp = np.asarray(image.spacing, dtype=float)
    n = np.ceil(radius_mm / sp).astype(int) + 1
    lo = np.floor(c).astype(int) - n
    hi = np.ceil(c).astype(int) + n + 1
    if np.any(lo < 0) or np.any(hi > np.asarray(shape[::-1])):
        return None
    ii, jj, kk = (np.arange(lo[a], hi[a]) for a in range(3))
    pts = np.stack(np.meshgrid(kk, jj, ii, indexing="ij"), axis=-1)[..., ::-1].reshape(-1, 3)
    world = np.asarray(image.index_to_world(pts))
    inside = (np.linalg.norm(world - centre_lps_mm[None, :], axis=1) <= radius_mm + 1e-9)
    if not inside.any():
        return None
    mask = np.zeros(shape, dtype=bool)
    sub = inside.reshape(len(kk), len(jj), len(ii))
    mask[kk[0]:kk[-1] + 1, jj[0]:jj[-1] + 1, ii[0]:ii[-1] + 1] = sub
    return mask


def _on_grid(labels: Image, grid: Image) -> np.ndarray:
    if labels.same_grid(grid):
        return np.rint(np.asarray(labels.array)).astype(np.int64)
    from theranostix.core.resample import resample_to

    return np.rint(np.asarray(resample_to(labels, grid, interpolation="nearest").array)).astype(np.int64)

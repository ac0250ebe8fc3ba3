"""Lesion tracking between timepoints: one-to-one matching with splits and merges flagged.

Method
------
Follow-up lesions are mapped into baseline space (by a registration's
``followup_to_baseline``, or identity when the studies share a frame of reference). A pair is a
*candidate* when the centroids are closer than ``max(max_distance_mm, radius_factor x
equivalent radius of the larger lesion)`` or when their masks overlap (if label maps on a common
grid are given). Candidates are assigned one-to-one by the Hungarian algorithm
(``scipy.optimize.linear_sum_assignment``) minimising centroid distance, with overlap preferred
(cost = distance x (1 - Dice)). Unassigned baseline lesions *disappeared*; unassigned follow-up
lesions are *new* — unless they lie within the former extent of an already matched baseline
lesion, in which case the event is flagged as a *split* (one baseline lesion -> several) and, the
other way round, a *merge*. "Within the extent" means the masks overlap (label maps given) or the
centroid lies within the partner's equivalent-sphere radius + ``split_margin_mm`` (PET voxel and
residual misregistration) of the partner's centroid: the pieces of a lesion that breaks up lie where
the lesion was. The wider matching gate is not used for this: with it a new node appearing
10-15 mm from a known one (the usual pattern of nodal spread) was taken for a piece of it and not
counted (PSMA twin pairs 3000, 3029 and 5007 with truth lesion lists; benchmarks/bench_response_notes.md).

Follow-up lesions listed in ``overlap_only`` (the caller's judgement, e.g. "no uptake at this site
at baseline") match only a baseline lesion their mask overlaps, not one merely within the distance
gate: a hot node appearing 10-14 mm from a known node that stays or fades is a new lesion, not the
known one moved (measured on 160 PSMA twin pairs: every one of 1026 correct matches overlapped
its partner; the two matches of a new lesion to a known one did not).

Per matched pair the relative changes of volume, SUVmax and SUVpeak are reported, and a display
trend: ``growing`` (volume change >= ``grow_fraction``), ``shrinking`` (<= ``-shrink_fraction``),
else ``stable``. These trends are descriptive; response categories come from
:mod:`theranostix.response.criteria`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from scipy.optimize import linear_sum_assignment

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.pet.scores import check_value

#: Default distance gate (mm) between centroids in baseline space.
MAX_DISTANCE_MM = 15.0
#: The gate widens to this multiple of the equivalent-sphere radius for large lesions.
RADIUS_FACTOR = 1.5
#: Margin (mm) added to the partner's equivalent radius when deciding a split or merge.
SPLIT_MARGIN_MM = 4.0
GROW_FRACTION = 0.2
SHRINK_FRACTION = 0.3


#: Flag prefixes of the unmatched fragments of a split (follow-up side) and a merge (baseline side):
#: they are listed as "new" / "disappeared" but belong to a matched lesion.
SPLIT_FROM = "split from"
MERGED_INTO = "merged into"

class LesionObservation(BaseModel):
    """A lesion as seen at one timepoint (the fields tracking needs)."""

    lesion_id: int
    centroid_mm: tuple[float, float, float]
    volume_ml: float = Field(ge=0)
    suv_max: float | None = None
    suv_peak: float | None = None


class LesionMatch(BaseModel):
    """One tracking event."""

    status: str  # matched | new | disappeared
    trend: str | None = None  # growing | shrinking | stable (matched only)
    baseline_id: int | None = None
    followup_id: int | None = None
    distance_mm: float | None = None
    dice: float | None = None
    volume_change: float | None = None  # relative, (fu - bl) / bl
    suv_max_change: float | None = None
    suv_peak_change: float | None = None
    flags: list[str] = Field(default_factory=list)  # split / merge notes


class TrackingResult(BaseModel):
    """All tracking events between a baseline and a follow-up."""

    matches: list[LesionMatch]
    n_matched: int
    n_new: int
    n_disappeared: int
    splits: list[dict[str, Any]] = Field(default_factory=list)
    merges: list[dict[str, Any]] = Field(default_factory=list)
    provenance: Provenance = Field(default_factory=Provenance)

    def match_of_baseline(self, baseline_id: int) -> LesionMatch | None:
        """The event of a baseline lesion."""
        return next((m for m in self.matches if m.baseline_id == baseline_id), None)


def _as_obs(x: Any) -> LesionObservation:
    if isinstance(x, LesionObservation):
        return x
    if isinstance(x, dict):
        return LesionObservation(**x)
    get = lambda *names: next((getattr(x, n) for n in names if getattr(x, n, None) is not None), None)  # noqa: E731
    return LesionObservation(lesion_id=int(get("lesion_id", "id")),
                             centroid_mm=tuple(get("centroid_mm", "centre_mm")),
                             volume_ml=float(get("volume_ml") or 0.0), suv_max=get("suv_max", "suvmax"),
                             suv_peak=get("suv_peak", "suvpeak"))


def _rel(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or a == 0:
        return None
    return (b - a) / a


def _dice_matrix(bl_labels: np.ndarray, fu_labels: np.ndarray, bl_ids: list[int], fu_ids: list[int]) -> np.ndarray:
    if bl_labels.shape != fu_labels.shape:
        raise InvalidInputError(
            f"label maps differ in shape {bl_labels.shape} vs {fu_labels.shape}",
            where="tracking label maps", fix="resample the follow-up labels onto the baseline grid first.")
    both = (bl_labels > 0) & (fu_labels > 0)
    pairs, counts = np.unique(np.stack([bl_labels[both], fu_labels[both]]), axis=1, return_counts=True)
    bl_n = dict(zip(*np.unique(bl_labels[bl_labels > 0], return_counts=True)))
    fu_n = dict(zip(*np.unique(fu_labels[fu_labels > 0], return_counts=True)))
    d = np.zeros((len(bl_ids), len(fu_ids)))
    bi = {v: i for i, v in enumerate(bl_ids)}
    fi = {v: i for i, v in enumerate(fu_ids)}
    for (b, f), c in zip(pairs.T, counts):
        if int(b) in bi and int(f) in fi:
            d[bi[int(b)], fi[int(f)]] = 2.0 * c / (bl_n[b] + fu_n[f])
    return d


def track_lesions(baseline: Sequence[Any], followup: Sequence[Any], *,
                  followup_to_baseline: Callable[[np.ndarray], np.ndarray] | None = None,
                  baseline_labels: np.ndarray | None = None, followup_labels_on_baseline: np.ndarray | None = None,
                  max_distance_mm: float = MAX_DISTANCE_MM, radius_factor: float = RADIUS_FACTOR,
                  split_margin_mm: float = SPLIT_MARGIN_MM, overlap_only: Collection[int] = (),
                  grow_fraction: float = GROW_FRACTION, shrink_fraction: float = SHRINK_FRACTION) -> TrackingResult:
    """Match lesions between a baseline and a follow-up study.

    Parameters
    ----------
    baseline, followup
        Lesions (:class:`LesionObservation`, dicts, or objects with ``lesion_id``, ``centroid_mm``,
        ``volume_ml``, ``suv_max``, ``suv_peak``). Follow-up centroids are in follow-up space.
    followup_to_baseline
        Maps (N, 3) follow-up LPS points into baseline space (e.g.
        ``RegistrationResult.followup_to_baseline``); identity when ``None``.
    baseline_labels, followup_labels_on_baseline
        Optional lesion-id label maps on the *same* (baseline) grid, for overlap.
    max_distance_mm, radius_factor
        Distance gate (see module docstring).
    split_margin_mm
        An unmatched lesion is a piece of a matched one (split / merge) when their masks overlap or
        its centroid lies within the matched lesion's equivalent radius + this margin (mm).
    overlap_only
        Follow-up lesion ids that may match only a baseline lesion their mask overlaps (needs the
        label maps; refused without them, since no lesion of the list could then match).
    """
    bl = [_as_obs(x) for x in baseline]
    fu = [_as_obs(x) for x in followup]
    for group, name in ((bl, "baseline"), (fu, "follow-up")):
        ids = [o.lesion_id for o in group]
        if len(set(ids)) != len(ids):
            raise InvalidInputError(f"duplicate lesion ids in the {name} list", where=f"{name} lesions")
    check_value(split_margin_mm, "split_margin_mm", fix="give a distance >= 0 mm")
    overlap_only = {int(i) for i in overlap_only}
    if overlap_only and (baseline_labels is None or followup_labels_on_baseline is None):
        raise InvalidInputError("overlap_only needs both label maps on the baseline grid",
                                where="track_lesions(overlap_only)",
                                fix="give baseline_labels and followup_labels_on_baseline, or no overlap_only")
    prov = Provenance(parameters={"max_distance_mm": max_distance_mm, "radius_factor": radius_factor,
                                  "split_margin_mm": split_margin_mm,
                                  "grow_fraction": grow_fraction, "shrink_fraction": shrink_fraction,
                                  "overlap": baseline_labels is not None,
                                  "overlap_only": sorted(overlap_only)})
    if not bl or not fu:
        matches = [LesionMatch(status="disappeared", baseline_id=o.lesion_id) for o in bl] + \
                  [LesionMatch(status="new", followup_id=o.lesion_id) for o in fu]
        return TrackingResult(matches=matches, n_matched=0, n_new=len(fu), n_disappeared=len(bl), provenance=prov)

    b_xyz = np.asarray([o.centroid_mm for o in bl], dtype=float)
    f_xyz = np.asarray([o.centroid_mm for o in fu], dtype=float)
    if followup_to_baseline is not None:
        f_xyz = np.asarray(followup_to_baseline(f_xyz), dtype=float).reshape(-1, 3)
    dist = np.linalg.norm(b_xyz[:, None, :] - f_xyz[None, :, :], axis=2)
    r_eq = lambda v: (3.0 * v * 1000.0 / (4.0 * np.pi)) ** (1.0 / 3.0)  # noqa: E731  mL -> mm
    rb = np.asarray([r_eq(o.volume_ml) for o in bl])
    rf = np.asarray([r_eq(o.volume_ml) for o in fu])
    gate = np.maximum(max_distance_mm, radius_factor * np.maximum(rb[:, None], rf[None, :]))
    dice = np.zeros_like(dist)
    if baseline_labels is not None and followup_labels_on_baseline is not None:
        dice = _dice_matrix(np.asarray(baseline_labels), np.asarray(followup_labels_on_baseline),
                            [o.lesion_id for o in bl], [o.lesion_id for o in fu])
    by_distance = dist <= gate
    by_distance[:, [c for c, o in enumerate(fu) if o.lesion_id in overlap_only]] = False
    candidate = by_distance | (dice > 0)
    big = 1e9
    cost = np.where(candidate, dist * (1.0 - dice) + 1e-6, big)
    rows, cols = linear_sum_assignment(cost)
    pairs = [(r, c) for r, c in zip(rows, cols) if cost[r, c] < big]
    matched_b = {r for r, _ in pairs}
    matched_f = {c for _, c in pairs}

    matches: list[LesionMatch] = []
    for r, c in pairs:
        b, f = bl[r], fu[c]
        dv = _rel(b.volume_ml, f.volume_ml)
        trend = "stable"
        if dv is not None and dv >= grow_fraction:
            trend = "growing"
        elif dv is not None and dv <= -shrink_fraction:
            trend = "shrinking"
        matches.append(LesionMatch(status="matched", trend=trend, baseline_id=b.lesion_id, followup_id=f.lesion_id,
                                   distance_mm=float(dist[r, c]), dice=float(dice[r, c]) if dice.any() else None,
                                   volume_change=dv, suv_max_change=_rel(b.suv_max, f.suv_max),
                                   suv_peak_change=_rel(b.suv_peak, f.suv_peak)))
    by_b = {m.baseline_id: m for m in matches}
    by_f = {m.followup_id: m for m in matches}
    splits: list[dict[str, Any]] = []
    merges: list[dict[str, Any]] = []
    for c, f in enumerate(fu):
        if c in matched_f:
            continue
        near = [r for r in range(len(bl)) if r in matched_b and (dice[r, c] > 0 or dist[r, c] <= rb[r] + split_margin_mm)]
        if near:
            r = min(near, key=lambda i: dist[i, c])
            by_b[bl[r].lesion_id].flags.append(f"split: follow-up lesion {f.lesion_id} also belongs to it")
            splits.append({"baseline_id": bl[r].lesion_id, "followup_ids": [by_b[bl[r].lesion_id].followup_id, f.lesion_id]})
            matches.append(LesionMatch(status="new", followup_id=f.lesion_id, flags=[f"{SPLIT_FROM} baseline lesion {bl[r].lesion_id}"]))
        else:
            matches.append(LesionMatch(status="new", followup_id=f.lesion_id))
    for r, b in enumerate(bl):
        if r in matched_b:
            continue
        near = [c for c in range(len(fu)) if c in matched_f and (dice[r, c] > 0 or dist[r, c] <= rf[c] + split_margin_mm)]
        if near:
            c = min(near, key=lambda j: dist[r, j])
            by_f[fu[c].lesion_id].flags.append(f"merge: baseline lesion {b.lesion_id} merged into it")
            merges.append({"followup_id": fu[c].lesion_id, "baseline_ids": [by_f[fu[c].lesion_id].baseline_id, b.lesion_id]})
            matches.append(LesionMatch(status="disappeared", baseline_id=b.lesion_id,
                                       flags=[f"{MERGED_INTO} follow-up lesion {fu[c].lesion_id}"]))
        else:
            matches.append(LesionMatch(status="disappeared", baseline_id=b.lesion_id))
    n_new = sum(m.status == "new" and not m.flags for m in matches)
    n_dis = sum(m.status == "disappeared" and not m.flags for m in matches)
    return TrackingResult(matches=matches, n_matched=len(pairs), n_new=n_new, n_disappeared=n_dis,
                          splits=splits, merges=merges, provenance=prov)

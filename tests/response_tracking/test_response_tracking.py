"""Lesion matching: one-to-one, new, disappeared, split and merge, per-lesion changes."""

from __future__ import annotations

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.response.tracking import LesionObservation, track_lesions


def L(i, c, v=1.0, smax=10.0, speak=None):
    return LesionObservation(lesion_id=i, centroid_mm=c, volume_ml=v, suv_max=smax, suv_peak=speak)


def test_one_to_one_with_shift_new_and_disappeared():
    bl = [L(1, (0, 0, 0), 2.0, 10), L(2, (50, 0, 0), 1.0, 8), L(3, (0, 80, 0), 0.5, 6)]
    fu = [L(11, (52, 2, 1), 0.5, 4), L(12, (3, -1, 2), 3.0, 14), L(13, (-60, -60, 0), 0.2, 5)]
    res = track_lesions(bl, fu)
    m1, m2, m3 = (res.match_of_baseline(i) for i in (1, 2, 3))
    assert m1.followup_id == 12 and m1.trend == "growing" and m1.volume_change == pytest.approx(0.5)
    assert m1.suv_max_change == pytest.approx(0.4)
    assert m2.followup_id == 11 and m2.trend == "shrinking"
    assert m3.status == "disappeared"
    assert res.n_matched == 2 and res.n_new == 1 and res.n_disappeared == 1


def test_registration_mapping_is_used():
    bl = [L(1, (0, 0, 0)), L(2, (30, 0, 0))]
    fu = [L(1, (100, 0, 0)), L(2, (130, 0, 0))]  # whole follow-up shifted by +100 mm in x
    res = track_lesions(bl, fu, followup_to_baseline=lambda p: p - np.array([100.0, 0, 0]))
    assert res.match_of_baseline(1).followup_id == 1 and res.match_of_baseline(2).followup_id == 2
    assert track_lesions(bl, fu).n_matched == 0  # without the mapping nothing is within the gate


def test_hungarian_beats_greedy():
    # greedy nearest-first would pair b1-f1 (4 mm) and leave b2 unmatched (f2 at 20 mm from b2? no)
    bl = [L(1, (0, 0, 0)), L(2, (10, 0, 0))]
    fu = [L(1, (6, 0, 0)), L(2, (-5, 0, 0))]
    res = track_lesions(bl, fu)
    assert res.match_of_baseline(1).followup_id == 2 and res.match_of_baseline(2).followup_id == 1


def test_split_and_merge_flagged():
    bl = [L(1, (0, 0, 0), 4.0), L(2, (100, 0, 0), 1.0), L(3, (108, 0, 0), 1.0)]
    fu = [L(1, (-4, 0, 0), 1.5), L(2, (5, 0, 0), 1.5), L(3, (104, 0, 0), 2.5)]
    res = track_lesions(bl, fu)
    assert len(res.splits) == 1 and res.splits[0]["baseline_id"] == 1
    assert len(res.merges) == 1 and res.merges[0]["followup_id"] == 3
    assert res.n_new == 0 and res.n_disappeared == 0


def test_overlap_preferred_over_distance():
    lab_b = np.zeros((10, 10, 10), int)
    lab_f = np.zeros((10, 10, 10), int)
    lab_b[2:5, 2:5, 2:5] = 1
    lab_f[2:5, 2:5, 2:5] = 7
    bl = [L(1, (0, 0, 0))]
    fu = [L(7, (40, 0, 0)), L(8, (5, 0, 0))]  # 7 overlaps but its centroid record is far
    res = track_lesions(bl, fu, baseline_labels=lab_b, followup_labels_on_baseline=lab_f)
    assert res.match_of_baseline(1).followup_id == 7
    assert res.match_of_baseline(1).dice == pytest.approx(1.0)


def test_empty_and_bad_inputs():
    res = track_lesions([], [L(1, (0, 0, 0))])
    assert res.n_new == 1
    with pytest.raises(InvalidInputError, match="duplicate"):
        track_lesions([L(1, (0, 0, 0)), L(1, (1, 0, 0))], [])
    with pytest.raises(InvalidInputError, match="shape"):
        track_lesions([L(1, (0, 0, 0))], [L(1, (0, 0, 0))], baseline_labels=np.zeros((2, 2, 2)),
                      followup_labels_on_baseline=np.zeros((3, 3, 3)))


def test_new_node_beside_a_matched_one_is_new_not_a_split():
    # a 1 mL node (equivalent radius 6.2 mm) persists; a new node appears 12 mm from it: inside the
    # 15 mm matching gate but outside the node's extent + 4 mm -> new (nodal spread), not a piece
    bl = [L(1, (0, 0, 0), 1.0)]
    fu = [L(1, (0, 0, 0), 1.0), L(2, (12, 0, 0), 0.15)]
    res = track_lesions(bl, fu)
    new = next(m for m in res.matches if m.followup_id == 2)
    assert new.status == "new" and not new.flags and res.n_new == 1 and not res.splits
    # a piece inside the former extent (radius 6.2 + 4 mm) is a split fragment
    res = track_lesions(bl, [L(1, (0, 0, 0), 0.5), L(2, (9, 0, 0), 0.15)])
    assert res.n_new == 0 and res.splits[0]["followup_ids"] == [1, 2]
    # the margin is a named option; overlapping masks make a split whatever the distance
    assert track_lesions(bl, fu, split_margin_mm=6.0).n_new == 0
    lab_b = np.zeros((10, 10, 10), int)
    lab_f = np.zeros((10, 10, 10), int)
    lab_b[2:6, 2:6, 2:6] = 1
    lab_f[2:4, 2:4, 2:4] = 1
    lab_f[4:6, 4:6, 4:6] = 2  # inside the baseline mask
    res = track_lesions(bl, [L(1, (0, 0, 0), 0.5), L(2, (30, 0, 0), 0.15)], baseline_labels=lab_b,
                        followup_labels_on_baseline=lab_f)
    assert res.n_new == 0 and len(res.splits) == 1
    with pytest.raises(InvalidInputError, match="split_margin_mm"):
        track_lesions(bl, fu, split_margin_mm=-1.0)


def test_overlap_only_lesions_match_only_through_their_masks():
    # a faint node at x = 0 (masks x 2..3) fades; a hot node appears 12 mm away (masks x 5..7): within
    # the 15 mm gate, so by distance they match -- unless the caller says the follow-up node's site
    # had no uptake at baseline (overlap_only): then it is new and the faint node disappeared
    lab_b = np.zeros((10, 10, 10), int)
    lab_f = np.zeros((10, 10, 10), int)
    lab_b[4:6, 4:6, 2:4] = 1
    lab_f[4:6, 4:6, 5:8] = 2
    bl = [L(1, (0, 0, 0), 0.4, 2.0)]
    fu = [L(2, (12, 0, 0), 1.5, 12.0)]
    kw = dict(baseline_labels=lab_b, followup_labels_on_baseline=lab_f)
    assert track_lesions(bl, fu, **kw).match_of_baseline(1).followup_id == 2
    res = track_lesions(bl, fu, overlap_only=[2], **kw)
    assert res.n_matched == 0 and res.n_new == 1 and res.n_disappeared == 1
    assert res.provenance.parameters["overlap_only"] == [2]
    # overlapping masks still match (a lesion that grows out of its old place)
    lab_f[4:6, 4:6, 3:5] = 2
    res = track_lesions(bl, fu, overlap_only=[2], **kw)
    assert res.match_of_baseline(1).followup_id == 2 and res.match_of_baseline(1).dice > 0
    with pytest.raises(InvalidInputError, match="overlap_only needs both label maps"):
        track_lesions(bl, fu, overlap_only=[2])

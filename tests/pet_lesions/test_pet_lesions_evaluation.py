"""autoPET metrics and empty-mask conventions, lesion-level matching, Rose criterion."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.pet.evaluation import (
    TrueLesion,
    autopet_metrics,
    diameter_bin,
    dice_score,
    evaluate_detection,
    false_negative_volume_ml,
    false_positive_volume_ml,
    rose_cnr,
    rose_cnr_of_signal,
    rose_detectable_fraction,
    summarize_detection,
)

V = 0.064  # mL per 4-mm voxel


def z(shape=(8, 8, 8)):
    return np.zeros(shape, bool)


def test_dice_hand_computed():
    t, p = z(), z()
    t[1, 1, 1:5] = True  # 4 voxels
    p[1, 1, 3:7] = True  # 4 voxels, 2 shared
    assert dice_score(p, t) == pytest.approx(2 * 2 / 8)
    m = autopet_metrics(p, t, V)
    assert m.false_positive_volume_ml == 0.0 and m.false_negative_volume_ml == 0.0


def test_fp_fn_volume_use_18_connectivity():
    t, p = z(), z()
    t[2, 2, 2] = True
    p[2, 2, 2] = True
    p[3, 3, 3] = True  # corner contact only -> its own component, no overlap -> FP
    assert false_positive_volume_ml(p, t, V) == pytest.approx(1 * V)
    p2 = z()
    p2[2, 2, 2] = True
    p2[2, 3, 3] = True  # edge contact -> same component as the overlapping voxel
    assert false_positive_volume_ml(p2, t, V) == 0.0
    # FN: a true component missed entirely
    t2 = t.copy()
    t2[6, 6, 5:7] = True
    assert false_negative_volume_ml(p2, t2, V) == pytest.approx(2 * V)


def test_empty_mask_conventions():
    t, p = z(), z()
    m = autopet_metrics(p, t, V)
    assert math.isnan(m.dice) and m.false_positive_volume_ml == 0 and m.false_negative_volume_ml == 0
    assert m.truth_empty
    p[1, 1, 1:4] = True  # prediction on a negative case: Dice undefined, FPV = all of it
    m = autopet_metrics(p, t, V)
    assert math.isnan(m.dice) and m.false_positive_volume_ml == pytest.approx(3 * V)
    t2 = z()
    t2[5, 5, 5] = True  # truth present, nothing predicted
    m = autopet_metrics(z(), t2, V)
    assert m.dice == 0.0 and m.false_negative_volume_ml == pytest.approx(V)
    assert m.false_positive_volume_ml == 0.0


def test_autopet_voxel_volume_from_image_and_errors():
    t = Image(np.ones((3, 3, 3)), (2.0, 2.0, 2.0), units="label")
    assert autopet_metrics(np.ones((3, 3, 3)), t).truth_volume_ml == pytest.approx(27 * 0.008)
    with pytest.raises(InvalidInputError):
        autopet_metrics(np.ones((3, 3, 3)), np.ones((3, 3, 3)))  # no voxel volume
    with pytest.raises(InvalidInputError):
        autopet_metrics(np.ones((3, 3, 3)), np.ones((3, 3, 2)), V)
    with pytest.raises(InvalidInputError):
        false_positive_volume_ml(z(), z(), 0.0)


def test_lesion_matching_and_summary():
    img = Image(np.zeros((20, 20, 20)), (4.0, 4.0, 4.0), origin=(-40.0, 0.0, 0.0), units="SUVbw")
    pred = np.zeros((20, 20, 20), int)
    pred[5, 5, 5] = 1  # at LPS (-20, 20, 20)
    pred[15, 15, 15] = 2  # far from every true lesion -> FP
    pred[10, 10, 4:8] = 3  # covers two true lesions (many-to-one allowed)
    truth = [
        TrueLesion(lesion_id=1, centre_lps_mm=(-17.0, 21.0, 20.0), diameter_mm=2.0, rose_cnr=6.0),
        TrueLesion(lesion_id=2, centre_lps_mm=(-24.0, 40.0, 40.0), diameter_mm=4.0),
        TrueLesion(lesion_id=3, centre_lps_mm=(-12.0, 40.0, 40.0), diameter_mm=12.0),
        TrueLesion(lesion_id=4, centre_lps_mm=(30.0, 0.0, 0.0), diameter_mm=25.0, rose_cnr=3.0),
    ]
    ev = evaluate_detection(pred, truth, img)
    det = {m.lesion_id: m.detected for m in ev.matches}
    assert det == {1: True, 2: True, 3: True, 4: False}
    assert ev.false_positive_ids == [2] and ev.n_false_positives == 1
    assert ev.matches[0].distance_mm == pytest.approx(math.hypot(3.0, 1.0))
    # the distance rule: 2-mm lesion 6.2 mm away is out (1 + 5 mm), 12-mm lesion 10 mm away is in
    far = [TrueLesion(lesion_id=9, centre_lps_mm=(-20.0, 20.0, 26.2), diameter_mm=2.0)]
    assert not evaluate_detection(pred, far, img).matches[0].detected
    s = summarize_detection([ev, evaluate_detection(np.zeros_like(pred), [], img)])
    assert s.n_patients == 2 and s.false_positives_per_patient == pytest.approx(0.5)
    assert s.by_diameter["2-4"].sensitivity == 1.0
    assert s.by_diameter["20+"].sensitivity == 0.0
    assert s.by_diameter["2-4"].n_rose_detectable == 1
    assert s.by_diameter["20+"].n_rose_detectable == 0
    assert s.overall_sensitivity == pytest.approx(0.75)


def test_truth_label_overlap_rule():
    img = Image(np.zeros((10, 10, 10)), (4.0, 4.0, 4.0), units="SUVbw")
    tl = np.zeros((10, 10, 10), int)
    tl[2:8, 2:8, 2:8] = 7
    pred = np.zeros_like(tl)
    pred[7, 7, 7] = 1  # far from the centre (beyond D/2 + 5) but inside the true mask
    t = [TrueLesion(lesion_id=1, centre_lps_mm=(18.0, 18.0, 18.0), diameter_mm=1.0, label=7)]
    assert not evaluate_detection(pred, t, img).matches[0].detected
    m = evaluate_detection(pred, t, img, truth_labels=tl).matches[0]
    assert m.detected and m.dice == pytest.approx(2 * 1 / (216 + 1))
    pred[2:8, 2:8, 2:8] = 1
    ev = evaluate_detection(pred, t, img, truth_labels=tl)
    assert ev.matches[0].dice == pytest.approx(1.0)
    assert summarize_detection([ev]).by_diameter["<2"].mean_dice == pytest.approx(1.0)


def test_diameter_bins():
    assert [diameter_bin(d) for d in (1.0, 2.0, 3.9, 4.0, 9.99, 10.0, 15.0, 19.9, 20.0, 50.0)] == [
        "<2", "2-4", "2-4", "4-6", "8-10", "10-15", "15-20", "15-20", "20+", "20+"
    ]


def test_rose_cnr():
    assert rose_cnr(1.0, 1.0, 25) == pytest.approx(5.0)  # C sqrt(N) / sigma
    assert rose_cnr(1.0, 1.0, 25, noise_correlation_voxels=25) == pytest.approx(1.0)
    sig = np.zeros((5, 5, 5))
    sig[2, 2, 2] = 2.0
    sig[2, 2, 1:4:2] = 1.0  # 1.0 >= 50 % of 2.0 -> region of 3 voxels, mean 4/3
    assert rose_cnr_of_signal(sig, 0.5) == pytest.approx((4 / 3) * math.sqrt(3) / 0.5)
    assert rose_detectable_fraction([4.9, 5.0, 7.0, 1.0]) == 0.5
    with pytest.raises(InvalidInputError):
        rose_cnr(1.0, 0.0, 10)
    with pytest.raises(InvalidInputError):
        rose_cnr_of_signal(np.zeros((3, 3, 3)), 1.0)
    with pytest.raises(InvalidInputError):
        evaluate_detection(np.zeros((3, 3, 3), int), [], Image(np.zeros((4, 4, 4)), (1, 1, 1)))
    with pytest.raises(InvalidInputError):
        summarize_detection([])


def test_true_lesion_from_twin_like_object():
    from types import SimpleNamespace

    tw = SimpleNamespace(lesion_id=4, kind="node", station="internal_iliac_left",
                         centre_mm=(1.0, 2.0, 3.0), diameter_mm=4.0)
    t = TrueLesion.from_twin(tw, rose_cnr=6.0)
    assert (t.lesion_id, t.centre_lps_mm, t.diameter_mm, t.site) == (
        4, (1.0, 2.0, 3.0), 4.0, "internal_iliac_left"
    )
    with pytest.raises(InvalidInputError):
        TrueLesion.from_twin(SimpleNamespace(lesion_id=1))

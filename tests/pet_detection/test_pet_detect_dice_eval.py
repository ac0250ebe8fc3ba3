"""Per-lesion Dice with touching true lesions (Voronoi partition) and the pooled counts."""

from __future__ import annotations

import numpy as np
import pytest

from theranostix.core.image import Image
from theranostix.pet.evaluation import TrueLesion, evaluate_detection


def test_touching_lesions_found_as_one_blob_scored_on_their_own_part():
    img = Image(np.zeros((10, 10, 20)), (4.0, 4.0, 4.0), units="SUVbw")
    truth = np.zeros(img.shape, np.int32)
    truth[3:6, 3:6, 3:8] = 1  # 45 voxels
    truth[3:6, 3:6, 8:11] = 2  # 27 voxels, touching lesion 1
    pred = (truth > 0).astype(np.int32)  # one blob (perfect union)
    tl = [TrueLesion(lesion_id=k, centre_lps_mm=tuple(img.index_to_world(c)), diameter_mm=12.0,
                     label=k) for k, c in ((1, (5.0, 4.0, 4.0)), (2, (9.0, 4.0, 4.0)))]
    ev = evaluate_detection(pred, tl, img, truth_labels=truth)
    assert [m.detected for m in ev.matches] == [True, True]
    assert [m.dice for m in ev.matches] == [pytest.approx(1.0), pytest.approx(1.0)]
    assert ev.matches[0].dice_voxels == (45, 45, 45)
    # without the partition the blob (72 voxels) would give 2*45/117 = 0.77 to lesion 1
    # one lesion alone: no partition, plain Dice
    ev1 = evaluate_detection(pred, tl[:1], img, truth_labels=np.where(truth == 1, 1, 0))
    assert ev1.matches[0].dice == pytest.approx(2 * 45 / (45 + 72))

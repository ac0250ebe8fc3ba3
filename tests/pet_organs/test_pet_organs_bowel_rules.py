"""Bowel rules of the CT+PET organ estimate on hand-made arrays (analytic truths).

* ``hot_bowel_own_level``: the hot segment's mask sits at its own level, so the pipeline's focal
  rule (median + 4 robust SD of the mask) excludes the whole segment, not only its cool rim;
* ``focal_spot_kept`` with the local loop level: a warm node beside a cool loop is cut out of a
  mask whose median is set by hot loops elsewhere.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy import ndimage as ndi

from theranostix.pet.organ_masks import (
    HOT_BOWEL_CORE_FRACTION,
    CtPetOrganEstimate,
    _major_axis_mm,
)
from theranostix.pet.pipeline import focal_organ_exclusion

SP = (4.0, 4.0, 4.0)


def _tube(shape, k0, k1, j, i, r):
    kk, jj, ii = np.indices(shape)
    return (kk >= k0) & (kk < k1) & ((jj - j) ** 2 + (ii - i) ** 2 <= r * r)


def test_hot_segment_mask_is_at_its_own_level_and_fully_excluded():
    shape = (40, 30, 30)
    suv = np.full(shape, 0.5, np.float32)
    hot = _tube(shape, 5, 35, 15, 10, 3)  # 24 mm tube, 120 mm long: a duodenal loop
    warm = np.zeros(shape, bool)
    warm[5:35, 5:25, 15:28] = True  # a larger warm bowel region touching it (SUV 4)
    suv[warm] = 4.0
    suv[hot] = 15.0
    sm = ndi.gaussian_filter(suv, 1.0)
    comp = sm >= 2.0  # the bowel-uptake component (hot loop, warm loops, blurred rims)
    anat = SimpleNamespace(body=np.ones(shape, bool), lungs=None, bone=None)
    seg = CtPetOrganEstimate._hot_bowel_segment(comp, sm, ref=4.0, anat=anat, out={})
    assert seg.any() and _major_axis_mm(seg, SP) > 40.0
    # the mask holds only voxels >= half of the segment's peak ...
    assert sm[seg].min() >= HOT_BOWEL_CORE_FRACTION * sm[comp].max() - 1e-6
    # ... so the focal rule's threshold lies above every voxel of the tube
    excl, info = focal_organ_exclusion(suv, seg)
    assert info["threshold_suv"] > float(ndi.gaussian_filter(suv, 1.0)[hot].max())
    assert excl[hot].all()
    # the old definition (the whole component, median set by the warm loops) leaves the hot
    # core above its threshold
    excl_old, _ = focal_organ_exclusion(suv, comp)
    assert not excl_old[hot].all()


def test_hot_segment_is_not_grown_into_kidney_or_cooler_tissue():
    shape = (30, 30, 30)
    suv = np.full(shape, 4.0, np.float32)  # liver-level surroundings
    hot = _tube(shape, 5, 25, 15, 15, 3)
    suv[hot] = 12.0
    sm = ndi.gaussian_filter(suv, 1.0)
    kidney = np.zeros(shape, bool)
    kidney[:, :, 22:] = True
    anat = SimpleNamespace(body=np.ones(shape, bool), lungs=None, bone=None)
    seg = CtPetOrganEstimate._hot_bowel_segment(sm >= 8.0, sm, ref=4.0, anat=anat,
                                                out={"kidney_left": kidney})
    assert not (seg & kidney).any()
    assert (sm[seg] >= 6.0 - 1e-6).all()  # max(0.5 x 12, 1.3 x 4) = 6


def test_warm_node_beside_cool_loop_is_cut_even_when_hot_loops_set_the_median():
    shape = (40, 40, 60)
    suv = np.full(shape, 0.3, np.float32)
    hot_loop = _tube(shape, 2, 38, 12, 12, 8)
    cool_loop = _tube(shape, 2, 38, 30, 45, 3)
    suv[hot_loop] = 6.0
    suv[cool_loop] = 2.0
    kk, jj, ii = np.indices(shape)
    node = (kk - 20) ** 2 + (jj - 30) ** 2 + (ii - 39) ** 2 <= 4  # beside the cool loop
    suv[node] = 7.0
    sm = ndi.gaussian_filter(suv, 1.0)
    mask = hot_loop | cool_loop | ((sm >= 1.0) & (ii > 30))
    med = float(np.median(sm[mask]))
    peak = float(sm[node].max())
    assert peak < 1.5 * med  # the old rule (mask median only) would not have cut it
    out = CtPetOrganEstimate._protect_focal(mask, sm, SP)
    assert not (out & node).any()
    # the loops themselves are kept
    assert (out & cool_loop).sum() >= 0.8 * (mask & cool_loop).sum()
    assert (out & hot_loop).sum() >= 0.95 * (mask & hot_loop).sum()

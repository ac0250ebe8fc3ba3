"""Segmentation rules, 18-connectivity, profiles and the full pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.pet.lesions import RegionStats, site_from_label_map
from theranostix.pet.profiles import (
    DetectionProfile,
    ThresholdRule,
    available_profiles,
    load_profile,
    profile_from_dict,
)
from theranostix.pet.segmentation import (
    label_components,
    lesions_from_labels,
    liver_mean_sd_threshold,
    percist_liver_threshold,
    qpsma_liver_threshold,
    region_grow_percent_of_max,
    segment_lesions,
    threshold_mask,
)


def suv(arr, spacing=(4.0, 4.0, 4.0)):
    return Image(np.asarray(arr, dtype=float), spacing, units="SUVbw")


def liver(mean, sd):
    return RegionStats(mean=mean, sd=sd, max=mean, min=mean, median=mean, n_voxels=100,
                       volume_ml=14.14, units="SUVbw")


@pytest.mark.parametrize(
    "second, joined",
    [((2, 2, 3), True), ((2, 3, 3), True), ((3, 3, 3), False)],  # face, edge, corner
)
def test_18_connectivity(second, joined):
    m = np.zeros((5, 5, 5), bool)
    m[2, 2, 2] = True
    m[second] = True
    _, n = label_components(m)
    assert n == (1 if joined else 2)


def test_label_components_min_voxels():
    m = np.zeros((8, 8, 8), bool)
    m[1, 1, 1] = True
    m[5:7, 5:7, 5:7] = True
    lab, n = label_components(m, min_voxels=2)
    assert n == 1 and lab.max() == 1 and lab[5, 5, 5] == 1 and lab[1, 1, 1] == 0


def test_liver_thresholds_hand_computed():
    assert percist_liver_threshold(2.0, 0.5) == pytest.approx(1.5 * 2.0 + 2 * 0.5)
    assert qpsma_liver_threshold(5.0, 1.0) == pytest.approx(4.30 / 5.0 * 6.0)
    assert liver_mean_sd_threshold(2.0, 0.3) == pytest.approx(2.9)
    with pytest.raises(InvalidInputError):
        percist_liver_threshold(0.0, 0.5)
    with pytest.raises(InvalidInputError):
        qpsma_liver_threshold(5.0, -1.0)


def test_threshold_mask_fixed():
    arr = np.arange(27, dtype=float).reshape(3, 3, 3) / 5.0
    assert threshold_mask(suv(arr), 3.0).sum() == int((arr >= 3.0).sum()) == 12


def test_percent_of_max_uniform_sphere_is_exact(phantom):
    # noiseless, unblurred uniform sphere in zero background: any fraction < 1 returns the sphere
    k, j, i = np.meshgrid(*(np.arange(20),) * 3, indexing="ij")
    sphere = ((i - 10) ** 2 + (j - 10) ** 2 + (k - 10) ** 2) * 16 <= 30.0**2
    img = suv(np.where(sphere, 8.0, 0.0))
    seeds = np.zeros(sphere.shape, bool)
    seeds[10, 10, 10] = True
    grown = region_grow_percent_of_max(img, seeds, fraction=0.41)
    assert np.array_equal(grown, sphere)


def test_fifty_percent_of_large_blurred_sphere_matches_analytic_isocontour(phantom, ball_profile):
    # the 50 % iso-surface of a blurred sphere (analytic radius r50) -> voxel centres within r50
    from scipy.optimize import brentq

    R, fwhm = 20.0, 6.0
    sigma = fwhm / 2.354820045
    img = phantom((30, 30, 30), background_suv=0.0, spheres=[((58, 58, 58), 2 * R, 10.0)],
                  fwhm_mm=fwhm)
    seeds = np.asarray(img.array) > 9.0
    grown = region_grow_percent_of_max(img, seeds, fraction=0.5)
    peak = float(np.max(img.array)) / 10.0
    r50 = brentq(lambda r: ball_profile(np.array([r]), R, sigma)[0] - 0.5 * peak, 1.0, 40.0)
    assert r50 < R  # curvature pulls the half-maximum contour inside the true edge
    k, j, i = np.meshgrid(*(np.arange(30),) * 3, indexing="ij")
    expected = (((i * 4 - 58) ** 2 + (j * 4 - 58) ** 2 + (k * 4 - 58) ** 2) <= r50**2).sum()
    assert grown.sum() == pytest.approx(expected, rel=0.05)


def test_profiles_load_and_validate():
    names = available_profiles()
    assert {"psma-suv3", "psma-qpsma", "fdg-percist", "fdg-41pct"} <= set(names)
    p = load_profile("psma-suv3")
    assert p.threshold.kind == "fixed_suv" and p.threshold.suv == 3.0 and p.detector.enabled
    assert load_profile("fdg-percist").threshold.liver_factor == 1.5
    with pytest.raises(InvalidInputError, match="unknown"):
        load_profile("nope")
    with pytest.raises(InvalidInputError):
        profile_from_dict("x", {"threshold": {"kind": "fixed_suv"}})  # no suv
    with pytest.raises(InvalidInputError):
        profile_from_dict("x", {"threshold": {"kind": "magic"}})


def test_qpsma_bone_and_soft_tissue_rules():
    arr = np.full((10, 10, 10), 0.5)
    arr[2, 2, 2] = 4.0  # in bone: >= 3 -> lesion
    arr[7, 7, 7] = 4.0  # soft tissue: < 5.16 -> not a lesion
    arr[7, 2, 7] = 6.0  # soft tissue: >= 5.16 -> lesion
    bone = np.zeros(arr.shape, bool)
    bone[:5, :5, :5] = True
    prof = load_profile("psma-qpsma")
    prof.detector.enabled = False
    seg = segment_lesions(suv(arr), prof, bone_mask=bone, liver_stats=liver(5.0, 1.0),
                          exclude_mask=np.zeros(arr.shape, bool))
    lab = seg.labels.array
    assert lab[2, 2, 2] > 0 and lab[7, 7, 7] == 0 and lab[7, 2, 7] > 0
    assert seg.thresholds_suv == pytest.approx({"bone": 3.0, "soft_tissue": 4.3 / 5 * 6})
    # liver rule without liver statistics is refused; no bone mask is a recorded fallback
    with pytest.raises(InvalidInputError, match="liver"):
        segment_lesions(suv(arr), prof, bone_mask=bone)
    seg2 = segment_lesions(suv(arr), prof, liver_stats=liver(5.0, 1.0))
    assert any("bone mask" in w for w in seg2.provenance.warnings)
    assert seg2.labels.array[2, 2, 2] == 0


def test_pipeline_exclusion_sites_min_volume():
    arr = np.full((12, 12, 12), 0.5)
    arr[1:4, 1:4, 1:4] = 20.0  # "kidney"
    arr[8:10, 8:10, 8:10] = 5.0  # lesion, 8 voxels
    arr[1, 10, 10] = 5.0  # 1-voxel lesion
    kidney = np.zeros(arr.shape, bool)
    kidney[0:5, 0:5, 0:5] = True
    sites = np.zeros(arr.shape, np.int16)
    sites[6:, 6:, 6:] = 4
    prof = load_profile("psma-suv3-threshold-only")
    rule = site_from_label_map(Image(sites, (4.0, 4.0, 4.0), units="label"), {4: "pelvic node"})
    seg = segment_lesions(suv(arr), prof, exclude_mask=kidney, site_rule=rule)
    t = seg.table
    assert t.burden.n_lesions == 2
    assert sorted(le.site for le in t.lesions) == ["pelvic node", "unassigned"]
    assert seg.labels.array[kidney].max() == 0
    prof.min_volume_ml = 0.1  # 2 voxels at 0.064 mL
    seg = segment_lesions(suv(arr), prof, exclude_mask=kidney)
    assert seg.table.burden.n_lesions == 1 and seg.table.lesions[0].n_voxels == 8
    assert seg.model_dump(mode="json")["table"]["burden"]["n_lesions"] == 1


def test_fdg_41pct_profile_pipeline(phantom):
    img = phantom((24, 24, 24), background_suv=1.0, spheres=[((48, 48, 48), 24.0, 9.0)], fwhm_mm=6.0)
    seg = segment_lesions(img, load_profile("fdg-41pct"))
    assert seg.table.burden.n_lesions == 1
    les = seg.table.lesions[0]
    peak = float(np.max(img.array))
    assert les.suv_max == pytest.approx(peak)
    inside = img.array[seg.labels.array == 1]
    assert inside.min() >= 0.41 * peak


def test_lesions_from_labels_relabel():
    lab = np.zeros((6, 6, 6), int)
    lab[1, 1, 1] = 5
    lab[2, 2, 2] = 5  # corner contact -> two lesions after 18-relabelling
    arr = np.where(lab > 0, 4.0, 0.0)
    assert len(lesions_from_labels(suv(arr), lab).lesions) == 1
    assert len(lesions_from_labels(suv(arr), lab, relabel_18=True).lesions) == 2


def test_segmentation_bad_inputs():
    img = suv(np.ones((6, 6, 6)))
    prof = load_profile("psma-suv3")
    with pytest.raises(InvalidInputError):
        segment_lesions(img, prof, exclude_mask=np.zeros((6, 6, 5), bool))
    with pytest.raises(InvalidInputError):
        segment_lesions(Image(np.ones((6, 6, 6)), (4.0,) * 3, units="HU"), prof)
    with pytest.raises(InvalidInputError):
        segment_lesions(suv(np.zeros((0, 6, 6))), prof)
    with pytest.raises(InvalidInputError, match="blank"):
        segment_lesions(suv(np.zeros((6, 6, 6))), prof)
    with pytest.raises(InvalidInputError):
        region_grow_percent_of_max(img, np.ones((6, 6, 6), bool), fraction=1.5)
    assert isinstance(prof, DetectionProfile) and isinstance(prof.threshold, ThresholdRule)


@pytest.mark.parametrize("diameter", [15.0, 20.0])
def test_adaptive_refinement_recovers_true_sphere(phantom, diameter):
    from theranostix.pet.evaluation import dice_score

    c = 80.3  # off-grid centre
    img = phantom((40, 40, 40), spheres=[((c, c, c), diameter, 20.0)], noise_sd_suv=0.15, seed=1)
    k, j, i = np.meshgrid(*(np.arange(40),) * 3, indexing="ij")
    truth = ((i * 4 - c) ** 2 + (j * 4 - c) ** 2 + (k * 4 - c) ** 2) <= (diameter / 2) ** 2
    plain = segment_lesions(img, load_profile("psma-suv3"))
    adaptive = segment_lesions(img, load_profile("psma-adaptive"))
    assert adaptive.table.burden.n_lesions == 1
    # SUV >= 3 spills over with the PSF on a hot lesion; the adaptive contour does not
    assert dice_score(plain.labels.array > 0, truth) < 0.8
    assert dice_score(adaptive.labels.array > 0, truth) >= 0.85


def test_fdg_default_profile_measures_the_volume_of_a_lesion_near_the_percist_threshold(phantom):
    """A 24 mm node at SUV 4 in fat (0.5) against a liver at 2.0 +- 0.2 (PERCIST threshold 3.4):
    the threshold keeps only the PSF-blurred core; the FDG default profile (PERCIST seeds,
    sphere-calibrated adaptive contour) measures the node."""
    from theranostix.pet.evaluation import dice_score
    from theranostix.pet.lesions import RegionStats
    from theranostix.pet.pipeline import TRACERS

    assert TRACERS["fdg"][2] == "fdg-percist-adaptive"
    c, d = 80.3, 24.0
    img = phantom((40, 40, 40), background_suv=0.5, spheres=[((c, c, c), d, 3.5)], noise_sd_suv=0.1, seed=2)
    k, j, i = np.meshgrid(*(np.arange(40),) * 3, indexing="ij")
    truth = ((i * 4 - c) ** 2 + (j * 4 - c) ** 2 + (k * 4 - c) ** 2) <= (d / 2) ** 2
    liver = RegionStats(mean=2.0, sd=0.2, max=2.6, min=1.4, median=2.0, n_voxels=221, volume_ml=14.1,
                        units="SUVbw")
    plain = segment_lesions(img, load_profile("fdg-percist"), liver_stats=liver)
    adaptive = segment_lesions(img, load_profile("fdg-percist-adaptive"), liver_stats=liver)
    true_ml = truth.sum() * 0.064
    v_plain = plain.table.burden.total_volume_ml
    v_adapt = adaptive.table.burden.total_volume_ml
    assert adaptive.table.burden.n_lesions == 1
    assert v_plain < 0.6 * true_ml
    assert abs(v_adapt - true_ml) < 0.2 * true_ml
    assert dice_score(adaptive.labels.array > 0, truth) >= 0.8

"""Lesion metrics on analytic spheres/ellipsoids (CRITERIA.md §2 oracles)."""

from __future__ import annotations

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.pet.lesions import (
    LesionMetrics,
    site_from_label_map,
    site_from_nearest_station,
)
from theranostix.pet.metrics import (
    PEAK_SPHERE_DIAMETER_MM,
    lesion_diameters,
    lesion_metrics,
    lesion_table,
    peak_sphere_kernel,
    region_statistics,
    suv_peak_global,
    suv_peak_local,
    whole_body_burden,
)


def ball(shape, spacing, centre_mm, radius_mm, semi=None):
    """Voxel-centre-in-sphere (or ellipsoid with semi-axes (a, b, c) mm) mask; centre in index mm."""
    k, j, i = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    x, y, z = i * spacing[0] - centre_mm[0], j * spacing[1] - centre_mm[1], k * spacing[2] - centre_mm[2]
    if semi is None:
        return x**2 + y**2 + z**2 <= radius_mm**2
    a, b, c = semi
    return (x / a) ** 2 + (y / b) ** 2 + (z / c) ** 2 <= 1.0


def suv(arr, spacing=(4.0, 4.0, 4.0), **kw):
    return Image(np.asarray(arr, dtype=float), spacing, units="SUVbw", **kw)


def test_peak_sphere_is_one_ml():
    assert PEAK_SPHERE_DIAMETER_MM == pytest.approx((6000 / np.pi) ** (1 / 3), abs=1e-3)
    assert PEAK_SPHERE_DIAMETER_MM == pytest.approx(12.41, abs=0.01)  # CRITERIA.md §2 [R]
    for sp in [(4.0, 4.0, 4.0), (2.0, 2.0, 2.0), (2.0, 2.0, 3.0), (4.07, 4.07, 3.0)]:
        w = peak_sphere_kernel(sp, rule="partial")
        assert w.sum() * np.prod(sp) / 1000 == pytest.approx(1.0, rel=0.02)
    # centre rule at 4 mm: centre + 6 faces + 12 edges (5.66 mm); corners (6.93 mm) are out
    assert peak_sphere_kernel((4.0, 4.0, 4.0), rule="centre").sum() == 19


def test_volume_and_tla_of_voxelised_sphere():
    sp = (1.0, 1.0, 1.0)
    m = ball((45, 45, 45), sp, (22.0, 22.0, 22.0), 18.5)  # NEMA 37-mm sphere
    img = suv(np.where(m, 6.0, 0.0), sp)
    les = lesion_metrics(img, m)
    assert les.volume_ml == pytest.approx(m.sum() / 1000.0)
    assert les.volume_ml == pytest.approx(26.52, rel=0.01)  # CRITERIA.md §2 NEMA volume [R]
    assert les.total_lesion_activity == pytest.approx(6.0 * les.volume_ml)
    assert les.suv_mean == pytest.approx(6.0) and les.suv_max == pytest.approx(6.0)


@pytest.mark.parametrize("rule", ["partial", "centre"])
@pytest.mark.parametrize("spacing", [4.0, 2.0])
def test_suv_peak_oracle_uniform_sphere(rule, spacing):
    sp = (spacing,) * 3
    n = 21
    c = 10 * spacing
    r = 6.2035 + spacing  # 1-cm3 radius + 1 voxel (CRITERIA.md §2 oracle)
    m = ball((n, n, n), sp, (c, c, c), r)
    img = suv(np.where(m, 7.5, 0.0), sp)
    assert suv_peak_global(img, m, rule=rule) == pytest.approx(7.5, abs=1e-9)
    assert suv_peak_local(img, m, rule=rule) == pytest.approx(7.5, abs=1e-9)


def test_suv_peak_oracle_off_grid_centre_rule():
    sp = (4.0, 4.0, 4.0)
    m = ball((21, 21, 21), sp, (41.3, 38.7, 42.1), 6.2035 + 4.0)
    img = suv(np.where(m, 3.0, 0.0), sp)
    assert suv_peak_global(img, m, rule="centre") == pytest.approx(3.0, abs=1e-9)


def test_suv_peak_single_hot_voxel_and_local_vs_global():
    sp = (4.0, 4.0, 4.0)
    arr = np.zeros((15, 15, 15))
    arr[7, 7, 7] = 1900.0
    img = suv(arr, sp)
    m = arr > 0
    assert suv_peak_local(img, m, rule="centre") == pytest.approx(100.0)  # 1900 / 19 voxels
    w = peak_sphere_kernel(sp)
    assert suv_peak_local(img, m) == pytest.approx(1900.0 * w.max() / w.sum())
    # a hot rim voxel: the local peak centres on it, the global peak on the uniform core
    m2 = ball((15, 15, 15), sp, (28.0, 28.0, 28.0), 14.0)
    arr2 = np.where(m2, 5.0, 0.0)
    arr2[7, 7, 10] = 12.0  # 12 mm from the centre, on the rim
    img2 = suv(arr2, sp)
    g, loc = suv_peak_global(img2, m2), suv_peak_local(img2, m2)
    assert g > loc and g >= 5.0


def test_peak_near_field_of_view_edge_counts_only_inside_voxels():
    arr = np.full((6, 6, 6), 2.0)
    img = suv(arr)
    m = np.zeros(arr.shape, bool)
    m[0, 0, 0] = True
    assert suv_peak_local(img, m) == pytest.approx(2.0)


def test_diameters_sphere_and_ellipsoid():
    sp = (2.0, 2.0, 2.0)
    m = ball((31, 31, 31), sp, (30.0, 30.0, 30.0), 20.0)
    img = suv(m * 1.0, sp)
    longest, long_ax, short_ax = lesion_diameters(img, m)
    for v in (longest, long_ax, short_ax):
        assert abs(v - 40.0) <= 2.0  # within one voxel
    e = ball((41, 31, 41), sp, (30.0, 30.0, 40.0), 0, semi=(20.0, 10.0, 30.0))
    longest, long_ax, short_ax = lesion_diameters(suv(e * 1.0, sp), e)
    assert abs(longest - 60.0) <= 2.0
    assert abs(long_ax - 40.0) <= 2.0
    assert abs(short_ax - 20.0) <= 2.0


def test_short_axis_perpendicular_for_oblique_ellipse():
    sp = (1.0, 1.0, 1.0)
    k, j, i = np.meshgrid(np.arange(9), np.arange(61), np.arange(61), indexing="ij")
    x, y, z = i - 30.0, j - 30.0, k - 4.0
    u = (x + y) / np.sqrt(2)
    v = (x - y) / np.sqrt(2)
    m = (u / 25.0) ** 2 + (v / 8.0) ** 2 + (z / 4.0) ** 2 <= 1.0  # long axis at 45 degrees
    longest, long_ax, short_ax = lesion_diameters(suv(m * 1.0, sp), m)
    assert abs(long_ax - 50.0) <= 1.5
    assert abs(short_ax - 16.0) <= 1.5
    assert abs(longest - 50.0) <= 1.5


def test_single_voxel_diameters():
    m = np.zeros((5, 5, 5), bool)
    m[2, 2, 2] = True
    assert lesion_diameters(suv(m * 1.0, (4.0, 4.0, 4.0)), m) == pytest.approx((4.0, 4.0, 4.0))


def test_centroid_in_lps_with_origin_and_direction():
    sp = (2.0, 3.0, 4.0)
    origin = (-120.5, 80.0, -300.0)
    direction = (-1.0, 0, 0, 0, -1.0, 0, 0, 0, 1.0)
    m = np.zeros((20, 24, 22), bool)
    m[7:10, 11:14, 9:12] = True  # centre index (i, j, k) = (10, 12, 8)
    img = suv(np.where(m, 4.0, 1.0), sp, origin=origin, direction=direction)
    les = lesion_metrics(img, m)
    expected = (-120.5 - 2.0 * 10, 80.0 - 3.0 * 12, -300.0 + 4.0 * 8)
    assert les.centroid_lps_mm == pytest.approx(expected)
    assert les.volume_ml == pytest.approx(27 * 2 * 3 * 4 / 1000)


def test_region_statistics_hand_computed():
    arr = np.zeros((3, 3, 3))
    arr[0, 0, :] = [1.0, 2.0, 3.0]
    m = np.zeros(arr.shape, bool)
    m[0, 0, :] = True
    st = region_statistics(suv(arr, (2.0, 2.0, 2.0)), m)
    assert (st.mean, st.sd, st.max, st.min, st.median) == pytest.approx((2.0, 1.0, 3.0, 1.0, 2.0))
    assert st.n_voxels == 3 and st.volume_ml == pytest.approx(0.024)


def test_lesion_table_and_whole_body_burden():
    sp = (4.0, 4.0, 4.0)
    lab = np.zeros((10, 10, 10), np.int32)
    lab[1:3, 1:3, 1:3] = 1  # 8 voxels
    lab[6:9, 6:9, 6:9] = 2  # 27 voxels
    arr = np.where(lab == 1, 10.0, np.where(lab == 2, 4.0, 0.5))
    img = suv(arr, sp)
    names = {1: "bone", 2: "retroperitoneal"}
    sites = Image(lab, sp, units="label")
    t = lesion_table(img, lab, site_rule=site_from_label_map(sites, names))
    v = 0.064
    b = t.burden
    assert b.n_lesions == 2
    assert b.total_volume_ml == pytest.approx(35 * v)
    assert b.total_lesion_activity == pytest.approx(10 * 8 * v + 4 * 27 * v)
    assert b.suv_mean_whole_body == pytest.approx((80 + 108) / 35)
    assert b.counts_by_site == {"bone": 1, "retroperitoneal": 1}
    assert b.suv_max_hottest == pytest.approx(10.0)
    assert np.isnan(whole_body_burden([]).suv_mean_whole_body)
    # JSON round trip
    LesionMetrics.model_validate_json(t.lesions[0].model_dump_json())


def test_site_rules():
    sp = (4.0, 4.0, 4.0)
    img = suv(np.ones((10, 10, 10)), sp, origin=(10.0, 20.0, 30.0))
    labels = np.zeros((10, 10, 10), np.int16)
    labels[:, :, :5] = 3
    labels[:, :, 5:] = 7
    m = np.zeros((10, 10, 10), bool)
    m[4, 4, 3:6] = True  # two voxels on label 3, one on label 7
    rule = site_from_label_map(Image(labels, sp, origin=(10.0, 20.0, 30.0), units="label"),
                               {3: "liver", 7: "spleen"})
    assert rule(m, img) == "liver"
    near = site_from_nearest_station({"para-aortic": (26.0, 36.0, 46.0), "inguinal": (200, 0, 0)},
                                     max_distance_mm=10.0)
    assert near(m, img) == "para-aortic"  # centroid (26, 36, 46)
    far = site_from_nearest_station({"inguinal": (200.0, 0.0, 0.0)}, max_distance_mm=10.0)
    assert far(m, img) == "unassigned"
    bad = site_from_label_map(Image(labels, sp, units="label"), {3: "liver", 7: "spleen"})
    with pytest.raises(InvalidInputError):
        bad(m, img)  # label map on another origin


def test_bad_inputs():
    img = suv(np.ones((5, 5, 5)))
    m = np.zeros((5, 5, 5), bool)
    m[2, 2, 2] = True
    with pytest.raises(InvalidInputError, match="shape"):
        lesion_metrics(img, np.ones((5, 5, 4), bool))
    with pytest.raises(InvalidInputError, match="no voxels"):
        lesion_metrics(suv(np.zeros((0, 5, 5))), np.zeros((0, 5, 5), bool))
    with pytest.raises(InvalidInputError, match="SUV"):
        lesion_metrics(Image(np.ones((5, 5, 5)), (4.0, 4.0, 4.0), units="Bq/mL"), m)
    with pytest.raises(InvalidInputError, match="empty"):
        lesion_metrics(img, np.zeros((5, 5, 5), bool))
    nan = np.ones((5, 5, 5))
    nan[0, 0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        lesion_metrics(suv(nan), m)
    with pytest.raises(InvalidInputError, match="0/1"):
        lesion_metrics(img, m * 2)
    other = Image(m, (4.0, 4.0, 4.0), origin=(1.0, 0.0, 0.0), units="label")
    with pytest.raises(InvalidInputError, match="grid"):
        lesion_metrics(img, other)
    with pytest.raises(InvalidInputError):
        peak_sphere_kernel((4.0, 4.0, 4.0), rule="corner")
    with pytest.raises(InvalidInputError):
        region_statistics(img, np.zeros((5, 5, 5), bool))
    with pytest.raises(InvalidInputError):
        lesion_table(img, -np.ones((5, 5, 5), int))


def test_lesion_table_crop_matches_full_image_metrics():
    sp = (2.0, 3.0, 4.0)
    direction = (0.0, 1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 1.0)  # rotated in-plane axes
    rng = np.random.default_rng(5)
    arr = rng.uniform(0.5, 2.0, (16, 18, 20))
    lab = np.zeros(arr.shape, np.int32)
    lab[0:3, 5:9, 16:20] = 1  # touches the field-of-view edge
    lab[9:13, 8:12, 3:6] = 2
    arr[lab > 0] += 4.0
    img = suv(arr, sp, origin=(12.0, -7.0, 100.0), direction=direction)
    table = lesion_table(img, lab)
    for les in table.lesions:
        full = lesion_metrics(img, lab == les.lesion_id, lesion_id=les.lesion_id)
        a, b = les.model_dump(), full.model_dump()
        assert a.keys() == b.keys()
        for k, v in b.items():
            assert a[k] == (pytest.approx(v) if isinstance(v, (float, tuple)) else v), k

"""Anatomy: ICRP-89 organ volumes, determinism, node stations, HU, laterality, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.twin.anatomy import (ORGAN_GROUPS, build_anatomy, organ_volume_report,
                                      reference_volume_ml)

REQUIRED = ["body", "fat", "muscle", "lung_left", "lung_right", "heart", "blood_pool", "liver",
            "spleen", "kidney_left_cortex", "kidney_left_medulla", "kidney_right_cortex",
            "kidney_right_medulla", "bladder", "parotid_left", "parotid_right",
            "submandibular_left", "submandibular_right", "lacrimal_left", "lacrimal_right",
            "duodenum", "small_bowel", "colon", "brain", "bone_cortical", "red_marrow",
            "stomach", "pancreas", "adrenal_left", "adrenal_right", "thyroid", "airway"]
STATIONS = ["internal_iliac_left", "internal_iliac_right", "external_iliac_left",
            "external_iliac_right", "obturator_left", "obturator_right", "presacral",
            "common_iliac_left", "common_iliac_right", "retroperitoneal", "inguinal_left",
            "inguinal_right", "mediastinal", "supraclavicular_left", "supraclavicular_right"]


def test_icrp89_reference_values_are_the_published_ones():
    # ICRP-89 Table 2.8 adult male: liver 1800 g, kidneys 310 g; ICRP-110 density 1.05 g/cm3
    assert reference_volume_ml("liver", "M") == pytest.approx(1800 / 1.05)
    assert reference_volume_ml("kidneys", "F") == pytest.approx(275 / 1.05)
    assert reference_volume_ml("spleen", "M") == pytest.approx(150 / 1.04)


@pytest.mark.parametrize("sex", ["M", "F"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_organ_volumes_within_25_percent_of_icrp89(sex, seed, anatomy_of):
    anat = anatomy_of(sex, seed)
    report = organ_volume_report(anat)
    expected = {g for g in ORGAN_GROUPS if g not in (("uterus",) if sex == "M" else ("prostate",))}
    assert set(report) == expected
    bad = {g: round(r["ratio"], 3) for g, r in report.items() if not 0.75 <= r["ratio"] <= 1.25}
    assert not bad, f"organ volume outside +-25 % of ICRP-89: {bad}"


def test_organ_volumes_vary_between_patients(anatomy_of):
    a, b = anatomy_of("M", 0), anatomy_of("M", 1)
    va, vb = a.volume_ml("liver"), b.volume_ml("liver")
    assert va != vb
    assert a.height_m != b.height_m and a.weight_kg != b.weight_kg


def test_required_structures_present(male, female):
    for anat in (male, female):
        missing = [n for n in REQUIRED if n not in anat.ids]
        assert not missing
        assert anat.volume_ml("body") > 0
    assert "prostate" in male.ids and "prostate" not in female.ids
    assert "uterus" in female.ids


def test_same_seed_gives_identical_arrays(male):
    again = build_anatomy("M", seed=0)
    assert np.array_equal(male.labels.array, again.labels.array)
    assert np.array_equal(male.hu.array, again.hu.array)
    assert male.node_stations == again.node_stations
    other = build_anatomy("M", seed=1)
    assert other.labels.shape != male.labels.shape or not np.array_equal(
        other.labels.array, male.labels.array)


@pytest.mark.parametrize("sex", ["M", "F"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_station_centres_inside_body_soft_tissue(sex, seed, anatomy_of):
    anat = anatomy_of(sex, seed)
    assert sorted(anat.node_stations) == sorted(STATIONS)
    soft = {"fat", "body", "muscle"}
    for name, c in anat.node_stations.items():
        i, j, k = np.round(anat.labels.world_to_index(c)).astype(int)
        assert anat.names.get(int(anat.labels.array[k, j, i])) in soft, name


def test_station_laterality_and_order(male):
    st = male.node_stations
    for base in ("internal_iliac", "external_iliac", "obturator", "common_iliac", "inguinal",
                 "supraclavicular"):
        assert st[f"{base}_left"][0] > 0 > st[f"{base}_right"][0]  # LPS: +x = patient left
    assert st["supraclavicular_left"][2] > st["mediastinal"][2] > st["retroperitoneal"][2]
    assert st["retroperitoneal"][2] > st["common_iliac_left"][2] > st["inguinal_left"][2]


def _centroid(anat, name):
    k, j, i = np.nonzero(anat.mask(name))
    return anat.labels.index_to_world(np.stack([i, j, k], 1).mean(0))


def test_organ_positions_are_anatomical(male):
    liver, spleen = _centroid(male, "liver"), _centroid(male, "spleen")
    assert liver[0] < 0 < spleen[0]  # liver on the patient's right
    brain, bladder = _centroid(male, "brain"), _centroid(male, "bladder")
    assert brain[2] - bladder[2] > 600  # head to pelvis distance (mm)
    kid = _centroid(male, "kidney_left_cortex")
    assert kid[1] > liver[1]  # kidneys posterior (+y) to the liver
    assert _centroid(male, "prostate")[2] < bladder[2]


def test_hu_values_realistic(male):
    hu = male.hu.array
    assert np.all(hu[male.mask("fat")] == -100)
    assert np.all(hu[male.mask("muscle")] == 50)
    assert np.all(hu[male.mask("lung_left", "lung_right")] == -800)
    assert hu[male.mask("bone_cortical")].min() >= 700
    assert np.all(hu[male.labels.array == 0] == -1000)
    assert male.hu.units == "HU" and male.hu.array.dtype == np.float32
    assert male.labels.array.dtype == np.uint16


def test_red_marrow_in_axial_skeleton(male):
    parts = male.bone_part_names.values()
    for p in ("skull", "spine_T", "spine_L", "pelvis", "sacrum", "rib", "femur", "sternum"):
        assert p in parts
    marrow = male.mask("red_marrow")
    assert 300 < marrow.sum() * male.labels.voxel_volume_ml < 4000


def test_coarser_grid_keeps_main_organs():
    anat = build_anatomy("F", seed=1, spacing_mm=3.0)
    assert anat.labels.spacing == (3.0, 3.0, 3.0)
    rep = organ_volume_report(anat)
    for g in ("liver", "lungs", "kidneys", "brain", "spleen", "heart"):
        assert 0.75 <= rep[g]["ratio"] <= 1.25, g


@pytest.mark.parametrize("kwargs", [{"sex": "X"}, {"sex": "M", "spacing_mm": 0.2},
                                    {"sex": "M", "spacing_mm": "2"}, {"sex": "M", "seed": -1}])
def test_bad_input_raises(kwargs):
    with pytest.raises(InvalidInputError):
        build_anatomy(**kwargs)


def test_mask_of_unknown_structure_raises(male):
    with pytest.raises(InvalidInputError):
        male.mask("pancreas_tail")

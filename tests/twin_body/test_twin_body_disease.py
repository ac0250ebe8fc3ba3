"""Disease: lesion volumes, placement, patterns, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.twin.disease import PELVIC_STATIONS, build_disease, sphere_occupancy


@pytest.mark.parametrize("diameter", [2.0, 3.0, 5.0, 8.0, 12.0, 30.0])
@pytest.mark.parametrize("offset", [(0.0, 0.0, 0.0), (0.3, 0.7, 1.1), (1.0, 1.0, 1.0)])
def test_lesion_volume_matches_sphere(male, diameter, offset):
    c = np.asarray(male.node_stations["presacral"]) + offset
    sl, patch = sphere_occupancy(male.labels, c, diameter)
    v = patch.sum() * male.labels.voxel_volume_ml
    assert v == pytest.approx(4 / 3 * np.pi * (diameter / 2) ** 3 / 1000, rel=0.03)
    assert patch.max() <= 1.0 and patch.min() >= 0.0


def test_explicit_lesions_volume_station_suv(male):
    d = build_disease(male, lesions=[
        {"kind": "node", "station": "obturator_left", "diameter_mm": 2.0, "suv": 15.0},
        {"kind": "node", "station": "mediastinal", "diameter_mm": 30.0},
        {"kind": "bone", "diameter_mm": 12.0},
        {"kind": "liver", "diameter_mm": 20.0, "suv": 9.0},
        {"kind": "lung", "diameter_mm": 8.0}], seed=1)
    assert [l.kind for l in d.lesions] == ["node", "node", "bone", "liver", "lung"]
    for les in d.lesions:
        assert les.volume_ml == pytest.approx(4 / 3 * np.pi * (les.diameter_mm / 2) ** 3 / 1000,
                                              rel=0.03)
        assert (d.labels.array == les.lesion_id).sum() >= 1
        assert les.suv > 0
    assert d.lesions[0].station == "obturator_left" and d.lesions[0].suv == 15.0
    assert d.lesions[3].host == "liver" and d.lesions[4].host.startswith("lung_")
    assert d.lesions[2].host in ("red_marrow", "bone_cortical")


def _inside_fraction(anat, disease, les, names):
    sl, patch = disease.patches[les.lesion_id]
    ids = [anat.ids[n] for n in names]
    inside = np.isin(anat.labels.array[sl], ids)
    return float((patch * inside).sum() / patch.sum())


def test_disseminated_pattern(male, disseminated):
    kinds = [l.kind for l in disseminated.lesions]
    assert kinds.count("prostate") == 1
    assert 6 <= kinds.count("node") <= 12 and 8 <= kinds.count("bone") <= 20
    for les in disseminated.lesions:
        if les.kind == "node":
            assert les.station in male.node_stations
            assert 2.0 <= les.diameter_mm <= 30.0
            dist = np.linalg.norm(np.subtract(les.centre_mm, male.node_stations[les.station]))
            assert dist < 40
        if les.kind == "bone":
            assert _inside_fraction(male, disseminated, les, ("red_marrow", "bone_cortical")) >= 0.9
        if les.kind == "liver":
            assert _inside_fraction(male, disseminated, les, ("liver",)) >= 0.98
        if les.kind == "prostate":
            assert _inside_fraction(male, disseminated, les, ("prostate",)) >= 0.9
    ids = {l.lesion_id for l in disseminated.lesions}
    assert set(np.unique(disseminated.labels.array)) - {0} == ids
    assert disseminated.fraction.array.max() <= 1.0


def test_patterns_localized_nodal_oligo(male):
    loc = build_disease(male, "localized", seed=0)
    assert [l.kind for l in loc.lesions] == ["prostate"]
    nodal = build_disease(male, "nodal", seed=0)
    nodes = [l for l in nodal.lesions if l.kind == "node"]
    assert 2 <= len(nodes) <= 5 and all(l.station in PELVIC_STATIONS for l in nodes)
    oligo = build_disease(male, "oligometastatic", seed=0)
    mets = [l for l in oligo.lesions if l.kind != "prostate"]
    assert 2 <= len(mets) <= 5


def test_same_seed_same_disease(male):
    a = build_disease(male, "oligometastatic", seed=9)
    b = build_disease(male, "oligometastatic", seed=9)
    assert [l.model_dump() for l in a.lesions] == [l.model_dump() for l in b.lesions]
    assert np.array_equal(a.labels.array, b.labels.array)
    c = build_disease(male, "oligometastatic", seed=10)
    assert [l.model_dump() for l in a.lesions] != [l.model_dump() for l in c.lesions]


def test_female_patterns(female):
    d = build_disease(female, "nodal", seed=1, tracer="fdg")
    assert d.lesions and all(l.kind == "node" for l in d.lesions)
    with pytest.raises(InvalidInputError):
        build_disease(female, "localized")
    with pytest.raises(InvalidInputError):
        build_disease(female, lesions=[{"kind": "prostate"}])


@pytest.mark.parametrize("kwargs", [
    {"pattern": "metastatic-ish"},
    {"lesions": [{"kind": "brain"}]},
    {"lesions": [{"kind": "node", "station": "axillary_left"}]},
    {"lesions": [{"kind": "node", "diameter_mm": 0.1}]},
    {"lesions": [{"kind": "node", "diameter_mm": 500}]},
    {"lesions": [{"diameter_mm": 5}]},
    {"lesions": [{"kind": "node", "centre_mm": (0, 0, 0)}]},
    {"lesions": [{"kind": "node", "centre_mm": (0, 0), "diameter_mm": 5}]},
    {"lesions": [{"kind": "node", "suv": -3}]},
    {"lesions": "node"},
    {"tracer": "nope"},
])
def test_bad_input_raises(male, kwargs):
    with pytest.raises(InvalidInputError):
        build_disease(male, **kwargs)

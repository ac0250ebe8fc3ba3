"""Tracer profiles and the true SUV map."""

from __future__ import annotations

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.twin.anatomy import tissue_class
from theranostix.twin.tracers import (_parse_profile, get_profile, load_tracer_profiles,
                                      lognormal_draw, organ_suv, tracer_suv_map)
from theranostix.twin.truth import load_tracer_profiles as contract_loader

KEYS = {"psma-ga68": "Ga-68", "psma-dcfpyl": "F-18", "psma-1007": "F-18", "fdg": "F-18",
        "dotatate-ga68": "Ga-68"}


def test_profiles_exist_with_sources():
    profs = contract_loader()
    assert set(KEYS) <= set(profs)
    for key, nuclide in KEYS.items():
        p = profs[key]
        assert p.radionuclide == nuclide
        assert 30 <= p.uptake_time_min <= 120
        rows = [f"organ:{k}" for k in p.organs] + [f"lesion:{k}" for k in p.lesion_suv]
        assert all(p.sources.get(r, "").strip() for r in rows), key


def test_published_values_carried_over():
    # PSMA-11 liver SUVmax 8.2 (Clin Nucl Med 2017) x 0.6 -> 4.9; FDG liver SUVmean 1.87 (Liu 2019)
    assert get_profile("psma-ga68").organs["liver"][0] == pytest.approx(0.6 * 8.2, abs=0.05)
    assert get_profile("fdg").organs["liver"][0] == pytest.approx(1.87)
    # DOTATATE spleen > kidney > liver (Ann Nucl Med 2014); PSMA-1007 liver > PSMA-11 liver
    d = get_profile("dotatate-ga68").organs
    assert d["spleen"][0] > d["kidney_cortex"][0] > d["liver"][0]
    assert get_profile("psma-1007").organs["liver"][0] > get_profile("psma-ga68").organs["liver"][0]
    assert get_profile("psma-1007").organs["bladder"][0] < get_profile("psma-ga68").organs["bladder"][0]


def test_lognormal_draw_has_profile_mean_and_sd():
    rng = np.random.default_rng(1)
    x = np.array([lognormal_draw(rng, 4.9, 1.1) for _ in range(20000)])
    assert x.mean() == pytest.approx(4.9, rel=0.02)
    assert x.std() == pytest.approx(1.1, rel=0.08)  # slightly reduced by the +-2.5 SD clip
    assert x.min() > 0


def test_suv_map_organ_means_match_used_values(male):
    img, used = tracer_suv_map(male, None, "psma-ga68", seed=3)
    assert img.units == "SUVbw" and img.array.dtype == np.float32 and img.same_grid(male.labels)
    prof = get_profile("psma-ga68")
    for name in ("liver", "spleen", "parotid_left", "kidney_right_cortex", "blood_pool"):
        m = male.mask(name)
        assert float(img.array[m].mean()) == pytest.approx(used[name], rel=1e-5)
        mean, sd = prof.organs[tissue_class(name)]
        s = np.sqrt(np.log1p((sd / mean) ** 2))
        assert mean * np.exp(-3 * s) < used[name] < mean * np.exp(3 * s)
    assert used["parotid_left"] == used["parotid_right"]
    assert float(img.array[male.labels.array == 0].max()) == 0.0


def test_population_mean_over_patients(male):
    liver = [organ_suv(male, "fdg", seed=s)["liver"] for s in range(400)]
    assert np.mean(liver) == pytest.approx(1.87, rel=0.05)
    assert np.std(liver) / np.mean(liver) == pytest.approx(0.42 / 1.87, rel=0.2)


def test_suv_map_lesions_mix_by_occupancy(male, disseminated):
    img, used = tracer_suv_map(male, disseminated, "psma-ga68", seed=0)
    for les in disseminated.lesions[:6]:
        sl, patch = disseminated.patches[les.lesion_id]
        full = patch >= 0.999
        if full.any():
            assert np.allclose(img.array[sl][full], les.suv, rtol=1e-5)
        assert used[f"lesion_{les.lesion_id}"] == pytest.approx(les.suv)


def test_seed_determinism(male):
    a, ua = tracer_suv_map(male, None, "fdg", seed=5)
    b, ub = tracer_suv_map(male, None, "fdg", seed=5)
    c, uc = tracer_suv_map(male, None, "fdg", seed=6)
    assert np.array_equal(a.array, b.array) and ua == ub and ua != uc


def test_unknown_tracer_raises(male):
    with pytest.raises(InvalidInputError):
        tracer_suv_map(male, None, "psma-unknown")
    with pytest.raises(InvalidInputError):
        get_profile("")


def test_malformed_profile_rows_raise():
    raw = {"name": "x", "radionuclide": "F-18", "uptake_time_min": {"value": 60, "source": "s"},
           "organs": {"liver": {"mean": 1.0, "sd": 0.1}}, "lesions": {}}
    with pytest.raises(InvalidInputError):
        _parse_profile("bad", raw)  # no source and missing tissues
    good = load_tracer_profiles()["fdg"].model_dump()
    raw2 = {"name": "x", "radionuclide": "F-18", "uptake_time_min": {"value": 60, "source": "s"},
            "organs": {k: {"mean": v[0], "sd": v[1], "source": "s"} for k, v in good["organs"].items()},
            "lesions": {k: {"mean": -1.0, "sd": 1.0, "source": "s"} for k in good["lesion_suv"]}}
    with pytest.raises(InvalidInputError):
        _parse_profile("neg", raw2)


def test_hand_made_disease_gets_occupancy(male):
    from theranostix.twin.truth import Disease, TrueLesion

    c = male.node_stations["obturator_left"]
    les = TrueLesion(lesion_id=7, kind="node", station="obturator_left", centre_mm=c,
                     diameter_mm=10.0, volume_ml=0.52, suv=20.0)
    dis = Disease(lesions=[les], labels=male.labels.with_array(
        np.zeros(male.labels.shape, np.uint16), units="label"), tracer="psma-ga68")
    img, used = tracer_suv_map(male, dis, "psma-ga68", seed=0)
    i, j, k = np.round(male.labels.world_to_index(c)).astype(int)
    assert img.array[k, j, i] == pytest.approx(20.0, rel=1e-5)
    assert float(dis.fraction.array.sum()) * male.labels.voxel_volume_ml == pytest.approx(
        4 / 3 * np.pi * 5**3 / 1000, rel=0.03)

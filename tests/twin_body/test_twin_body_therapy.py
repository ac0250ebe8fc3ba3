"""Lu-177 therapy truth: exact TIA, activity map conservation, correlation, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from theranostix.core.errors import InvalidInputError
from theranostix.physics.radionuclides import radionuclide
from theranostix.twin.therapy import region_volumes_ml, therapy_activity_map, therapy_kinetics
from theranostix.twin.tracers import tracer_suv_map
from theranostix.twin.truth import therapy_kinetics as contract_kinetics


@pytest.fixture(scope="module")
def psma_case(male, disseminated):
    _, used = tracer_suv_map(male, disseminated, "psma-ga68", seed=1)
    truth = contract_kinetics(male, disseminated, used, agent="lu177-psma617", seed=2)
    return used, truth


def test_tia_equals_numeric_integral(psma_case):
    _, truth = psma_case
    a0 = truth.administered_mbq
    for name in ("kidney_left_cortex", "liver", "red_marrow", "parotid_right", "lesion_1",
                 "lesion_5", "muscle"):
        rk = truth.regions[name]
        num, err = quad(lambda t: rk.activity_mbq(t, a0), 0, np.inf, limit=200)
        assert rk.tia_mbq_h == pytest.approx(num, rel=1e-6), name


def test_kinetics_shapes_and_half_lives(psma_case):
    _, truth = psma_case
    lam_phys = np.log(2) / radionuclide("Lu-177").half_life_h
    for name, rk in truth.regions.items():
        assert min(rk.rates_per_h) >= lam_phys * 0.999, name  # physical decay included
        assert rk.tia_mbq_h > 0
    kid = truth.regions["kidney_left_cortex"]
    assert kid.activity_mbq(0.0, truth.administered_mbq) == pytest.approx(0.0, abs=1e-9)  # uptake
    assert 30 * 0.6 < kid.effective_half_life_h < 45 / 0.6
    les = truth.regions["lesion_1"]
    assert 60 * 0.6 < les.effective_half_life_h < 120 / 0.6
    blood = truth.regions["blood_pool"]
    assert len(blood.fractions) == 2 and all(a > 0 for a in blood.fractions)
    total0 = sum(r.activity_mbq(0.0, truth.administered_mbq) for r in truth.regions.values())
    assert total0 <= truth.administered_mbq


def test_activity_map_conserves_region_activity(male, disseminated, psma_case):
    _, truth = psma_case
    for t in (4.0, 24.0, 168.0):
        img = therapy_activity_map(male, disseminated, truth, t)
        assert img.units == "Bq/mL" and img.same_grid(male.labels)
        total = float(img.array.astype(np.float64).sum()) * male.labels.voxel_volume_ml / 1e6
        expected = sum(r.activity_mbq(t, truth.administered_mbq) for r in truth.regions.values())
        assert total == pytest.approx(expected, rel=1e-4)
        liver = truth.regions["liver"]
        m = male.mask("liver") & (disseminated.fraction.array == 0)
        assert float(img.array[m].mean()) == pytest.approx(
            liver.activity_mbq(t, truth.administered_mbq) * 1e6 / liver.volume_ml, rel=1e-4)


def test_uptake_correlates_with_diagnostic(male, disseminated, psma_case):
    used, truth = psma_case
    vols = region_volumes_ml(male, disseminated)
    x, y = [], []
    for les in disseminated.lesions:
        r = f"lesion_{les.lesion_id}"
        x.append(np.log(used[r]))  # diagnostic concentration (SUV)
        y.append(np.log(max(truth.regions[r].fractions) / vols[r]))  # therapy concentration
    rcoef = np.corrcoef(x, y)[0, 1]
    assert 0.6 < rcoef < 0.97  # correlated (same target), with realistic scatter
    # higher diagnostic uptake -> higher therapy uptake, all else equal (same patient, new seed)
    hot = dict(used, liver=used["liver"] * 2)
    t2 = therapy_kinetics(male, disseminated, hot, seed=2)
    assert max(t2.regions["liver"].fractions) > max(truth.regions["liver"].fractions)


def test_deterministic_and_agents(male, disseminated, psma_case):
    used, truth = psma_case
    again = therapy_kinetics(male, disseminated, used, agent="lu177-psma617", seed=2)
    assert again.model_dump() == truth.model_dump()
    dota = therapy_kinetics(male, disseminated, used, agent="lu177-dotatate", seed=2)
    assert 60 * 0.6 < dota.regions["spleen"].effective_half_life_h < 80 / 0.6


def test_bad_input_raises(male, disseminated, psma_case):
    used, truth = psma_case
    with pytest.raises(InvalidInputError):
        therapy_kinetics(male, disseminated, used, agent="lu177-unknown")
    with pytest.raises(InvalidInputError):
        therapy_kinetics(male, disseminated, {"liver": 5.0})
    with pytest.raises(InvalidInputError):
        therapy_kinetics(male, disseminated, used, administered_mbq=-1.0)
    with pytest.raises(InvalidInputError):
        therapy_activity_map(male, disseminated, truth, -2.0)

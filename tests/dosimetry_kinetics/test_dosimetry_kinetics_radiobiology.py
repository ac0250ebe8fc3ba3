"""Radiobiology: FACTS.md worked case, general G, voxel BED, EUBED, cycles, marrow, table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate

from theranostix.core.errors import InvalidInputError
from theranostix.dosimetry.radiobiology import (
    accumulate_cycles,
    bed,
    bed_map,
    compute_bed,
    eqd2,
    eubed,
    g_factor,
    g_factor_mono,
    organ_parameters,
    radiobiology_table,
    red_marrow_blood_method,
)

LN2 = math.log(2)


def test_facts_kidney_worked_case():
    r = compute_bed(20.0, effective_half_life_h=40.0, organ="kidney")
    assert r.g_factor == pytest.approx(0.0654206, abs=5e-8)
    assert r.bed_gy == pytest.approx(30.0647, abs=5e-5)
    assert r.eqd2_gy == pytest.approx(16.9931, abs=5e-5)
    by_limit = {lim.limit_gy: lim.exceeded for lim in r.limits}
    assert by_limit == {40.0: False, 28.0: True}


def test_general_g_reduces_to_mono():
    for t_eff in (5.0, 40.0, 150.0):
        lam = LN2 / t_eff
        assert g_factor([3.7], [lam], 2.8) == pytest.approx(g_factor_mono(t_eff, 2.8), rel=1e-12)
    # splitting one exponential into two identical terms changes nothing
    assert g_factor([1.0, 2.0], [0.02, 0.02], 2.8) == pytest.approx(g_factor_mono(LN2 / 0.02, 2.8))


def test_general_g_matches_numerical_double_integral_for_uptake_washout():
    lw, lu, mu = LN2 / 50, LN2 / 2, LN2 / 2.8
    a = [1.0, -1.0]
    lam = [lw, lu]

    def rate(t):
        return math.exp(-lw * t) - math.exp(-lu * t)

    d = 1 / lw - 1 / lu
    inner = integrate.dblquad(lambda s, t: rate(t) * rate(s) * math.exp(-mu * (t - s)),
                              0, 2000, 0, lambda t: t, epsabs=1e-10, epsrel=1e-10)[0]
    assert g_factor(a, lam, 2.8) == pytest.approx(2 * inner / d**2, rel=1e-6)
    # scale invariance: dose-rate amplitudes only set D
    assert g_factor([7.0, -7.0], lam, 2.8) == pytest.approx(g_factor(a, lam, 2.8))


def test_compute_bed_with_terms_equals_mono_closed_form():
    r1 = compute_bed(20.0, terms=[(100.0, LN2 / 40)], organ="kidney")
    assert r1.bed_gy == pytest.approx(30.0647, abs=5e-5)


def test_bed_refusals():
    with pytest.raises(InvalidInputError):
        g_factor([1.0], [0.0], 2.8)
    with pytest.raises(InvalidInputError):
        g_factor([1.0, 2.0], [0.1], 2.8)
    with pytest.raises(InvalidInputError):
        compute_bed(20.0, effective_half_life_h=40.0, organ="red_marrow")  # no LQ values
    with pytest.raises(InvalidInputError):
        compute_bed(20.0, effective_half_life_h=40.0, organ="brain")
    with pytest.raises(InvalidInputError):
        compute_bed(-1.0, effective_half_life_h=40.0, organ="kidney")
    with pytest.raises(InvalidInputError):
        compute_bed(20.0, organ="kidney")
    with pytest.raises(InvalidInputError):
        compute_bed(20.0, effective_half_life_h=-4.0, organ="kidney")
    with pytest.raises(InvalidInputError):
        eqd2(30.0, 0.0)


def test_bed_map_global_and_voxel_kinetics():
    dose = np.full((3, 4, 5), 20.0)
    m = bed_map(dose, alpha_beta_gy=2.6, repair_half_time_h=2.8, effective_half_life_h=40.0)
    assert np.allclose(m, 30.0647016534867)
    te = np.full(dose.shape, 40.0)
    te[0] = 4.0  # faster kinetics -> larger G -> larger BED
    m2 = bed_map(dose, alpha_beta_gy=2.6, repair_half_time_h=2.8, effective_half_life_h=te)
    assert np.allclose(m2[1:], 30.0647016534867)
    assert np.allclose(m2[0], bed(20.0, 2.6, 2.8 / 6.8))
    with pytest.raises(InvalidInputError):
        bed_map(dose, alpha_beta_gy=2.6, repair_half_time_h=2.8, effective_half_life_h=te[0])
    bad = dose.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(InvalidInputError):
        bed_map(bad, alpha_beta_gy=2.6, repair_half_time_h=2.8, g=0.1)


def test_eubed_uniform_equals_bed_and_two_level_hand_case():
    assert eubed(np.full((5, 5, 5), 30.0647), 0.3) == pytest.approx(30.0647, rel=1e-12)
    b = np.array([10.0, 30.0])
    expected = -math.log((math.exp(-0.3 * 10) + math.exp(-0.3 * 30)) / 2) / 0.3
    assert eubed(b, 0.3) == pytest.approx(expected, rel=1e-12)
    assert eubed(b, 0.3) < b.mean()
    mask = np.array([True, False])
    assert eubed(b, 0.3, mask) == pytest.approx(10.0)
    with pytest.raises(InvalidInputError):
        eubed(b, 0.3, np.array([False, False]))
    with pytest.raises(InvalidInputError):
        eubed(b, -0.3)


def test_cycles_add_in_bed():
    per = compute_bed(10.0, effective_half_life_h=40.0, organ="kidney").bed_gy
    total = accumulate_cycles([per] * 3)
    assert total == pytest.approx(3 * per)
    # three separated cycles give less BED than one cycle with the same total dose
    assert total < compute_bed(30.0, effective_half_life_h=40.0, organ="kidney").bed_gy
    with pytest.raises(InvalidInputError):
        accumulate_cycles([])
    with pytest.raises(InvalidInputError):
        accumulate_cycles([10.0, float("nan")])


def test_rmblr_and_marrow_blood_method_hand_computed():
    r = red_marrow_blood_method(0.5, hematocrit=0.4, sex="male")
    assert r.rmblr == pytest.approx(0.19 / 0.6)
    assert r.red_marrow_tia_mbq_h == pytest.approx(0.5 * 0.19 / 0.6 * 1170)
    assert r.self_dose_gy == pytest.approx(0.5 * 0.19 / 0.6 * 1170 * 1.15e-5 * 3600 / 1000)
    assert any("cross-dose" in w for w in r.provenance.warnings)
    f = red_marrow_blood_method(0.5, hematocrit=0.4, sex="female", remainder_tia_mbq_h=1e5,
                                s_cross_mgy_per_mbq_s=3.5e-7)
    assert f.red_marrow_mass_g == 900.0
    assert f.cross_dose_gy == pytest.approx(1e5 * 3.5e-7 * 3.6)
    assert f.dose_gy == pytest.approx(f.self_dose_gy + f.cross_dose_gy)
    # mass scaling: half the marrow, same blood TIA concentration -> same self-dose per gram
    h = red_marrow_blood_method(0.5, hematocrit=0.4, red_marrow_mass_g=585.0)
    assert h.self_dose_gy == pytest.approx(r.self_dose_gy)


@pytest.mark.parametrize("kw", [dict(hematocrit=42.0), dict(hematocrit=0.4, sex="x"),
                                dict(hematocrit=0.4, nuclide="Y-90"),
                                dict(hematocrit=0.4, remainder_tia_mbq_h=10.0)])
def test_marrow_refusals(kw):
    with pytest.raises(InvalidInputError):
        red_marrow_blood_method(0.5, **kw)


def test_parameter_table_has_sources_and_facts_kidney_values():
    table = radiobiology_table()
    for row in table.values():
        assert row.source.strip()
        for lim in row.limits:
            assert lim.source.strip()
    k = organ_parameters("Kidneys")
    assert (k.alpha_beta_gy, k.repair_half_time_h) == (2.6, 2.8)
    assert sorted(lim.value_gy for lim in k.limits) == [28.0, 40.0]
    assert [lim.value_gy for lim in organ_parameters("red marrow").limits] == [2.0]

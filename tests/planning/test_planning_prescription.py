"""Prescription: hand cases (closed forms computed here independently), delivered doses, binding limit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.dosimetry.radiobiology import bed, compute_bed
from theranostix.planning.prescription import (
    OrganAtRisk,
    OrganLimitSpec,
    cycles_within_limit,
    default_limits,
    limits_from_mapping,
    max_activity_per_cycle_gbq,
    prescribe_organs,
)

KIDNEY_40 = OrganLimitSpec(organ="kidneys", quantity="BED", value_gy=40.0, alpha_beta_gy=2.6,
                           repair_half_time_h=2.8)
MARROW_2 = OrganLimitSpec(organ="red_marrow", quantity="absorbed_dose", value_gy=2.0)


def _hand_activity(d_per_gbq: float, t_eff: float, limit: float, n: int, ab: float = 2.6,
                   t_rep: float = 2.8, delivered: float = 0.0) -> float:
    """Largest root of n (d A + G d^2 A^2 / ab) = limit - delivered, by numpy.roots."""
    g = t_rep / (t_rep + t_eff)
    roots = np.roots([n * g * d_per_gbq**2 / ab, n * d_per_gbq, -(limit - delivered)])
    return float(max(r.real for r in roots if abs(r.imag) < 1e-12))


def test_hand_case_single_administration_49_36_gbq():
    g = 2.8 / (2.8 + 40.0)
    a = max_activity_per_cycle_gbq(0.5, 40.0, 1, quantity="BED", alpha_beta_gy=2.6, g=g)
    assert a == pytest.approx(_hand_activity(0.5, 40.0, 40.0, 1), rel=1e-12)
    assert a == pytest.approx(49.3546, abs=1e-4)
    assert abs(a - 49.36) < 0.01  # the rounded value
    # the kidney BED at that activity is the limit (dosimetry engine, independent code path)
    assert compute_bed(0.5 * a, effective_half_life_h=40.0, organ="kidney").bed_gy == pytest.approx(40.0, rel=1e-10)


def test_hand_case_through_prescribe_organs():
    res = prescribe_organs([OrganAtRisk(organ="kidneys", dose_gy_per_gbq=0.5, effective_half_life_h=40.0)],
                           {"kidneys": KIDNEY_40}, n_cycles=1)
    assert res.plan.total_activity_gbq == pytest.approx(49.3546, abs=1e-4)
    assert res.binding_organ == "kidneys"
    assert res.organs[0].cumulative_at_plan_gy == pytest.approx(40.0, rel=1e-10)
    assert res.organs[0].g_factor == pytest.approx(0.0654206, abs=1e-7)  # FACTS.md worked case


@pytest.mark.parametrize("n", [2, 4, 6])
def test_n_cycles_equal_activity_closed_form(n):
    g = 2.8 / 42.8
    a = max_activity_per_cycle_gbq(0.5, 40.0, n, quantity="BED", alpha_beta_gy=2.6, g=g)
    assert a == pytest.approx(_hand_activity(0.5, 40.0, 40.0, n), rel=1e-12)
    assert n * bed(0.5 * a, 2.6, g) == pytest.approx(40.0, rel=1e-12)
    # fractionation spares: more cycles allow more total activity than one administration
    assert n * a > 49.35


def test_mono_exponential_terms_give_the_same_plan_as_half_life():
    lam = math.log(2) / 40.0
    by_terms = prescribe_organs([OrganAtRisk(organ="kidneys", dose_gy_per_gbq=0.5,
                                             kinetics_terms=[(1.0, lam)])],
                                {"kidneys": KIDNEY_40}, n_cycles=3)
    by_t = prescribe_organs([OrganAtRisk(organ="kidneys", dose_gy_per_gbq=0.5, effective_half_life_h=40.0)],
                            {"kidneys": KIDNEY_40}, n_cycles=3)
    assert by_terms.plan.activity_per_cycle_gbq == pytest.approx(by_t.plan.activity_per_cycle_gbq, rel=1e-10)


def test_delivered_dose_reduces_the_remaining_allowance():
    g = 2.8 / 42.8
    fresh = max_activity_per_cycle_gbq(0.5, 40.0, 3, quantity="BED", alpha_beta_gy=2.6, g=g)
    given = max_activity_per_cycle_gbq(0.5, 40.0, 3, quantity="BED", alpha_beta_gy=2.6, g=g,
                                       delivered_gy=15.0)
    assert given < fresh
    assert given == pytest.approx(_hand_activity(0.5, 40.0, 40.0, 3, delivered=15.0), rel=1e-12)
    assert 15.0 + 3 * bed(0.5 * given, 2.6, g) == pytest.approx(40.0, rel=1e-12)
    assert max_activity_per_cycle_gbq(0.5, 40.0, 3, quantity="BED", alpha_beta_gy=2.6, g=g,
                                      delivered_gy=40.0) == 0.0
    # through the plan: delivered BED counted, cumulative stays at the limit
    res = prescribe_organs([OrganAtRisk(organ="kidneys", dose_gy_per_gbq=0.5, effective_half_life_h=40.0,
                                        delivered_dose_gy=12.0, delivered_bed_gy=15.0)],
                           {"kidneys": KIDNEY_40}, n_cycles=3)
    assert res.plan.activity_per_cycle_gbq == pytest.approx(given, rel=1e-12)
    assert res.organs[0].cumulative_at_plan_gy == pytest.approx(40.0, rel=1e-10)


def test_absorbed_dose_limit_is_linear():
    assert max_activity_per_cycle_gbq(0.04, 2.0, 5, quantity="absorbed_dose") == pytest.approx(10.0)
    assert max_activity_per_cycle_gbq(0.04, 2.0, 5, quantity="absorbed_dose",
                                      delivered_gy=0.4) == pytest.approx(8.0)


def test_binding_limit_marrow_versus_kidney():
    kid = OrganAtRisk(organ="kidneys", dose_gy_per_gbq=0.5, effective_half_life_h=40.0)
    limits = {"kidneys": KIDNEY_40, "red_marrow": MARROW_2}
    # marrow 0.04 Gy/GBq x 6 cycles: 8.33 GBq/cycle; kidney allows ~11.6 -> marrow binds
    high_marrow = prescribe_organs([kid, OrganAtRisk(organ="red_marrow", dose_gy_per_gbq=0.04)],
                                   limits, n_cycles=6)
    assert high_marrow.binding_organ == "red_marrow"
    assert high_marrow.plan.activity_per_cycle_gbq == pytest.approx(2.0 / (6 * 0.04))
    # low marrow dose -> kidney binds at its closed form
    low_marrow = prescribe_organs([kid, OrganAtRisk(organ="red_marrow", dose_gy_per_gbq=0.01)],
                                  limits, n_cycles=6)
    assert low_marrow.binding_organ == "kidneys"
    assert low_marrow.plan.activity_per_cycle_gbq == pytest.approx(_hand_activity(0.5, 40.0, 40.0, 6), rel=1e-12)
    # a cap below both binds as the cap
    capped = prescribe_organs([kid], limits, n_cycles=6, activity_cap_gbq=7.4)
    assert capped.binding_limit == "activity cap per cycle" and capped.plan.activity_per_cycle_gbq == 7.4


def test_standard_schedule_comparison_and_cycles_within_limit():
    kid = OrganAtRisk(organ="kidneys", dose_gy_per_gbq=1.0, effective_half_life_h=40.0)
    res = prescribe_organs([kid], {"kidneys": KIDNEY_40}, n_cycles=6, standard_activity_per_cycle_gbq=7.4)
    g = 2.8 / 42.8
    per_cycle = bed(7.4, 2.6, g)
    assert res.organs[0].cumulative_standard_gy == pytest.approx(6 * per_cycle)
    assert res.organs[0].standard_cycles_within_limit == math.floor(40.0 / per_cycle)
    assert res.standard_within_limits is (6 * per_cycle <= 40.0)
    assert cycles_within_limit(7.4, 1.0, 40.0, quantity="BED", alpha_beta_gy=2.6, g=g) == math.floor(40 / per_cycle)


def test_default_limits_and_risk_factors():
    no_rf, rf = default_limits(False), default_limits(True)
    assert no_rf["kidneys"].value_gy == 40.0 and rf["kidneys"].value_gy == 28.0
    assert no_rf["kidneys"].alpha_beta_gy == 2.6 and no_rf["kidneys"].repair_half_time_h == 2.8
    assert no_rf["red_marrow"].quantity == "absorbed_dose" and no_rf["red_marrow"].value_gy == 2.0
    kid = [OrganAtRisk(organ="kidneys", dose_gy_per_gbq=0.5, effective_half_life_h=40.0)]
    a40 = prescribe_organs(kid, no_rf, n_cycles=4).plan.activity_per_cycle_gbq
    a28 = prescribe_organs(kid, rf, n_cycles=4).plan.activity_per_cycle_gbq
    assert a28 == pytest.approx(_hand_activity(0.5, 40.0, 28.0, 4), rel=1e-12) and a28 < a40


def test_eqd2_limit_is_converted_to_bed():
    lim = limits_from_mapping({"limits": {"kidneys": {"quantity": "EQD2", "value_gy": 20.0,
                                                      "alpha_beta_gy": 2.6, "repair_half_time_h": 2.8}}})
    assert lim["kidneys"].bed_limit_gy == pytest.approx(20.0 * (1 + 2 / 2.6))


@pytest.mark.parametrize("bad", [
    {"kidneys": {"quantity": "BED", "value_gy": 40}},                      # no alpha/beta
    {"kidneys": {"value_gy": 40, "alpha_beta_gy": 2.6, "repair_half_time_h": 2.8}},  # no quantity
    {"kidneys": {"quantity": "BED", "alpha_beta_gy": 2.6, "repair_half_time_h": 2.8}},  # no value
    {"kidneys": {"quantity": "dose", "value_gy": 2}},                       # unknown quantity
    {"red_marrow": {"quantity": "absorbed_dose", "value_gy": -2}},          # negative
    {"kidneys": 40},
    {},
    [1, 2],
])
def test_limits_file_missing_fields_raise(bad):
    with pytest.raises(InvalidInputError):
        limits_from_mapping(bad)


def test_bad_prescription_inputs_raise():
    with pytest.raises(InvalidInputError):
        max_activity_per_cycle_gbq(0.0, 40.0, 1)
    with pytest.raises(InvalidInputError):
        max_activity_per_cycle_gbq(0.5, 40.0, 0)
    with pytest.raises(InvalidInputError):  # no organ with both a prediction and a limit
        prescribe_organs([OrganAtRisk(organ="liver", dose_gy_per_gbq=0.3)], {"kidneys": KIDNEY_40}, n_cycles=2)
    with pytest.raises(InvalidInputError):  # BED limit without kinetics
        prescribe_organs([OrganAtRisk(organ="kidneys", dose_gy_per_gbq=0.3)], {"kidneys": KIDNEY_40}, n_cycles=2)


def test_zero_uptake_organ_is_not_constrained_but_warned():
    from theranostix.planning.prediction import predict_therapy_doses
    from theranostix.planning.prescription import prescribe
    from theranostix.planning.uptake import DiagnosticUptake

    u = DiagnosticUptake(regions=[dict(name="kidneys", percent_ia=14.1, mass_g=310.0),
                                  dict(name="red_marrow", percent_ia=0.0, mass_g=1170.0)])
    plan = prescribe(predict_therapy_doses(u, n_samples=200), n_cycles=2)
    assert plan.binding_organ == "kidneys"
    assert any("red_marrow: predicted dose is 0" in w for w in plan.provenance.warnings)

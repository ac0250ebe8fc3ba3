"""Bayesian update (analytic conjugate check) and re-planning with delivered doses counted."""

from __future__ import annotations

import math

import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.dosimetry.radiobiology import bed, g_factor_mono
from theranostix.planning.prediction import predict_therapy_doses
from theranostix.planning.prescription import prescribe
from theranostix.planning.replanning import (
    CycleDosimetry,
    RegionMeasurement,
    cycle_dosimetry_from_json,
    log_sd_from_cv,
    lognormal_posterior,
    replan,
    update_prediction,
)
from theranostix.planning.uptake import DiagnosticUptake


@pytest.fixture(scope="module")
def prior():
    u = DiagnosticUptake(diagnostic_agent="psma-ga68", regions=[
        dict(name="kidneys", percent_ia=14.1, mass_g=310.0),
        dict(name="red_marrow", percent_ia=2.0, mass_g=1170.0),
        dict(name="lesion_1", kind="lesion", percent_ia=0.1, mass_g=3.0)])
    return predict_therapy_doses(u, n_samples=1000, seed=3)


def test_lognormal_posterior_analytic():
    med, sd = lognormal_posterior(1.0, 0.3, 2.0, 0.2)
    w0, wm = 1 / 0.09, 1 / 0.04
    assert sd == pytest.approx(math.sqrt(1 / (w0 + wm)), rel=1e-12)
    assert math.log(med) == pytest.approx((0 * w0 + math.log(2) * wm) / (w0 + wm), rel=1e-12)
    assert 1.0 < med < 2.0 and sd < 0.2  # moves toward the measurement, narrower than both
    # a very precise measurement dominates; a very vague one leaves the prior
    assert lognormal_posterior(1.0, 0.3, 2.0, 1e-4)[0] == pytest.approx(2.0, rel=1e-5)
    assert lognormal_posterior(1.0, 0.3, 2.0, 1e3)[0] == pytest.approx(1.0, rel=1e-5)
    assert log_sd_from_cv(0.2) == pytest.approx(math.sqrt(math.log(1.04)))
    with pytest.raises(InvalidInputError):
        lognormal_posterior(1.0, 0.0, 2.0, 0.2)
    with pytest.raises(InvalidInputError):
        lognormal_posterior(1.0, 0.3, -2.0, 0.2)


def test_update_moves_toward_measurement_and_shrinks(prior):
    k0 = prior.region("kidneys")
    measured = 2.0 * k0.dose_gy_per_gbq.median
    cyc = CycleDosimetry(cycle=1, administered_gbq=7.4, regions=[
        RegionMeasurement(region="kidneys", dose_gy=measured * 7.4, relative_uncertainty=0.2)])
    post, ups = update_prediction(prior, [cyc])
    k1 = post.region("kidneys")
    exp_med, exp_sd = lognormal_posterior(k0.dose_gy_per_gbq.median, k0.dose_log_sd, measured,
                                          log_sd_from_cv(0.2))
    assert k1.dose_gy_per_gbq.median == pytest.approx(exp_med, rel=1e-12)
    assert k1.dose_log_sd == pytest.approx(exp_sd, rel=1e-12) and k1.dose_log_sd < k0.dose_log_sd
    assert k0.dose_gy_per_gbq.median < k1.dose_gy_per_gbq.median < measured
    assert ups[0].measured_gy_per_gbq == [pytest.approx(measured)]
    # unmeasured regions keep the prior; the input prediction is not modified
    assert post.region("red_marrow") == prior.region("red_marrow")
    assert prior.region("kidneys") == k0


def test_replan_counts_delivered_bed_and_plans_remaining(prior):
    cyc = CycleDosimetry(cycle=1, administered_gbq=7.4, regions=[
        RegionMeasurement(region="kidneys", dose_gy_per_gbq=0.6, effective_half_life_h=45.0)])
    res = replan(prior, [cyc])
    assert res.prescription.plan.cycles == 5 and res.prescription.cycles_already_given == 1
    d1 = 0.6 * 7.4
    expected_bed = bed(d1, 2.6, g_factor_mono(45.0, 2.8))  # measured half-life gives G of cycle 1
    assert res.delivered["kidneys"].dose_gy == pytest.approx(d1)
    assert res.delivered["kidneys"].bed_gy == pytest.approx(expected_bed, rel=1e-12)
    kid = next(o for o in res.prescription.organs if o.organ == "kidneys")
    assert kid.delivered_gy == pytest.approx(expected_bed)
    assert kid.cumulative_at_plan_gy <= 40.0 + 1e-9
    # the measured half-life updated the kinetics used for the remaining cycles
    post_t = res.posterior.region("kidneys").effective_half_lives_h[0]
    assert prior.region("kidneys").effective_half_lives_h[0] < post_t < 45.0
    # marrow not measured: delivered from the posterior (= prior) median
    assert res.delivered["red_marrow"].dose_gy == pytest.approx(
        prior.region("red_marrow").dose_gy_per_gbq.median * 7.4)
    assert any("red_marrow" in w for w in res.provenance.warnings)


def test_higher_measured_kidney_dose_lowers_the_remaining_activity(prior):
    def plan(d):
        cyc = CycleDosimetry(cycle=1, administered_gbq=7.4,
                             regions=[RegionMeasurement(region="kidneys", dose_gy_per_gbq=d)])
        return replan(prior, [cyc], limits=None).prescription
    low, high = plan(0.3), plan(1.5)
    assert high.binding_organ == "kidneys"
    assert high.plan.activity_per_cycle_gbq < low.plan.activity_per_cycle_gbq
    # and fewer cycles' allowance than planning from scratch
    fresh = prescribe(prior, n_cycles=5)
    assert high.plan.activity_per_cycle_gbq < fresh.plan.activity_per_cycle_gbq


def test_bad_replanning_inputs(prior):
    with pytest.raises(InvalidInputError):
        replan(prior, [])
    with pytest.raises(InvalidInputError):  # unknown region
        update_prediction(prior, [CycleDosimetry(cycle=1, administered_gbq=7.4, regions=[
            RegionMeasurement(region="thyroid", dose_gy_per_gbq=1.0)])])
    with pytest.raises(InvalidInputError):  # nothing left to plan
        replan(prior, [CycleDosimetry(cycle=1, administered_gbq=7.4)], n_cycles_total=1)
    with pytest.raises(InvalidInputError):  # both dose fields
        cycle_dosimetry_from_json('{"cycle": 1, "administered_gbq": 7.4, "regions": '
                                  '[{"region": "kidneys", "dose_gy": 3, "dose_gy_per_gbq": 0.4}]}')
    with pytest.raises(InvalidInputError):  # negative activity
        cycle_dosimetry_from_json('{"cycle": 1, "administered_gbq": -7.4}')

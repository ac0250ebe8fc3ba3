"""Site-calibrated prior width of the Bayesian update (analytic conjugate check, bad input)."""

from __future__ import annotations

import math

import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.planning.prediction import predict_therapy_doses
from theranostix.planning.replanning import (
    CycleDosimetry,
    RegionMeasurement,
    log_sd_from_cv,
    replan,
    update_prediction,
)
from theranostix.planning.uptake import DiagnosticUptake


@pytest.fixture(scope="module")
def prior():
    u = DiagnosticUptake(diagnostic_agent="psma-ga68", regions=[
        dict(name="kidneys", percent_ia=11.6, mass_g=310.0),
        dict(name="lesion_1", kind="lesion", percent_ia=0.1, mass_g=3.0),
        dict(name="lesion_2", kind="lesion", percent_ia=0.05, mass_g=1.0)])
    return predict_therapy_doses(u, n_samples=500, seed=5)


def _cycle(prior):
    k = prior.region("kidneys").dose_gy_per_gbq.median
    return CycleDosimetry(cycle=1, administered_gbq=7.4, regions=[
        RegionMeasurement(region="kidneys", dose_gy_per_gbq=2 * k, relative_uncertainty=0.15),
        RegionMeasurement(region="lesion_2", dose_gy_per_gbq=1.0, relative_uncertainty=0.15)])


def test_prior_width_override_gives_the_conjugate_posterior(prior):
    c = _cycle(prior)
    k0 = prior.region("kidneys").dose_gy_per_gbq.median
    post, ups = update_prediction(prior, [c], prior_log_sd={"kidneys": 0.10, "lesion": 0.5})
    sm = log_sd_from_cv(0.15)
    w = (1 / 0.10 ** 2) / (1 / 0.10 ** 2 + 1 / sm ** 2)  # weight of the prior on the log scale
    kid = next(u for u in ups if u.region == "kidneys")
    assert kid.prior_log_sd == pytest.approx(0.10)
    assert math.log(kid.posterior_median_gy_per_gbq) == pytest.approx(
        w * math.log(k0) + (1 - w) * math.log(2 * k0), rel=1e-12)
    assert kid.posterior_log_sd == pytest.approx(math.sqrt(1 / (1 / 0.01 + 1 / sm ** 2)), rel=1e-12)
    assert next(u for u in ups if u.region == "lesion_2").prior_log_sd == pytest.approx(0.5)
    assert post.provenance.parameters["prior_log_sd_override"] == {"kidneys": 0.10, "lesion": 0.5}
    # a narrower prior keeps the estimate nearer the prediction than the Monte-Carlo width does
    _p, default = update_prediction(prior, [c])
    kd = next(u for u in default if u.region == "kidneys")
    assert kid.posterior_median_gy_per_gbq < kd.posterior_median_gy_per_gbq < 2 * k0


@pytest.mark.parametrize("bad", [{"kidneys": 0.0}, {"kidneys": -0.1}, {"lesion": float("nan")},
                                 {"kidneys": "wide"}])
def test_bad_prior_width_is_refused(prior, bad):
    with pytest.raises(InvalidInputError):
        replan(prior, [_cycle(prior)], n_cycles_total=6, prior_log_sd=bad)


def test_cli_prior_width_option(cli, tmp_path):
    import json

    up = tmp_path / "uptake.json"
    up.write_text(json.dumps({"patient_weight_kg": 73, "regions": [
        {"name": "kidneys", "percent_ia": 11.6, "mass_g": 310}]}))
    c1 = tmp_path / "c1.json"
    c1.write_text(json.dumps({"cycle": 1, "administered_gbq": 7.4,
                              "regions": [{"region": "kidneys", "dose_gy": 4.5}]}))
    code, out, err = cli(["plan", str(up), "--prior-dosimetry", str(c1), "--prior-log-sd",
                          "kidneys=0.1", "--samples", "300", "--json"])
    assert code == 0, err
    upd = json.loads(out)["replan"]["updates"][0]
    assert upd["region"] == "kidneys" and upd["prior_log_sd"] == pytest.approx(0.1)
    for bad in (["--prior-log-sd", "kidneys"], ["--prior-log-sd", "kidneys=-1"],
                ["--prior-log-sd", "=0.2"]):
        code, _o, _e = cli(["plan", str(up), "--prior-dosimetry", str(c1), *bad, "--json"])
        assert code == 2
    code, _o, err = cli(["plan", str(up), "--prior-log-sd", "kidneys=0.1", "--json"])
    assert code == 2 and "prior-dosimetry" in err

"""Dose prediction from diagnostic uptake: hand calibration, plausibility, scaling, bad inputs."""

from __future__ import annotations

import math

import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.planning.prediction import (
    calibrated_ratio,
    lognormal_from_range,
    predict_therapy_doses,
)
from theranostix.planning.uptake import DiagnosticUptake, diagnostic_uptake_from_json

N = 1000


def _uptake(kidney_pct: float = 11.6, kidney_mass: float = 310.0, **extra) -> DiagnosticUptake:
    regions = [dict(name="kidneys", percent_ia=kidney_pct, mass_g=kidney_mass),
               dict(name="salivary_glands", percent_ia=1.46, mass_g=85.0),
               dict(name="red_marrow", percent_ia=2.0, mass_g=1170.0),
               dict(name="lesion_1", kind="lesion", percent_ia=0.1, mass_g=3.0)]
    return DiagnosticUptake(diagnostic_agent="psma-ga68", patient_weight_kg=73, regions=regions, **extra)


@pytest.fixture(scope="module")
def typical():
    return predict_therapy_doses(_uptake(), "lu177-psma617", n_samples=N, seed=1)


def test_lognormal_range_is_the_5_95_interval():
    med, sd = lognormal_from_range(30.0, 45.0)
    assert med == pytest.approx(math.sqrt(30 * 45))
    assert med * math.exp(-1.6448536 * sd) == pytest.approx(30.0, rel=1e-6)
    assert med * math.exp(1.6448536 * sd) == pytest.approx(45.0, rel=1e-6)


def test_kidney_ratio_calibration_by_hand():
    # FACTS.md: S(kidney) 7.76e-5 mGy/(MBq s) at 310 g -> 0.27936 Gy/(GBq h) per %; SIM 6.6 medians
    t_w, t_u = math.sqrt(30 * 45), math.sqrt(1 * 3)
    tau_h = (t_w - t_u) / math.log(2)
    gy_per_gbq_per_fraction = 1000 * tau_h * 7.76e-5 * 3.6
    f = 0.43 / gy_per_gbq_per_fraction
    ratio, how = calibrated_ratio("lu177-psma617", "kidneys")
    assert ratio == pytest.approx(f / 0.116, rel=1e-9)
    assert "0.43" in how


def test_typical_kidney_dose_is_plausible(typical):
    k = typical.region("kidneys")
    assert 0.11 <= k.dose_gy_per_gbq.median <= 0.75  # FACTS: 0.43 +/- 0.16 Gy/GBq, +/- 2 SD
    assert k.dose_gy_per_gbq.median == pytest.approx(0.43, rel=0.06)
    assert k.dose_gy_per_gbq.p05 < k.dose_gy_per_gbq.median < k.dose_gy_per_gbq.p95
    assert not any(w.startswith("plausibility") for w in typical.provenance.warnings)
    rm = typical.region("red_marrow")
    assert 0.012 <= rm.dose_gy_per_gbq.median <= 0.105
    assert typical.region("lesion_1").dose_quantity == "absorbed_dose"


def test_dose_scales_with_uptake_and_mass(typical):
    double = predict_therapy_doses(_uptake(kidney_pct=23.2), n_samples=N, seed=1)
    assert double.region("kidneys").dose_gy_per_gbq.median == pytest.approx(
        2 * typical.region("kidneys").dose_gy_per_gbq.median, rel=1e-9)
    # same %IA in a heavier kidney -> lower dose, as the mass-scaled S value
    from theranostix.dosimetry.s_values import scale_self_s_value

    heavy = predict_therapy_doses(_uptake(kidney_mass=400.0), n_samples=N, seed=1)
    expected = scale_self_s_value(7.76e-5, 310, 400, "Lu-177") / 7.76e-5
    assert heavy.region("kidneys").dose_gy_per_gbq.median == pytest.approx(
        expected * typical.region("kidneys").dose_gy_per_gbq.median, rel=1e-9)


def test_implausible_uptake_is_warned_not_hidden():
    p = predict_therapy_doses(_uptake(kidney_pct=60.0), n_samples=N, seed=1)
    assert any(w.startswith("plausibility: predicted kidneys") for w in p.provenance.warnings)


def test_deterministic_with_seed(typical):
    again = predict_therapy_doses(_uptake(), n_samples=N, seed=1)
    assert again.region("kidneys").dose_gy_per_gbq == typical.region("kidneys").dose_gy_per_gbq


def test_ac225_swap_uses_alpha_rbe_and_longer_physical_half_life(typical):
    ac = predict_therapy_doses(_uptake(), "ac225-psma617", n_samples=N, seed=1)
    k = ac.region("kidneys")
    assert k.dose_quantity == "rbe_weighted_dose"
    # Kratochwil 2017: kidneys ~0.7 Sv_RBE5/MBq; band x/3 in Gy(RBE)/GBq
    assert 230 <= k.dose_gy_per_gbq.median <= 2100
    # biological rate kept: 1/T_Ac = 1/T_Lu - 1/T_phys(Lu) + 1/T_phys(Ac)
    t_lu = typical.region("kidneys").effective_half_lives_h[0]
    expect = 1 / (1 / t_lu - 1 / 159.528 + 1 / 240.0)
    assert k.effective_half_lives_h[0] == pytest.approx(expect, rel=2e-3)


def test_salivary_from_parotid_and_submandibular():
    u = DiagnosticUptake(regions=[dict(name="parotid_glands", percent_ia=0.9, mass_g=55),
                                  dict(name="submandibular_glands", percent_ia=0.56, mass_g=30)])
    p = predict_therapy_doses(u, n_samples=200)
    s = p.region("salivary_glands")
    assert s.diagnostic_percent_ia == pytest.approx(1.46) and s.mass_g == pytest.approx(85)


def test_bad_inputs_raise():
    with pytest.raises(InvalidInputError):
        predict_therapy_doses(_uptake(), "lu177-unknown")
    with pytest.raises(InvalidInputError):
        predict_therapy_doses(_uptake(), n_samples=10)
    with pytest.raises(InvalidInputError):  # no region with population kinetics
        predict_therapy_doses(DiagnosticUptake(regions=[dict(name="thyroid", percent_ia=0.1, mass_g=20)]),
                              n_samples=200)
    bad = ('{"regions": [{"name": "kidneys", "percent_ia": -1.0, "mass_g": 300}]}',
           '{"regions": [{"name": "kidneys", "percent_ia": 5.0, "mass_g": 0}]}',
           '{"regions": []}', '{"regions": [{"name": "kidneys"}]}', 'not json')
    for text in bad:
        with pytest.raises(InvalidInputError):
            diagnostic_uptake_from_json(text)


def test_alpha_plan_uses_rbe_dose_without_repair():
    from theranostix.planning.prescription import prescribe

    ac = predict_therapy_doses(_uptake(), "ac225-psma617", n_samples=200, seed=1)
    plan = prescribe(ac, n_cycles=3)
    kid = next(o for o in plan.organs if o.organ == "kidneys")
    assert kid.g_factor == 0.0
    assert kid.max_activity_per_cycle_gbq == pytest.approx(40.0 / (3 * kid.dose_gy_per_gbq))
    assert any("alpha emitter" in w for w in plan.provenance.warnings)


def test_dotatate_standard_schedule_and_missing_marrow_warned():
    from theranostix.planning.prescription import prescribe

    u = DiagnosticUptake(diagnostic_agent="dotatate-ga68", regions=[
        dict(name="kidneys", percent_ia=2.63, mass_g=310.0), dict(name="spleen", percent_ia=2.92, mass_g=150.0),
        dict(name="red_marrow", percent_ia=1.0, mass_g=1170.0)])
    p = predict_therapy_doses(u, "Lutathera", n_samples=300)
    assert p.therapy == "lu177-dotatate"
    assert p.region("kidneys").dose_gy_per_gbq.median == pytest.approx(0.50, rel=0.06)
    assert any("red_marrow" in w for w in p.provenance.warnings)
    plan = prescribe(p)
    assert plan.standard.cycles == 4 and plan.standard.interval_weeks == 8
    assert plan.binding_organ == "kidneys"
    assert any("red_marrow" in w for w in plan.provenance.warnings)

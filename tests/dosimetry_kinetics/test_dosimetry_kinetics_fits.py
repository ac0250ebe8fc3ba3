"""Kinetics: analytic TIAs (FACTS.md), fits recovering known parameters, AICc, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.dosimetry.kinetics import (
    aicc,
    fit_model,
    fit_tac,
    integrate_trapezoid,
    tia_sum_of_exponentials,
)
from theranostix.dosimetry.tac import TimeActivityCurve, tac_from_images

LN2 = math.log(2)
T_LU177_H = 159.528  # FACTS.md: 6.647 d


def curve(t, a, **kw):
    return TimeActivityCurve(times_h=list(map(float, t)), activities_mbq=list(map(float, a)), **kw)


def mono(t, a0=100.0, th=50.0):
    return a0 * np.exp(-LN2 / th * np.asarray(t, float))


def uptake(t, a=100.0, tw=50.0, tu=2.0):
    t = np.asarray(t, float)
    return a * (np.exp(-LN2 / tw * t) - np.exp(-LN2 / tu * t))


# ---------------------------------------------------------------- FACTS.md worked cases
def test_facts_values_are_those_published(reference_dir):
    text = (reference_dir / "dosimetry" / "FACTS.md").read_text()
    for v in ("7213.475", "6924.936", "6.15 %", "0.0654206", "30.0647", "16.9931", "0.19/(1 - HCT)"):
        assert v in text


def test_sum_of_exponentials_exact_cases():
    assert tia_sum_of_exponentials([100.0], [LN2 / 50]) == pytest.approx(7213.475, abs=1e-3)
    assert tia_sum_of_exponentials([100.0, -100.0], [LN2 / 50, LN2 / 2]) == pytest.approx(
        6924.936, abs=1e-3)


@pytest.mark.parametrize("rates", [[0.0], [-0.01], [float("nan")]])
def test_sum_of_exponentials_refuses_non_decaying_terms(rates):
    with pytest.raises(InvalidInputError):
        tia_sum_of_exponentials([100.0], rates)


def test_mono_fit_noise_free_recovers_parameters_and_facts_tia():
    t = [1, 4, 24, 48, 96, 168]
    f = fit_model(curve(t, mono(t)), "mono", nuclide="Lu-177")
    assert f.valid and f.converged
    assert f.parameters["a1"] == pytest.approx(100.0, rel=1e-7)
    assert f.parameters["l1"] == pytest.approx(LN2 / 50, rel=1e-7)
    assert f.tia_mbq_h == pytest.approx(7213.475, abs=1e-2)
    assert f.terminal_half_life_h == pytest.approx(50.0, rel=1e-6)
    assert f.r_squared == pytest.approx(1.0, abs=1e-10)
    assert max(abs(r) for r in f.residuals_mbq) < 1e-6


def test_uptake_washout_fit_noise_free_facts_tia():
    t = [1, 4, 24, 48, 96, 168]
    f = fit_model(curve(t, uptake(t)), "mono_uptake", nuclide="Lu-177")
    assert f.valid
    assert f.parameters["lu"] == pytest.approx(LN2 / 2, rel=1e-6)
    assert f.tia_mbq_h == pytest.approx(6924.936, abs=1e-2)


def test_bi_exponential_fit_noise_free_recovers_components():
    t = np.array([0.5, 1, 2, 4, 8, 24, 48, 96, 168])
    a = 60 * np.exp(-LN2 / 80 * t) + 40 * np.exp(-LN2 / 5 * t)
    f = fit_model(curve(t, a), "bi", nuclide="Lu-177")
    assert f.valid
    assert f.parameters["a1"] == pytest.approx(60, rel=1e-5)
    assert f.parameters["l1"] == pytest.approx(LN2 / 80, rel=1e-5)
    assert f.parameters["a2"] == pytest.approx(40, rel=1e-5)
    assert f.parameters["l2"] == pytest.approx(LN2 / 5, rel=1e-5)
    assert f.tia_mbq_h == pytest.approx(60 * 80 / LN2 + 40 * 5 / LN2, rel=1e-6)


def test_bi_uptake_fit_noise_free():
    t = np.array([0.5, 1, 2, 4, 8, 24, 48, 96, 168])
    a = 60 * np.exp(-LN2 / 80 * t) + 40 * np.exp(-LN2 / 10 * t) - 100 * np.exp(-LN2 / 1 * t)
    f = fit_model(curve(t, a), "bi_uptake", nuclide="Lu-177")
    assert f.valid
    truth = 60 * 80 / LN2 + 40 * 10 / LN2 - 100 * 1 / LN2
    assert f.tia_mbq_h == pytest.approx(truth, rel=1e-4)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_aicc_chooses_bi_for_bi_exponential_data(seed):
    rng = np.random.default_rng(seed)
    t = np.array([0.5, 1, 2, 4, 8, 24, 48, 96, 168])
    a = 60 * np.exp(-LN2 / 80 * t) + 40 * np.exp(-LN2 / 5 * t)
    a = a * (1 + 0.03 * rng.standard_normal(t.size))
    r = fit_tac(curve(t, a), nuclide="Lu-177", candidates=("mono", "mono_uptake", "bi"))
    assert r.chosen is not None and r.chosen.model == "bi"
    assert r.chosen.tia_mbq_h == pytest.approx(60 * 80 / LN2 + 40 * 5 / LN2, rel=0.08)
    assert sum(r.akaike_weights.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_aicc_chooses_mono_for_mono_data(seed):
    rng = np.random.default_rng(seed)
    t = np.array([4, 24, 48, 72, 96, 168])
    a = mono(t) * (1 + 0.05 * rng.standard_normal(t.size))
    r = fit_tac(curve(t, a), nuclide="Lu-177", candidates=("mono", "bi"))
    assert r.chosen is not None and r.chosen.model == "mono"
    assert r.chosen.tia_mbq_h == pytest.approx(7213.475, rel=0.1)


def test_aicc_formula_and_undefined_region():
    assert aicc(2.0, 6, 2) == pytest.approx(6 * math.log(2 / 6) + 4 + 12 / 3)
    assert aicc(2.0, 3, 2) is None


def test_tia_uncertainty_matches_monte_carlo():
    """Delta-method SD of the TIA agrees with the spread of refits of noisy data."""
    t = np.array([4, 24, 48, 96, 168], float)
    truth = mono(t)
    u = 0.05 * truth
    f = fit_model(curve(t, truth, uncertainties_mbq=list(u)), "mono", nuclide="Lu-177")
    assert f.absolute_sigma and f.tia_sd_mbq_h is not None
    rng = np.random.default_rng(7)
    tias = []
    for _ in range(100):
        a = truth + u * rng.standard_normal(t.size)
        tias.append(fit_model(curve(t, a, uncertainties_mbq=list(u)), "mono").tia_mbq_h)
    assert np.std(tias) == pytest.approx(f.tia_sd_mbq_h, rel=0.2)
    assert f.parameter_cv["l1"] is not None and f.covariance is not None


def test_cli_example_curve_mono_and_uncertainty():
    t, a = [4, 24, 48, 96, 168], [95, 72, 52, 27, 10]
    r = fit_tac(curve(t, a), nuclide="Lu-177")
    assert r.chosen.model == "mono"
    # log-linear check of the fitted rate: independent of the optimiser
    slope = -np.polyfit(t, np.log(a), 1)[0]
    assert r.chosen.parameters["l1"] == pytest.approx(slope, rel=0.1)
    assert 0 < r.chosen.tia_sd_mbq_h < 0.05 * r.chosen.tia_mbq_h
    assert set(r.skipped_models) == {"bi", "bi_uptake", "tri"}


# ---------------------------------------------------------------- refusals and flags
def test_rising_curve_is_flagged_invalid_not_integrated():
    t = [4, 24, 48, 96, 168]
    f = fit_model(curve(t, [5, 20, 40, 60, 80]), "mono", nuclide="Lu-177")
    assert not f.valid and f.tia_mbq_h is None
    assert any("<= 0" in r for r in f.invalid_reasons)
    assert any("not integrated" in w for w in f.provenance.warnings)
    r = fit_tac(curve(t, [5, 20, 40, 60, 80]), nuclide="Lu-177")
    assert r.chosen is None and r.tia_mbq_h is None
    assert any("no candidate" in w for w in r.provenance.warnings)


def test_slower_than_physical_decay_refused_unless_allowed():
    t = [4, 24, 48, 96, 168]
    a = mono(t, th=300.0)  # longer than the Lu-177 physical half-life
    f = fit_model(curve(t, a), "mono", nuclide="Lu-177")
    assert not f.valid and f.tia_mbq_h is None
    assert any("physical decay" in r for r in f.invalid_reasons)
    f2 = fit_model(curve(t, a), "mono", nuclide="Lu-177", allow_slower_than_physical=True)
    assert f2.valid and f2.tia_mbq_h == pytest.approx(100 * 300 / LN2, rel=1e-6)
    assert any("slower than physical" in w for w in f2.provenance.warnings)
    # without a nuclide, no physical bound applies
    assert fit_model(curve(t, a), "mono").valid


def test_too_few_points_refused():
    with pytest.raises(InvalidInputError, match="needs at least 5"):
        fit_model(curve([4, 24, 48, 96], [9, 7, 5, 3]), "bi")
    with pytest.raises(InvalidInputError, match="too few"):
        fit_tac(curve([4, 24, 48], [9, 7, 5]))
    # explicit mono with 3 points is allowed, AICc undefined
    r = fit_tac(curve([4, 24, 48], [9, 7, 5]), "mono", nuclide="Lu-177")
    assert r.chosen is not None and r.chosen.aicc is None


def test_unknown_model_refused():
    with pytest.raises(InvalidInputError):
        fit_model(curve([1, 2, 3, 4], [4, 3, 2, 1]), "quad")


@pytest.mark.parametrize("kw", [
    dict(times_h=[1, 2, 3], activities_mbq=[3, 2]),
    dict(times_h=[1, 2, float("nan")], activities_mbq=[3, 2, 1]),
    dict(times_h=[1, 2, 3], activities_mbq=[3, float("nan"), 1]),
    dict(times_h=[1, 2, 3], activities_mbq=[3, -2, 1]),
    dict(times_h=[1, 3, 2], activities_mbq=[3, 2, 1]),
    dict(times_h=[1, 2, 2], activities_mbq=[3, 2, 1]),
    dict(times_h=[], activities_mbq=[]),
    dict(times_h=[1, 2, 3], activities_mbq=[3, 2, 1], uncertainties_mbq=[0.1, 0.1]),
    dict(times_h=[1, 2, 3], activities_mbq=[3, 2, 1], uncertainties_mbq=[0.1, 0, 0.1]),
])
def test_bad_curves_refused(kw):
    with pytest.raises(InvalidInputError):
        TimeActivityCurve(**kw)


# ---------------------------------------------------------------- trapezoid
def test_trapezoid_hand_computed():
    r = integrate_trapezoid(curve([4, 24, 48, 96, 168], [95, 72, 52, 27, 10]), nuclide="Lu-177")
    assert r.head_mbq_h == pytest.approx(95 * 4 / 2)
    assert r.body_mbq_h == pytest.approx(20 * 167 / 2 + 24 * 124 / 2 + 48 * 79 / 2 + 72 * 37 / 2)
    assert r.tail_mbq_h == pytest.approx(10 * T_LU177_H / LN2, rel=1e-4)
    c = integrate_trapezoid(curve([4, 24, 48, 96, 168], [95, 72, 52, 27, 10]), nuclide="Lu-177",
                            start="constant")
    assert c.head_mbq_h == pytest.approx(380.0)


def test_trapezoid_physical_decay_curve_is_nearly_exact():
    lam = LN2 / T_LU177_H
    t = np.linspace(2, 300, 150)
    a = 100 * np.exp(-lam * t)
    u = list(0.05 * a)
    r = integrate_trapezoid(curve(t, a, uncertainties_mbq=u), nuclide="Lu-177", start="exponential")
    assert r.tia_mbq_h == pytest.approx(100 / lam, rel=1e-3)
    assert r.tia_sd_mbq_h is not None and r.tia_sd_mbq_h > 0


def test_trapezoid_bad_rules_refused():
    c = curve([4, 24], [5, 10])
    with pytest.raises(InvalidInputError):
        integrate_trapezoid(c, nuclide="Lu-177", start="exponential")
    with pytest.raises(InvalidInputError):
        integrate_trapezoid(c, nuclide="Lu-177", tail="last_two")
    with pytest.raises(InvalidInputError):
        integrate_trapezoid(c, nuclide="Lu-177", start="linear")


# ---------------------------------------------------------------- TAC from images
def _img(value, units="Bq/mL", spacing=(2.0, 2.0, 2.0)):
    return Image(array=np.full((4, 5, 6), value, dtype=np.float32), spacing=spacing, units=units)


def test_tac_from_images_sums_activity():
    mask = np.zeros((4, 5, 6), bool)
    mask[1:3, 1:3, 1:4] = True  # 12 voxels of 0.008 mL
    out = tac_from_images([_img(1e6), _img(5e5)], [24.0, 48.0], {"lesion": mask})
    assert out["lesion"].activities_mbq == pytest.approx([12 * 0.008, 12 * 0.004])
    assert out["lesion"].times_h == [24.0, 48.0]


def test_tac_from_images_refusals():
    mask = np.ones((4, 5, 6), bool)
    with pytest.raises(InvalidInputError):
        tac_from_images([_img(1.0, units="SUVbw")], [1.0], {"a": mask})
    with pytest.raises(InvalidInputError):
        tac_from_images([_img(1.0), _img(1.0, spacing=(3, 3, 3))], [1.0, 2.0], {"a": mask})
    with pytest.raises(InvalidInputError):
        tac_from_images([_img(1.0)], [1.0, 2.0], {"a": mask})
    with pytest.raises(InvalidInputError):
        tac_from_images([_img(1.0)], [1.0], {"a": mask.astype(np.uint8)})
    with pytest.raises(InvalidInputError):
        tac_from_images([_img(1.0)], [1.0], {"a": np.zeros((4, 5, 6), bool)})
    with pytest.raises(InvalidInputError):
        tac_from_images([_img(1.0)], [1.0], {"a": np.ones((2, 2, 2), bool)})


@pytest.mark.parametrize("name", ["mono", "bi", "tri", "mono_uptake", "bi_uptake"])
def test_analytic_jacobians_match_finite_differences(name):
    from theranostix.dosimetry.kinetics import MODELS, _jacobian

    m = MODELS[name]
    p = np.array([50.0, 0.01, 30.0, 0.1, 20.0, 0.9][: m.n_params])
    t = np.array([0.5, 2.0, 24.0, 96.0, 168.0])
    num = _jacobian(lambda q: m.evaluate(q, t), p)
    assert np.allclose(m.jacobian(p, t), num, rtol=1e-5, atol=1e-8)


def test_seeded_uptake_curves_recover_tia():
    """20 uptake-washout curves with 7 % noise, 6 points: TIA error distribution is tight."""
    rng = np.random.default_rng(11)
    t = np.array([1, 4, 24, 48, 96, 168.0])
    errs = []
    for _ in range(20):
        tw, tu = rng.uniform(20, 120), rng.uniform(0.5, 5)
        a = np.abs(uptake(t, 100, tw, tu) * (1 + 0.07 * rng.standard_normal(t.size)))
        r = fit_tac(curve(t, a), nuclide="Lu-177", candidates=("mono", "mono_uptake", "bi"))
        assert r.chosen is not None
        errs.append(r.chosen.tia_mbq_h / (100 * (tw - tu) / LN2) - 1)
    assert abs(np.median(errs)) < 0.03
    assert max(abs(e) for e in errs) < 0.2

"""Single-time-point methods: Hänscheid 2018 and Madsen 2018 against mono-exponential truths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.dosimetry.single_timepoint import (
    HANSCHEID_MAX_OVERESTIMATE,
    hanscheid_tia,
    madsen_tia,
)

LN2 = math.log(2)


def truth(a0, t_eff):
    return a0 * t_eff / LN2


def activity(a0, t_eff, t):
    return a0 * math.exp(-LN2 * t / t_eff)


@pytest.mark.parametrize("t_eff", [96.0, 48.0])  # T_eff = t and T_eff = t/2 at t = 96 h
def test_hanscheid_exact_cases(t_eff):
    r = hanscheid_tia(activity(100, t_eff, 96.0), 96.0)
    assert r.tia_mbq_h == pytest.approx(truth(100, t_eff), rel=1e-12)


def test_hanscheid_max_overestimate_is_6_15_percent_at_t_over_teff_1_over_ln2():
    t = 96.0
    x = np.linspace(0.2, 4, 20001)  # t / T_eff
    ratios = [hanscheid_tia(activity(1, t / xi, t), t).tia_mbq_h / truth(1, t / xi) for xi in x]
    i = int(np.argmax(ratios))
    assert ratios[i] - 1 == pytest.approx(0.0615, abs=5e-5)
    assert x[i] == pytest.approx(1 / LN2, abs=1e-3)
    assert HANSCHEID_MAX_OVERESTIMATE == pytest.approx(0.0615, abs=5e-5)


def test_madsen_exact_with_true_prior_and_least_sensitive_at_teff_over_ln2():
    t_eff = 60.0
    for t in (24.0, 96.0, 150.0):
        r = madsen_tia(activity(100, t_eff, t), t, t_eff, nuclide="Lu-177")
        assert r.tia_mbq_h == pytest.approx(truth(100, t_eff), rel=1e-12)
    t_opt = t_eff / LN2
    assert madsen_tia(1.0, t_opt, t_eff).optimal_time_h == pytest.approx(t_opt)

    def err(t, prior):  # relative error when the prior is wrong
        return madsen_tia(activity(100, t_eff, t), t, prior).tia_mbq_h / truth(100, t_eff) - 1

    # a +-10 % error in the prior changes the estimate least at t = T_eff/ln2
    at_opt = abs(err(t_opt, 66.0)) + abs(err(t_opt, 54.0))
    assert at_opt < abs(err(24.0, 66.0)) + abs(err(24.0, 54.0))
    assert at_opt < abs(err(200.0, 66.0)) + abs(err(200.0, 54.0))
    assert at_opt < 0.011  # second-order only: ~0.5 % each way for a 10 % prior error
    # first derivative of the estimate with respect to the prior rate vanishes at t_opt
    h = 1e-4
    d_opt = err(t_opt, LN2 / (LN2 / t_eff + h)) - err(t_opt, LN2 / (LN2 / t_eff - h))
    d_24 = err(24.0, LN2 / (LN2 / t_eff + h)) - err(24.0, LN2 / (LN2 / t_eff - h))
    assert abs(d_opt) < 1e-3 * abs(d_24)


@pytest.mark.parametrize("args", [(-1.0, 24.0), (10.0, 0.0), (float("nan"), 24.0)])
def test_stp_bad_input(args):
    with pytest.raises(InvalidInputError):
        hanscheid_tia(*args)
    with pytest.raises(InvalidInputError):
        madsen_tia(*args, 40.0)


def test_madsen_prior_refusals():
    with pytest.raises(InvalidInputError):
        madsen_tia(10.0, 24.0, 0.0)
    with pytest.raises(InvalidInputError, match="physical"):
        madsen_tia(10.0, 24.0, 200.0, nuclide="Lu-177")

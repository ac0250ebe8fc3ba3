"""Exact Rose noise of a region mean for correlated noise, checked against sliding-window means.

The reference is empirical: the SD of the mean over a region R slid across a simulated noise
field made exactly as the twin makes PET noise (white Gaussian noise smoothed by a Gaussian of
sigma = 1 voxel, `theranostix.twin.scanners`), i.e. not computed by the formula under test.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from theranostix.core.errors import InvalidInputError
from theranostix.pet.evaluation import (
    empirical_noise_autocorrelation,
    region_mean_noise_sd,
    rose_cnr,
    rose_cnr_of_signal,
    smoothed_white_noise_autocorrelation,
)


@pytest.fixture(scope="module")
def field() -> np.ndarray:
    rng = np.random.default_rng(11)
    white = rng.standard_normal((56, 56, 56))
    f = ndimage.gaussian_filter(white, 1.0, mode="wrap")  # periodic: stationary everywhere
    return f / f.std()


def _ball(r: float) -> np.ndarray:
    h = int(np.ceil(r))
    g = np.mgrid[-h:h + 1, -h:h + 1, -h:h + 1]
    return (g**2).sum(0) <= r * r


@pytest.mark.parametrize("r", [1.0, 1.5, 2.0, 3.0])
def test_exact_region_mean_sd_matches_sliding_window(field, r):
    ball = _ball(r)
    n = int(ball.sum())
    means = ndimage.correlate(field, ball / n, mode="wrap")
    empirical = float(means.std())
    exact = region_mean_noise_sd(ball, 1.0, smoothed_white_noise_autocorrelation(1.0))
    assert exact == pytest.approx(empirical, rel=0.04)
    # the old shortcut n_eff = max(N / 44.5, 1) over-states the noise of lesion-sized regions
    old = 1.0 / np.sqrt(max(n / (2 * np.sqrt(np.pi)) ** 3, 1.0))
    if 5 <= n <= 60:
        assert old > 1.2 * empirical


def test_autocorrelation_model_and_empirical_estimate(field):
    ac = smoothed_white_noise_autocorrelation(1.0)
    c = ac.shape[0] // 2
    assert ac[c, c, c] == pytest.approx(1.0)
    assert ac.sum() == pytest.approx((2 * np.sqrt(np.pi)) ** 3, rel=0.01)  # N_c = 44.5
    assert ac[c, c, c + 1] == pytest.approx(np.exp(-0.25), abs=0.01)  # continuous limit
    emp = empirical_noise_autocorrelation(field, 3)
    assert emp[3, 3, 4] == pytest.approx(ac[c, c, c + 1], abs=0.02)
    assert emp[3, 5, 3] == pytest.approx(ac[c, c + 2, c], abs=0.02)
    # exact SD with the empirical autocorrelation agrees with the model
    ball = _ball(2.0)
    assert region_mean_noise_sd(ball, 1.0, emp) == pytest.approx(
        region_mean_noise_sd(ball, 1.0, ac), rel=0.03)


def test_white_noise_and_rose_of_signal():
    sig = np.zeros((5, 5, 5))
    sig[2, 2, 2] = 2.0
    sig[2, 2, 1:4:2] = 1.0  # region of 3 voxels, mean 4/3
    assert rose_cnr_of_signal(sig, 0.5) == pytest.approx((4 / 3) * np.sqrt(3) / 0.5)
    # fully correlated limit: a huge correlation length -> n_eff -> 1
    assert rose_cnr_of_signal(sig, 0.5, noise_correlation_sigma_voxels=3.0) == pytest.approx(
        (4 / 3) / 0.5, rel=0.03)
    # exact correlated CNR lies between the shortcut (lower bound) and white noise
    sm = ndimage.gaussian_filter(np.pad(sig, 4), 1.5)
    exact = rose_cnr_of_signal(sm, 0.1, noise_correlation_sigma_voxels=1.0)
    reg = sm >= 0.5 * sm.max()
    lower = rose_cnr(float(sm[reg].mean()), 0.1, float(reg.sum()), noise_correlation_voxels=44.5)
    white = rose_cnr(float(sm[reg].mean()), 0.1, float(reg.sum()))
    assert lower < exact < white


def test_bad_input():
    with pytest.raises(InvalidInputError):
        region_mean_noise_sd(np.zeros((3, 3, 3), bool), 1.0)
    with pytest.raises(InvalidInputError):
        region_mean_noise_sd(np.ones((3, 3, 3), bool), 0.0)
    with pytest.raises(InvalidInputError):
        region_mean_noise_sd(np.ones((3, 3, 3), bool), 1.0, np.ones((2, 2, 2)))
    with pytest.raises(InvalidInputError):
        smoothed_white_noise_autocorrelation(-1.0)
    with pytest.raises(InvalidInputError):
        empirical_noise_autocorrelation(np.zeros((4, 4, 4)), 3)
    with pytest.raises(InvalidInputError):
        rose_cnr_of_signal(np.ones((3, 3, 3)), 0.0)

"""DVH on analytic dose distributions."""

from __future__ import annotations

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.dosimetry.dvh import compute_dvh


def test_uniform_dose():
    d = np.full((10, 10, 10), 5.0)
    m = np.ones_like(d, bool)
    r = compute_dvh(d, m, 0.064, v_thresholds_gy=(4.99, 5.0, 5.01))
    assert r.d_mean_gy == r.d_min_gy == r.d_max_gy == 5.0
    assert all(v == pytest.approx(5.0) for v in r.d_percent_gy.values())
    assert r.v_gy_fraction == {"V4.99": 1.0, "V5": 1.0, "V5.01": 0.0}
    assert r.volume_ml == pytest.approx(64.0)
    assert sum(r.differential_volume_ml) == pytest.approx(64.0)


def test_linear_ramp_matches_analytic_dvh():
    n = 10001
    d = np.linspace(0.0, 10.0, n).reshape(1, 1, n)
    m = np.ones_like(d, bool)
    r = compute_dvh(d, m, 0.001, bin_width_gy=0.1, v_thresholds_gy=(2.0, 7.5))
    assert r.d_percent_gy["D2"] == pytest.approx(9.8, abs=1e-3)
    assert r.d_percent_gy["D50"] == pytest.approx(5.0, abs=1e-3)
    assert r.d_percent_gy["D98"] == pytest.approx(0.2, abs=1e-3)
    assert r.d_mean_gy == pytest.approx(5.0)
    assert r.v_gy_fraction["V2"] == pytest.approx(0.8, abs=2e-4)
    assert r.v_gy_fraction["V7.5"] == pytest.approx(0.25, abs=2e-4)
    edges = np.asarray(r.bin_edges_gy)
    cum = np.asarray(r.cumulative_fraction)
    inside = edges <= 10.0
    assert np.allclose(cum[inside], 1 - edges[inside] / 10.0, atol=2e-3)
    assert np.all(np.diff(cum) <= 0)
    # differential: uniform density of 0.1 Gy bins of 1/100 of 10.001 mL
    assert np.allclose(r.differential_volume_ml[:99], 10.001 / 100, rtol=0.02)


def test_mask_selects_region():
    d = np.zeros((2, 2, 2))
    d[0] = 8.0
    m = np.zeros_like(d, bool)
    m[0] = True
    r = compute_dvh(d, m, 1.0)
    assert r.d_min_gy == 8.0 and r.n_voxels == 4


@pytest.mark.parametrize("case", ["nan", "neg", "shape", "dtype", "empty", "vox", "bin"])
def test_dvh_refusals(case):
    d = np.ones((2, 2, 2))
    m = np.ones_like(d, bool)
    kw = {}
    vox = 1.0
    if case == "nan":
        d[0, 0, 0] = np.nan
    elif case == "neg":
        d[0, 0, 0] = -1
    elif case == "shape":
        m = np.ones((2, 2), bool)
    elif case == "dtype":
        m = m.astype(int)
    elif case == "empty":
        m[:] = False
    elif case == "vox":
        vox = 0.0
    elif case == "bin":
        kw["bin_width_gy"] = -1.0
    with pytest.raises(InvalidInputError):
        compute_dvh(d, m, vox, **kw)

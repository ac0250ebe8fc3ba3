"""The twin's follow-up model works for the FDG tracer profile (PERCIST is scored on FDG pairs)."""

from __future__ import annotations

import pytest

from theranostix.twin import truth as T


@pytest.fixture(scope="module")
def fdg_twin():
    an = T.build_anatomy(sex="M", seed=401, spacing_mm=4.0)
    dis = T.build_disease(an, pattern="nodal", seed=401, tracer="fdg")
    return an, dis


@pytest.mark.parametrize("response", ["PD", "PR", "CR"])
def test_fdg_followup(fdg_twin, response):
    an, dis = fdg_twin
    fu, info = T.followup_disease(an, dis, 2, seed=401, response=response)
    assert fu.tracer == "fdg" and info["response_class"] == response
    suv, used = T.tracer_suv_map(an, fu, "fdg", seed=401)
    base_suv, base_used = T.tracer_suv_map(an, dis, "fdg", seed=401)
    assert used["liver"] == base_used["liver"]  # same patient: organ uptake unchanged
    if response == "CR":
        assert fu.total_volume_ml == 0.0 and not info["new_lesions"]
    elif response == "PR":
        assert info["total_volume_after_ml"] < info["total_volume_before_ml"] and not info["new_lesions"]
    else:
        assert info["new_lesions"], "PD draws at least one new lesion"
        for new in info["new_lesions"]:
            assert used[f"lesion_{new['lesion_id']}"] > 0  # new lesions take up FDG

"""Follow-up: lesions shrink/grow as the response class says; truth info is consistent."""

from __future__ import annotations

import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.twin.disease import build_disease
from theranostix.twin.followup import auto_response_class, followup_disease
from theranostix.twin.truth import followup_disease as contract_followup


@pytest.fixture(scope="module")
def baseline(male):
    return build_disease(male, "nodal", seed=5)


def test_partial_response_shrinks_every_lesion(male, baseline):
    fu, info = contract_followup(male, baseline, cycles=2, seed=1, response="PR")
    assert info["response_class"] == "PR" and not info["new_lesions"]
    for row in info["lesions"]:
        # volume factor per cycle 0.45-0.75 -> after 2 cycles 0.20-0.56 (+ voxelisation)
        assert row["volume_after_ml"] < 0.6 * row["volume_before_ml"]
        assert row["suv_after"] < row["suv_before"]
    assert info["total_volume_change_pct"] < -40
    assert info["total_volume_after_ml"] == pytest.approx(fu.total_volume_ml)


def test_progression_grows_and_adds_lesions(male, baseline):
    fu, info = followup_disease(male, baseline, cycles=2, seed=1, response="PD")
    assert len(info["new_lesions"]) >= 1
    for row in info["lesions"]:
        assert row["volume_after_ml"] > 1.4 * row["volume_before_ml"]
    new_ids = {r["lesion_id"] for r in info["new_lesions"]}
    assert new_ids.isdisjoint({l.lesion_id for l in baseline.lesions})
    assert all(fu.lesion(i).new for i in new_ids)
    assert info["total_volume_change_pct"] > 40


def test_complete_response_and_stable(male, baseline):
    fu, info = followup_disease(male, baseline, cycles=1, seed=0, response="CR")
    assert fu.lesions == [] and info["total_volume_change_pct"] == pytest.approx(-100)
    assert all(r["status"] == "disappeared" for r in info["lesions"])
    fu, info = followup_disease(male, baseline, cycles=1, seed=0, response="SD")
    for row in info["lesions"]:
        assert row["volume_after_ml"] == pytest.approx(row["volume_before_ml"], rel=0.15)
    assert abs(info["total_volume_change_pct"]) < 15


def test_zero_cycles_is_identity_and_lesion_ids_persist(male, baseline):
    fu, info = followup_disease(male, baseline, cycles=0, seed=0, response="PR")
    assert [l.lesion_id for l in fu.lesions] == [l.lesion_id for l in baseline.lesions]
    assert info["total_volume_change_pct"] == pytest.approx(0.0, abs=1e-9)


def test_auto_is_deterministic(male, baseline):
    a = followup_disease(male, baseline, cycles=2, seed=3)[1]
    b = followup_disease(male, baseline, cycles=2, seed=3)[1]
    assert a == b and a["response_class"] in ("CR", "PR", "SD", "PD")


def test_auto_response_class_is_the_class_followup_draws(male, baseline):
    seen = set()
    for seed, cycles in [(3, 2), (1, 1), (4, 1), (9, 2), (12, 1), (30, 2)]:
        cls = auto_response_class(seed, cycles)
        assert followup_disease(male, baseline, cycles=cycles, seed=seed)[1]["response_class"] == cls
        seen.add(cls)
    assert len(seen) >= 2  # the seeds above do not all draw one class


@pytest.mark.parametrize("kwargs", [{"cycles": -1}, {"cycles": 2.5}, {"cycles": 99},
                                    {"cycles": 1, "response": "great"}])
def test_bad_input_raises(male, baseline, kwargs):
    with pytest.raises(InvalidInputError):
        followup_disease(male, baseline, **kwargs)

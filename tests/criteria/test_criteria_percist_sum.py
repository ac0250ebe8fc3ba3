"""PERCIST's secondary measure (sum of up to 5 hottest SULpeaks, at most 2 per organ) and the
calculator's other-lesion input."""

from __future__ import annotations

import json

import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.response.percist import PercistLesion, PercistScan, percist, sum_of_hottest


def L(sul, organ, lid=None):  # noqa: N802 (a short constructor for the tables below)
    return PercistLesion(sul_peak=sul, organ=organ, lesion_id=lid)


def test_sum_takes_the_hottest_five_with_two_per_organ():
    les = [L(9.0, "lymph_node", "a"), L(8.0, "lymph_node", "b"), L(7.5, "lymph_node", "c"),
           L(7.0, "lung", "d"), L(6.0, "bone", "e"), L(5.0, "liver", "f"), L(4.0, "lung", "g"),
           L(3.0, "lung", "h")]
    total, used = sum_of_hottest(les)
    # the third node (7.5) is skipped for the 2-per-organ rule; the fifth place goes to the liver
    assert [x.lesion_id for x in used] == ["a", "b", "d", "e", "f"]
    assert total == pytest.approx(9.0 + 8.0 + 7.0 + 6.0 + 5.0)
    # fewer lesions than five: all of them, within the per-organ rule
    assert sum_of_hottest([L(4.0, "bone"), L(3.0, "bone"), L(2.0, "bone")])[0] == pytest.approx(7.0)
    assert sum_of_hottest([]) == (0.0, [])
    # the measurability floor (baseline): lesions below it do not count, at it they do
    assert [x.lesion_id for x in sum_of_hottest(les, min_sul_peak=7.0)[1]] == ["a", "b", "d"]
    with pytest.raises(InvalidInputError):
        sum_of_hottest(les, max_per_organ=0)


def _scan(sul, lesions, **kw):
    return PercistScan(sul_peak=sul, liver_sul_mean=2.0, liver_sul_sd=0.25, blood_pool_sul_mean=1.5,
                       uptake_min=60.0, lesions=lesions, **kw)


def test_percist_reports_the_sum_and_keeps_the_category():
    # measurability threshold 1.5 x 2.0 + 2 x 0.25 = 3.5: the baseline 3.0 lesion is left out
    b = _scan(10.0, [L(10.0, "lymph_node", "1"), L(6.0, "lung", "2"), L(3.0, "bone", "3")])
    f = _scan(8.0, [L(8.0, "lymph_node", "1"), L(2.0, "lung", "2"), L(4.0, "bone", "3")])
    r = percist(b, f)
    assert r.values["baseline_sul_peak_sum"] == pytest.approx(16.0)
    assert r.values["baseline_sum_lesions"] == ["1", "2"]
    assert r.values["followup_sul_peak_sum"] == pytest.approx(14.0)
    assert r.values["sul_peak_sum_change_fraction"] == pytest.approx(14.0 / 16.0 - 1.0)
    why = r.reason("PERCIST.secondary.sum_of_hottest")
    assert why.met is None and "not used for the category" in why.text
    # the category is the target's (10 -> 8: -20 %, SMD), with or without the sum
    assert r.category == percist(b.model_copy(update={"lesions": None}),
                                 f.model_copy(update={"lesions": None})).category == "SMD"
    assert "baseline_sul_peak_sum" not in percist(b, f.model_copy(update={"lesions": None})).values
    with pytest.raises(InvalidInputError):
        percist(b, _scan(8.0, [L(-1.0, "bone")]))


def test_percist_cli_secondary_sum(cli):
    args = ["criteria", "percist", "--baseline-sulpeak", "10", "--followup-sulpeak", "8",
            "--baseline-liver-mean", "2.0", "--baseline-liver-sd", "0.25", "--followup-liver-mean", "2.0",
            "--json"]
    lesions = ["--baseline-lesion", "10:lymph_node", "--baseline-lesion", "6:lung",
               "--followup-lesion", "8:lymph_node", "--followup-lesion", "2:lung"]
    code, out, err = cli(args + lesions)
    assert code == 0, err
    v = json.loads(out)["values"]
    assert v["baseline_sul_peak_sum"] == pytest.approx(16.0) and v["followup_sul_peak_sum"] == pytest.approx(10.0)
    # a follow-up without lesions: 0:none
    code, out, err = cli(args + ["--baseline-lesion", "10:lymph_node", "--followup-lesion", "0:none"])
    assert code == 0, err
    assert json.loads(out)["values"]["sul_peak_sum_change_fraction"] == pytest.approx(-1.0)
    for bad in (["--baseline-lesion", "10", "--followup-lesion", "8:lung"],
                ["--baseline-lesion", "x:lung", "--followup-lesion", "8:lung"],
                ["--baseline-lesion", "-1:lung", "--followup-lesion", "8:lung"],
                ["--baseline-lesion", "10:lung"]):
        code, _, err = cli(args + bad)
        assert code == 2 and "lesion" in err, bad


def test_percist_cli_other_lesion_increase(cli):
    args = ["criteria", "percist", "--baseline-sulpeak", "10", "--followup-sulpeak", "6",
            "--baseline-liver-mean", "2.0", "--baseline-liver-sd", "0.25", "--followup-liver-mean", "2.0", "--json"]
    code, out, err = cli(args)
    assert code == 0 and json.loads(out)["category"] == "PMR", err
    code, out, err = cli(args + ["--other-lesion-increase"])
    assert code == 0 and json.loads(out)["category"] == "SMD", err

"""assess_response on hand-made analyses: categories, new lesions, SUL, refusals and flags."""

from __future__ import annotations

import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.response.pipeline import assess_response, check_same_patient, sul_factor


def _base(make, **kw):
    return make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0),
                          make.lesion(2, (100, 0, 0), 5.0, 10.0, site="external_iliac_left")], **kw)


def test_partial_response(make):
    fu = make.analysis([make.lesion(1, (1, 0, 0), 4.0, 12.0), make.lesion(2, (100, 2, 0), 2.0, 6.0)], days=60)
    fa = assess_response(_base(make), [fu]).followups[0]
    # TTV 15 -> 6 mL = -60 % (RECIP PR); SULpeak 16 -> 9.6 x f: -40 %, > 0.8 SUL (PERCIST PMR)
    assert fa.category("recip") == "PR"
    assert fa.category("percist") == "PMR"
    assert fa.category("ppp") == "non-PD"
    assert fa.n_new_lesions == 0 and fa.tracking.n_matched == 2
    assert fa.values["baseline_tv_ml"] == pytest.approx(15.0)
    assert fa.values["followup_tv_ml"] == pytest.approx(6.0)
    # the pair was not registered (no CT): said, not silent
    assert any("frame of reference" in f for f in fa.flags)


def test_progression_with_new_distant_lesions(make):
    fu = make.analysis([make.lesion(1, (0, 0, 0), 14.0, 22.0), make.lesion(2, (100, 0, 0), 6.0, 10.0),
                        make.lesion(3, (0, 150, 50), 1.0, 15.0, site="rib"),
                        make.lesion(4, (-80, 150, 50), 1.0, 15.0, site="lung")], days=60)
    fa = assess_response(_base(make), [fu]).followups[0]
    # TTV 15 -> 22 mL = +46.7 % with 2 new lesions: RECIP PD; 2 new distant lesions: PPP PD (rule 1)
    assert fa.n_new_lesions == 2 and sorted(fa.new_lesion_ids) == [3, 4]
    assert fa.category("recip") == "PD"
    assert fa.category("ppp") == "PD"
    assert fa.category("percist") == "PMD"  # new lesions


def test_growth_without_new_lesions_is_sd(make):
    fu = make.analysis([make.lesion(1, (0, 0, 0), 14.0, 21.0), make.lesion(2, (100, 0, 0), 6.0, 10.5)], days=60)
    fa = assess_response(_base(make), [fu]).followups[0]
    assert fa.values["followup_tv_ml"] / fa.values["baseline_tv_ml"] - 1 == pytest.approx(1 / 3)
    assert fa.category("recip") == "SD"  # RECIP PD needs new lesions too
    assert fa.category("percist") == "SMD"  # +5 %


def test_single_new_regional_lesion_ppp_needs_clinical_data(make):
    fu = make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0), make.lesion(2, (100, 0, 0), 5.0, 10.0),
                        make.lesion(3, (60, 60, 0), 0.5, 8.0, site="obturator_left")], days=60)
    b = _base(make)
    assert assess_response(b, [fu]).followups[0].category("ppp") == "indeterminate"
    assert assess_response(b, [fu], psa_progression=True).followups[0].category("ppp") == "PD"
    assert assess_response(b, [fu], psa_progression=False).followups[0].category("ppp") == "non-PD"
    # a new lesion smaller than min_new_lesion_volume_ml is listed but not counted
    fa = assess_response(b, [fu], min_new_lesion_volume_ml=1.0).followups[0]
    assert fa.n_new_lesions == 0 and any(c.status == "new" for c in fa.lesions)


def test_complete_response(make):
    fu = make.analysis([], days=60)
    fa = assess_response(_base(make), [fu]).followups[0]
    assert fa.category("recip") == "CR"
    assert fa.category("percist") == "CMR"
    assert fa.tracking.n_disappeared == 2


def test_sul_factor_hand_computed():
    # Janmahasatian male: BMI = 80 / 1.8^2 = 24.69; LBM = 9270*80/(6680+216*24.69) = 61.73 kg
    assert sul_factor({"sex": "M", "weight_kg": 80.0, "height_m": 1.8}) == pytest.approx(61.731 / 80, rel=1e-4)
    with pytest.raises(InvalidInputError):
        sul_factor({"sex": "M", "weight_kg": 80.0})


def test_percist_uses_sul_values(make):
    fu = make.analysis([make.lesion(1, (1, 0, 0), 4.0, 12.0), make.lesion(2, (100, 2, 0), 2.0, 6.0)], days=60)
    p = assess_response(_base(make), [fu], criteria=["percist"]).followups[0].criteria["percist"]
    f = 61.731 / 80
    assert p.values["baseline_sul_peak"] == pytest.approx(16.0 * f, rel=1e-4)  # suv_peak = 0.8 x 20
    assert p.values["followup_sul_peak"] == pytest.approx(9.6 * f, rel=1e-4)


def test_liver_comparability_flagged(make):
    fu = make.analysis([make.lesion(1, (1, 0, 0), 4.0, 12.0), make.lesion(2, (100, 2, 0), 2.0, 6.0)],
                       days=60, liver=(7.0, 0.5))  # liver 5 -> 7 SUV: +40 %
    fa = assess_response(_base(make), [fu]).followups[0]
    p = fa.criteria["percist"]
    assert p.category == "NE" and p.values["category_if_comparable"] == "PMR"
    assert any("percist" in f and "liver" in f for f in fa.flags)
    assert fa.category("recip") == "PR"  # RECIP does not rest on the liver
    with pytest.raises(InvalidInputError, match="not comparable"):
        assess_response(_base(make), [fu], percist_on_incomparable="refuse")


def test_uptake_time_comparability_flagged(make):
    fu = make.analysis([make.lesion(1, (1, 0, 0), 4.0, 12.0)], days=60, uptake_time_min=90.0)
    p = assess_response(_base(make), [fu]).followups[0].criteria["percist"]
    assert p.category == "NE" and any("uptake" in f for f in p.flags)


@pytest.mark.parametrize("change", [{"sex": "F"}, {"height_m": 1.60}, {"weight_kg": 50.0},
                                    {"birth_year": 1950}])
def test_different_patient_refused(make, change):
    b = _base(make, patient={"sex": "M", "weight_kg": 80.0, "height_m": 1.8, "birth_year": 1960})
    pat = {"sex": "M", "weight_kg": 80.0, "height_m": 1.8, "birth_year": 1960, **change}
    fu = make.analysis([make.lesion(1, (0, 0, 0), 4.0, 12.0)], days=60, patient=pat)
    with pytest.raises(InvalidInputError, match="refused"):
        assess_response(b, [fu])


def test_weight_change_flagged_not_refused(make):
    fu = make.analysis([make.lesion(1, (0, 0, 0), 4.0, 12.0)], days=60,
                       patient={"sex": "M", "weight_kg": 68.0, "height_m": 1.8})
    fa = assess_response(_base(make), [fu]).followups[0]
    assert any("weight changed" in f for f in fa.flags)


def test_different_tracer_refused(make):
    fu = make.analysis([make.lesion(1, (0, 0, 0), 4.0, 12.0)], days=60, tracer="fdg")
    with pytest.raises(InvalidInputError, match="tracer"):
        assess_response(_base(make), [fu])


def test_followup_before_baseline_refused(make):
    fu = make.analysis([make.lesion(1, (0, 0, 0), 4.0, 12.0)], days=-10)
    with pytest.raises(InvalidInputError, match="chronology|days"):
        assess_response(_base(make), [fu])


def test_bad_arguments(make):
    b = _base(make)
    fu = make.analysis([make.lesion(1, (0, 0, 0), 4.0, 12.0)], days=60)
    with pytest.raises(InvalidInputError):
        assess_response(b, [fu], criteria=["recist"])
    with pytest.raises(InvalidInputError):
        assess_response(b, [])
    with pytest.raises(InvalidInputError):
        assess_response(b, fu)  # a single analysis, not a list
    with pytest.raises(InvalidInputError):
        assess_response(b, [fu], on_registration_failure="ignore")


def test_no_baseline_disease_recip_not_evaluable(make):
    b = make.analysis([])
    fu = make.analysis([make.lesion(1, (0, 0, 0), 4.0, 12.0)], days=60)
    fa = assess_response(b, [fu], criteria=["recip"]).followups[0]
    assert fa.category("recip") == "NE" and fa.flags


def test_two_followups_and_no_identifiers(make):
    b = _base(make, patient={"sex": "M", "weight_kg": 80.0, "height_m": 1.8, "patient_key": "abc123"})
    pat = {"sex": "M", "weight_kg": 80.0, "height_m": 1.8, "patient_key": "abc123"}
    f1 = make.analysis([make.lesion(1, (0, 0, 0), 6.0, 14.0), make.lesion(2, (100, 0, 0), 3.0, 8.0)], days=50, patient=pat)
    f2 = make.analysis([make.lesion(1, (0, 0, 0), 3.0, 10.0)], days=100, patient=pat)
    res = assess_response(b, [f1, f2])
    assert [fa.index for fa in res.followups] == [1, 2]
    assert res.followups[1].days_since_baseline == pytest.approx(100.0)
    assert res.followups[1].category("recip") == "PR"
    assert "abc123" not in res.model_dump_json()


def test_check_same_patient_without_data_is_flagged():
    checks = check_same_patient({}, {})
    assert checks[0].passed is None and checks[0].severity == "flag"


def _suv_image(hot_at=None, value=9.0):
    import numpy as np

    from theranostix.core.image import Image

    a = np.ones((50, 50, 50), dtype=np.float32)
    if hot_at is not None:
        i, j, k = (int(round((c + 100.0) / 4.0)) for c in hot_at)
        a[k - 1:k + 2, j - 1:j + 2, i - 1:i + 2] = value
    return Image(a, spacing=(4.0, 4.0, 4.0), origin=(-100.0, -100.0, -100.0), units="SUVbw")


def test_new_lesion_look_back_and_uptake_checks(make):
    new = make.lesion(3, (60.0, 60.0, 0.0), 1.0, 12.0, site="rib")
    fu = make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0), make.lesion(2, (100, 0, 0), 5.0, 10.0), new], days=60)
    # baseline image cold at the site: a real new lesion
    b = _base(make, suv=_suv_image())
    assert assess_response(b, [fu]).followups[0].n_new_lesions == 1
    # uptake already there at baseline (9 >= 0.6 x 12): listed, flagged, not counted
    b = _base(make, suv=_suv_image(hot_at=(60.0, 60.0, 0.0)))
    fa = assess_response(b, [fu]).followups[0]
    assert fa.n_new_lesions == 0
    ev = next(c for c in fa.lesions if c.status == "new")
    assert any("already at baseline" in f for f in ev.flags)
    assert fa.category("recip") == "SD"
    # check switched off: counted
    assert assess_response(b, [fu], new_lesion_baseline_fraction=None).followups[0].n_new_lesions == 1
    # between the follow-up blood pool (1.5) and liver (5) SUVmean: PSMA-positive by default
    # (miPSMA >= 1), not with the stricter liver check (miPSMA >= 2)
    faint = make.lesion(3, (60.0, 60.0, 0.0), 1.0, 4.0, site="rib")
    fu2 = make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0), faint], days=60)
    assert assess_response(_base(make), [fu2]).followups[0].n_new_lesions == 1
    fa2 = assess_response(_base(make), [fu2], new_lesion_min_uptake="liver").followups[0]
    assert fa2.n_new_lesions == 0 and any("below the liver" in f for c in fa2.lesions for f in c.flags)
    # below the blood pool: not counted by default either
    fainter = make.lesion(3, (60.0, 60.0, 0.0), 1.0, 1.2, site="rib")
    fu3 = make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0), fainter], days=60)
    fa3 = assess_response(_base(make), [fu3]).followups[0]
    assert fa3.n_new_lesions == 0 and any("below the blood_pool" in f for c in fa3.lesions for f in c.flags)
    assert assess_response(_base(make), [fu3], new_lesion_min_uptake="none").followups[0].n_new_lesions == 1
    with pytest.raises(InvalidInputError):
        assess_response(_base(make), [fu2], new_lesion_min_uptake="parotid")


def test_percist_tlg_compares_lesions_segmented_on_both_scans(make):
    # follow-up lesion 3 was already there at baseline (segmented on the follow-up only): its TLG
    # (0.7 x 12 x 20 = 168) would make a +96 % "rise" (PMD by the TLG rule); left out, TLG is unchanged
    b = _base(make, suv=_suv_image(hot_at=(60.0, 60.0, 0.0)))
    fu = make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0),
                        make.lesion(2, (100, 0, 0), 5.0, 10.0, site="external_iliac_left"),
                        make.lesion(3, (60.0, 60.0, 0.0), 20.0, 12.0, site="rib")], days=60)
    fa = assess_response(b, [fu], criteria=["percist"]).followups[0]
    f = 61.731 / 80
    assert fa.values["tlg_left_out_followup_ids"] == [3] and fa.values["tlg_left_out_baseline_ids"] == []
    assert fa.values["baseline_tlg"] == pytest.approx(175.0 * f, rel=1e-4)  # 0.7 x (20 x 10 + 10 x 5)
    assert fa.values["followup_tlg"] == pytest.approx(175.0 * f, rel=1e-4)
    assert fa.category("percist") == "SMD"
    # the mirror: a baseline lesion not segmented on the follow-up although its uptake is still
    # there (9 >= 0.6 x 12) is flagged and left out of the baseline TLG
    b2 = make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0),
                        make.lesion(2, (100, 0, 0), 5.0, 10.0, site="external_iliac_left"),
                        make.lesion(3, (60.0, 60.0, 0.0), 20.0, 12.0, site="rib")])
    fu2 = make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0),
                         make.lesion(2, (100, 0, 0), 5.0, 10.0, site="external_iliac_left")], days=60,
                        suv=_suv_image(hot_at=(60.0, 60.0, 0.0)))
    fa = assess_response(b2, [fu2], criteria=["percist"]).followups[0]
    assert fa.values["tlg_left_out_baseline_ids"] == [3]
    assert fa.values["baseline_tlg"] == pytest.approx(175.0 * f, rel=1e-4)
    gone = next(c for c in fa.lesions if c.status == "disappeared")
    assert any("uptake still at follow-up" in x for x in gone.flags)
    # a baseline lesion that really resolved (cold follow-up) stays in: TLG falls
    fu3 = make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0),
                         make.lesion(2, (100, 0, 0), 5.0, 10.0, site="external_iliac_left")], days=60,
                        suv=_suv_image())
    v3 = assess_response(b2, [fu3], criteria=["percist"]).followups[0].values
    assert v3["tlg_left_out_baseline_ids"] == []
    assert v3["baseline_tlg"] == pytest.approx(343.0 * f, rel=1e-4)


def test_residual_uptake_at_an_unsegmented_baseline_target_is_flagged(make):
    # the baseline target (lesion 1, SULpeak 16 x f) is not segmented on the follow-up, but the
    # follow-up image still shows uptake there (SUV 9 over a 3x3x3 block): a reader would measure it
    b = _base(make)
    fu = make.analysis([make.lesion(2, (100, 0, 0), 2.0, 6.0, site="external_iliac_left")], days=60,
                       suv=_suv_image(hot_at=(0.0, 0.0, 0.0)))
    fa = assess_response(b, [fu], criteria=["percist"]).followups[0]
    f = 61.731 / 80
    r = fa.values["residual_sul_peak_at_baseline_target"]
    assert 5.0 * f < r <= 9.0 * f * (1 + 1e-4)  # above the follow-up liver (5 x f), at most the block SUV
    assert any("residual uptake at the site of the baseline target (lesion 1)" in x for x in fa.flags)
    # the category is not changed silently: it is the segmented lesions' one, with the flag beside it
    assert fa.criteria["percist"].category == assess_response(
        b, [make.analysis([make.lesion(2, (100, 0, 0), 2.0, 6.0, site="external_iliac_left")], days=60)],
        criteria=["percist"]).followups[0].criteria["percist"].category
    # a cold site: measured, not flagged
    fu_cold = make.analysis([make.lesion(2, (100, 0, 0), 2.0, 6.0, site="external_iliac_left")], days=60,
                            suv=_suv_image())
    fc = assess_response(b, [fu_cold], criteria=["percist"]).followups[0]
    assert fc.values["residual_sul_peak_at_baseline_target"] == pytest.approx(1.0 * f, rel=1e-4)
    assert not any("residual uptake" in x for x in fc.flags)

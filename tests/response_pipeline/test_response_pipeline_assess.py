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


def test_recip_lesions_the_category_rests_on_are_flagged(make):
    # lesion 1 15 -> 7 mL, lesion 2 5 -> 3 mL, and a 6 mL follow-up region below the blood pool
    # (not new): TTV 20 -> 16 mL = -20 % (SD); without the region -50 % (PR)
    b = make.analysis([make.lesion(1, (0, 0, 0), 15.0, 20.0), make.lesion(2, (100, 0, 0), 5.0, 10.0)])
    fu = make.analysis([make.lesion(1, (0, 0, 0), 7.0, 14.0), make.lesion(2, (100, 0, 0), 3.0, 8.0),
                        make.lesion(3, (0, 150, 0), 6.0, 1.2, site="mediastinal")], days=60)
    fa = assess_response(b, [fu], criteria=["recip"], recip_volume="segmented").followups[0]
    assert fa.category("recip") == "SD" and fa.n_new_lesions == 0
    dep = fa.values["recip_single_lesion_dependence"]
    assert [(d["followup_id"], d["category_without"]) for d in dep] == [(3, "PR")]
    assert any("rests on single lesions" in f and "follow-up lesion 3 (mediastinal" in f for f in fa.flags)
    # by default the region below the blood pool is not PSMA-positive disease: left out of the
    # follow-up TTV (20 -> 10 mL, PR), said in a flag with the category every region gives
    fa = assess_response(b, [fu], criteria=["recip"]).followups[0]
    assert fa.category("recip") == "PR"
    assert fa.values["recip_tv_ml"] == {"baseline": pytest.approx(20.0), "followup": pytest.approx(10.0)}
    assert fa.values["followup_tv_ml"] == pytest.approx(16.0)  # the segmented total is still reported
    assert [(d["side"], d["lesion_id"]) for d in fa.values["recip_left_out"]] == [("followup", 3)]
    assert fa.values["recip_category_all_segmented"] == "SD"
    assert any("left out followup lesion 3 (mediastinal, 6.00 mL, below the uptake reference)" in f
               and "every segmented lesion: SD" in f for f in fa.flags)
    assert fa.values["recip_single_lesion_dependence"] == []  # -50 %: no single lesion decides PR
    # a clear response rests on no single lesion
    fa = assess_response(_base(make), [make.analysis([make.lesion(1, (0, 0, 0), 4.0, 12.0),
                                                      make.lesion(2, (100, 0, 0), 2.0, 6.0)], days=60)],
                         criteria=["recip"]).followups[0]
    assert fa.values["recip_single_lesion_dependence"] == []
    assert not any("rests on" in f for f in fa.flags)


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


def test_recip_ttv_compares_the_same_disease_on_both_scans(make):
    # complete response of both lesions; a 0.7 mL follow-up region (rib) whose uptake was already
    # there at baseline (9 >= 0.6 x 12) is segmented on the follow-up only: not a residual
    b = _base(make, suv=_suv_image(hot_at=(60.0, 60.0, 0.0)))
    fu = make.analysis([make.lesion(3, (60.0, 60.0, 0.0), 0.7, 12.0, site="rib")], days=60)
    fa = assess_response(b, [fu], criteria=["recip"]).followups[0]
    assert fa.n_new_lesions == 0 and fa.category("recip") == "CR"
    assert fa.values["recip_tv_ml"]["followup"] == 0.0
    assert fa.values["recip_category_all_segmented"] == "PR"
    assert assess_response(b, [fu], criteria=["recip"],
                           recip_volume="segmented").followups[0].category("recip") == "PR"
    # the mirror: baseline lesion 3 (20 mL) is not segmented on the follow-up although its uptake
    # is still there: left out of the baseline TTV (10 -> 10 mL, SD), not a -67 % "response"
    b2 = make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0), make.lesion(3, (60.0, 60.0, 0.0), 20.0, 12.0, site="rib")])
    kept = [make.lesion(1, (0, 0, 0), 10.0, 20.0)]
    fa2 = assess_response(b2, [make.analysis(kept, days=60, suv=_suv_image(hot_at=(60.0, 60.0, 0.0)))],
                          criteria=["recip"]).followups[0]
    assert fa2.category("recip") == "SD"
    left = [(d["side"], d["lesion_id"], d["why"]) for d in fa2.values["recip_left_out"]]
    assert left == [("baseline", 3, "one-sided")]
    # ... while a lesion that really resolved (cold follow-up site) counts: 30 -> 10 mL, PR
    fa3 = assess_response(b2, [make.analysis(kept, days=60, suv=_suv_image())], criteria=["recip"]).followups[0]
    assert fa3.category("recip") == "PR" and fa3.values["recip_left_out"] == []
    with pytest.raises(InvalidInputError, match="recip_volume"):
        assess_response(b, [fu], recip_volume="all")


def test_residual_uptake_at_an_unsegmented_baseline_target_is_measured(make):
    # the baseline target (lesion 1, SULpeak 16 x f) is not segmented on the follow-up, but the
    # follow-up image still shows uptake there (SUV 9 over a 3x3x3 block in a flat SUV-1
    # background): distinguishable from its surroundings, so PERCIST's follow-up target is there
    b = _base(make)
    seg = [make.lesion(2, (100, 0, 0), 2.0, 6.0, site="external_iliac_left")]
    fu = make.analysis(seg, days=60, suv=_suv_image(hot_at=(0.0, 0.0, 0.0)))
    f = 61.731 / 80
    fa = assess_response(b, [fu], criteria=["percist"]).followups[0]
    p = fa.criteria["percist"]
    # every 1 cm^3 sphere centre within the site holds 19 voxels of the block: SULpeak 9 x f
    assert fa.values["residual_sul_peak_at_baseline_target"] == pytest.approx(9.0 * f, rel=1e-4)
    assert fa.values["residual_significance_z"] >= 5.0
    assert p.values["followup_sul_peak"] == pytest.approx(9.0 * f, rel=1e-4)  # not lesion 2's 4.8 x f
    assert p.category == "PMR"  # 16 -> 9 SUV: -44 %
    assert p.values["followup_sum_lesions"] == ["site of baseline lesion 1", "2"]  # the site counts too
    assert any("follow-up target measured at the site of the baseline target (lesion 1)" in x for x in fa.flags)
    # a residual too faint for PMR: 16 -> 12 SUV is -25 %, SMD -- without it the lesion 2 would give PMR
    fu12 = make.analysis(seg, days=60, suv=_suv_image(hot_at=(0.0, 0.0, 0.0), value=12.0))
    assert assess_response(b, [fu12], criteria=["percist"]).followups[0].category("percist") == "SMD"
    # complete response of every segmented lesion: the residual still keeps it from CMR
    fu_all = make.analysis([], days=60, suv=_suv_image(hot_at=(0.0, 0.0, 0.0)))
    assert assess_response(b, [fu_all], criteria=["percist"]).followups[0].category("percist") == "PMR"
    assert assess_response(b, [make.analysis([], days=60, suv=_suv_image())],
                           criteria=["percist"]).followups[0].category("percist") == "CMR"
    # residual_target="flag": the category uses the segmented lesions, the site is flagged for review
    fl = assess_response(b, [fu_all], criteria=["percist"], residual_target="flag").followups[0]
    assert fl.category("percist") == "CMR"
    assert any("residual uptake at the site of the baseline target (lesion 1)" in x and "review" in x
               for x in fl.flags)
    # a cold site: measured, neither used nor flagged
    fu_cold = make.analysis(seg, days=60, suv=_suv_image())
    fc = assess_response(b, [fu_cold], criteria=["percist"]).followups[0]
    assert fc.values["residual_sul_peak_at_baseline_target"] == pytest.approx(1.0 * f, rel=1e-4)
    assert fc.criteria["percist"].values["followup_sul_peak"] == pytest.approx(4.8 * f, rel=1e-4)
    assert not any("baseline target" in x for x in fc.flags)


def test_residual_uptake_indistinguishable_from_hot_tissue_is_not_a_target(make):
    # the site lies in tissue hotter than the liver (SUV 6 +- 0.5 noise vs liver 5) with no lesion
    # of its own: above the liver, but not distinguishable from the surroundings -> CMR stands
    import numpy as np

    from theranostix.core.image import Image

    rng = np.random.default_rng(7)
    arr = (6.0 + 0.5 * rng.standard_normal((50, 50, 50))).astype(np.float32)
    suv = Image(arr, spacing=(4.0, 4.0, 4.0), origin=(-100.0, -100.0, -100.0), units="SUVbw")
    fa = assess_response(_base(make), [make.analysis([], days=60, suv=suv)], criteria=["percist"]).followups[0]
    f = 61.731 / 80
    assert fa.values["residual_sul_peak_at_baseline_target"] > 5.0 * f  # at or above the liver ...
    assert fa.values["residual_significance_z"] < 5.0  # ... but noise of its own tissue
    assert fa.values["residual_background_tissue"] == "all tissue (no CT)"
    assert fa.category("percist") == "CMR"
    assert not any("baseline target" in x for x in fa.flags)


def _grid(arr):
    import numpy as np

    from theranostix.core.image import Image

    return Image(np.asarray(arr, dtype=np.float32), spacing=(4.0, 4.0, 4.0), origin=(-100.0, -100.0, -100.0),
                 units="SUVbw")


def test_residual_site_is_the_baseline_targets_own_voxels(make):
    # the baseline target (lesion 1, 10 mL: equivalent radius 13.4 mm) was segmented on the 27
    # voxels within 4 mm of (0, 0, 0); at follow-up a hot structure (SUV 9) lies at z 12-20 mm,
    # beside the site: inside the equivalent sphere, outside the target's own voxels
    import numpy as np

    lab = np.zeros((50, 50, 50), dtype=np.int32)
    lab[24:27, 24:27, 24:27] = 1
    b = _base(make, labels=_grid(lab).with_array(lab, units="label"))
    bg = 1.0 + 0.1 * np.random.default_rng(11).standard_normal((50, 50, 50))
    beside = bg.copy()
    beside[28:31, 24:27, 24:27] = 9.0
    fa = assess_response(b, [make.analysis([], days=60, suv=_grid(beside))], criteria=["percist"]).followups[0]
    f = 61.731 / 80
    assert fa.values["residual_sul_peak_at_baseline_target"] < 2.0 * f  # not the structure's SUV 9
    assert fa.values["residual_significance_z"] < 5.0
    assert fa.category("percist") == "CMR"
    assert not any("baseline target" in x for x in fa.flags)
    # the same uptake on the target's own voxels is residual tumour
    inside = bg.copy()
    inside[24:27, 24:27, 24:27] = 9.0
    fa = assess_response(b, [make.analysis([], days=60, suv=_grid(inside))], criteria=["percist"]).followups[0]
    assert fa.values["residual_significance_z"] >= 5.0
    assert fa.category("percist") == "PMR"
    assert any("follow-up target measured at the site of the baseline target (lesion 1)" in x for x in fa.flags)


def test_residual_site_is_judged_per_tissue(make):
    # a soft-tissue target (lesion 1) had displaced bone: 2 of its 5 slices lie in a bone slab
    # (CT 700 HU, z <= -4 mm) whose marrow takes up SUV 3 +- 0.3 everywhere, the soft tissue
    # SUV 1 +- 0.1. At follow-up the site holds nothing but normal marrow and soft tissue: its
    # bone part is judged against bone, the rest against soft tissue, and neither stands out
    # (as one soft-tissue site its hottest voxel, in the marrow, would be ~25 SDs above soft tissue)
    import numpy as np

    lab = np.zeros((50, 50, 50), dtype=np.int32)
    lab[23:28, 23:28, 23:28] = 1
    b = _base(make, labels=_grid(lab).with_array(lab, units="label"))
    hu = np.full((50, 50, 50), -1000.0)
    hu[2:48, 2:48, 2:48] = 40.0
    hu[2:25, 10:40, 10:40] = 700.0
    ct = _grid(hu).with_array(hu.astype(np.float32), units="HU")
    rng = np.random.default_rng(5)
    suv = np.where(hu >= 700.0, 3.0 + 0.3 * rng.standard_normal(hu.shape), 1.0 + 0.1 * rng.standard_normal(hu.shape))
    fa = assess_response(b, [make.analysis([], days=60, suv=_grid(suv), ct=ct)], criteria=["percist"]).followups[0]
    assert fa.values["residual_significance_z"] < 5.0
    assert fa.category("percist") == "CMR"
    assert not any("baseline target" in x for x in fa.flags)
    # residual tumour in the soft part (SUV 2.5, 15 SDs above soft tissue) stands out there
    suv[25:28, 23:28, 23:28] = 2.5
    fa = assess_response(b, [make.analysis([], days=60, suv=_grid(suv), ct=ct)], criteria=["percist"]).followups[0]
    assert fa.values["residual_background_tissue"] == "soft tissue"
    assert fa.values["residual_significance_z"] >= 5.0
    assert fa.category("percist") == "PMR"


def test_residual_options_checked(make):
    fu = make.analysis([], days=60)
    with pytest.raises(InvalidInputError, match="residual_target"):
        assess_response(_base(make), [fu], residual_target="ignore")
    with pytest.raises(InvalidInputError, match="residual_significance_k"):
        assess_response(_base(make), [fu], residual_significance_k=0.0)


def test_percist_secondary_sum_from_the_analyses(make):
    # baseline lesions' SULpeaks (0.8 x SUVmax x f): 16f bone, 9.6f external iliac node, 4.8f node,
    # 4f bone (measurability threshold 1.5 x 5f + 2 x 0.5f = 8.5f: only the first two count)
    from theranostix.response.pipeline import percist_organ

    f = 61.731 / 80
    b = make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0),
                       make.lesion(2, (100, 0, 0), 5.0, 12.0, site="external_iliac_left"),
                       make.lesion(3, (0, 100, 0), 1.0, 6.0, site="obturator_right"),
                       make.lesion(4, (0, 0, 100), 1.0, 5.0)])
    fu = make.analysis([make.lesion(1, (0, 0, 0), 10.0, 10.0),
                        make.lesion(2, (100, 0, 0), 5.0, 12.0, site="external_iliac_left"),
                        make.lesion(3, (0, 100, 0), 1.0, 11.0, site="obturator_right"),
                        make.lesion(5, (-90, 0, 0), 1.0, 15.0, site="common_iliac_left")], days=60)
    v = assess_response(b, [fu], criteria=["percist"], new_lesion_baseline_fraction=None
                        ).followups[0].criteria["percist"].values
    assert v["baseline_sul_peak_sum"] == pytest.approx((16.0 + 9.6) * f, rel=1e-4)
    assert v["baseline_sum_lesions"] == ["1", "2"]
    # follow-up: node 5 (12f), node 2 (9.6f) -- node 3 (8.8f) is a third node --, bone 1 (8f)
    assert v["followup_sum_lesions"] == ["5", "2", "1"]
    assert v["followup_sul_peak_sum"] == pytest.approx((12.0 + 9.6 + 8.0) * f, rel=1e-4)
    assert [percist_organ(s) for s in ("external_iliac_left", "bone", "lung", "adrenal_gland_left", None)] == \
        ["lymph_node", "bone", "lung", "adrenal_gland_left", "unassigned"]


def test_residual_whose_significance_cannot_be_computed_is_flagged_for_review(make):
    # a follow-up image no larger than the site: no background shell, so z is unknown -> not used
    # as the target, but flagged (it is above the liver), never dropped silently
    import numpy as np

    from theranostix.core.image import Image

    # 7^3 voxels of 4 mm around the 10 mL target (equivalent radius 13.4 mm): every voxel lies
    # within 10 mm of the site, where the 10-20 mm background shell begins
    suv = Image(np.full((7, 7, 7), 9.0, dtype=np.float32), spacing=(4.0, 4.0, 4.0),
                origin=(-12.0, -12.0, -12.0), units="SUVbw")
    fa = assess_response(_base(make), [make.analysis([], days=60, suv=suv)], criteria=["percist"]).followups[0]
    assert fa.values["residual_significance_z"] is None
    assert fa.category("percist") == "CMR"
    assert any("significance could not be computed" in x and "review the site" in x for x in fa.flags)


def test_percist_pmr_needs_no_other_lesion_increasing(make):
    # target (lesion 1) SULpeak 16 -> 8 SUV (x f): -50 %, PMR by itself; lesion 2 stays cooler than
    # the target on both scans (else it would be the follow-up target)
    def scan(l2_volume, l2_suv, days=0):
        return make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0 if days == 0 else 10.0),
                              make.lesion(2, (100, 0, 0), l2_volume, l2_suv, site="external_iliac_left")],
                             days=days)

    b = scan(5.0, 5.0)
    assert assess_response(b, [scan(5.0, 5.0, 60)], criteria=["percist"]).followups[0].category("percist") == "PMR"
    # lesion 2's SULpeak 4 -> 6.4 SUV (x f): +60 % and 1.85 SUL -> PMR excluded, SMD, flagged
    fa = assess_response(b, [scan(5.0, 8.0, 60)], criteria=["percist"]).followups[0]
    assert fa.category("percist") == "SMD"
    assert [(d["baseline_id"], d["measure"]) for d in fa.values["nontarget_increases"]] == [(2, "sul_peak")]
    assert any("other lesions increased > 30 %" in x and "PMR excluded" in x for x in fa.flags)
    # +30 % exactly is not "> 30 %": 4 -> 5.2
    assert assess_response(b, [scan(5.0, 6.5, 60)], criteria=["percist"]).followups[0].category("percist") == "PMR"
    # ... but it is under pmd_boundary ">=", which the non-target check follows
    fa = assess_response(b, [scan(5.0, 6.5, 60)], criteria=["percist"],
                         criterion_options={"percist": {"pmd_boundary": ">="}}).followups[0]
    assert fa.category("percist") == "SMD" and fa.values["nontarget_increases"][0]["measure"] == "sul_peak"
    # lesion 2's longest diameter 21.2 -> 28.4 mm (5 -> 12 mL): +34 % and >= 5 mm -> excluded too
    fa = assess_response(b, [scan(12.0, 5.0, 60)], criteria=["percist"]).followups[0]
    assert fa.category("percist") == "SMD"
    assert [d["measure"] for d in fa.values["nontarget_increases"]] == ["longest_diameter_mm"]
    # +26 % (5 -> 10 mL is 21.2 -> 26.7 mm) is below the 30 %: PMR stands
    assert assess_response(b, [scan(10.0, 5.0, 60)], criteria=["percist"]).followups[0].category("percist") == "PMR"
    # the caller may override the check (flagged)
    fa = assess_response(b, [scan(5.0, 8.0, 60)], criteria=["percist"],
                         criterion_options={"percist": {"nontarget_increase_over_30pct": False}}).followups[0]
    assert fa.category("percist") == "PMR" and any("not applied" in x for x in fa.flags)


def _grid_images(hot: dict[tuple[int, int], float], labels: dict[tuple[int, int], int]):
    """SUV image (background 1) and label map on a 4 mm grid, origin -100 mm; keys are x index ranges
    (i0, i1) on the row through (0, 0, 0)."""
    import numpy as np

    from theranostix.core.image import Image

    a = np.ones((50, 50, 50), dtype=np.float32)
    lab = np.zeros((50, 50, 50), dtype=np.int32)
    for (i0, i1), v in hot.items():
        a[24:27, 24:27, i0:i1] = v
    for (i0, i1), lid in labels.items():
        lab[24:27, 24:27, i0:i1] = lid
    kw = dict(spacing=(4.0, 4.0, 4.0), origin=(-100.0, -100.0, -100.0))
    return Image(a, units="SUVbw", **kw), Image(lab, units="label", **kw)


def test_new_lesion_look_back_reads_the_lesion_footprint(make):
    # baseline: a treated node at x = -4..4 mm (SUV 12); follow-up: it persists, and a new node
    # appears beside it at x = 8..12 mm (SUV 8) where the baseline had background (SUV 1)
    b_suv, b_lab = _grid_images({(24, 27): 12.0}, {(24, 27): 1})
    f_suv, f_lab = _grid_images({(24, 27): 10.0, (27, 29): 8.0}, {(24, 27): 1, (27, 29): 2})
    b = make.analysis([make.lesion(1, (0, 0, 0), 0.5, 12.0, site="external_iliac_left")], suv=b_suv, labels=b_lab)
    fu = make.analysis([make.lesion(1, (0, 0, 0), 0.5, 10.0, site="external_iliac_left"),
                        make.lesion(2, (10, 0, 0), 0.15, 8.0, site="external_iliac_left")],
                       days=60, suv=f_suv, labels=f_lab)
    fa = assess_response(b, [fu], criteria=["recip"]).followups[0]
    assert fa.n_new_lesions == 1 and fa.new_lesion_ids == [2] and fa.category("recip") == "PD"
    # the former sphere (equivalent radius + 4 mm = 7.3 mm around x = 10) reaches the treated node
    fs = assess_response(b, [fu], criteria=["recip"], new_lesion_lookback="sphere").followups[0]
    assert fs.n_new_lesions == 0
    assert any("already at baseline" in f and "around its site" in f for c in fs.lesions for f in c.flags)
    # uptake already in the footprint at baseline: not counted, and said where it was read
    b2_suv, _ = _grid_images({(24, 27): 12.0, (27, 29): 6.0}, {})
    b2 = make.analysis([make.lesion(1, (0, 0, 0), 0.5, 12.0, site="external_iliac_left")], suv=b2_suv, labels=b_lab)
    f2 = assess_response(b2, [fu], criteria=["recip"]).followups[0]
    assert f2.n_new_lesions == 0
    assert any("in its footprint" in f for c in f2.lesions for f in c.flags)
    # no label maps: the sphere is read, and the follow-up says so
    fu_nolab = make.analysis(list(fu.lesions.lesions), days=60, suv=f_suv)
    f3 = assess_response(b, [fu_nolab], criteria=["recip"]).followups[0]
    assert f3.n_new_lesions == 0 and any("no label maps" in f for f in f3.flags)
    with pytest.raises(InvalidInputError, match="new_lesion_lookback"):
        assess_response(b, [fu], new_lesion_lookback="cube")


def test_lesion_appearing_beside_a_fading_one_is_new_not_the_old_one_moved(make):
    # baseline: a faint node at x = -4..4 mm (SUV 2); follow-up: it fades to background and a hot
    # node appears 12 mm away (x = 8..16 mm, SUV 12) where the baseline had background. The two
    # are within the 15 mm matching gate, but their masks do not overlap and the look-back finds no
    # uptake at the new node's site: a new lesion (PD), not the faint node grown (measured on PSMA
    # twin pairs 11030 and 15038, benchmarks/bench_response_notes.md)
    b_suv, b_lab = _grid_images({(24, 27): 2.0}, {(24, 27): 1})
    f_suv, f_lab = _grid_images({(27, 29): 12.0}, {(27, 29): 2})
    b = make.analysis([make.lesion(1, (0, 0, 0), 0.4, 2.0, site="external_iliac_right")], suv=b_suv, labels=b_lab)
    fu = make.analysis([make.lesion(2, (12, 0, 0), 1.5, 12.0, site="external_iliac_right")],
                       days=60, suv=f_suv, labels=f_lab)
    fa = assess_response(b, [fu], criteria=["recip"]).followups[0]
    status = {(c.baseline_id, c.followup_id): c.status for c in fa.lesions}
    assert status == {(1, None): "disappeared", (None, 2): "new"}
    assert fa.new_lesion_ids == [2] and fa.category("recip") == "PD"
    # uptake at the site at baseline (look-back >= 0.6 x): tracking matches by distance as before
    b2_suv, _ = _grid_images({(24, 27): 2.0, (27, 29): 8.0}, {})
    b2 = make.analysis([make.lesion(1, (0, 0, 0), 0.4, 2.0, site="external_iliac_right")], suv=b2_suv, labels=b_lab)
    f2 = assess_response(b2, [fu], criteria=["recip"]).followups[0]
    assert [(c.baseline_id, c.followup_id, c.status) for c in f2.lesions] == [(1, 2, "matched")]
    # the look-back disabled: distance matching as before
    f3 = assess_response(b, [fu], criteria=["recip"], new_lesion_baseline_fraction=None).followups[0]
    assert [(c.baseline_id, c.followup_id, c.status) for c in f3.lesions] == [(1, 2, "matched")]

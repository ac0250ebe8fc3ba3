"""RECIP 1.0, PPP, PERCIST 1.0, Lugano/Deauville and Krenning change: boundaries, reasons,
comparability failures and bad input."""

from __future__ import annotations

import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.response.criteria import (
    ExistingLesionChange,
    PercistScan,
    PppInput,
    krenning_change,
    lugano_response,
    percist,
    ppp,
    recip,
)

EPS = 1e-6
RECIP_RULES = ["RECIP.volume_change", "RECIP.new_lesions", "RECIP.CR", "RECIP.PR", "RECIP.PD"]


# ---------------------------------------------------------------- RECIP
@pytest.mark.parametrize("followup,new,cat", [
    (0.0, 0, "CR"),
    (70.0 + 1e-4, 0, "SD"), (70.0, 0, "PR"), (69.9, 0, "PR"), (10.0, 0, "PR"),
    (70.0, 1, "SD"),                          # PR requires no new lesions
    (120.0 - 1e-4, 1, "SD"), (120.0, 1, "PD"), (120.1, 1, "PD"),
    (150.0, 0, "SD"),                         # PD requires new lesions too
    (100.0, 3, "SD"),
])
def test_recip_boundaries(followup, new, cat):
    r = recip(100.0, followup, new)
    assert r.category == cat
    assert r.rules == RECIP_RULES
    assert r.values["tv_change_fraction"] == pytest.approx((followup - 100.0) / 100.0)
    assert r.reason(f"RECIP.{cat}").met is True if cat != "SD" else all(
        not r.reason(f"RECIP.{c}").met for c in ("CR", "PR", "PD"))


def test_recip_decimal_boundaries_land_on_threshold():
    assert recip(10.0, 7.0).category == "PR"        # (7-10)/10 in floating point
    assert recip(3.3, 2.31).category == "PR"
    assert recip(0.3, 0.36, 2).category == "PD"


def test_recip_strict_options():
    assert recip(100.0, 70.0, pr_boundary=">").category == "SD"
    assert recip(100.0, 120.0, 1, pd_boundary=">").category == "SD"
    r = recip(100.0, 60.0)
    assert r.reason("RECIP.PR").option == "pr_boundary=>="
    assert r.provenance.parameters["pr_decrease_fraction"] == 0.30


def test_recip_single_lesion_dependence():
    from theranostix.response.recip import recip_single_lesion_dependence as dep

    # lesion 10 -> 6 mL plus a 2 mL follow-up-only region (not counted as new): TTV -20 % (SD);
    # without the region -40 % (PR). Leaving out the only baseline lesion is not tried.
    assert dep([(10.0, 6.0, False), (0.0, 2.0, False)], 10.0, 8.0, 0) == [(1, "PR")]
    # one counted new lesion makes PD (+40 %); without it SD
    assert dep([(10.0, 13.0, False), (0.0, 1.0, True)], 10.0, 14.0, 1) == [(1, "SD")]
    # two equal responding lesions: no single lesion decides
    assert dep([(10.0, 5.0, False), (10.0, 5.0, False)], 20.0, 10.0, 0) == []
    # the options are those of the category: -30 % exactly is PR under ">=" only
    assert dep([(10.0, 7.0, False), (0.0, 1.0, False)], 10.0, 8.0, 0) == [(1, "PR")]
    assert dep([(10.0, 7.0, False), (0.0, 1.0, False)], 10.0, 8.0, 0, pr_boundary=">") == []
    # removing the last follow-up volume leaves a CR
    assert dep([(5.0, 0.0, False), (5.0, 1.0, False)], 10.0, 1.0, 0) == [(1, "CR")]


def test_recip_bad_input():
    with pytest.raises(InvalidInputError, match="negative"):
        recip(-1.0, 5.0)
    with pytest.raises(InvalidInputError, match="negative"):
        recip(10.0, -5.0)
    with pytest.raises(InvalidInputError, match="zero"):
        recip(0.0, 5.0)
    with pytest.raises(InvalidInputError, match="new_lesions"):
        recip(10.0, 5.0, -1)
    with pytest.raises(InvalidInputError, match="new lesions"):
        recip(10.0, 0.0, 2)
    with pytest.raises(InvalidInputError):
        recip(10.0, float("inf"))
    with pytest.raises(InvalidInputError):
        recip(10.0, 5.0, pr_boundary="=>")  # type: ignore[arg-type]


# ---------------------------------------------------------------- PPP
PPP_RULES = ["PPP.rule1_new_distant", "PPP.rule2_single_new", "PPP.rule3_existing_increase"]


@pytest.mark.parametrize("n,cat", [(0, "non-PD"), (1, "non-PD"), (2, "PD"), (5, "PD")])
def test_ppp_rule1_boundary(n, cat):
    r = ppp(PppInput(new_distant_lesions=n, clinical_progression=False))
    assert r.category == cat
    assert r.rules == PPP_RULES
    assert r.reason("PPP.rule1_new_distant").met is (n >= 2)


@pytest.mark.parametrize("clin,cat", [(True, "PD"), (False, "non-PD"), (None, "indeterminate")])
def test_ppp_rule2_single_new_needs_clinical(clin, cat):
    r = ppp(PppInput(new_other_lesions=1, clinical_progression=clin))
    assert r.category == cat
    if clin:
        assert "recommended" in r.reason("PPP.rule2_single_new").text


@pytest.mark.parametrize("inc,clin,conf,cat", [
    (0.30 - EPS, True, True, "non-PD"),
    (0.30, True, None, "PD"),
    (0.31, None, True, "PD"),
    (0.31, False, False, "non-PD"),
    (0.31, False, None, "indeterminate"),
])
def test_ppp_rule3_boundary(inc, clin, conf, cat):
    r = ppp(PppInput(max_existing_increase_fraction=inc, clinical_progression=clin,
                     confirmed_within_3_months=conf))
    assert r.category == cat
    assert r.reason("PPP.rule3_existing_increase").thresholds["increase_fraction"] == 0.30


def test_ppp_rule3_from_lesion_changes_and_options():
    data = PppInput(existing_lesions=[
        ExistingLesionChange(lesion_id="L1", measure="size", baseline_value=10, followup_value=12),
        ExistingLesionChange(lesion_id="L2", measure="uptake", baseline_value=10, followup_value=13)],
        clinical_progression=True)
    r = ppp(data)
    assert r.category == "PD" and "L2 uptake" in r.reason("PPP.rule3_existing_increase").text
    assert r.values["largest_increase_fraction"] == pytest.approx(0.3)
    assert ppp(data, increase_boundary=">").category == "non-PD"
    assert ppp(data, rule3_requires="clinical_and_confirmation").category == "indeterminate"
    both = data.model_copy(update={"confirmed_within_3_months": True})
    assert ppp(both, rule3_requires="clinical_and_confirmation").category == "PD"


def test_ppp_bad_input():
    with pytest.raises(InvalidInputError):
        ppp(PppInput(new_distant_lesions=-1))
    with pytest.raises(InvalidInputError):
        ppp(PppInput(existing_lesions=[ExistingLesionChange(measure="size", baseline_value=0,
                                                            followup_value=1)]))
    with pytest.raises(InvalidInputError):
        ppp(PppInput(max_existing_increase_fraction=-2.0))
    with pytest.raises(InvalidInputError):
        ppp(PppInput(), rule3_requires="either")  # type: ignore[arg-type]


# ---------------------------------------------------------------- PERCIST
def base(sul=10.0, **kw):
    d = dict(sul_peak=sul, liver_sul_mean=2.0, liver_sul_sd=0.25, uptake_min=60.0)
    d.update(kw)
    return PercistScan(**d)


def fu(sul, **kw):
    d = dict(sul_peak=sul, liver_sul_mean=2.0, blood_pool_sul_mean=1.5, uptake_min=60.0)
    d.update(kw)
    return PercistScan(**d)


@pytest.mark.parametrize("b,f,cat", [
    # PMR: >= 30 % and >= 0.8 SUL fall
    (10.0, 7.0 + 1e-4, "SMD"), (10.0, 7.0, "PMR"), (10.0, 6.9, "PMR"),
    (3.5, 2.45, "PMR"),                      # measurable at 3.5 exactly; 30 % and 1.05 SUL
    # PMD: > 30 % and > 0.8 SUL rise (strict)
    (10.0, 13.0, "SMD"), (10.0, 13.0 + 1e-4, "PMD"), (10.0, 14.0, "PMD"),
    # CMR: below liver and at blood pool
    (10.0, 1.5, "CMR"), (10.0, 1.5 + 1e-4, "PMR"),
])
def test_percist_relative_boundaries(b, f, cat):
    r = percist(base(b), fu(f))
    assert r.category == cat
    for rule in ("PERCIST.comparability.reference_sul", "PERCIST.comparability.uptake_time",
                 "PERCIST.measurable", "PERCIST.new_lesions", "PERCIST.CMR", "PERCIST.PMD.sul_peak",
                 "PERCIST.PMR"):
        assert rule in r.rules
    assert r.values["sul_peak_change_fraction"] == pytest.approx((f - b) / b)


@pytest.mark.parametrize("f,cat", [(1.7 - 0.8 + 1e-4, "SMD"), (1.7 - 0.8, "PMR")])
def test_percist_absolute_pmr_boundary(f, cat):
    # baseline 1.7 (just measurable: 1.5*1.0+2*0.1), fall 0.8 SUL = 47 %
    b = PercistScan(sul_peak=1.7, liver_sul_mean=1.0, liver_sul_sd=0.1, uptake_min=60)
    fo = PercistScan(sul_peak=f, liver_sul_mean=1.0, blood_pool_sul_mean=0.5, uptake_min=60)
    assert percist(b, fo).category == cat


@pytest.mark.parametrize("f,cat", [(2.5, "SMD"), (2.5 + 1e-4, "PMD")])
def test_percist_absolute_pmd_boundary(f, cat):
    # baseline 1.7, rise > 0.8 SUL (47 %): the absolute rule decides
    b = PercistScan(sul_peak=1.7, liver_sul_mean=1.0, liver_sul_sd=0.1, uptake_min=60)
    fo = PercistScan(sul_peak=f, liver_sul_mean=1.0, blood_pool_sul_mean=0.5, uptake_min=60)
    assert percist(b, fo).category == cat


def test_percist_boundary_options():
    assert percist(base(10.0), fu(7.0), pmr_boundary=">").category == "SMD"
    assert percist(base(10.0), fu(13.0), pmd_boundary=">=").category == "PMD"


@pytest.mark.parametrize("b,measurable", [(3.5 - 1e-4, False), (3.5, True), (3.6, True)])
def test_percist_measurability_boundary(b, measurable):
    # threshold = 1.5 * 2.0 + 2 * 0.25 = 3.5
    r = percist(base(b), fu(b * 0.5))
    assert r.reason("PERCIST.measurable").met is measurable
    assert r.reason("PERCIST.measurable").thresholds["measurability_threshold"] == pytest.approx(3.5)
    assert r.category == ("PMR" if measurable else "NE")
    if not measurable:
        assert any("not evaluable" in f for f in r.flags)


def test_percist_blood_pool_reference():
    b = PercistScan(sul_peak=3.0, blood_pool_sul_mean=1.2, blood_pool_sul_sd=0.1, uptake_min=60)
    f = PercistScan(sul_peak=1.0, blood_pool_sul_mean=1.2, liver_sul_mean=2.0, uptake_min=60)
    r = percist(b, f, reference="blood_pool")
    assert r.reason("PERCIST.measurable").thresholds["measurability_threshold"] == pytest.approx(2.6)
    assert r.category == "CMR"
    with pytest.raises(InvalidInputError, match="blood_pool"):
        percist(base(), fu(5.0), reference="blood_pool")


def test_percist_new_lesions_and_tlg_and_nontarget():
    assert percist(base(), fu(5.0), new_lesions=1).category == "PMD"
    assert percist(base(), fu(1.0), new_lesions=1).category == "PMD"
    # new lesions make PMD even without a measurable baseline lesion
    assert percist(base(1.0), fu(1.0), new_lesions=2).category == "PMD"
    r = percist(base(tlg=100.0), fu(10.0, tlg=176.0))
    assert r.category == "PMD" and r.reason("PERCIST.PMD.tlg").met
    assert percist(base(tlg=100.0), fu(10.0, tlg=175.0)).category == "SMD"
    assert percist(base(tlg=100.0), fu(9.0, tlg=200.0)).category == "SMD"  # SUL declined
    assert percist(base(), fu(5.0), nontarget_increase_over_30pct=True).category == "SMD"


def test_percist_no_baseline_lesion_with_new_lesions_is_pmd():
    # a baseline without any lesion: new lesions alone decide (as for a non-measurable baseline)
    r = percist(base(None), fu(3.0), new_lesions=1)
    assert r.category == "PMD" and r.reason("PERCIST.new_lesions").met
    assert r.reason("PERCIST.measurable").met is False
    assert r.values["baseline_sul_peak"] is None and r.values["measurability_threshold"] == pytest.approx(3.5)
    assert any("no lesion at baseline" in f for f in r.flags)
    # not comparable (liver 2.0 -> 2.5): PMD kept, the comparability failure flagged and warned
    r = percist(base(None), fu(3.0, liver_sul_mean=2.5), new_lesions=2)
    assert r.category == "PMD" and r.values["comparable"] is False
    assert any("liver SULmean differs" in f for f in r.flags) and r.provenance.warnings
    # without new lesions the baseline SULpeak is still required
    with pytest.raises(InvalidInputError, match="baseline.sul_peak"):
        percist(base(None), fu(3.0), new_lesions=0)


def test_percist_no_residual_uptake_is_cmr_and_cmr_needs_blood_pool():
    assert percist(base(), PercistScan(sul_peak=None, liver_sul_mean=2.0, uptake_min=60)).category == "CMR"
    r = percist(base(), PercistScan(sul_peak=1.0, liver_sul_mean=2.0, uptake_min=60))
    assert r.category == "PMR" and "not assessable" in r.reason("PERCIST.CMR").text
    assert r.reason("PERCIST.CMR").met is None


@pytest.mark.parametrize("f_liver,comparable", [
    (2.0, True), (2.29, True),          # 0.29 SUL, 14.5 %
    (2.3, False),                       # 0.3 SUL: must be < 0.3
    (1.71, True), (1.7, False),
])
def test_percist_liver_absolute_comparability(f_liver, comparable):
    r = percist(base(), fu(5.0, liver_sul_mean=f_liver))
    assert r.reason("PERCIST.comparability.reference_sul").met is comparable
    assert r.values["comparable"] is comparable
    assert r.values["category_if_comparable"] == "PMR"
    assert r.category == ("PMR" if comparable else "NE")
    assert bool(r.flags) is not comparable


@pytest.mark.parametrize("f_liver,comparable", [(1.2, True), (1.2 + 1e-4, False), (0.8, True), (0.8 - 1e-4, False)])
def test_percist_liver_relative_comparability(f_liver, comparable):
    # baseline liver 1.0: 20 % = 0.2 SUL (< 0.3), so the relative limit decides
    b = PercistScan(sul_peak=10.0, liver_sul_mean=1.0, liver_sul_sd=0.1, uptake_min=60)
    f = PercistScan(sul_peak=5.0, liver_sul_mean=f_liver, blood_pool_sul_mean=0.7, uptake_min=60)
    r = percist(b, f)
    assert r.reason("PERCIST.comparability.reference_sul").met is comparable


@pytest.mark.parametrize("t,comparable", [(75.0, True), (45.0, True), (75.1, False), (44.9, False)])
def test_percist_uptake_time_comparability(t, comparable):
    r = percist(base(), fu(5.0, uptake_min=t))
    assert r.reason("PERCIST.comparability.uptake_time").met is comparable
    assert r.category == ("PMR" if comparable else "NE")
    if not comparable:
        assert any("uptake times differ" in f for f in r.flags)
        with pytest.raises(InvalidInputError, match="not comparable"):
            percist(base(), fu(5.0, uptake_min=t), on_incomparable="refuse")


def test_percist_missing_uptake_time_is_warned():
    r = percist(base(uptake_min=None), fu(5.0))
    assert r.reason("PERCIST.comparability.uptake_time").met is None
    assert any("uptake times" in w for w in r.provenance.warnings)
    assert r.category == "PMR"


def test_percist_bad_input():
    with pytest.raises(InvalidInputError, match="baseline.sul_peak"):
        percist(PercistScan(sul_peak=None, liver_sul_mean=2, liver_sul_sd=0.2), fu(1.0))
    with pytest.raises(InvalidInputError, match="liver_sul_sd"):
        percist(PercistScan(sul_peak=5, liver_sul_mean=2), fu(1.0))
    with pytest.raises(InvalidInputError, match="followup.liver_sul_mean"):
        percist(base(), PercistScan(sul_peak=1.0))
    with pytest.raises(InvalidInputError, match="negative"):
        percist(base(), fu(-1.0))
    with pytest.raises(InvalidInputError):
        percist(base(), fu(1.0), new_lesions=-1)
    with pytest.raises(InvalidInputError):
        percist(base(), fu(1.0), reference="spleen")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        percist(base(), fu(1.0), on_incomparable="ignore")  # type: ignore[arg-type]


# ---------------------------------------------------------------- Lugano / Deauville change
@pytest.mark.parametrize("f,new,cat", [
    (1.0, 0, "CMR"),     # DS2
    (2.5, 0, "CMR"),     # DS3 (at liver)
    (2.6, 0, "PMR"),     # DS4, reduced from 10
    (10.0, 0, "NMR"),    # DS5, unchanged
    (10.1, 0, "PMD"),    # DS5, increased
    (1.0, 1, "PMD"),     # new lesions
])
def test_lugano(f, new, cat):
    r = lugano_response(10.0, f, 1.5, 2.5, new)
    assert r.category == cat
    assert r.rules == ["Lugano.deauville", "Lugano.new_lesions", "Lugano.uptake_change"]


def test_lugano_options():
    assert lugano_response(10.0, 2.5, 1.5, 2.5, ds3_is_cmr=False).category == "PMR"
    assert lugano_response(10.0, 7.5, 1.5, 2.5, change_threshold_fraction=0.3).category == "NMR"
    assert lugano_response(10.0, 7.0, 1.5, 2.5, change_threshold_fraction=0.3).category == "PMR"
    assert lugano_response(10.0, 13.0, 1.5, 2.5, change_threshold_fraction=0.3).category == "PMD"
    with pytest.raises(InvalidInputError):
        lugano_response(0.0, 1.0, 1.5, 2.5)
    with pytest.raises(InvalidInputError):
        lugano_response(10.0, 1.0, 1.5, 2.5, -1)


# ---------------------------------------------------------------- Krenning change
def test_krenning_change():
    assert krenning_change(30, 10, 5, 10, baseline_spleen_suv_mean=20).category == "grade_decrease"
    assert krenning_change(5, 10, 30, 10, followup_spleen_suv_mean=20).category == "grade_increase"
    r = krenning_change(15, 10, 16, 10)
    assert r.category == "grade_stable" and r.values["grade_change"] == 0 and r.flags
    assert krenning_change(15, 10, 5, 10, new_lesions=2).category == "new_lesions"
    with pytest.raises(InvalidInputError):
        krenning_change(15, 0, 5, 10)
    with pytest.raises(InvalidInputError):
        krenning_change(15, 10, 5, 10, new_lesions=-1)


def test_krenning_change_reasons():
    r = krenning_change(15, 10, 5, 10)
    assert r.rules == ["Krenning.baseline", "Krenning.followup", "Krenning.new_lesions"]
    assert r.values == {"baseline_grade": 3, "followup_grade": 1, "grade_change": -2}


def test_percist_incomparable_with_new_lesions_keeps_pmd_flagged():
    r = percist(base(), fu(5.0, uptake_min=120.0), new_lesions=1)
    assert r.category == "PMD" and r.flags and r.values["comparable"] is False
    with pytest.raises(InvalidInputError):
        percist(base(), fu(5.0, uptake_min=120.0), new_lesions=1, on_incomparable="refuse")


@pytest.mark.parametrize("f,sd,k,cat", [
    # blood-pool level = SULmean 1.5 + 2 x SD 0.2 = 1.9 with a 2 SD band; liver 2.0 stays the upper bound
    (1.9, 0.2, 2.0, "CMR"), (1.9 + 1e-4, 0.2, 2.0, "PMR"),
    (1.6, 0.2, 0.0, "PMR"), (1.5, 0.2, 0.0, "CMR"),          # k = 0: the mean itself (the strict reading)
    (1.99, 0.5, 2.0, "CMR"), (2.0, 0.5, 2.0, "PMR"),          # below the liver mean is still required
])
def test_percist_cmr_blood_pool_level_boundary(f, sd, k, cat):
    r = percist(base(10.0), fu(f, blood_pool_sul_sd=sd), cmr_blood_pool_sd=k)
    assert r.category == cat
    assert r.provenance.parameters["cmr_blood_pool_sd"] == k


def test_percist_cmr_blood_pool_default_and_missing_sd():
    assert percist(base(10.0), fu(1.6, blood_pool_sul_sd=0.2)).category == "PMR"  # default: the mean
    assert percist(base(10.0), fu(1.5, blood_pool_sul_sd=0.2)).category == "CMR"
    r = percist(base(10.0), fu(1.6), cmr_blood_pool_sd=2.0)  # a band asked for, no blood-pool SD given
    assert r.category == "PMR"
    assert any("blood-pool SD not given" in w for w in r.provenance.warnings)
    with pytest.raises(InvalidInputError, match="cmr_blood_pool_sd"):
        percist(base(10.0), fu(1.6), cmr_blood_pool_sd=-1.0)

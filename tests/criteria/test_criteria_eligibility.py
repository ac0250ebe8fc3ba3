"""VISION, TheraP and NETTER-1-style eligibility: every boundary and reason."""

from __future__ import annotations

import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.planning.eligibility import (
    PsmaLesion,
    SstrLesion,
    netter1_eligibility,
    therap_eligibility,
    vision_eligibility,
)

EPS = 1e-6
LIVER = 5.0
VISION_RULES = ["VISION.psma_positive", "VISION.negative_node", "VISION.negative_visceral",
                "VISION.negative_bone"]


def pos(suv=20.0, kind="bone"):
    return PsmaLesion(kind=kind, suv_max=suv)


# ---------------------------------------------------------------- VISION
@pytest.mark.parametrize("suv,eligible", [(LIVER - EPS, False), (LIVER, False), (LIVER + EPS, True)])
def test_vision_positive_boundary(suv, eligible):
    r = vision_eligibility([PsmaLesion(kind="bone", suv_max=suv)], LIVER)
    assert r.eligible is eligible
    assert r.rules == VISION_RULES
    assert r.reason("VISION.psma_positive").met is eligible
    assert r.reason("VISION.psma_positive").thresholds["liver_suv_mean"] == LIVER


def test_vision_positive_boundary_option():
    assert vision_eligibility([pos(LIVER)], LIVER, positive_boundary=">=").eligible


@pytest.mark.parametrize("kind,field,limit,rule", [
    ("lymph_node", "short_axis_mm", 25.0, "VISION.negative_node"),
    ("visceral", "short_axis_mm", 10.0, "VISION.negative_visceral"),
    ("bone", "soft_tissue_component_short_axis_mm", 10.0, "VISION.negative_bone"),
])
@pytest.mark.parametrize("delta,eligible", [(-0.1, True), (0.0, False), (0.1, False)])
def test_vision_negative_size_boundaries(kind, field, limit, rule, delta, eligible):
    neg = PsmaLesion(kind=kind, suv_max=LIVER, **{field: limit + delta}, lesion_id="L-neg")
    r = vision_eligibility([pos(), neg], LIVER)
    assert r.eligible is eligible
    assert r.reason(rule).met is eligible
    if not eligible:
        assert "L-neg" in r.reason(rule).text
    assert r.reason(rule).thresholds[f"{kind}_short_axis_mm"] == limit


def test_vision_large_positive_node_does_not_exclude_and_bone_without_soft_tissue():
    big_pos = PsmaLesion(kind="lymph_node", suv_max=LIVER * 3, short_axis_mm=40)
    neg_bone = PsmaLesion(kind="bone", suv_max=1.0)
    r = vision_eligibility([big_pos, neg_bone], LIVER)
    assert r.eligible and r.category == "eligible"


def test_vision_bad_input():
    with pytest.raises(InvalidInputError, match="short_axis_mm"):
        vision_eligibility([pos(), PsmaLesion(kind="lymph_node", suv_max=1.0)], LIVER)
    with pytest.raises(InvalidInputError, match="liver"):
        vision_eligibility([pos()], None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        vision_eligibility([PsmaLesion(kind="bone", suv_max=-1.0)], LIVER)
    with pytest.raises(InvalidInputError):
        vision_eligibility([pos()], LIVER, positive_boundary="=")  # type: ignore[arg-type]
    r = vision_eligibility([], LIVER)
    assert r.category == "not_eligible"


# ---------------------------------------------------------------- TheraP
THERAP_RULES = ["TheraP.hottest_site", "TheraP.measurable_sites", "TheraP.fdg_discordance"]


@pytest.mark.parametrize("suv,eligible", [(19.9, False), (20.0 - EPS, False), (20.0, True), (20.1, True)])
def test_therap_hottest_boundary(suv, eligible):
    r = therap_eligibility([PsmaLesion(kind="bone", suv_max=suv)], fdg_discordant_disease=False)
    assert r.eligible is eligible
    assert r.rules == THERAP_RULES
    assert r.reason("TheraP.hottest_site").values["hottest_suv_max"] == suv


@pytest.mark.parametrize("suv,eligible", [(9.9, False), (10.0, False), (10.0 + EPS, True), (10.1, True)])
def test_therap_measurable_boundary(suv, eligible):
    les = [pos(25.0), PsmaLesion(kind="lymph_node", suv_max=suv, measurable=True, lesion_id="N1")]
    r = therap_eligibility(les, fdg_discordant_disease=False)
    assert r.eligible is eligible
    assert r.reason("TheraP.measurable_sites").met is eligible
    if not eligible:
        assert "N1" in r.reason("TheraP.measurable_sites").text


def test_therap_measurable_option_and_unmeasurable_low_site():
    les = [pos(25.0), PsmaLesion(kind="lymph_node", suv_max=10.0, measurable=True)]
    assert therap_eligibility(les, fdg_discordant_disease=False, measurable_boundary=">=").eligible
    # a non-measurable low site does not count
    les = [pos(25.0), PsmaLesion(kind="bone", suv_max=3.0, measurable=False)]
    r = therap_eligibility(les, fdg_discordant_disease=False)
    assert r.eligible and r.reason("TheraP.measurable_sites").values["measurable_sites"] == 0
    r = therap_eligibility([pos(25.0)], fdg_discordant_disease=False)
    assert "vacuously" in r.reason("TheraP.measurable_sites").text


def test_therap_fdg_discordance():
    assert therap_eligibility([pos(25.0)], fdg_discordant_disease=True).category == "not_eligible"
    r = therap_eligibility([pos(25.0)])
    assert r.category == "indeterminate" and r.reason("TheraP.fdg_discordance").met is None
    les = [pos(25.0), PsmaLesion(kind="visceral", suv_max=4.0, fdg_positive=True, lesion_id="liver met")]
    r = therap_eligibility(les)
    assert r.category == "not_eligible" and "liver met" in r.reason("TheraP.fdg_discordance").text
    les = [PsmaLesion(kind="bone", suv_max=25.0, fdg_positive=True)]
    assert therap_eligibility(les).category == "eligible"
    # a failed rule wins over a missing FDG scan
    assert therap_eligibility([pos(15.0)]).category == "not_eligible"


def test_therap_bad_input():
    with pytest.raises(InvalidInputError):
        therap_eligibility([])
    with pytest.raises(InvalidInputError):
        therap_eligibility([PsmaLesion(kind="bone", suv_max=-2.0)], fdg_discordant_disease=False)


# ---------------------------------------------------------------- NETTER-1
@pytest.mark.parametrize("suv,eligible", [(8.0, False), (9.0 - 1e-4, False), (9.0, True), (10.0, True), (15.0, True)])
def test_netter1_liver_boundary(suv, eligible):
    r = netter1_eligibility([SstrLesion(suv_max=30.0), SstrLesion(suv_max=suv, lesion_id="T2")], 10.0, 20.0)
    assert r.eligible is eligible
    assert r.rules == ["NETTER-1.lesion[0]", "NETTER-1.lesion[1]", "NETTER-1.all_targets"]
    assert r.reason("NETTER-1.lesion[1]").met is eligible
    if not eligible:
        assert "T2" in r.reason("NETTER-1.all_targets").text


def test_netter1_bad_input():
    with pytest.raises(InvalidInputError):
        netter1_eligibility([], 10.0)
    with pytest.raises(InvalidInputError):
        netter1_eligibility([SstrLesion(suv_max=5)], 0.0)
    with pytest.raises(InvalidInputError):
        netter1_eligibility([SstrLesion(suv_max=5)], 10.0, min_grade=7)

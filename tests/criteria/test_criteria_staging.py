"""PROMISE miTNM: N1 vs N2, M1a/M1b/M1c combinations, miT, station mapping, bad input."""

from __future__ import annotations

import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.pet import staging as st
from theranostix.pet.staging import LesionSite, StagingInput, promise_mitnm


def stage(*lesions, prior=False, **kw):
    return promise_mitnm(StagingInput(lesions=list(lesions), prior_prostatectomy=prior), **kw)


def node(station, count=1):
    return LesionSite(kind="lymph_node", station=station, count=count)


def test_required_station_constants_exist_and_map():
    regional = ["internal_iliac_left", "internal_iliac_right", "external_iliac_left",
                "external_iliac_right", "obturator_left", "obturator_right", "presacral",
                "common_iliac_left", "common_iliac_right"]
    extra = ["retroperitoneal", "inguinal_left", "inguinal_right", "mediastinal",
             "supraclavicular_left", "supraclavicular_right"]
    for s in regional + extra:
        assert s in st.ALL_STATIONS
    for s in regional:
        assert st.is_regional_station(s)
    for s in extra:
        assert not st.is_regional_station(s)
    assert not st.is_regional_station("common_iliac_left", common_iliac_regional=False)
    assert st.is_regional_station("Internal Iliac-Left")
    assert st.station_without_laterality("obturator_right") == "obturator"
    with pytest.raises(InvalidInputError, match="unknown lymph-node station"):
        st.is_regional_station("popliteal")


def test_no_disease():
    r = stage()
    assert r.category == "miT0 miN0 miM0"
    assert r.rules == ["miT", "miN", "miM1a", "miM1b", "miM1c"]


def test_n1_single_vs_n2_multiple():
    r1 = stage(node("obturator_left", 3))
    assert r1.mi_n == "miN1" and r1.reason("miN").values["regions"] == ["obturator_left"]
    r2 = stage(node("obturator_left"), node("internal_iliac_right"))
    assert r2.mi_n == "miN2"
    assert stage(node("obturator_left"), node("obturator_right")).mi_n == "miN2"
    assert stage(node("obturator_left"), node("obturator_right"),
                 count_laterality_separately=False).mi_n == "miN1"
    # PROMISE V1 codes
    assert stage(node("presacral"), version="v1").mi_n == "miN1a"
    assert stage(node("presacral"), node("obturator_left"), version="v1").mi_n == "miN1b"
    assert "miN1b" in stage(node("presacral"), node("obturator_left"), version="v1").category


def test_common_iliac_option():
    r = stage(node("common_iliac_left"))
    assert (r.mi_n, r.mi_m) == ("miN1", "miM0")
    r = stage(node("common_iliac_left"), common_iliac_regional=False)
    assert (r.mi_n, r.mi_m) == ("miN0", "miM1a")
    assert "AJCC" in r.reason("miN").text


@pytest.mark.parametrize("n,pattern", [(1, "uni"), (2, "oligo"), (3, "oligo"), (4, "diss"), (20, "diss")])
def test_bone_patterns(n, pattern):
    r = stage(LesionSite(kind="bone", count=n))
    assert r.bone_pattern == pattern
    assert r.mi_m == f"miM1b({pattern})"
    assert r.reason("miM1b").values["bone_lesions"] == n


def test_bone_split_records_and_dmi_and_option():
    r = stage(LesionSite(kind="bone"), LesionSite(kind="bone", count=2))
    assert r.bone_pattern == "oligo"
    assert stage(LesionSite(kind="bone", count=2, diffuse_marrow=True)).bone_pattern == "dmi"
    assert stage(LesionSite(kind="bone", count=5), oligo_max_bone_lesions=5).bone_pattern == "oligo"


def test_m_combinations():
    assert stage(node("retroperitoneal")).mi_m == "miM1a"
    assert stage(node("supraclavicular_left"), node("inguinal_right")).reason("miM1a").values[
        "stations"] == ["inguinal_right", "supraclavicular_left"]
    r = stage(LesionSite(kind="organ", organ="lung"))
    assert r.mi_m == "miM1c" and r.visceral_organs == ["lung"]
    r = stage(node("mediastinal"), LesionSite(kind="bone", count=2))
    assert r.mi_m == "miM1a,b(oligo)" and r.m_categories == ["M1a", "M1b"]
    r = stage(node("retroperitoneal"), LesionSite(kind="bone", count=9),
              LesionSite(kind="organ", organ="Liver"), node("obturator_left"), node("presacral"),
              LesionSite(kind="local", extent="seminal_vesicle"))
    assert r.category == "miT3b miN2 miM1a,b(diss),c"
    assert r.m_categories == ["M1a", "M1b", "M1c"]
    assert stage(LesionSite(kind="bone"), LesionSite(kind="organ", organ="brain")).mi_m == "miM1b(uni),c"


@pytest.mark.parametrize("records,prior,t", [
    ([], False, "miT0"),
    ([LesionSite(kind="local")], False, "miT2u"),
    ([LesionSite(kind="local", count=2)], False, "miT2m"),
    ([LesionSite(kind="local"), LesionSite(kind="local")], False, "miT2m"),
    ([LesionSite(kind="local", extent="extraprostatic")], False, "miT3a"),
    ([LesionSite(kind="local", extent="extraprostatic"),
      LesionSite(kind="local", extent="seminal_vesicle")], False, "miT3b"),
    ([LesionSite(kind="local", extent="adjacent_structure"),
      LesionSite(kind="local", extent="seminal_vesicle")], False, "miT4"),
    ([LesionSite(kind="local")], True, "miTr"),
    ([LesionSite(kind="local", extent="adjacent_structure")], True, "miTr"),
])
def test_mi_t(records, prior, t):
    r = stage(*records, prior=prior)
    assert r.mi_t == t
    assert r.category.startswith(t + " ")


def test_bad_input():
    with pytest.raises(InvalidInputError, match="station"):
        stage(LesionSite(kind="lymph_node"))
    with pytest.raises(InvalidInputError, match="unknown lymph-node station"):
        stage(node("knee"))
    with pytest.raises(InvalidInputError, match="count"):
        stage(LesionSite(kind="bone", count=0))
    with pytest.raises(InvalidInputError, match="local disease"):
        stage(LesionSite(kind="organ", organ="seminal vesicle"))
    with pytest.raises(InvalidInputError, match="organ"):
        stage(LesionSite(kind="organ"))
    with pytest.raises(InvalidInputError, match="extent"):
        stage(LesionSite(kind="bone", extent="extraprostatic"))
    with pytest.raises(InvalidInputError):
        stage(LesionSite(kind="local", diffuse_marrow=True))
    with pytest.raises(InvalidInputError):
        stage(version="v3")
    with pytest.raises(InvalidInputError):
        stage(oligo_max_bone_lesions=0)


def test_result_is_json_serialisable():
    r = stage(node("obturator_left"))
    again = st.StagingResult.model_validate_json(r.model_dump_json())
    assert again.category == r.category and again.reasons == r.reasons


def test_staging_input_from_detected_sites():
    sites = ["obturator_left", "obturator_left", "presacral", "bone", "vertebra_L3", "liver",
             "prostate", "unassigned", "Retroperitoneal"]
    data, skipped = st.staging_input_from_sites(sites)
    assert skipped == ["unassigned"]
    r = promise_mitnm(data)
    assert r.category == "miT2u miN2 miM1a,b(oligo),c"
    assert r.values["regional_node_lesions"] == 3 and r.values["bone_lesions"] == 2
    data, _ = st.staging_input_from_sites(["prostate", "rectum"])
    assert promise_mitnm(data).mi_t == "miT4"
    data, _ = st.staging_input_from_sites(["prostate_bed"], prior_prostatectomy=True)
    assert promise_mitnm(data).mi_t == "miTr"

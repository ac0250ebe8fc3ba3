"""PET scores: every boundary (below / at / above), every reason, bad input."""

from __future__ import annotations

import pytest

from theranostix.core.errors import InvalidInputError, UnsupportedInputError
from theranostix.pet.scores import (
    PsmaRadsInput,
    ReferenceUptake,
    deauville_score,
    is_hepatobiliary_psma_ligand,
    krenning_grade,
    meets,
    mipsma_score,
    primary_score,
    psma_rads,
    qpet,
)

REF = ReferenceUptake(blood_pool_suv_mean=2.0, liver_suv_mean=6.0, parotid_suv_mean=15.0,
                      spleen_suv_mean=9.0)
EPS = 1e-6


def test_meets_tolerance_and_strictness():
    assert meets(0.7 - 1.0, "<=", -0.3)
    assert meets(0.3, ">=", 0.30000000000000004)
    assert not meets(0.3, ">", 0.30000000000000004)
    assert meets(0.3 + 1e-6, ">", 0.3)
    with pytest.raises(InvalidInputError):
        meets(1, "=", 1)  # type: ignore[arg-type]


# ---------------------------------------------------------------- miPSMA
@pytest.mark.parametrize("suv,score", [
    (0.0, "0"), (2.0 - EPS, "0"), (2.0, "1"), (2.0 + EPS, "1"),
    (6.0 - EPS, "1"), (6.0, "2"), (6.0 + EPS, "2"),
    (15.0 - EPS, "2"), (15.0, "3"), (15.0 + EPS, "3"), (80.0, "3"),
])
def test_mipsma_boundaries(suv, score):
    r = mipsma_score(suv, REF, tracer="[68Ga]Ga-PSMA-11")
    assert r.category == score
    assert r.rules == ["miPSMA.reference_organ", "miPSMA.blood_pool", "miPSMA.liver", "miPSMA.parotid"]
    assert r.reason("miPSMA.liver").thresholds["liver_suv_mean"] == 6.0
    assert r.reason("miPSMA.blood_pool").values["lesion_suv_max"] == suv


@pytest.mark.parametrize("tracer", ["[18F]PSMA-1007", "18F-PSMA-1007", "psma1007"])
def test_mipsma_spleen_for_psma1007(tracer):
    assert is_hepatobiliary_psma_ligand(tracer)
    # 7 is above liver (6) but below spleen (9): score 1 with spleen, 2 with liver
    r = mipsma_score(7.0, REF, tracer=tracer)
    assert r.category == "1"
    assert "miPSMA.spleen" in r.rules and "miPSMA.liver" not in r.rules
    assert r.provenance.parameters["middle_reference_organ"] == "spleen"
    assert "spleen" in r.reason("miPSMA.reference_organ").text
    assert mipsma_score(9.0, REF, tracer=tracer).category == "2"
    assert mipsma_score(7.0, REF, tracer=tracer, liver_reference="liver").category == "2"
    assert mipsma_score(7.0, REF, tracer="DCFPyL").category == "2"
    assert not is_hepatobiliary_psma_ligand("[18F]DCFPyL")


def test_mipsma_bad_input():
    with pytest.raises(InvalidInputError, match="spleen"):
        mipsma_score(5.0, ReferenceUptake(blood_pool_suv_mean=2, liver_suv_mean=6, parotid_suv_mean=15),
                     tracer="PSMA-1007")
    with pytest.raises(InvalidInputError, match="parotid"):
        mipsma_score(5.0, ReferenceUptake(blood_pool_suv_mean=2, liver_suv_mean=6))
    with pytest.raises(InvalidInputError, match="negative"):
        mipsma_score(-1.0, REF)
    with pytest.raises(InvalidInputError):
        mipsma_score(float("nan"), REF)
    with pytest.raises(InvalidInputError):
        mipsma_score(1.0, REF, liver_reference="kidney")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="zero"):
        mipsma_score(1.0, ReferenceUptake(blood_pool_suv_mean=0, liver_suv_mean=6, parotid_suv_mean=15))


def test_mipsma_unordered_references_warn():
    r = mipsma_score(5.0, ReferenceUptake(blood_pool_suv_mean=2, liver_suv_mean=20, parotid_suv_mean=15))
    assert any("not ordered" in w for w in r.provenance.warnings)


# ---------------------------------------------------------------- PSMA-RADS
@pytest.mark.parametrize("tissue,typical,anat,level,cat", [
    ("soft_tissue", True, "benign_definitive", "none", "1A"),
    ("bone", True, "benign_definitive", "intense", "1B"),
    ("soft_tissue", True, "benign_definitive", "equivocal", "1B"),
    ("soft_tissue", False, "none", "equivocal", "2"),
    ("bone", True, "atypical_benign_appearing", "equivocal", "2"),
    ("bone", False, "indeterminate", "equivocal", "2"),
    ("soft_tissue", True, "none", "equivocal", "3A"),
    ("soft_tissue", True, "suspicious", "equivocal", "3A"),
    ("bone", True, "indeterminate", "equivocal", "3B"),
    ("soft_tissue", False, "none", "intense", "3C"),
    ("bone", False, "suspicious", "intense", "3C"),
    ("soft_tissue", True, "suspicious", "none", "3D"),
    ("soft_tissue", True, "none", "intense", "4"),
    ("bone", True, "indeterminate", "intense", "4"),
    ("soft_tissue", True, "suspicious", "intense", "5"),
    ("bone", True, "suspicious", "intense", "5"),
])
def test_psma_rads_table(tissue, typical, anat, level, cat):
    r = psma_rads(PsmaRadsInput(tissue=tissue, site_typical_for_pca=typical, anatomic_finding=anat,
                                uptake_level=level))
    assert r.category == cat
    assert r.rules == ["PSMA-RADS.uptake_level", "PSMA-RADS.anatomy", "PSMA-RADS.category"]
    assert cat in r.reason("PSMA-RADS.category").text


def test_psma_rads_uptake_derived_from_blood_pool_boundary():
    def cat(suv, **kw):
        return psma_rads(PsmaRadsInput(tissue="soft_tissue", site_typical_for_pca=True,
                                       anatomic_finding="none", lesion_suv_max=suv,
                                       blood_pool_suv_mean=2.0, liver_suv_mean=5.0), **kw)
    assert cat(2.0 - EPS).category == "3A"
    assert cat(2.0).category == "3A"            # at blood pool: equivocal ("blood-pool level")
    r = cat(2.0 + EPS)
    assert r.category == "4"
    assert r.reason("PSMA-RADS.uptake_level").thresholds["intense_above"] == 2.0
    assert cat(4.0, intense_reference="liver").category == "3A"
    assert cat(5.0 + EPS, intense_reference="liver").category == "4"
    assert cat(3.0, intense_factor=2.0).category == "3A"


def test_psma_rads_v2_treated():
    f = PsmaRadsInput(tissue="bone", site_typical_for_pca=True, anatomic_finding="indeterminate",
                      uptake_level="intense", previously_treated=True)
    assert psma_rads(f, version="2.0").category == "5T"
    r1 = psma_rads(f, version="1.0")
    assert r1.category == "4" and r1.provenance.warnings
    with pytest.raises(UnsupportedInputError):
        psma_rads(f.model_copy(update={"uptake_level": "equivocal"}), version="2.0")


def test_psma_rads_bad_input():
    with pytest.raises(InvalidInputError, match="nothing to classify"):
        psma_rads(PsmaRadsInput(tissue="bone", site_typical_for_pca=True, anatomic_finding="none",
                                uptake_level="none"))
    with pytest.raises(InvalidInputError, match="lesion_suv_max"):
        psma_rads(PsmaRadsInput(tissue="bone", site_typical_for_pca=True, anatomic_finding="none"))
    with pytest.raises(InvalidInputError, match="blood_pool"):
        psma_rads(PsmaRadsInput(tissue="bone", site_typical_for_pca=True, anatomic_finding="none",
                                lesion_suv_max=3.0))
    with pytest.raises(InvalidInputError):
        psma_rads(PsmaRadsInput(tissue="bone", site_typical_for_pca=True, anatomic_finding="none",
                                uptake_level="intense"), version="3.0")  # type: ignore[arg-type]


# ---------------------------------------------------------------- PRIMARY
@pytest.mark.parametrize("pattern,suv,ratio,score", [
    ("none", 3.0, None, "1"),
    ("diffuse_tz_or_symmetric_cz", 5.0, None, "2"),
    ("focal_tz", 5.0, 2.0 - EPS, "2"),
    ("focal_tz", 5.0, 2.0, "3"),
    ("focal_tz", 5.0, 2.0 + EPS, "3"),
    ("focal_pz", 5.0, None, "4"),
    ("focal_pz", 12.0 - EPS, None, "4"),
    ("focal_pz", 12.0, None, "4"),          # SUVmax > 12 is strict
    ("focal_pz", 12.0 + EPS, None, "5"),
    ("focal_tz", 12.5, 1.5, "5"),
    ("none", 13.0, None, "5"),
])
def test_primary_boundaries(pattern, suv, ratio, score):
    r = primary_score(pattern, suv, tz_to_background_ratio=ratio)
    assert r.category == score
    assert r.reason("PRIMARY.suv_max").thresholds == {"suv_max_threshold": 12.0, "comparator": ">"}
    assert "PRIMARY.pattern" in r.rules
    if pattern == "focal_tz":
        assert r.reason("PRIMARY.tz_ratio").values["tz_to_background_ratio"] == ratio


def test_primary_bad_input():
    with pytest.raises(InvalidInputError, match="tz_to_background_ratio"):
        primary_score("focal_tz", 5.0)
    with pytest.raises(InvalidInputError):
        primary_score("focal_cz", 5.0)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        primary_score("focal_pz", -5.0)


# ---------------------------------------------------------------- Krenning
@pytest.mark.parametrize("suv,grade", [
    (8.0, "1"), (9.0 - 1e-4, "1"), (9.0, "2"), (10.0, "2"), (11.0, "2"), (11.0 + 1e-4, "3"),
    (20.0, "3"), (20.0 + 1e-4, "4"), (40.0, "4"),
])
def test_krenning_boundaries(suv, grade):
    r = krenning_grade(suv, 10.0, 20.0)
    assert r.category == grade
    assert r.reason("Krenning.liver").thresholds == pytest.approx({"equal_low": 0.9, "equal_high": 1.1})
    if grade in ("3", "4"):
        assert r.reason("Krenning.spleen").met is (grade == "4")


def test_krenning_no_uptake_missing_spleen_and_bad_input():
    assert krenning_grade(5.0, 10.0, uptake_visible=False).category == "0"
    r = krenning_grade(30.0, 10.0)
    assert r.category == "3" and r.flags and r.reason("Krenning.spleen").met is None
    assert krenning_grade(10.5, 10.0, equal_tolerance=0.0).category == "3"
    with pytest.raises(InvalidInputError, match="liver"):
        krenning_grade(5.0, None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        krenning_grade(-5.0, 10.0)


# ---------------------------------------------------------------- Deauville / qPET
@pytest.mark.parametrize("suv,ds", [
    (1.0, "2"), (1.5, "2"), (1.5 + EPS, "3"), (2.5, "3"), (2.5 + EPS, "4"),
    (5.0 - EPS, "4"), (5.0, "5"), (9.0, "5"),
])
def test_deauville_boundaries(suv, ds):
    r = deauville_score(suv, 1.5, 2.5)
    assert r.category == ds
    assert r.rules == ["Deauville.mediastinum", "Deauville.liver", "Deauville.markedly_above_liver"]
    assert r.reason("Deauville.markedly_above_liver").thresholds["ds5_threshold"] == 5.0


def test_deauville_special_categories_and_options():
    assert deauville_score(0.5, 1.5, 2.5, uptake_above_background=False).category == "1"
    assert deauville_score(9.0, 1.5, 2.5, new_lesion_unrelated_to_lymphoma=True).category == "X"
    assert deauville_score(6.0, 1.5, 2.5, ds5_liver_factor=3.0).category == "4"
    r = deauville_score(3.0, 1.5, 2.5, liver_metric="mean")
    assert r.reason("Deauville.liver").option == "liver_metric=mean"
    with pytest.raises(InvalidInputError, match="mediastinum"):
        deauville_score(3.0, 0.0, 2.5)
    with pytest.raises(InvalidInputError):
        deauville_score(-3.0, 1.5, 2.5)
    with pytest.raises(InvalidInputError):
        deauville_score(3.0, 1.5, 2.5, liver_metric="peak")  # type: ignore[arg-type]


@pytest.mark.parametrize("peak,cat", [
    (0.0, "1-2"), (0.95 - EPS, "1-2"), (0.95, "3"), (1.3 - EPS, "3"), (1.3, "4"),
    (2.0 - EPS, "4"), (2.0, "5"), (3.0, "5"),
])
def test_qpet_boundaries(peak, cat):
    r = qpet(peak * 2.0, 2.0)  # liver mean 2 -> qPET = peak
    assert r.category == cat
    assert r.values["qpet"] == pytest.approx(peak)
    assert r.rules == ["qPET.value", "qPET.ds3", "qPET.ds4", "qPET.ds5"]


def test_qpet_bad_input():
    with pytest.raises(InvalidInputError):
        qpet(2.0, 0.0)
    with pytest.raises(InvalidInputError, match="increase"):
        qpet(2.0, 1.0, ds3_threshold=1.5)

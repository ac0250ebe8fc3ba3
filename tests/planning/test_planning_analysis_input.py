"""Planning from a PET analysis (``analyze`` result / folder): hand-computed %IA, CLI input kinds."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.patient import Administration
from theranostix.planning.uptake import uptake_from_analysis

SHAPE, SPACING, WEIGHT_KG = (40, 48, 48), (4.0, 4.0, 4.0), 80.0
VOX_ML = 0.064


def _phantom():
    z, y, x = np.indices(SHAPE)
    kid = ((z - 20) ** 2 + (y - 24) ** 2 + (x - 12) ** 2) <= 16
    liv = ((z - 20) ** 2 + (y - 24) ** 2 + (x - 34) ** 2) <= 36
    les = ((z - 8) ** 2 + (y - 24) ** 2 + (x - 24) ** 2) <= 4
    suv = np.full(SHAPE, 0.5, np.float32)
    suv[kid], suv[liv], suv[les] = 30.0, 5.0, 25.0
    return suv, kid, liv, les


@pytest.fixture(scope="module")
def analysis():
    from theranostix.pet.pipeline import analyze_study

    suv, kid, liv, _les = _phantom()
    inj = datetime(2026, 1, 1, 9, 0)
    pet = SimpleNamespace(
        image=Image(suv, SPACING, units="SUVbw"), provenance=None, suv_kind="bw", series_uid="",
        study_uid="", administration=Administration(agent="[68Ga]Ga-PSMA-11", radionuclide="Ga-68",
                                                    activity_mbq=150.0, datetime=inj),
        patient=SimpleNamespace(sex="M", weight_kg=WEIGHT_KG, height_m=1.8),
        reference_time=inj + timedelta(minutes=60))
    return analyze_study(pet, None, tracer="psma-ga68",
                         organ_masks={"kidney_left": kid, "liver": liv})


@pytest.fixture(scope="module")
def folder(analysis, tmp_path_factory):
    from theranostix.io.analysis_folder import write_analysis

    out = tmp_path_factory.mktemp("analysis")
    write_analysis(analysis, out)
    return out


def test_uptake_from_analysis_matches_hand_computation(analysis):
    _suv, kid, liv, _les = _phantom()
    up = uptake_from_analysis(analysis, pv_fwhm_mm=None)
    k = up.region("kidneys")
    # %IA = 100 x sum SUV x V_voxel / W(g); mass = volume x 1 g/mL without a CT
    assert k.percent_ia == pytest.approx(100 * 30.0 * kid.sum() * VOX_ML / (WEIGHT_KG * 1000), rel=1e-6)
    assert k.mass_g == pytest.approx(kid.sum() * VOX_ML, rel=1e-9)
    assert up.region("liver").percent_ia == pytest.approx(100 * 5.0 * liv.sum() * VOX_ML / 80000, rel=1e-6)
    assert up.scan_time_h == pytest.approx(1.0) and up.patient_weight_kg == WEIGHT_KG
    assert up.sex == "male" and up.lesions, "the analysed lesion must become a lesion region"
    assert up.diagnostic_agent == "psma-ga68"


def test_analysis_without_organs_weight_or_time_is_refused(analysis):
    for change in ({"organs": None}, {"patient": {"sex": "M", "weight_kg": None}},
                   {"uptake_time_min": None}):
        broken = analysis.model_copy(update=change)
        with pytest.raises(InvalidInputError):
            uptake_from_analysis(broken)
    with pytest.raises(InvalidInputError):
        uptake_from_analysis(analysis.model_copy(update={"suv": analysis.suv.with_array(
            analysis.suv.array, units="Bq/mL")}))
    with pytest.raises(InvalidInputError):
        uptake_from_analysis(analysis.model_copy(update={"organ_names": {1: "femur", 2: "lung"}}))


def test_cli_plans_from_an_analysis_folder(cli, folder):
    _suv, kid, _liv, _les = _phantom()
    code, out, err = cli(["plan", str(folder), "--json", "--samples", "300", "--pet-fwhm-mm", "0"])
    assert code == 0, err
    doc = json.loads(out)
    assert doc["input_kind"] == "analysis folder"
    kidneys = next(r for r in doc["prediction"]["regions"] if r["region"] == "kidneys")
    assert kidneys["diagnostic_percent_ia"] == pytest.approx(
        100 * 30.0 * kid.sum() * VOX_ML / 80000, rel=1e-5)
    p = doc["prescription"]
    assert p["binding_limit"] and p["plan"]["activity_per_cycle_gbq"] > 0
    assert p["standard"]["activity_per_cycle_gbq"] == 7.4 and p["lesions"]
    assert "vision" in doc["eligibility"]
    code, out, _ = cli(["plan", str(folder), "--samples", "300"])
    assert code == 0 and "binding limit" in out and "Eligibility" in out


def test_cli_refuses_bad_input_kinds(cli, folder, tmp_path):
    bare = tmp_path / "bare"
    shutil.copytree(folder, bare)
    (bare / "organs.nii.gz").unlink()
    code, _out, err = cli(["plan", str(bare), "--json"])
    assert code == 2 and "organ masks" in err
    code, _out, err = cli(["plan", str(folder), "--ct", str(tmp_path), "--json"])
    assert code == 2
    empty = tmp_path / "pet"
    empty.mkdir()
    code, _out, err = cli(["plan", str(empty), "--json"])
    assert code == 2 and "organ masks" in err
    code, _out, err = cli(["plan", str(tmp_path / "missing"), "--json"])
    assert code == 2
    code, _out, err = cli(["plan", str(folder), "--pet-fwhm-mm", "-1", "--json"])
    assert code == 2

"""The analyze output folder: round trip of organs and CT, and every broken-input refusal."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.io.analysis_folder import is_analysis_folder, read_analysis, write_analysis
from theranostix.pet.pipeline import analyze_study


def _result():
    arr = np.full((20, 20, 20), 1.0, np.float32)
    arr[9:12, 9:12, 9:12] = 12.0
    img = Image(arr, spacing=(4.0, 4.0, 4.0), origin=(0.0, 0.0, 0.0), units="SUVbw")
    pet = SimpleNamespace(image=img, administration=None, provenance=None, patient=None,
                          reference_time=None, suv_kind="bw")
    liver = np.zeros(arr.shape, bool)
    liver[2:6, 2:8, 2:8] = True
    return analyze_study(pet, None, tracer="psma-ga68", organ_masks={"liver": liver})


def test_organs_round_trip(tmp_path):
    r = _result()
    paths = write_analysis(r, tmp_path / "a")
    assert is_analysis_folder(tmp_path / "a") and "organs" in paths
    back = read_analysis(tmp_path / "a")
    assert back.organ_names == r.organ_names == {1: "liver"}
    assert np.array_equal(back.organs.array, r.organs.array)


def test_output_path_that_is_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(InvalidInputError, match="not a folder"):
        write_analysis(_result(), f)


def test_missing_and_broken_lesions_json_are_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="no lesions.json"):
        read_analysis(tmp_path)
    (tmp_path / "lesions.json").write_text(json.dumps({"tracer": 3}))
    with pytest.raises(InvalidInputError, match="not an analysis result"):
        read_analysis(tmp_path)


def test_broken_organs_sidecar_is_refused(tmp_path):
    write_analysis(_result(), tmp_path / "a")
    side = tmp_path / "a" / "organs.json"
    doc = json.loads(side.read_text())
    doc["labels"] = {"one": "liver"}
    side.write_text(json.dumps(doc))
    with pytest.raises(InvalidInputError, match="organs.nii.gz sidecar"):
        read_analysis(tmp_path / "a")

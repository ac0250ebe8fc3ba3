"""Every refusal of an unsafe PET series: InvalidInputError naming the tag, exit code 2 in the CLI."""

from __future__ import annotations

from datetime import datetime

import pydicom
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.io.dicom import load_pet
from tests.io.pet_factory import edit_all, write_pet_series


def _refused(folder, *needles):
    with pytest.raises(InvalidInputError) as ei:
        load_pet(folder)
    for n in needles:
        assert n in ei.value.message, ei.value.message
    return ei.value


def test_missing_weight(tmp_path):
    e = _refused(write_pet_series(tmp_path / "a", weight_kg=None), "PatientWeight", "(0010,1030)")
    assert e.fix


def test_missing_dose(tmp_path):
    _refused(write_pet_series(tmp_path / "a", dose_bq=None), "RadionuclideTotalDose")


def test_missing_injection_time(tmp_path):
    _refused(write_pet_series(tmp_path / "a", injection=None), "injection time")


def test_nonzero_intercept(tmp_path):
    _refused(write_pet_series(tmp_path / "a", intercept=5.0), "RescaleIntercept", "(0028,1052)")


@pytest.mark.parametrize("corrected,needle", [(("NORM", "DECY"), "ATTN"), (("NORM", "ATTN"), "DECY")])
def test_corrected_image_without_attn_or_decy(tmp_path, corrected, needle):
    _refused(write_pet_series(tmp_path / "a", corrected=corrected), needle, "CorrectedImage")


@pytest.mark.parametrize("units", ["CPS", "PROPCNTS", "1CM", ""])
def test_unknown_units(tmp_path, units):
    _refused(write_pet_series(tmp_path / "a", units=units), "Units", "(0054,1001)")


def test_negative_decay_time(tmp_path):
    f = write_pet_series(tmp_path / "a", injection=datetime(2025, 3, 1, 11, 0), scan=datetime(2025, 3, 1, 10, 0))
    _refused(f, "negative")


def test_no_half_life_and_no_code(tmp_path):
    _refused(write_pet_series(tmp_path / "a", half_life_s=None, nuclide_code=None), "half-life")


def test_mixed_series_different_sizes(tmp_path):
    f = write_pet_series(tmp_path / "a")
    ds = pydicom.dcmread(sorted(f.glob("*.dcm"))[0])
    ds.Rows = 4
    ds.PixelData = ds.PixelData[: 4 * 8 * 2]
    ds.save_as(sorted(f.glob("*.dcm"))[0])
    _refused(f, "mixed series")


def test_two_pet_series_in_one_folder(tmp_path):
    write_pet_series(tmp_path / "a" / "s1")
    write_pet_series(tmp_path / "a" / "s2")
    _refused(tmp_path / "a", "2 PET series")


def test_duplicate_positions(tmp_path):
    f = write_pet_series(tmp_path / "a")
    edit_all(f, lambda ds, i: setattr(ds, "ImagePositionPatient", [-16, -16, 0]))
    _refused(f, "share one position")


def test_enhanced_pet_multiframe_refused(tmp_path):
    f = write_pet_series(tmp_path / "a")

    def enh(ds, i):
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.130"
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    edit_all(f, enh)
    _refused(f, "Enhanced PET", "SOPClassUID")


def test_no_pet_here(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    _refused(tmp_path, "no PET series")


def test_cli_exit_code_2_and_one_line(tmp_path, cli):
    f = write_pet_series(tmp_path / "a", weight_kg=None)
    out = tmp_path / "suv.nii.gz"
    code, stdout, stderr = cli(["suv", str(f), "--out", str(out)])
    assert code == 2
    assert "PatientWeight" in stderr and "Traceback" not in stderr
    assert not out.exists() and not list(tmp_path.glob(".suv*"))  # nothing half-written


def test_cli_weight_override_fixes_it(tmp_path, cli):
    f = write_pet_series(tmp_path / "a", weight_kg=None)
    code, stdout, _ = cli(["suv", str(f), "--out", str(tmp_path / "s.nii.gz"), "--weight-kg", "80", "--json"])
    assert code == 0, stdout
    import json
    res = json.loads(stdout)
    assert res["stats"]["max"] == pytest.approx(3.1581, abs=1e-3)
    assert res["provenance"]["parameters"]["weight_kg_override"] == 80

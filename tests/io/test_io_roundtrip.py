"""Geometry and values survive DICOM -> Image -> NIfTI -> Image; CT, SPECT and discovery."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pytest
import SimpleITK as sitk

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.resample import resample_to, resample_to_spacing
from theranostix.io.dicom import discover, load_ct, load_pet, load_spect
from theranostix.io.nifti import read_nifti, sidecar_path, write_nifti
from tests.io.pet_factory import write_ct_series, write_nm_tomo, write_pet_series


def _ramp(shape):
    return np.arange(np.prod(shape), dtype=float).reshape(shape) * 10 + 100


def test_dicom_geometry_matches_simpleitk_series_reader(tmp_path):
    f = write_pet_series(tmp_path / "a", values_bqml=_ramp((4, 8, 8)), spacing=(3.0, 2.5, 4.0),
                         origin=(-10.0, 20.0, 5.0))
    vol = load_pet(f)
    r = sitk.ImageSeriesReader()
    r.SetFileNames(r.GetGDCMSeriesFileNames(str(f)))
    ref = r.Execute()
    assert vol.image.spacing == pytest.approx(ref.GetSpacing())
    assert vol.image.origin == pytest.approx(ref.GetOrigin())
    assert vol.image.direction == pytest.approx(ref.GetDirection())
    np.testing.assert_allclose(vol.bqml.array, sitk.GetArrayFromImage(ref), rtol=1e-4)


def test_nifti_round_trip_keeps_values_geometry_and_quantitation(tmp_path):
    f = write_pet_series(tmp_path / "a", values_bqml=_ramp((4, 8, 8)))
    vol = load_pet(f)
    out = write_nifti(vol.image, tmp_path / "o" / "suv.nii.gz",
                      sidecar={"administration": vol.administration, "reference_time": vol.reference_time,
                               "suvbw_to_bqml": vol.suvbw_to_bqml, "patient": vol.patient})
    img, meta = read_nifti(out)
    assert img.same_grid(vol.image)
    np.testing.assert_array_equal(img.array, vol.image.array)
    assert img.units == "SUVbw"
    assert meta["administration"]["activity_mbq"] == pytest.approx(370.0)
    assert datetime.fromisoformat(meta["reference_time"]) == vol.reference_time
    assert meta["patient"]["weight_kg"] == 80
    # SUV can be turned back to Bq/mL from the sidecar alone
    np.testing.assert_allclose(img.array * meta["suvbw_to_bqml"], vol.bqml.array, rtol=1e-5)


def test_nifti_oblique_direction_round_trip(tmp_path):
    th = np.deg2rad(20)
    d = np.array([[np.cos(th), -np.sin(th), 0], [np.sin(th), np.cos(th), 0], [0, 0, 1]])
    img = Image(np.random.default_rng(0).random((3, 4, 5)).astype(np.float32), spacing=(1, 2, 3),
                origin=(5, -7, 9), direction=tuple(d.ravel()), units="Bq/mL")
    out = write_nifti(img, tmp_path / "x.nii")
    back, _ = read_nifti(out)
    assert back.same_grid(img)
    np.testing.assert_allclose(back.index_to_world((1, 2, 3)), img.index_to_world((1, 2, 3)))


def test_nifti_bad_inputs(tmp_path):
    with pytest.raises(InvalidInputError):
        read_nifti(tmp_path / "missing.nii.gz")
    (tmp_path / "bad.nii.gz").write_bytes(b"not nifti")
    with pytest.raises(InvalidInputError, match="not a readable NIfTI"):
        read_nifti(tmp_path / "bad.nii.gz")
    img = Image(np.zeros((2, 2, 2)), spacing=(1, 1, 1))
    with pytest.raises(InvalidInputError, match=".nii"):
        write_nifti(img, tmp_path / "x.png")


def test_sitk_round_trip_and_resampling():
    img = Image(_ramp((6, 8, 10)).astype(np.float32), spacing=(2, 2, 2), origin=(1, 2, 3), units="Bq/mL")
    back = Image.from_sitk(img.to_sitk(), units=img.units)
    assert back.same_grid(img) and np.array_equal(back.array, img.array)
    same = resample_to(img, img)
    np.testing.assert_allclose(same.array, img.array, rtol=1e-6)
    coarse = resample_to_spacing(img, (4.0, 4.0, 4.0))
    assert coarse.shape == (3, 4, 5)
    # the field of view is kept: centre of the volume unchanged
    c0 = img.index_to_world(np.array(img.size_ijk) / 2 - 0.5)
    c1 = coarse.index_to_world(np.array(coarse.size_ijk) / 2 - 0.5)
    np.testing.assert_allclose(c0, c1, atol=1e-6)


def test_ct_in_hu(tmp_path):
    hu = np.stack([np.full((6, 6), v, dtype=float) for v in (-1000, -100, 0, 40, 700)])
    img = load_ct(write_ct_series(tmp_path / "ct", hu))
    assert img.units == "HU"
    np.testing.assert_allclose(img.array.mean(axis=(1, 2)), [-1000, -100, 0, 40, 700])
    assert img.spacing == (2.0, 2.0, 3.0)


def test_spect_counts_to_bqml_with_calibration(tmp_path):
    counts = np.full((5, 6, 6), 1000.0)
    f = write_nm_tomo(tmp_path / "nm", counts, frame_ms=15000, n_proj=120)  # 1800 s total
    vol = load_spect(f, calibration_cps_per_mbq=10.0)
    lam = np.log(2) / (6.647 * 86400)
    f_decay = lam * 1800 / (1 - np.exp(-lam * 1800))
    assert f_decay == pytest.approx(1.001087, abs=2e-6)  # FACTS.md
    expected = 1000 / (1800 * 10.0) * 1e6 / (4.8**3 / 1000) * f_decay
    assert float(vol.image.array.mean()) == pytest.approx(expected, rel=1e-5)
    assert vol.hours_after_administration == pytest.approx(24.0)
    assert vol.administration.radionuclide == "Lu-177"


def test_spect_without_calibration_is_refused(tmp_path):
    f = write_nm_tomo(tmp_path / "nm", np.ones((3, 4, 4)))
    with pytest.raises(InvalidInputError, match="calibration"):
        load_spect(f)


def test_spect_in_bqml_read_directly(tmp_path):
    f = write_nm_tomo(tmp_path / "nm", np.full((3, 4, 4), 2500.0), units="BQML")
    assert float(load_spect(f).image.array.mean()) == pytest.approx(2500.0)


def test_discover_groups_and_skips(tmp_path, cli):
    write_pet_series(tmp_path / "study" / "pet")
    write_pet_series(tmp_path / "study" / "pet_noweight", weight_kg=None)
    write_ct_series(tmp_path / "study" / "ct", np.zeros((3, 4, 4)))
    (tmp_path / "study" / "README.txt").write_text("not dicom")
    series, skipped = discover(tmp_path / "study")
    mods = sorted(s.modality for s in series)
    assert mods == ["CT", "PT", "PT"]
    ready = {s.folder.split("/")[-1]: s for s in series}
    assert ready["pet"].ready and ready["pet"].quantitation == "SUV"
    assert not ready["pet_noweight"].ready and "PatientWeight" in ready["pet_noweight"].reasons[0]
    assert ready["ct"].quantitation == "HU"
    assert any("README.txt" in f for f, _ in skipped)
    code, out, _ = cli(["inspect", str(tmp_path / "study"), "--json"])
    assert code == 0
    data = json.loads(out)
    assert len(data["series"]) == 3 and len(data["skipped"]) == 1
    code, out, _ = cli(["inspect", str(tmp_path / "study")])
    assert code == 0 and "PT" in out


def test_sidecar_path_naming(tmp_path):
    assert sidecar_path(tmp_path / "a.nii.gz").name == "a.json"
    assert sidecar_path(tmp_path / "a.nii").name == "a.json"

"""DICOM export: required tags, vendor private tags, round trip through the project's reader."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pydicom
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.twin.export import (
    VENDORS,
    PatientInfo,
    SeriesContext,
    make_uid,
    write_ct_series,
    write_pet_series,
    write_spect_series,
)
from theranostix.twin.scanners import simulate_ct, simulate_pet, simulate_spect

from .twin_scan_phantoms import sphere_phantom

PATIENT = PatientInfo(patient_id="TWIN-T", patient_name="Twin^Test", birth_date=date(1960, 5, 17),
                      sex="M", weight_kg=81.5, height_m=1.78)
INJECTION = datetime(2026, 3, 2, 9, 0, 0)
UPTAKE_MIN = 62.0
SCAN_START = INJECTION + timedelta(minutes=UPTAKE_MIN)
ACTIVITY_MBQ = 187.0
HALF_LIFE_GA68_S = 4062.6  # ICRP-107 67.71 min


def _ctx(role: str, vendor: str = "siemens", series_number: int = 1) -> SeriesContext:
    return SeriesContext(patient=PATIENT, study_uid=make_uid("t", "study"), study_datetime=SCAN_START,
                         frame_of_reference_uid=make_uid("t", "for"), series_uid=make_uid("t", role, vendor),
                         series_number=series_number, series_description=role, vendor=vendor)


@pytest.fixture(scope="module")
def truth_suv() -> Image:
    """SUV 1 background cube with a 30 mm sphere of SUV 8 (2 mm truth grid), 6 beds of 40 mm."""
    img, _ = sphere_phantom(30.0, truth_mm=2.0, voxel_mm=4.0, margin_mm=40.0, value=7.0, units="SUVbw")
    return img.with_array(img.array + np.float32(1.0))


@pytest.fixture(scope="module")
def pet_noise_free(truth_suv) -> Image:
    return simulate_pet(truth_suv, "Ga-68", activity_mbq=ACTIVITY_MBQ, uptake_min=UPTAKE_MIN,
                        weight_kg=PATIENT.weight_kg, noise=False)


@pytest.fixture(scope="module")
def written(tmp_path_factory, pet_noise_free) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dicom")
    out = {}
    for v in VENDORS:
        out[v] = write_pet_series(pet_noise_free, root / v, _ctx("pet", v, 3), nuclide="Ga-68",
                                  agent="[68Ga]Ga-PSMA-11", activity_mbq=ACTIVITY_MBQ,
                                  injection=INJECTION, scan_start=SCAN_START,
                                  duration_s_per_bed=150.0, bed_step_mm=40.0)
    hu = Image(np.full((40, 40, 40), 30.0, np.float32), (2.0, 2.0, 2.0), units="HU")
    out["ct"] = write_ct_series(simulate_ct(hu, seed=1), root / "ct", _ctx("ct"),
                                acquisition=SCAN_START - timedelta(minutes=2))
    return out


def _read(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(f) for f in sorted(folder.glob("*.dcm"))]


PET_KEYWORDS = [
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientWeight", "PatientSize",
    "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
    "StudyDate", "StudyTime", "SeriesDate", "SeriesTime", "AcquisitionDate", "AcquisitionTime",
    "Units", "DecayCorrection", "CorrectedImage", "RadiopharmaceuticalInformationSequence",
    "FrameReferenceTime", "ActualFrameDuration", "DecayFactor", "RescaleSlope", "RescaleIntercept",
    "ImagePositionPatient", "ImageOrientationPatient", "PixelSpacing", "SliceThickness",
    "Manufacturer", "ImageType", "SeriesType", "CountsSource", "NumberOfSlices", "ImageIndex",
]


@pytest.mark.parametrize("vendor", VENDORS)
def test_pet_series_has_every_required_tag(written, vendor, pet_noise_free):
    dss = _read(written[vendor])
    assert len(dss) == pet_noise_free.shape[0]
    for ds in dss:
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.128"
        assert ds.Modality == "PT"
        for kw in PET_KEYWORDS:
            assert kw in ds, kw
        assert ds.BitsAllocated == 16 and ds.PixelRepresentation == 1
        assert float(ds.RescaleIntercept) == 0.0
        assert ds.DecayCorrection == "START"
        assert {"ATTN", "DECY"} <= set(ds.CorrectedImage)
        item = ds.RadiopharmaceuticalInformationSequence[0]
        assert float(item.RadionuclideTotalDose) == pytest.approx(ACTIVITY_MBQ * 1e6)  # Bq
        assert float(item.RadionuclideHalfLife) == pytest.approx(HALF_LIFE_GA68_S, rel=1e-4)
        assert item.RadiopharmaceuticalStartDateTime.startswith("20260302090000")
        assert item.RadionuclideCodeSequence[0].CodeValue == "C-131A1"
        assert float(ds.PatientWeight) == PATIENT.weight_kg
        assert ds.PatientID == PATIENT.patient_id
    assert {d.Units for d in dss} == {"CNTS" if vendor == "philips" else "BQML"}
    slopes = {float(d.RescaleSlope) for d in dss}
    assert len(slopes) > 5  # per-slice slopes, as real scanners write them
    acq = sorted({d.AcquisitionTime for d in dss})
    assert len(acq) > 1  # one AcquisitionTime per bed


def test_vendor_private_tags_found_through_private_creator(written, pet_noise_free):
    scan_start = SCAN_START.strftime("%Y%m%d%H%M%S")
    ds = _read(written["siemens"])[0]
    assert str(ds.private_block(0x0071, "SIEMENS MED PT")[0x22].value).startswith(scan_start)
    assert ds.SeriesTime.startswith(SCAN_START.strftime("%H%M%S"))

    ds = _read(written["ge"])[0]
    blk = ds.private_block(0x0009, "GEMS_PETD_01")
    assert str(blk[0x0D].value).startswith(scan_start)
    assert str(blk[0x3B].value).startswith(INJECTION.strftime("%Y%m%d%H%M%S"))
    assert ds.SeriesTime > min(d.AcquisitionTime for d in _read(written["ge"]))  # post-processed

    dss = _read(written["philips"])
    ds = dss[len(dss) // 2]
    blk = ds.private_block(0x7053, "Philips PET Private Group")
    f_act = float(blk[0x09].value)
    f_suv = float(blk[0x00].value)
    lam = math.log(2) / HALF_LIFE_GA68_S
    ref_bq = ACTIVITY_MBQ * 1e6 * math.exp(-lam * UPTAKE_MIN * 60)
    assert f_suv == pytest.approx(f_act * PATIENT.weight_kg * 1000 / ref_bq, rel=1e-6)
    stored = ds.pixel_array.astype(float) * float(ds.RescaleSlope)
    k = pet_noise_free.shape[0] - int(ds.InstanceNumber)
    np.testing.assert_allclose(stored * f_act, pet_noise_free.array[k], rtol=1e-3,
                               atol=1e-4 * pet_noise_free.array.max())


def test_frame_reference_time_and_decay_factor_are_consistent(written):
    lam = math.log(2) / HALF_LIFE_GA68_S
    for ds in _read(written["siemens"]):
        t_acq = datetime.strptime(ds.AcquisitionDate + ds.AcquisitionTime[:6], "%Y%m%d%H%M%S")
        T = float(ds.ActualFrameDuration) / 1000
        t_ave = math.log(lam * T / (1 - math.exp(-lam * T))) / lam
        # IBSI option B: t_ref = t_acq + T_ave - FrameReferenceTime/1000 must be the scan start
        t_ref = t_acq + timedelta(seconds=t_ave - float(ds.FrameReferenceTime) / 1000)
        assert abs((t_ref - SCAN_START).total_seconds()) < 0.01
        dt = (t_acq - SCAN_START).total_seconds()
        assert float(ds.DecayFactor) == pytest.approx(
            math.exp(lam * dt) * lam * T / (1 - math.exp(-lam * T)), rel=1e-6)


def test_ct_series_in_hu_shares_frame_of_reference(written):
    cts = _read(written["ct"])
    pets = _read(written["siemens"])
    for ds in cts:
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.2"
        assert float(ds.RescaleSlope) == 1.0 and float(ds.RescaleIntercept) == -1024.0
    hu = cts[5].pixel_array.astype(float) - 1024
    assert abs(hu.mean() - 30.0) < 2.0
    assert cts[0].FrameOfReferenceUID == pets[0].FrameOfReferenceUID
    assert cts[0].StudyInstanceUID == pets[0].StudyInstanceUID
    assert cts[0].SeriesInstanceUID != pets[0].SeriesInstanceUID


@pytest.mark.parametrize("vendor", VENDORS)
def test_every_vendor_reads_back_with_suv_error_below_1_percent(written, vendor, pet_noise_free,
                                                                truth_suv):
    from theranostix.io.dicom.pet import load_pet

    vol = load_pet(written[vendor])
    assert vol.image.units == "SUVbw"
    lam = math.log(2) / HALF_LIFE_GA68_S
    ref_bq = ACTIVITY_MBQ * 1e6 * math.exp(-lam * UPTAKE_MIN * 60)
    expected_suv = pet_noise_free.array * PATIENT.weight_kg * 1000 / ref_bq
    got = vol.image.array
    assert got.shape == expected_suv.shape
    np.testing.assert_allclose(vol.image.origin, pet_noise_free.origin, atol=1e-3)
    hot = expected_suv > 0.5
    assert np.max(np.abs(got[hot] / expected_suv[hot] - 1)) < 0.01
    # against the phantom truth itself: centre of the 30 mm sphere (RC ~ 1) and background
    assert got.max() == pytest.approx(8.0, rel=0.01)
    assert np.median(got[hot]) == pytest.approx(1.0, rel=0.01)


def test_spect_reads_back_through_calibration_and_duration(tmp_path):
    from theranostix.io.dicom.nm import load_spect

    truth, _ = sphere_phantom(60.0, truth_mm=2.0, voxel_mm=4.8, margin_mm=30.0, value=2.0e5)
    nf = simulate_spect(truth, "Lu-177", matrix_xy=32, noise=False, calibration_cps_per_mbq=9.0,
                        frame_duration_s=1200.0)
    noisy = simulate_spect(truth, "Lu-177", matrix_xy=32, seed=5, calibration_cps_per_mbq=9.0,
                           frame_duration_s=1200.0)
    ctx = _ctx("spect")
    acq = INJECTION + timedelta(hours=24)
    write_spect_series(noisy, tmp_path / "nm", ctx, nuclide="Lu-177", agent="[177Lu]Lu-PSMA-617",
                       activity_mbq=7400.0, injection=INJECTION, acquisition=acq,
                       calibration_cps_per_mbq=9.0, frame_duration_s=1200.0)
    (f,) = list((tmp_path / "nm").glob("*.dcm"))
    ds = pydicom.dcmread(f)
    assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.20" and ds.NumberOfFrames == noisy.shape[0]
    blk = ds.private_block(0x0033, "THERANOSTIX")
    assert float(blk[0x10].value) == 9.0 and float(blk[0x11].value) == 1200.0
    vol = load_spect(tmp_path / "nm")
    assert vol.hours_after_administration == pytest.approx(24.0)
    # counts are Poisson around the expectation; total activity recovers the truth
    total_truth_mbq = truth.array.sum(dtype=np.float64) * truth.voxel_volume_ml / 1e6
    total_read_mbq = vol.image.array.sum(dtype=np.float64) * vol.image.voxel_volume_ml / 1e6
    assert total_read_mbq == pytest.approx(total_truth_mbq, rel=0.01)
    hot = nf.array > 100
    z = (noisy.array[hot] - nf.array[hot]) / np.sqrt(nf.array[hot])
    # 1024 voxels: SE of the mean z 0.03, of its SD 0.02 (tolerances about 3.5 SE)
    assert abs(z.mean()) < 0.1 and z.std() == pytest.approx(1.0, abs=0.08)


def test_same_seed_gives_byte_identical_files(tmp_path, truth_suv):
    for run in ("a", "b"):
        pet = simulate_pet(truth_suv, "Ga-68", weight_kg=80.0, seed=9)
        write_pet_series(pet, tmp_path / run, _ctx("pet"), nuclide="Ga-68", agent="x",
                         activity_mbq=200.0, injection=INJECTION, scan_start=SCAN_START,
                         duration_s_per_bed=150.0)
    a = sorted((tmp_path / "a").glob("*.dcm"))
    b = sorted((tmp_path / "b").glob("*.dcm"))
    assert [p.name for p in a] == [p.name for p in b]
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))


def test_bad_export_input_is_refused(tmp_path, pet_noise_free):
    with pytest.raises(InvalidInputError, match="vendor"):
        bad = _ctx("pet").model_copy(update={"vendor": "acme"})  # model_copy skips validation
        write_pet_series(pet_noise_free, tmp_path / "x", bad,
                         nuclide="Ga-68", agent="x", activity_mbq=200.0, injection=INJECTION,
                         scan_start=SCAN_START, duration_s_per_bed=150.0)
    with pytest.raises(InvalidInputError, match="units"):
        write_pet_series(pet_noise_free.with_array(pet_noise_free.array, units="SUVbw"),
                         tmp_path / "y", _ctx("pet"), nuclide="Ga-68", agent="x",
                         activity_mbq=200.0, injection=INJECTION, scan_start=SCAN_START,
                         duration_s_per_bed=150.0)
    with pytest.raises(InvalidInputError, match="before the injection"):
        write_pet_series(pet_noise_free, tmp_path / "z", _ctx("pet"), nuclide="Ga-68", agent="x",
                         activity_mbq=200.0, injection=INJECTION,
                         scan_start=INJECTION - timedelta(minutes=1), duration_s_per_bed=150.0)
    big = Image(np.full((4, 4, 4), 70000.0, np.float32), (4.8,) * 3, units="counts")
    with pytest.raises(InvalidInputError, match="uint16"):
        write_spect_series(big, tmp_path / "s", _ctx("spect"), nuclide="Lu-177", agent="x",
                           activity_mbq=7400.0, injection=INJECTION, acquisition=SCAN_START,
                           calibration_cps_per_mbq=9.0, frame_duration_s=1200.0)
    assert not any((tmp_path / n).exists() for n in ("x", "y", "z", "s"))

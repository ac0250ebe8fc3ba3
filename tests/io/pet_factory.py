"""Build small synthetic DICOM PET/CT/NM series for tests, with every header under control."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

PET_SOP = "1.2.840.10008.5.1.4.1.1.128"
CT_SOP = "1.2.840.10008.5.1.4.1.1.2"
NM_SOP = "1.2.840.10008.5.1.4.1.1.20"


def _base(sop: str, modality: str, uids: dict[str, str], k: int) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = modality
    ds.StudyInstanceUID = uids["study"]
    ds.SeriesInstanceUID = uids["series"]
    ds.FrameOfReferenceUID = uids["for"]
    ds.PatientID = "TEST"
    ds.PatientName = "Test^Patient"
    ds.InstanceNumber = k + 1
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    return ds


def write_pet_series(folder: Path, values_bqml: np.ndarray | float = 10000.0, *, shape=(4, 8, 8),
                     spacing=(4.0, 4.0, 4.0), origin=(-16.0, -16.0, 0.0), weight_kg: Any = 80.0,
                     height_m: Any = 1.80, sex: str = "M", dose_bq: Any = 370e6,
                     injection: datetime | None = datetime(2025, 3, 1, 9, 0),
                     scan: datetime = datetime(2025, 3, 1, 10, 0), half_life_s: Any = 6586.2,
                     nuclide_code: tuple[str, str] | None = ("C-111A1", "^18^Fluorine"),
                     units: str = "BQML", decay_correction: str = "START",
                     corrected=("NORM", "ATTN", "SCAT", "DECY"), per_slice_slope: bool = True,
                     intercept: float = 0.0, inject_time_only: bool = False,
                     extra: dict[str, Any] | None = None, per_slice: dict[int, dict[str, Any]] | None = None,
                     ) -> Path:
    """Write a PET series whose activity concentration (Bq/mL, at ``scan``) is ``values_bqml``."""
    folder.mkdir(parents=True, exist_ok=True)
    nz, ny, nx = shape
    vals = np.broadcast_to(np.asarray(values_bqml, dtype=float), shape)
    uids = {"study": generate_uid(), "series": generate_uid(), "for": generate_uid()}
    for k in range(nz):
        ds = _base(PET_SOP, "PT", uids, k)
        ds.SeriesDate = ds.AcquisitionDate = ds.StudyDate = scan.strftime("%Y%m%d")
        ds.SeriesTime = ds.AcquisitionTime = ds.StudyTime = scan.strftime("%H%M%S")
        ds.Manufacturer = "Synthetic"
        if weight_kg is not None:
            ds.PatientWeight = weight_kg
        if height_m is not None:
            ds.PatientSize = height_m
        ds.PatientSex = sex
        ds.Units = units
        ds.DecayCorrection = decay_correction
        ds.CorrectedImage = list(corrected)
        ds.SeriesType = ["STATIC", "IMAGE"]
        ds.ActualFrameDuration = 180000
        ds.FrameReferenceTime = 90000
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [origin[0], origin[1], origin[2] + k * spacing[2]]
        ds.PixelSpacing = [spacing[1], spacing[0]]
        ds.SliceThickness = spacing[2]
        ds.Rows, ds.Columns = ny, nx
        rp = Dataset()
        rp.Radiopharmaceutical = "TEST"
        if dose_bq is not None:
            rp.RadionuclideTotalDose = dose_bq
        if half_life_s is not None:
            rp.RadionuclideHalfLife = half_life_s
        if injection is not None:
            if not inject_time_only:
                rp.RadiopharmaceuticalStartDateTime = injection.strftime("%Y%m%d%H%M%S")
            rp.RadiopharmaceuticalStartTime = injection.strftime("%H%M%S")
        if nuclide_code is not None:
            code = Dataset()
            code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = nuclide_code[0], "SRT", nuclide_code[1]
            rp.RadionuclideCodeSequence = [code]
        ds.RadiopharmaceuticalInformationSequence = [rp]
        sl = vals[k]
        slope = (max(float(np.abs(sl).max()), 1e-6) / 30000.0) if per_slice_slope else 1.0
        ds.RescaleSlope = f"{slope:.10g}"
        ds.RescaleIntercept = intercept
        stored = np.round(sl / float(ds.RescaleSlope)).astype(np.int16)
        ds.PixelData = stored.tobytes()
        for key, v in (extra or {}).items():
            setattr(ds, key, v)
        for key, v in ((per_slice or {}).get(k, {})).items():
            setattr(ds, key, v)
        ds.save_as(folder / f"pt_{k:03d}.dcm", enforce_file_format=True)
    return folder


def write_ct_series(folder: Path, hu: np.ndarray, *, spacing=(2.0, 2.0, 3.0), origin=(0.0, 0.0, 0.0),
                    for_uid: str | None = None) -> Path:
    """Write a CT series storing ``hu`` (z, y, x) with intercept -1024."""
    folder.mkdir(parents=True, exist_ok=True)
    uids = {"study": generate_uid(), "series": generate_uid(), "for": for_uid or generate_uid()}
    for k in range(hu.shape[0]):
        ds = _base(CT_SOP, "CT", uids, k)
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [origin[0], origin[1], origin[2] + k * spacing[2]]
        ds.PixelSpacing = [spacing[1], spacing[0]]
        ds.Rows, ds.Columns = hu.shape[1], hu.shape[2]
        ds.RescaleSlope, ds.RescaleIntercept, ds.RescaleType = 1, -1024, "HU"
        ds.PixelData = np.round(hu[k] + 1024).astype(np.int16).tobytes()
        ds.save_as(folder / f"ct_{k:03d}.dcm", enforce_file_format=True)
    return folder


def write_nm_tomo(folder: Path, counts: np.ndarray, *, spacing=(4.8, 4.8, 4.8), origin=(0.0, 0.0, 0.0),
                  frame_ms: int = 15000, n_proj: int = 120, units: str | None = None,
                  injection: datetime = datetime(2025, 3, 1, 9, 0),
                  scan: datetime = datetime(2025, 3, 2, 9, 0), dose_bq: float = 7.4e9) -> Path:
    """Write a reconstructed NM (multi-frame, RECON TOMO) Lu-177 SPECT storing ``counts``."""
    folder.mkdir(parents=True, exist_ok=True)
    uids = {"study": generate_uid(), "series": generate_uid(), "for": generate_uid()}
    ds = _base(NM_SOP, "NM", uids, 0)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.NumberOfFrames = counts.shape[0]
    ds.Rows, ds.Columns = counts.shape[1], counts.shape[2]
    ds.PixelSpacing = [spacing[1], spacing[0]]
    ds.SpacingBetweenSlices = spacing[2]
    ds.SliceThickness = spacing[2]
    det = Dataset()
    det.ImagePositionPatient = list(origin)
    det.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.DetectorInformationSequence = [det]
    rot = Dataset()
    rot.NumberOfFramesInRotation = n_proj
    rot.ActualFrameDuration = frame_ms
    ds.RotationInformationSequence = [rot]
    ds.AcquisitionDate = ds.SeriesDate = scan.strftime("%Y%m%d")
    ds.AcquisitionTime = ds.SeriesTime = scan.strftime("%H%M%S")
    if units:
        ds.Units = units
    rp = Dataset()
    rp.RadiopharmaceuticalStartDateTime = injection.strftime("%Y%m%d%H%M%S")
    rp.RadionuclideTotalDose = dose_bq
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "C-145A4", "SRT", "^177^Lutetium"
    rp.RadionuclideCodeSequence = [code]
    ds.RadiopharmaceuticalInformationSequence = [rp]
    ds.PixelRepresentation = 0
    ds.PixelData = np.round(counts).astype(np.uint16).tobytes()
    ds.save_as(folder / "nm.dcm", enforce_file_format=True)
    return folder


def edit_all(folder: Path, fn) -> None:
    """Apply ``fn(ds, index)`` to every file of a folder and save."""
    for i, f in enumerate(sorted(folder.glob("*.dcm"))):
        ds = pydicom.dcmread(f)
        fn(ds, i)
        ds.save_as(f, enforce_file_format=True)

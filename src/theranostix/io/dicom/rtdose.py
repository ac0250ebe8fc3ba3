"""Write absorbed-dose (or BED) maps as DICOM RT Dose objects (pydicom).

The dose grid is stored as a multi-frame unsigned 32-bit image with ``DoseGridScaling`` such that
``dose_gy = pixel * DoseGridScaling`` (quantisation error <= max/2^32, far below 0.1 %).
Geometry follows the :class:`~theranostix.core.image.Image` (LPS, mm): ``ImagePositionPatient``
is the centre of voxel [0, 0, 0], ``ImageOrientationPatient`` the i and j axes, and
``GridFrameOffsetVector`` the offsets (mm) of each frame along the slice normal relative to the
first (DICOM PS3.3 C.8.8.3, RT Dose module).

``DoseType`` is ``PHYSICAL`` for absorbed dose and ``EFFECTIVE`` for biologically weighted
quantities such as BED or EQD2 (write those with ``dose_type="EFFECTIVE"``).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image

RT_DOSE_STORAGE = "1.2.840.10008.5.1.4.1.1.481.2"
DOSE_TYPES = ("PHYSICAL", "EFFECTIVE", "ERROR")
SUMMATION_TYPES = (
    "PLAN", "MULTI_PLAN", "PLAN_OVERVIEW", "FRACTION", "BEAM", "BRACHY", "FRACTION_SESSION",
    "BEAM_SESSION", "BRACHY_SESSION", "CONTROL_POINT", "RECORD",
)


def _check(dose: Image, dose_type: str, summation: str) -> np.ndarray:
    if dose.units != "Gy":
        raise InvalidInputError(f"dose map must be in Gy, got units {dose.units!r}", where="dose.units")
    if dose_type not in DOSE_TYPES:
        raise InvalidInputError(f"DoseType must be one of {DOSE_TYPES}, got {dose_type!r}", where="dose_type")
    if summation not in SUMMATION_TYPES:
        raise InvalidInputError(f"DoseSummationType {summation!r} not in {SUMMATION_TYPES}",
                                where="summation_type")
    arr = np.asarray(dose.array, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError("dose map has NaN or infinite values", where="dose")
    if np.any(arr < 0):
        raise InvalidInputError(f"dose map has negative values (min {arr.min():.4g} Gy)", where="dose",
                                fix="RT Dose stores unsigned doses: clip or investigate negatives first.")
    return arr


def rtdose_dataset(
    dose: Image, *, dose_type: str = "PHYSICAL", summation_type: str = "RECORD",
    patient_id: str = "ANONYMOUS", patient_name: str = "Anonymous", study_instance_uid: str | None = None,
    referenced_series_uid: str | None = None, series_description: str = "theranostix absorbed dose",
    comment: str | None = None,
) -> Dataset:
    """Build the RT Dose dataset for ``dose`` (an :class:`Image` in Gy).

    Parameters
    ----------
    dose
        Dose map in Gy; its ``frame_of_reference_uid`` is reused (a new one is generated and
        should then be considered unrelated to any image when absent).
    dose_type
        ``"PHYSICAL"`` (absorbed dose) or ``"EFFECTIVE"`` (BED/EQD2) or ``"ERROR"``.
    summation_type
        DICOM DoseSummationType; default ``"RECORD"`` (dose from a delivered administration).
    study_instance_uid, referenced_series_uid
        Study of the source images and the series the dose was computed from (stored in
        ``ReferencedSeriesSequence``), when known.
    """
    arr = _check(dose, dose_type, summation_type)
    dmat = dose.direction_matrix
    row_dir, col_dir, k_dir = dmat[:, 0], dmat[:, 1], dmat[:, 2]
    normal = np.cross(row_dir, col_dir)
    cosk = float(np.dot(k_dir, normal))
    if abs(abs(cosk) - 1.0) > 1e-4:
        raise InvalidInputError("slice axis is not perpendicular to the image plane (sheared grid)",
                                where="dose.direction", fix="resample the dose to an orthogonal grid.")
    nz, ny, nx = arr.shape
    offsets = np.arange(nz) * dose.spacing[2] * cosk
    maxv = float(arr.max())
    scaling = maxv / 4294967295.0 if maxv > 0 else 1.0
    pixels = np.rint(arr / scaling).astype(np.uint32)

    now = datetime.now()
    meta = FileMetaDataset()
    sop_uid = generate_uid()
    meta.MediaStorageSOPClassUID = RT_DOSE_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = RT_DOSE_STORAGE
    ds.SOPInstanceUID = sop_uid
    ds.Modality = "RTDOSE"
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study_instance_uid or generate_uid()
    ds.StudyDate = ds.ContentDate = ds.InstanceCreationDate = now.strftime("%Y%m%d")
    ds.StudyTime = ds.ContentTime = ds.InstanceCreationTime = now.strftime("%H%M%S")
    ds.StudyID = ""
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SeriesInstanceUID = generate_uid()
    ds.SeriesNumber = 900
    ds.SeriesDescription = series_description
    ds.InstanceNumber = 1
    ds.Manufacturer = "theranostix"
    ds.FrameOfReferenceUID = dose.frame_of_reference_uid or generate_uid()
    ds.PositionReferenceIndicator = ""
    if referenced_series_uid:
        ref = Dataset()
        ref.SeriesInstanceUID = referenced_series_uid
        ds.ReferencedSeriesSequence = [ref]
    ds.ImagePositionPatient = [float(v) for v in dose.origin]
    ds.ImageOrientationPatient = [float(v) for v in (*row_dir, *col_dir)]
    ds.PixelSpacing = [float(dose.spacing[1]), float(dose.spacing[0])]  # row spacing (y), column spacing (x)
    ds.SliceThickness = float(dose.spacing[2])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = ny, nx
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = pydicom.tag.Tag(0x3004, 0x000C)
    ds.GridFrameOffsetVector = [float(v) for v in offsets]
    ds.BitsAllocated = 32
    ds.BitsStored = 32
    ds.HighBit = 31
    ds.PixelRepresentation = 0
    ds.DoseUnits = "GY"
    ds.DoseType = dose_type
    ds.DoseSummationType = summation_type
    ds.DoseGridScaling = f"{scaling:.10e}"
    if comment:
        ds.DoseComment = comment[:64]
    ds.PixelData = pixels.tobytes()
    return ds


def write_rtdose(dose: Image, path: str | Path, **kwargs: object) -> Path:
    """Write ``dose`` (Gy) as a DICOM RT Dose file; keyword arguments as :func:`rtdose_dataset`."""
    ds = rtdose_dataset(dose, **kwargs)  # type: ignore[arg-type]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    ds.save_as(tmp, enforce_file_format=True)
    tmp.replace(path)
    return path


def read_rtdose(path: str | Path) -> Image:
    """Read an RT Dose file back into an :class:`Image` (Gy); orthogonal grids only."""
    ds = pydicom.dcmread(str(path))
    if ds.get("Modality") != "RTDOSE":
        raise InvalidInputError("not an RT Dose object", where=path)
    arr = ds.pixel_array.astype(float) * float(ds.DoseGridScaling)
    if arr.ndim == 2:
        arr = arr[None]
    row = np.asarray(ds.ImageOrientationPatient[:3], float)
    col = np.asarray(ds.ImageOrientationPatient[3:], float)
    normal = np.cross(row, col)
    off = np.asarray(ds.GridFrameOffsetVector, float)
    dz = float(off[1] - off[0]) if len(off) > 1 else float(ds.get("SliceThickness", 1.0))
    kdir = normal if dz >= 0 else -normal
    direction = np.stack([row, col, kdir], axis=1).ravel()
    sp = (float(ds.PixelSpacing[1]), float(ds.PixelSpacing[0]), abs(dz) or 1.0)
    return Image(arr, spacing=sp, origin=tuple(float(v) for v in ds.ImagePositionPatient),
                 direction=tuple(direction), units="Gy", frame_of_reference_uid=str(ds.FrameOfReferenceUID))

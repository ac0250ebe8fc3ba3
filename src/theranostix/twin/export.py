"""DICOM and ground-truth export of the digital twins, written the way scanners write them.

One folder per series, written atomically (a temporary folder renamed into place). UIDs are
deterministic (``pydicom.uid.generate_uid`` with entropy sources built from the twin's seed and the
series role), so two runs with the same seed give identical files.

PET (PET Image Storage, one file per slice, int16, RescaleIntercept 0, RescaleSlope per slice)
    Vendor flavours (what each exercises in a reader):

    * ``"siemens"``: Units BQML; SeriesTime = scan start = decay reference; per-bed
      AcquisitionTime; private block ``"SIEMENS MED PT"`` (0071,xx22) decay-correction DateTime.
    * ``"ge"``: Units BQML; SeriesTime is the (later) reconstruction time, as for a post-processed
      series, so the reference must come from private block ``"GEMS_PETD_01"`` (0009,xx0D)
      PET scan DateTime (QIBA step 2); (0009,xx3B) administration DateTime.
    * ``"philips"``: Units CNTS; stored values * slope are counts-like; private block
      ``"Philips PET Private Group"`` (7053,xx00) SUV scale factor and (7053,xx09) activity
      concentration scale factor (Bq/mL per CNTS).

    Every flavour: DecayCorrection START, CorrectedImage [ATTN, DECY, ...], FrameReferenceTime and
    DecayFactor per slice consistent with its bed's AcquisitionTime and ActualFrameDuration
    (``FrameReferenceTime = (t_acq - t_ref + T_ave) * 1000``, with
    ``T_ave = ln(lambda T / (1 - exp(-lambda T))) / lambda``).

CT (CT Image Storage): HU stored as unsigned ``HU + 1024`` (RescaleSlope 1, RescaleIntercept -1024).

SPECT (NM Image Storage, multi-frame RECON TOMO): counts per voxel (uint16), Units ``CNTS``
(non-standard for NM, written for readers that look), the calibration factor (cps/MBq) and the total
acquisition duration (s) in private block ``"THERANOSTIX"`` (0033,xx10) and (0033,xx11), plus the
rotation information (views x time per view).
"""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID, generate_uid

from theranostix import __version__
from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.io.atomic import atomic_dir
from theranostix.physics.radionuclides import radionuclide

__all__ = [
    "VENDORS",
    "PatientInfo",
    "SeriesContext",
    "make_uid",
    "write_pet_series",
    "write_ct_series",
    "write_spect_series",
]

Vendor = Literal["siemens", "ge", "philips"]
VENDORS: tuple[str, ...] = ("siemens", "ge", "philips")

PET_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.128"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
NM_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.20"

#: SNOMED-RT (SRT) codes of the radionuclides (DICOM CID 4020).
RADIONUCLIDE_CODES = {
    "F-18": ("C-111A1", "^18^Fluorine"),
    "Ga-68": ("C-131A1", "^68^Gallium"),
    "Lu-177": ("C-145A4", "^177^Lutetium"),
}

_EQUIPMENT = {
    "siemens": ("SIEMENS", "Biograph Vision 600", "VR20B"),
    "ge": ("GE MEDICAL SYSTEMS", "Discovery MI", "pet_recon.4.2"),
    "philips": ("Philips Medical Systems", "Vereos PET/CT", "3.0"),
}

#: Philips flavour: CNTS units per Bq/mL (arbitrary scanner calibration; the private activity
#: concentration factor (7053,xx09) is its inverse).
PHILIPS_CNTS_PER_BQML = 0.25

_IOP = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


class PatientInfo(BaseModel):
    """Patient identity shared by every series of a twin (same across timepoints)."""

    patient_id: str
    patient_name: str
    birth_date: date
    sex: Literal["M", "F"]
    weight_kg: float
    height_m: float


class SeriesContext(BaseModel):
    """Identity and timing of one series."""

    patient: PatientInfo
    study_uid: str
    study_datetime: datetime
    study_description: str = "Theranostix digital twin"
    accession: str = ""
    frame_of_reference_uid: str
    series_uid: str
    series_number: int
    series_description: str
    vendor: Vendor = "siemens"


def make_uid(*parts: Any) -> str:
    """Deterministic DICOM UID from ``parts`` (e.g. seed, role, timepoint)."""
    return generate_uid(entropy_srcs=["theranostix-twin", *[str(p) for p in parts]])


# --------------------------------------------------------------------------- helpers
def _da(d: datetime | date) -> str:
    return d.strftime("%Y%m%d")


def _tm(d: datetime) -> str:
    return d.strftime("%H%M%S") + (f".{d.microsecond:06d}" if d.microsecond else "")


def _dt(d: datetime) -> str:
    return d.strftime("%Y%m%d%H%M%S") + f".{d.microsecond:06d}"


def _ds_str(x: float) -> str:
    """A DS string of at most 16 characters holding ``x`` as precisely as possible."""
    for p in range(12, 3, -1):
        s = f"{x:.{p}g}"
        if len(s) <= 16:
            return s
    return f"{x:.4g}"


def _base(ctx: SeriesContext, sop_class: str, modality: str, sop_uid: str) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.Modality = modality
    p = ctx.patient
    ds.PatientName = p.patient_name
    ds.PatientID = p.patient_id
    ds.PatientBirthDate = _da(p.birth_date)
    ds.PatientSex = p.sex
    ds.PatientWeight = _ds_str(p.weight_kg)
    ds.PatientSize = _ds_str(p.height_m)
    age = ctx.study_datetime.year - p.birth_date.year - (
        (ctx.study_datetime.month, ctx.study_datetime.day) < (p.birth_date.month, p.birth_date.day))
    ds.PatientAge = f"{age:03d}Y"
    ds.StudyInstanceUID = ctx.study_uid
    ds.StudyDate = _da(ctx.study_datetime)
    ds.StudyTime = _tm(ctx.study_datetime)
    ds.StudyID = "1"
    ds.AccessionNumber = ctx.accession
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = ctx.study_description
    ds.SeriesInstanceUID = ctx.series_uid
    ds.SeriesNumber = ctx.series_number
    ds.SeriesDescription = ctx.series_description
    ds.FrameOfReferenceUID = ctx.frame_of_reference_uid
    ds.PositionReferenceIndicator = ""
    ds.PatientPosition = "HFS"
    manu, model, sw = _EQUIPMENT[ctx.vendor]
    ds.Manufacturer = manu
    ds.ManufacturerModelName = model
    ds.SoftwareVersions = [sw, f"theranostix {__version__}"]
    ds.InstitutionName = "Theranostix Twin Hospital"
    ds.BodyPartExamined = "WHOLEBODY"
    return ds


def _pixel_module(ds: Dataset, rows: int, cols: int, signed: bool) -> None:
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0


def _check_image(image: Image, units: tuple[str, ...], where: str) -> None:
    if image.units not in units:
        raise InvalidInputError(f"expected units {units}, got {image.units!r}", where=where)
    if not np.allclose(image.direction, np.eye(3).ravel(), atol=1e-6):
        raise InvalidInputError("export needs an axis-aligned image", where=where)
    if not np.all(np.isfinite(image.array)):
        raise InvalidInputError("image holds non-finite values", where=where)


def _check_vendor(vendor: str) -> None:
    if vendor not in VENDORS:
        raise InvalidInputError(f"unknown vendor flavour {vendor!r}", where="vendor",
                                fix=f"use one of {', '.join(VENDORS)}")


def _radiopharmaceutical_item(agent: str, nuclide: str, activity_mbq: float,
                              injection: datetime) -> Dataset:
    nuc = radionuclide(nuclide)
    item = Dataset()
    item.Radiopharmaceutical = agent
    item.RadiopharmaceuticalStartTime = _tm(injection)
    item.RadiopharmaceuticalStartDateTime = _dt(injection)
    item.RadionuclideTotalDose = _ds_str(activity_mbq * 1e6)
    item.RadionuclideHalfLife = _ds_str(nuc.half_life_s)
    code_value, meaning = RADIONUCLIDE_CODES.get(nuc.name, (None, None))
    if code_value is not None:
        code = Dataset()
        code.CodeValue = code_value
        code.CodingSchemeDesignator = "SRT"
        code.CodeMeaning = meaning
        item.RadionuclideCodeSequence = Sequence([code])
    return item


def _frame_average_time_s(lam: float, duration_s: float) -> float:
    x = lam * duration_s
    return math.log(x / (1.0 - math.exp(-x))) / lam if x > 1e-12 else duration_s / 2.0


class _SeriesWriter:
    """Writes the slices of one series fast: the elements shared by every slice are encoded once.

    Each file is a standard Part-10 file (preamble, file meta, explicit VR little endian data set
    with elements in ascending tag order), identical in content to ``Dataset.save_as``.
    """

    def __init__(self, template: Dataset):
        self.static = {elem.tag: self._encode(elem) for elem in template}
        meta = template.file_meta
        self.meta_static = {e.tag: self._encode(e) for e in meta
                            if e.tag not in (0x00020000, 0x00020003)}

    @staticmethod
    def _encode(elem: DataElement) -> bytes:
        fp = DicomBytesIO()
        fp.is_little_endian = True
        fp.is_implicit_VR = False
        write_data_element(fp, elem, encodings=["iso8859"])
        return fp.getvalue()

    def write(self, path: Path, sop_uid: str, values: dict[str, Any]) -> None:
        """Write one slice: the template plus ``values`` (keyword -> value) and its SOP UID."""
        meta = dict(self.meta_static)
        meta[Tag(0x00020003)] = self._encode(DataElement(0x00020003, "UI", sop_uid))
        body = b"".join(meta[t] for t in sorted(meta))
        group_length = self._encode(DataElement(0x00020000, "UL", len(body)))
        fp = DicomBytesIO()
        fp.write(b"\0" * 128 + b"DICM" + group_length + body)
        parts = dict(self.static)
        for kw, value in {"SOPInstanceUID": sop_uid, **values}.items():
            tag = Tag(tag_for_keyword(kw))
            vr = "OW" if kw == "PixelData" else dictionary_VR(tag)
            parts[tag] = self._encode(DataElement(tag, vr, value))
        for tag in sorted(parts):
            fp.write(parts[tag])
        path.write_bytes(fp.getvalue())


# --------------------------------------------------------------------------- PET
def write_pet_series(
    pet: Image,
    folder: str | Path,
    ctx: SeriesContext,
    *,
    nuclide: str,
    agent: str,
    activity_mbq: float,
    injection: datetime,
    scan_start: datetime,
    duration_s_per_bed: float,
    bed_step_mm: float = 160.0,
) -> Path:
    """Write a PET image (Bq/mL, decay-corrected to ``scan_start``) as a vendor-flavoured series.

    Parameters
    ----------
    pet
        Reconstructed PET in Bq/mL on an axis-aligned grid (from :func:`scanners.simulate_pet`).
    folder
        Output folder of the series (replaced atomically).
    ctx
        Patient/study/series identity; ``ctx.vendor`` chooses the header flavour.
    nuclide, agent, activity_mbq, injection
        Radiopharmaceutical, injected activity (MBq) and injection time.
    scan_start
        Start of the first bed = decay-correction reference time (DecayCorrection START).
    duration_s_per_bed
        Time per bed (s); beds of ``bed_step_mm`` go from the feet end towards the head.

    Returns
    -------
    Path
        The series folder.
    """
    _check_image(pet, ("Bq/mL",), "write_pet_series: pet")
    _check_vendor(ctx.vendor)
    if not (activity_mbq > 0 and duration_s_per_bed > 0 and bed_step_mm > 0):
        raise InvalidInputError("activity, bed duration and bed step must be positive",
                                where="write_pet_series")
    if scan_start < injection:
        raise InvalidInputError("scan start is before the injection", where="scan_start")
    nuc = radionuclide(nuclide)
    lam = nuc.decay_constant_per_s
    nz, ny, nx = pet.shape
    z = np.asarray([pet.index_to_world((0.0, 0.0, float(k)))[2] for k in range(nz)])
    bed = np.floor((z - z.min()) / bed_step_mm).astype(int)  # bed 0 at the feet end
    n_beds = int(bed.max()) + 1
    t_ave = _frame_average_time_s(lam, duration_s_per_bed)
    scan_end = scan_start + timedelta(seconds=n_beds * duration_s_per_bed)
    weight_g = ctx.patient.weight_kg * 1000.0
    ref_bq = activity_mbq * 1e6 * math.exp(-lam * (scan_start - injection).total_seconds())
    vendor = ctx.vendor
    if vendor == "ge":
        series_time = scan_end + timedelta(minutes=7)  # reconstruction time (post-processed)
    else:
        series_time = scan_start
    values = np.asarray(pet.array, dtype=np.float64)
    units = "BQML"
    if vendor == "philips":
        values = values * PHILIPS_CNTS_PER_BQML
        units = "CNTS"

    ds = _base(ctx, PET_IMAGE_STORAGE, "PT", make_uid(ctx.series_uid, "template"))
    del ds.SOPInstanceUID
    ds.SeriesDate = _da(series_time)
    ds.SeriesTime = _tm(series_time)
    ds.ContentDate = _da(series_time)
    ds.ContentTime = _tm(series_time)
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.NumberOfSlices = nz
    ds.Units = units
    ds.CountsSource = "EMISSION"
    ds.SeriesType = ["WHOLE BODY", "IMAGE"]
    corrected = ["NORM", "DTIM", "ATTN", "SCAT", "DECY", "RAN"]
    if vendor != "philips":
        corrected.append("DCAL")
    ds.CorrectedImage = corrected
    ds.DecayCorrection = "START"
    ds.RandomsCorrectionMethod = "DLYD"
    ds.AttenuationCorrectionMethod = "CT-based"
    ds.ScatterCorrectionMethod = "Model-based"
    ds.ReconstructionMethod = "OSEM PSF TOF"
    ds.CollimatorType = "NONE"
    ds.AxialAcceptance = "1"
    ds.ActualFrameDuration = int(round(duration_s_per_bed * 1000))
    ds.RadiopharmaceuticalInformationSequence = Sequence(
        [_radiopharmaceutical_item(agent, nuc.name, activity_mbq, injection)])
    ds.ImageOrientationPatient = [_ds_str(v) for v in _IOP]
    ds.PixelSpacing = [_ds_str(pet.spacing[1]), _ds_str(pet.spacing[0])]
    ds.SliceThickness = _ds_str(pet.spacing[2])
    _pixel_module(ds, ny, nx, signed=True)
    ds.RescaleIntercept = "0"
    ds.RescaleType = units
    if vendor == "siemens":
        blk = ds.private_block(0x0071, "SIEMENS MED PT", create=True)
        blk.add_new(0x22, "DT", _dt(scan_start))
    elif vendor == "ge":
        blk = ds.private_block(0x0009, "GEMS_PETD_01", create=True)
        blk.add_new(0x0D, "DT", _dt(scan_start))
        blk.add_new(0x3B, "DT", _dt(injection))
    else:
        f_act = 1.0 / PHILIPS_CNTS_PER_BQML
        blk = ds.private_block(0x7053, "Philips PET Private Group", create=True)
        blk.add_new(0x00, "DS", _ds_str(f_act * weight_g / ref_bq))
        blk.add_new(0x09, "DS", _ds_str(f_act))
    writer = _SeriesWriter(ds)
    x = lam * duration_s_per_bed
    with atomic_dir(folder) as tmp:
        for k in range(nz):
            t_acq = scan_start + timedelta(seconds=int(bed[k]) * duration_s_per_bed)
            dt_acq = (t_acq - scan_start).total_seconds()
            sl = values[k]
            peak = float(np.max(np.abs(sl)))
            slope = float(_ds_str(peak / 32000.0)) if peak > 0 else 1.0
            pos = pet.index_to_world((0.0, 0.0, float(k)))
            writer.write(tmp / f"PT{nz - k:04d}.dcm", make_uid(ctx.series_uid, "slice", k), {
                "AcquisitionDate": _da(t_acq),
                "AcquisitionTime": _tm(t_acq),
                "InstanceNumber": nz - k,  # head first, as most scanners number them
                "ImageIndex": nz - k,
                "FrameReferenceTime": _ds_str((dt_acq + t_ave) * 1000.0),
                "DecayFactor": _ds_str(math.exp(lam * dt_acq) * x / (1.0 - math.exp(-x))),
                "ImagePositionPatient": [_ds_str(float(v)) for v in pos],
                "SliceLocation": _ds_str(float(pos[2])),
                "RescaleSlope": _ds_str(slope),
                "PixelData": np.clip(np.round(sl / slope), -32768, 32767).astype("<i2").tobytes(),
            })
    return Path(folder)


# --------------------------------------------------------------------------- CT
def write_ct_series(ct: Image, folder: str | Path, ctx: SeriesContext, *, acquisition: datetime,
                    kvp: float = 120.0) -> Path:
    """Write a CT (HU) as CT Image Storage slices (stored HU + 1024, intercept -1024)."""
    _check_image(ct, ("HU",), "write_ct_series: ct")
    _check_vendor(ctx.vendor)
    nz, ny, nx = ct.shape
    stored = np.clip(np.round(np.asarray(ct.array, dtype=np.float64)) + 1024, 0, 4095).astype("<u2")
    ds = _base(ctx, CT_IMAGE_STORAGE, "CT", make_uid(ctx.series_uid, "template"))
    del ds.SOPInstanceUID
    for kw in ("Series", "Acquisition", "Content"):
        setattr(ds, f"{kw}Date", _da(acquisition))
        setattr(ds, f"{kw}Time", _tm(acquisition))
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.KVP = _ds_str(kvp)
    ds.ConvolutionKernel = "Br38"
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = "40"
    ds.WindowWidth = "400"
    ds.ImageOrientationPatient = [_ds_str(v) for v in _IOP]
    ds.PixelSpacing = [_ds_str(ct.spacing[1]), _ds_str(ct.spacing[0])]
    ds.SliceThickness = _ds_str(ct.spacing[2])
    _pixel_module(ds, ny, nx, signed=False)
    ds.BitsStored = 12
    ds.HighBit = 11
    writer = _SeriesWriter(ds)
    with atomic_dir(folder) as tmp:
        for k in range(nz):
            pos = ct.index_to_world((0.0, 0.0, float(k)))
            writer.write(tmp / f"CT{nz - k:04d}.dcm", make_uid(ctx.series_uid, "slice", k), {
                "InstanceNumber": nz - k,
                "ImagePositionPatient": [_ds_str(float(v)) for v in pos],
                "SliceLocation": _ds_str(float(pos[2])),
                "PixelData": stored[k].tobytes(),
            })
    return Path(folder)


# --------------------------------------------------------------------------- SPECT
def write_spect_series(
    counts: Image,
    folder: str | Path,
    ctx: SeriesContext,
    *,
    nuclide: str,
    agent: str,
    activity_mbq: float,
    injection: datetime,
    acquisition: datetime,
    calibration_cps_per_mbq: float,
    frame_duration_s: float,
    views: int = 60,
) -> Path:
    """Write a reconstructed SPECT (counts per voxel) as one multi-frame NM Image Storage file.

    ``frame_duration_s`` is the total acquisition duration; the rotation information records
    ``views`` projections of ``frame_duration_s / views`` each.
    """
    _check_image(counts, ("counts",), "write_spect_series: counts")
    _check_vendor(ctx.vendor)
    if not (calibration_cps_per_mbq > 0 and frame_duration_s > 0 and views > 0):
        raise InvalidInputError("calibration, duration and views must be positive",
                                where="write_spect_series")
    arr = np.round(np.asarray(counts.array, dtype=np.float64))
    if arr.min() < 0 or arr.max() > 65535:
        raise InvalidInputError(
            f"counts out of the uint16 range (max {arr.max():.0f})", where="write_spect_series",
            fix="shorten the acquisition duration or lower the calibration factor")
    nz, ny, nx = counts.shape
    sop_uid = make_uid(ctx.series_uid, "nm")
    ds = _base(ctx, NM_IMAGE_STORAGE, "NM", sop_uid)
    for kw in ("Series", "Acquisition", "Content"):
        setattr(ds, f"{kw}Date", _da(acquisition))
        setattr(ds, f"{kw}Time", _tm(acquisition))
    ds.AcquisitionDateTime = _dt(acquisition)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "RECON TOMO", "EMISSION"]
    ds.InstanceNumber = 1
    ds.NumberOfFrames = nz
    ds.FrameIncrementPointer = 0x00540080  # SliceVector
    ds.SliceVector = list(range(1, nz + 1))
    ds.NumberOfSlices = nz
    ds.Units = "CNTS"
    ds.PixelSpacing = [_ds_str(counts.spacing[1]), _ds_str(counts.spacing[0])]
    ds.SliceThickness = _ds_str(counts.spacing[2])
    ds.SpacingBetweenSlices = _ds_str(counts.spacing[2])
    det = Dataset()
    det.ImagePositionPatient = [_ds_str(float(v)) for v in counts.origin]
    det.ImageOrientationPatient = [_ds_str(v) for v in _IOP]
    det.CollimatorGridName = "MELP"
    det.CollimatorType = "PARA"
    ds.DetectorInformationSequence = Sequence([det])
    ds.NumberOfDetectors = 1
    rot = Dataset()
    rot.StartAngle = "0"
    rot.AngularStep = _ds_str(360.0 / views)
    rot.RotationDirection = "CW"
    rot.ScanArc = "360"
    rot.NumberOfFramesInRotation = int(views)
    rot.ActualFrameDuration = int(round(frame_duration_s / views * 1000))
    ds.RotationInformationSequence = Sequence([rot])
    ds.NumberOfRotations = 1
    win = Dataset()
    rng = Dataset()
    rng.EnergyWindowLowerLimit = "187.2"
    rng.EnergyWindowUpperLimit = "228.8"
    win.EnergyWindowRangeSequence = Sequence([rng])
    win.EnergyWindowName = "Lu177_208keV"
    ds.EnergyWindowInformationSequence = Sequence([win])
    ds.NumberOfEnergyWindows = 1
    ds.RadiopharmaceuticalInformationSequence = Sequence(
        [_radiopharmaceutical_item(agent, nuclide, activity_mbq, injection)])
    ds.CorrectedImage = ["ATTN", "SCAT"]
    ds.DecayCorrection = "NONE"
    _pixel_module(ds, ny, nx, signed=False)
    ds.PixelData = arr.astype("<u2").tobytes()
    blk = ds.private_block(0x0033, "THERANOSTIX", create=True)
    blk.add_new(0x10, "DS", _ds_str(calibration_cps_per_mbq))
    blk.add_new(0x11, "DS", _ds_str(frame_duration_s))
    with atomic_dir(folder) as tmp:
        ds.save_as(tmp / "NM0001.dcm", enforce_file_format=True)
    return Path(folder)

"""Quantitative SPECT (NM) reading: counts -> Bq/mL with a calibration factor, or Bq/mL directly.

Accepted layouts
----------------
* NM Image Storage, multi-frame reconstructed tomography (``ImageType`` ... ``RECON TOMO``):
  geometry from ``DetectorInformationSequence[0]`` (ImagePositionPatient, ImageOrientationPatient),
  ``PixelSpacing`` and ``SpacingBetweenSlices``.
* A single-frame series (one file per slice; NM or PT modality) with per-slice geometry.

Quantitation
------------
``Units`` (0054,1001) ``BQML``: values (after RescaleSlope/Intercept) are Bq/mL, read as they are.
Otherwise values are counts per voxel and need a calibration factor ``C`` [cps/MBq] (planar or
SPECT sensitivity from a phantom) and the acquisition duration ``T`` [s]:

``A_c [Bq/mL] = counts / (T * C) * 1e6 / V_voxel[mL] * f_decay``,

with ``f_decay = lambda T / (1 - exp(-lambda T))`` (decay during the acquisition, referencing the
activity to the acquisition start). For Lu-177 and T = 30 min, f_decay = 1.001087
(``shared/reference/dosimetry/FACTS.md``). The calibration factor is taken from the argument, else
from the private block ``"THERANOSTIX"`` (group 0x0033, element 0x10, written by the twins), else
the series is refused: theranostix never guesses a sensitivity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from theranostix.core import units as U
from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.patient import Administration, Patient
from theranostix.core.provenance import Provenance
from theranostix.io.dicom.files import select_series
from theranostix.io.dicom.dates import combine, parse_da, parse_dt, parse_tm
from theranostix.io.dicom.geometry import sort_and_check
from theranostix.io.dicom.pet import nuclide_from_code
from theranostix.physics.radionuclides import DECAY_DATA, normalize_nuclide, radionuclide

#: Private block of the project (written by the twins; readable by any tool via the creator).
THERANOSTIX_PRIVATE = (0x0033, "THERANOSTIX")
CALIBRATION_ELEMENT = 0x10  #: DS, cps/MBq
DURATION_ELEMENT = 0x11  #: DS, acquisition duration in s


@dataclass(eq=False)
class SpectVolume:
    """A quantified SPECT volume.

    Attributes
    ----------
    image
        Activity concentration, Bq/mL (float32), referenced to ``acquisition_start``.
    acquisition_start
        Start of the acquisition (scanner local time).
    hours_after_administration
        Hours from the administration to ``acquisition_start`` (``None`` without administration).
    """

    image: Image
    patient: Patient
    administration: Administration | None
    acquisition_start: datetime | None
    hours_after_administration: float | None
    provenance: Provenance
    series_uid: str = ""


def _private_float(ds: Dataset, element: int) -> float | None:
    try:
        block = ds.private_block(THERANOSTIX_PRIVATE[0], THERANOSTIX_PRIVATE[1])
        tag = block.get_tag(element)
    except KeyError:
        return None
    if tag not in ds:
        return None
    try:
        return float(ds[tag].value)
    except (TypeError, ValueError):
        return None


def _duration_s(ds: Dataset) -> float | None:
    """Total acquisition duration in s from the rotation information (or ActualFrameDuration)."""
    rot = ds.get("RotationInformationSequence")
    if rot:
        total = 0.0
        for r in rot:
            n = r.get("NumberOfFramesInRotation")
            d = r.get("ActualFrameDuration")
            if n is None or d is None:
                return None
            total += float(n) * float(d) / 1000.0
        return total or None
    d = ds.get("ActualFrameDuration")
    return float(d) / 1000.0 if d else None


def _multiframe_geometry(ds: Dataset, f: Path):
    det = ds.get("DetectorInformationSequence")
    if not det or "ImagePositionPatient" not in det[0] or "ImageOrientationPatient" not in det[0]:
        raise InvalidInputError(
            "multi-frame NM without DetectorInformationSequence geometry",
            where=f"{f} DetectorInformationSequence (0054,0022)",
            fix="export the reconstructed SPECT with patient geometry (RECON TOMO).")
    iop = np.asarray([float(x) for x in det[0].ImageOrientationPatient])
    ipp = np.asarray([float(x) for x in det[0].ImagePositionPatient])
    ps = [float(x) for x in ds.PixelSpacing]
    dz = ds.get("SpacingBetweenSlices") or ds.get("SliceThickness")
    if dz is None or float(dz) <= 0:
        raise InvalidInputError("no SpacingBetweenSlices/SliceThickness", where=f"{f} (0018,0088)")
    normal = np.cross(iop[:3], iop[3:])
    direction = tuple(np.column_stack([iop[:3], iop[3:], normal]).ravel())
    return (ps[1], ps[0], abs(float(dz))), tuple(ipp), direction, float(dz) < 0


def load_spect(path: str | Path, calibration_cps_per_mbq: float | None = None, *,
               series_uid: str | None = None, acquisition_duration_s: float | None = None,
               radionuclide_name: str | None = None,
               administration: Administration | None = None) -> SpectVolume:
    """Read a reconstructed SPECT series as activity concentration (Bq/mL).

    Parameters
    ----------
    path
        Folder holding the SPECT series (modality NM, or PT for vendors that store it so).
    calibration_cps_per_mbq
        System sensitivity in counts per second per MBq; needed unless ``Units`` is BQML.
    acquisition_duration_s
        Override of the total acquisition duration (s) used with the calibration factor.
    radionuclide_name
        Nuclide (e.g. ``"Lu-177"``) when the header has none; used for decay during acquisition.
    administration
        Therapy administration (activity, time) when the header has none.
    """
    uid, items, _ = select_series(path, ("NM",), series_uid)
    prov = Provenance(inputs={"path": str(path), "series_instance_uid": uid}, decay_data=DECAY_DATA)
    f0, d0 = items[0]
    nframes = int(d0.get("NumberOfFrames", 1) or 1)
    if len(items) == 1 and nframes > 1:
        spacing, origin, direction, reversed_ = _multiframe_geometry(d0, f0)
        try:
            arr = d0.pixel_array.astype(np.float32)
        except Exception as exc:
            raise InvalidInputError(f"cannot decode pixel data ({exc})", where=f"{f0} PixelData") from exc
        if reversed_:
            prov.warn("negative SpacingBetweenSlices: frames reversed to increase along the normal")
            arr = arr[::-1].copy()
            normal = np.asarray(direction).reshape(3, 3)[:, 2]
            origin = tuple(np.asarray(origin) - normal * spacing[2] * (arr.shape[0] - 1))
        slope = float(d0.get("RescaleSlope", 1.0) or 1.0)
        icpt = float(d0.get("RescaleIntercept", 0.0) or 0.0)
        arr = arr * np.float32(slope) + np.float32(icpt)
    else:
        items, spacing, origin, direction = sort_and_check(items)
        arr = np.empty((len(items), int(d0.Rows), int(d0.Columns)), dtype=np.float32)
        for k, (f, ds) in enumerate(items):
            slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
            icpt = float(ds.get("RescaleIntercept", 0.0) or 0.0)
            arr[k] = ds.pixel_array * np.float32(slope) + np.float32(icpt)

    # nuclide and times
    rp = d0.get("RadiopharmaceuticalInformationSequence")
    item = rp[0] if rp else Dataset()
    nuc = radionuclide_name
    if nuc is None:
        nuc = nuclide_from_code(item)
    else:
        nuc = normalize_nuclide(nuc)
    acq_start = parse_dt(d0.get("AcquisitionDateTime"), "AcquisitionDateTime (0008,002A)") or combine(
        parse_da(d0.get("AcquisitionDate") or d0.get("SeriesDate"), "AcquisitionDate (0008,0022)"),
        parse_tm(d0.get("AcquisitionTime") or d0.get("SeriesTime"), "AcquisitionTime (0008,0032)"))
    if administration is None:
        t_inj = parse_dt(item.get("RadiopharmaceuticalStartDateTime"), "RadiopharmaceuticalStartDateTime")
        dose = item.get("RadionuclideTotalDose")
        if t_inj is not None and dose and nuc:
            dose_bq = float(dose)
            if dose_bq < 1e5:
                prov.warn(f"RadionuclideTotalDose {dose_bq:g} read as MBq")
                dose_bq *= 1e6
            administration = Administration(agent=str(item.get("Radiopharmaceutical", "") or "") or None,
                                            radionuclide=nuc, activity_mbq=dose_bq / 1e6, datetime=t_inj,
                                            half_life_s=radionuclide(nuc).half_life_s,
                                            half_life_source="ICRP-107")
    if administration is not None and nuc is None:
        nuc = administration.radionuclide

    units = str(d0.get("Units", "") or "").upper()
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    if units == "BQML":
        prov.parameters["units_path"] = "BQML (read as stored)"
    else:
        cal = calibration_cps_per_mbq
        if cal is None:
            cal = _private_float(d0, CALIBRATION_ELEMENT)
            if cal is not None:
                prov.parameters["calibration_source"] = "private block THERANOSTIX (0033,xx10)"
        else:
            prov.parameters["calibration_source"] = "argument"
        if cal is None or not cal > 0:
            raise InvalidInputError(
                f"SPECT values are counts (Units {units or 'empty'}) and no calibration factor is known",
                where=f"{f0} Units (0054,1001)",
                fix="pass the system calibration factor in cps/MBq (--calibration-cps-per-mbq).")
        dur = acquisition_duration_s or _private_float(d0, DURATION_ELEMENT) or _duration_s(d0)
        if dur is None or not dur > 0:
            raise InvalidInputError("acquisition duration unknown",
                                    where=f"{f0} RotationInformationSequence/ActualFrameDuration",
                                    fix="pass the acquisition duration in seconds.")
        f_decay = 1.0
        if nuc is not None:
            lam = math.log(2.0) / radionuclide(nuc).half_life_s
            x = lam * dur
            f_decay = x / (1.0 - math.exp(-x)) if x > 1e-12 else 1.0
        else:
            prov.warn("radionuclide unknown: no correction for decay during the acquisition")
        factor = 1e6 / (dur * cal) / voxel_ml * f_decay
        arr = arr * np.float32(factor)
        prov.parameters.update(calibration_cps_per_mbq=cal, acquisition_duration_s=dur,
                               decay_during_acquisition_factor=f_decay,
                               units_path="counts / (T x C) / voxel volume -> Bq/mL")
    if float(np.min(arr)) < 0:
        prov.warn("negative voxel values present (reconstruction noise); kept as they are")

    hours = None
    if administration is not None and acq_start is not None:
        hours = (acq_start - administration.datetime).total_seconds() / 3600.0
        if hours < 0:
            raise InvalidInputError("SPECT acquired before the administration",
                                    where=f"{f0} AcquisitionDateTime / RadiopharmaceuticalStartDateTime",
                                    fix="check the dates.")
    w = d0.get("PatientWeight")
    h = d0.get("PatientSize")
    patient = Patient(patient_id=str(d0.get("PatientID", "") or "") or None,
                      sex=(str(d0.get("PatientSex", "O") or "O").upper()[:1] if str(d0.get("PatientSex", "O") or "O").upper()[:1] in "MFO" else "O"),  # type: ignore[arg-type]
                      weight_kg=float(w) if w else None, height_m=float(h) if h else None)
    image = Image(array=arr.astype(np.float32, copy=False), spacing=spacing, origin=origin,
                  direction=direction, units=U.BQML,
                  frame_of_reference_uid=str(d0.get("FrameOfReferenceUID", "") or "") or None,
                  metadata={"modality": "NM", "series_instance_uid": uid,
                            "study_instance_uid": str(d0.get("StudyInstanceUID", ""))})
    return SpectVolume(image=image, patient=patient, administration=administration,
                       acquisition_start=acq_start, hours_after_administration=hours,
                       provenance=prov, series_uid=uid)

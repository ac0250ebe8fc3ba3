"""DICOM SEG and SR (TID 1500 Measurement Report) outputs with highdicom.

The segmentation references the source PET series (every source slice), one segment per lesion;
the SR holds, per lesion, a volumetric ROI (TID 1411) that references its segment and carries
SUVmax, SUVmean, SUVpeak (SUVbw, ``{SUVbw}g/ml``) and the volume (mL), with the finding site.
Both are written atomically and can be read back by highdicom (``hd.seg.segread``,
``hd.sr.srread``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from theranostix import __version__
from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.io.atomic import atomic_path
from theranostix.io.dicom.files import select_series
from theranostix.io.dicom.geometry import sort_and_check

MANUFACTURER = "theranostix"
SUVBW = hd.sr.CodedConcept("126401", "DCM", "SUVbw")
SUVBW_UNIT = hd.sr.CodedConcept("{SUVbw}g/ml", "UCUM", "Standardized Uptake Value body weight")
PEAK = hd.sr.CodedConcept("126031", "DCM", "Peak Value Within ROI")
ML = hd.sr.CodedConcept("ml", "UCUM", "milliliter")
LESION = hd.sr.CodedConcept("52988006", "SCT", "Lesion")

#: Finding sites (SNOMED CT) by lesion site kind.
SITE_CODES: dict[str, hd.sr.CodedConcept] = {
    "prostate": hd.sr.CodedConcept("41216001", "SCT", "Prostate"),
    "node": hd.sr.CodedConcept("59441001", "SCT", "Lymph node"),
    "bone": hd.sr.CodedConcept("272673000", "SCT", "Bone"),
    "liver": hd.sr.CodedConcept("10200004", "SCT", "Liver"),
    "lung": hd.sr.CodedConcept("39607008", "SCT", "Lung"),
}


def _field(lesion: Any, *names: str, default: Any = None) -> Any:
    for n in names:
        v = lesion.get(n) if isinstance(lesion, Mapping) else getattr(lesion, n, None)
        if v is not None:
            return v
    return default


def source_pet_datasets(pet_dir: str | Path, series_uid: str | None = None) -> list[pydicom.Dataset]:
    """The source PET slices (headers only), sorted as theranostix stacks them."""
    _, items, _ = select_series(pet_dir, "PT", series_uid, with_pixels=False)
    items, *_ = sort_and_check(items)
    out = []
    for _, ds in items:
        # DICOM type-2 patient/study attributes that derived objects copy: present, possibly empty
        for kw in _TYPE2_COPIED:
            if kw not in ds:
                setattr(ds, kw, "")
        out.append(ds)
    return out


_TYPE2_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                 "ReferringPhysicianName", "AccessionNumber", "StudyID")


def _check_grid(labels: Image, sources: Sequence[pydicom.Dataset]) -> None:
    if labels.shape != (len(sources), int(sources[0].Rows), int(sources[0].Columns)):
        raise InvalidInputError(
            f"label map shape {labels.shape} does not match the source PET "
            f"({len(sources)} x {sources[0].Rows} x {sources[0].Columns})",
            where="SEG label map", fix="segment on the PET grid before writing DICOM SEG.")
    ipp = np.asarray([float(x) for x in sources[0].ImagePositionPatient])
    if not np.allclose(ipp, labels.origin, atol=0.01):
        raise InvalidInputError("label map origin differs from the source PET", where="SEG label map")


def write_seg(labels: Image, lesions: Sequence[Any], sources: Sequence[pydicom.Dataset], path: str | Path,
              *, series_number: int = 901) -> pydicom.Dataset:
    """Write lesions as a DICOM Segmentation (BINARY, one segment per lesion).

    Parameters
    ----------
    labels
        Lesion-id label map on the PET grid (0 = background).
    lesions
        Objects or mappings with ``lesion_id`` (the label value) and optionally ``site`` /
        ``kind`` (prostate, node, bone, liver, lung) and ``label``.
    sources
        The source PET datasets in stacking order (:func:`source_pet_datasets`).
    """
    _check_grid(labels, sources)
    ids = [int(_field(les, "lesion_id", "id")) for les in lesions]
    if not ids:
        raise InvalidInputError("no lesions to write", where="SEG")
    lab = labels.array.astype(np.int64)
    present = set(np.unique(lab[lab > 0]).tolist())
    missing = [i for i in ids if i not in present]
    if missing:
        raise InvalidInputError(f"lesions {missing} have no voxel in the label map", where="SEG label map")
    remap = np.zeros(int(lab.max()) + 1, dtype=np.uint16)
    descs = []
    algo = hd.AlgorithmIdentificationSequence(name="theranostix lesion segmentation", version=__version__,
                                             family=codes.cid7162.ArtificialIntelligence)
    for n, (lid, les) in enumerate(zip(ids, lesions), start=1):
        remap[lid] = n
        kind = str(_field(les, "site_kind", "kind", default="") or "")
        anat = [SITE_CODES[kind]] if kind in SITE_CODES else None
        descs.append(hd.seg.SegmentDescription(
            segment_number=n, segment_label=str(_field(les, "label", default=f"lesion {lid}")),
            segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
            segmented_property_type=codes.SCT.Lesion,
            algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC, algorithm_identification=algo,
            tracking_uid=generate_uid(), tracking_id=f"lesion {lid}", anatomic_regions=anat))
    pixel = remap[lab]
    seg = hd.seg.Segmentation(
        source_images=list(sources), pixel_array=pixel, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descs, series_instance_uid=generate_uid(), series_number=series_number,
        sop_instance_uid=generate_uid(), instance_number=1, manufacturer=MANUFACTURER,
        manufacturer_model_name="theranostix", software_versions=__version__, device_serial_number="0",
        series_description="theranostix lesions")
    with atomic_path(path, suffix=".dcm") as tmp:
        seg.save_as(tmp)
    return seg


def write_sr(seg: pydicom.Dataset, lesions: Sequence[Any], sources: Sequence[pydicom.Dataset],
             path: str | Path, *, series_number: int = 902) -> pydicom.Dataset:
    """Write a TID 1500 Measurement Report with SUVmax/SUVmean/SUVpeak/volume per lesion."""
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=generate_uid(), name="theranostix", manufacturer_name=MANUFACTURER))
    groups = []
    for n, les in enumerate(lesions, start=1):
        lid = int(_field(les, "lesion_id", "id"))
        tracking = hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=f"lesion {lid}")
        ref = hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID, segment_number=n,
            source_series=hd.sr.SourceSeriesForSegmentation(sources[0].SeriesInstanceUID))
        meas = []
        for keys, derivation in ((("suv_max", "suvmax"), codes.SCT.Maximum), (("suv_mean", "suvmean"), codes.SCT.Mean),
                                 (("suv_peak", "suvpeak"), PEAK)):
            v = _field(les, *keys)
            if v is not None and np.isfinite(v):
                meas.append(hd.sr.Measurement(name=SUVBW, value=float(v), unit=SUVBW_UNIT, derivation=derivation))
        vol = _field(les, "volume_ml")
        if vol is not None:
            meas.append(hd.sr.Measurement(name=codes.SCT.Volume, value=float(vol), unit=ML))
        kind = str(_field(les, "site_kind", "kind", default="") or "")
        sites = [hd.sr.FindingSite(SITE_CODES[kind])] if kind in SITE_CODES else None
        groups.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking, referenced_segment=ref, finding_type=LESION,
            finding_sites=sites, measurements=meas))
    report = hd.sr.MeasurementReport(observation_context=hd.sr.ObservationContext(observer_device_context=observer),
                                     procedure_reported=hd.sr.CodedConcept("44139-4", "LN", "PET whole body"),
                                     imaging_measurements=groups)
    sr = hd.sr.Comprehensive3DSR(evidence=[*sources, seg], content=report, series_instance_uid=generate_uid(),
                                 series_number=series_number, sop_instance_uid=generate_uid(), instance_number=1,
                                 manufacturer=MANUFACTURER, is_complete=True)
    with atomic_path(path, suffix=".dcm") as tmp:
        sr.save_as(tmp)
    return sr

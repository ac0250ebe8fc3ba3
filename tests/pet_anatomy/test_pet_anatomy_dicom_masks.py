"""DICOM SEG (highdicom) and RTSTRUCT (pydicom) masks: written here, read back, rasterised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from theranostix.core.errors import InvalidInputError
from theranostix.io.dicom import load_ct
from theranostix.io.masks import read_dicom_seg, read_organ_masks, read_rtstruct
from theranostix.pet.organ_masks import UserOrganMasks

NZ, NY, NX = 8, 24, 32
SPACING = (2.0, 2.0, 3.0)  # x, y, z mm
ORIGIN = (-31.0, -23.0, 10.0)
FOR = "1.2.826.0.1.3680043.8.498.77"
STUDY = "1.2.826.0.1.3680043.8.498.78"


def _write_ct_series(folder: Path) -> list[Dataset]:
    folder.mkdir(parents=True, exist_ok=True)
    series = generate_uid()
    out = []
    yy, xx = np.mgrid[:NY, :NX]
    for k in range(NZ):
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.CTImageStorage
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = pydicom.uid.CTImageStorage
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.Modality = "CT"
        ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "Phantom^Mask", "P1", "", "O"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = STUDY, series, FOR
        ds.StudyDate, ds.StudyTime, ds.StudyID, ds.AccessionNumber = "20260101", "120000", "1", ""
        ds.ReferringPhysicianName, ds.SeriesNumber, ds.InstanceNumber = "", 1, k + 1
        ds.Manufacturer = "test"
        ds.ImagePositionPatient = [ORIGIN[0], ORIGIN[1], ORIGIN[2] + k * SPACING[2]]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [SPACING[1], SPACING[0]]
        ds.SliceThickness = SPACING[2]
        ds.Rows, ds.Columns = NY, NX
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope, ds.RescaleType = -1024, 1, "HU"
        px = np.where((xx - 16) ** 2 + (yy - 12) ** 2 < 100, 1024 + 40, 0).astype(np.int16)
        ds.PixelData = px.tobytes()
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        pydicom.dcmwrite(folder / f"ct{k:03d}.dcm", ds, enforce_file_format=True)
        out.append(ds)
    return out


@pytest.fixture(scope="module")
def ct_series(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ct")
    dss = _write_ct_series(folder)
    return folder, dss, load_ct(folder)


def _box_mask() -> np.ndarray:
    m = np.zeros((NZ, NY, NX), bool)
    m[2:6, 5:15, 8:20] = True
    return m


def test_dicom_seg_round_trip(ct_series, tmp_path):
    import highdicom as hd
    from pydicom.sr.codedict import codes

    folder, dss, ct = ct_series
    truth = _box_mask()
    desc = hd.seg.SegmentDescription(
        segment_number=1, segment_label="Liver",
        segmented_property_category=codes.SCT.Organ, segmented_property_type=codes.SCT.Liver,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL)
    seg = hd.seg.Segmentation(
        source_images=dss, pixel_array=truth.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=[desc],
        series_instance_uid=generate_uid(), series_number=2, sop_instance_uid=generate_uid(),
        instance_number=1, manufacturer="theranostix-test", manufacturer_model_name="test",
        software_versions="0", device_serial_number="0")
    path = tmp_path / "seg.dcm"
    seg.save_as(path)
    maps = read_dicom_seg(path)
    assert len(maps) == 1 and maps[0].metadata["label_names"] == {"1": "Liver"}
    assert maps[0].frame_of_reference_uid == FOR
    masks = UserOrganMasks(read_organ_masks(path)).masks(ct)
    np.testing.assert_array_equal(masks["liver"], truth)


def _write_rtstruct(path: Path, for_uid: str, contours: list[tuple[int, list[tuple[float, float]]]],
                    roi_name: str = "Kidney_L") -> None:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = pydicom.uid.RTStructureSetStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = pydicom.uid.RTStructureSetStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "RTSTRUCT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY, generate_uid()
    ref = Dataset()
    ref.FrameOfReferenceUID = for_uid
    ds.ReferencedFrameOfReferenceSequence = Sequence([ref])
    roi = Dataset()
    roi.ROINumber, roi.ROIName, roi.ReferencedFrameOfReferenceUID = 1, roi_name, for_uid
    ds.StructureSetROISequence = Sequence([roi])
    items = []
    for k, poly in contours:
        c = Dataset()
        c.ContourGeometricType = "CLOSED_PLANAR"
        z = ORIGIN[2] + k * SPACING[2]
        pts = []
        for i, j in poly:  # voxel index (column, row) -> LPS mm
            pts += [ORIGIN[0] + i * SPACING[0], ORIGIN[1] + j * SPACING[1], z]
        c.NumberOfContourPoints = len(poly)
        c.ContourData = [float(v) for v in pts]
        items.append(c)
    rc = Dataset()
    rc.ReferencedROINumber = 1
    rc.ContourSequence = Sequence(items)
    ds.ROIContourSequence = Sequence([rc])
    pydicom.dcmwrite(path, ds, enforce_file_format=True)


def _square(i0: float, i1: float, j0: float, j1: float) -> list[tuple[float, float]]:
    return [(i0, j0), (i1, j0), (i1, j1), (i0, j1)]


def test_rtstruct_rasterised_with_holes(ct_series, tmp_path):
    _, _, ct = ct_series
    outer = _square(9.5, 19.5, 4.5, 14.5)  # voxel centres 10..19 x 5..14: 100 voxels
    inner = _square(13.5, 15.5, 8.5, 10.5)  # a 2 x 2 hole
    path = tmp_path / "rs.dcm"
    _write_rtstruct(path, FOR, [(2, outer), (3, outer), (3, inner)])
    maps = read_organ_masks(path, reference=ct)
    m = UserOrganMasks(maps, reference=ct).masks(ct)["kidney_left"]
    assert m[2].sum() == 100 and m[3].sum() == 96 and m.sum() == 196
    assert m[2, 5:15, 10:20].all() and not m[3, 9:11, 14:16].any()


def test_rtstruct_refusals(ct_series, tmp_path):
    _, _, ct = ct_series
    sq = _square(9.5, 19.5, 4.5, 14.5)
    p = tmp_path / "other_for.dcm"
    _write_rtstruct(p, "1.2.3.4", [(2, sq)])
    with pytest.raises(InvalidInputError, match="frame of reference"):
        read_rtstruct(p, ct)
    p2 = tmp_path / "off_slice.dcm"
    _write_rtstruct(p2, FOR, [(2.5, sq)])  # between two CT slices
    with pytest.raises(InvalidInputError, match="does not lie on a slice"):
        read_rtstruct(p2, ct)
    p3 = tmp_path / "outside.dcm"
    _write_rtstruct(p3, FOR, [(40, sq)])
    with pytest.raises(InvalidInputError, match="outside the reference image"):
        read_rtstruct(p3, ct)
    with pytest.raises(InvalidInputError, match="needs the CT"):
        read_organ_masks(p3)
    ctfile = sorted(ct_series[0].glob("*.dcm"))[0]
    with pytest.raises(InvalidInputError, match="not RTSTRUCT"):
        read_rtstruct(ctfile, ct)
    with pytest.raises(InvalidInputError, match="not a readable DICOM SEG"):
        read_dicom_seg(ctfile)

"""DICOM SEG and SR written by theranostix read back by highdicom."""

from __future__ import annotations

import highdicom as hd
import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.io.dicom import load_pet
from theranostix.io.dicom.seg_sr import source_pet_datasets, write_seg, write_sr
from tests.io.pet_factory import write_pet_series


def _setup(tmp_path):
    f = write_pet_series(tmp_path / "pet", shape=(6, 10, 10))
    vol = load_pet(f)
    lab = np.zeros(vol.image.shape, dtype=np.uint16)
    lab[1:3, 2:4, 2:4] = 3
    lab[4, 6:9, 6:9] = 8
    labels = vol.image.with_array(lab, units="label")
    lesions = [{"lesion_id": 3, "kind": "node", "suv_max": 12.5, "suv_mean": 7.1, "suv_peak": 9.0, "volume_ml": 0.512},
               {"lesion_id": 8, "kind": "bone", "suv_max": 6.0, "suv_mean": 4.0, "volume_ml": 0.576}]
    return f, labels, lesions


def test_seg_and_sr_round_trip(tmp_path):
    f, labels, lesions = _setup(tmp_path)
    sources = source_pet_datasets(f)
    seg = write_seg(labels, lesions, sources, tmp_path / "out" / "seg.dcm")
    back = hd.seg.segread(tmp_path / "out" / "seg.dcm")
    assert back.number_of_segments == 2
    vol = back.get_volume(combine_segments=True)
    arr = vol.array  # (slices, rows, cols) in the source stacking order
    assert (arr == 1).sum() == (labels.array == 3).sum()
    assert (arr == 2).sum() == (labels.array == 8).sum()
    assert back.SeriesDescription == "theranostix lesions"
    write_sr(seg, lesions, sources, tmp_path / "out" / "sr.dcm")
    sr = hd.sr.srread(tmp_path / "out" / "sr.dcm")
    groups = sr.content.get_volumetric_roi_measurement_groups()
    assert len(groups) == 2
    m = {(x.name.meaning, x.derivation.meaning if x.derivation else None): x.value
         for x in groups[0].get_measurements()}
    assert m[("SUVbw", "Maximum")] == pytest.approx(12.5)
    assert m[("SUVbw", "Peak Value Within ROI")] == pytest.approx(9.0)
    assert m[("Volume", None)] == pytest.approx(0.512)
    assert groups[0].referenced_segment.referenced_sop_instance_uid == seg.SOPInstanceUID


def test_seg_refuses_wrong_grid_and_missing_lesion(tmp_path):
    f, labels, lesions = _setup(tmp_path)
    sources = source_pet_datasets(f)
    small = labels.with_array(labels.array, units="label")
    small.array = small.array[:, :5, :5]
    with pytest.raises(InvalidInputError, match="does not match"):
        write_seg(small, lesions, sources, tmp_path / "seg.dcm")
    with pytest.raises(InvalidInputError, match="no voxel"):
        write_seg(labels, [{"lesion_id": 99}], sources, tmp_path / "seg.dcm")
    assert not (tmp_path / "seg.dcm").exists()

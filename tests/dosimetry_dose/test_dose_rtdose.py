"""RT Dose writer: round trip with pydicom (values, geometry, attributes) and bad input."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.io.dicom.rtdose import read_rtdose, write_rtdose


def _dose() -> Image:
    rng = np.random.default_rng(3)
    arr = rng.gamma(2.0, 3.0, size=(6, 7, 8))
    arr[0, 0, 0] = 0.0
    # oblique-free but flipped k axis: slices go towards the feet
    return Image(arr, spacing=(2.5, 3.0, 4.0), origin=(-100.0, 20.0, 300.0),
                 direction=(1, 0, 0, 0, 1, 0, 0, 0, -1), units="Gy", frame_of_reference_uid="1.2.826.0.1.3680043.2.1")


def test_rtdose_round_trip(tmp_path):
    dose = _dose()
    path = write_rtdose(dose, tmp_path / "rd.dcm", referenced_series_uid="1.2.3.4.5", dose_type="EFFECTIVE",
                        study_instance_uid="1.2.3.4")
    ds = pydicom.dcmread(path)
    assert ds.Modality == "RTDOSE" and ds.DoseUnits == "GY" and ds.DoseType == "EFFECTIVE"
    assert ds.FrameOfReferenceUID == dose.frame_of_reference_uid
    assert ds.ReferencedSeriesSequence[0].SeriesInstanceUID == "1.2.3.4.5"
    assert ds.StudyInstanceUID == "1.2.3.4"
    vals = ds.pixel_array.astype(float) * float(ds.DoseGridScaling)
    nz = dose.array > 0
    assert np.max(np.abs(vals[nz] / dose.array[nz] - 1)) < 1e-3
    assert list(ds.GridFrameOffsetVector) == pytest.approx([0.0, -4.0, -8.0, -12.0, -16.0, -20.0])
    back = read_rtdose(path)
    assert back.same_grid(dose)
    assert np.allclose(back.array, dose.array, rtol=1e-3, atol=1e-9 * dose.array.max())


def test_rtdose_bad_input(tmp_path):
    dose = _dose()
    with pytest.raises(InvalidInputError):
        write_rtdose(dose.with_array(dose.array, units="MBq*h"), tmp_path / "x.dcm")
    with pytest.raises(InvalidInputError):
        write_rtdose(dose.with_array(-dose.array), tmp_path / "x.dcm")
    with pytest.raises(InvalidInputError):
        write_rtdose(dose, tmp_path / "x.dcm", dose_type="BED")

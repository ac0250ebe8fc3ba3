"""Hand-computed SUV cases, SUV kinds, and header rules on synthetic series."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pytest

from theranostix.io.dicom import load_pet
from tests.io.pet_factory import edit_all, write_pet_series


def _one(vol) -> float:
    return float(np.median(vol.image.array))


def test_f18_suvbw_3_1581(tmp_path):
    # F-18 370 MBq at 09:00, scan 10:00, 10 kBq/mL, 80 kg -> SUVbw 3.1581
    vol = load_pet(write_pet_series(tmp_path / "a"))
    assert _one(vol) == pytest.approx(3.1581, abs=5e-4)
    assert vol.bqml.array.mean() == pytest.approx(10000.0, rel=1e-4)


def test_f18_sul_janmahasatian_2_4370(tmp_path):
    vol = load_pet(write_pet_series(tmp_path / "a", sex="M", height_m=1.80), suv="lbm")
    assert _one(vol) == pytest.approx(2.4370, abs=5e-4)
    assert vol.image.units == "SUVlbm"


def test_f18_admin_2_1622(tmp_path):
    # DecayCorrection ADMIN: the pixel values are at injection time -> D_ref = D_inj
    vol = load_pet(write_pet_series(tmp_path / "a", decay_correction="ADMIN"))
    assert _one(vol) == pytest.approx(2.1622, abs=5e-4)


def test_ga68_19_714(tmp_path):
    vol = load_pet(write_pet_series(tmp_path / "a", values_bqml=20000.0, dose_bq=150e6, half_life_s=4062.6,
                                    nuclide_code=("C-131A1", "^68^Gallium")))
    assert _one(vol) == pytest.approx(19.714, abs=2e-3)
    assert vol.administration.radionuclide == "Ga-68"


def test_bsa_and_ibw_kinds(tmp_path):
    vol = load_pet(write_pet_series(tmp_path / "a", sex="F", height_m=1.65))
    suvbw = _one(vol)
    bsa_cm2 = 0.007184 * 165**0.725 * 80**0.425 * 1e4
    assert float(np.median(vol.suv("bsa").array)) == pytest.approx(suvbw * bsa_cm2 / 80000, rel=1e-5)
    ibw = 45.5 + 0.91 * (165 - 152)
    assert float(np.median(vol.suv("ibw").array)) == pytest.approx(suvbw * ibw / 80, rel=1e-5)


def test_per_slice_rescale_slope_is_applied(tmp_path):
    vals = np.stack([np.full((8, 8), v) for v in (1000.0, 5000.0, 20000.0, 40000.0)])
    vol = load_pet(write_pet_series(tmp_path / "a", values_bqml=vals))
    got = vol.bqml.array.mean(axis=(1, 2))
    np.testing.assert_allclose(got, [1000, 5000, 20000, 40000], rtol=1e-4)


def test_date_less_injection_before_midnight(tmp_path):
    f = write_pet_series(tmp_path / "a", injection=datetime(2025, 3, 1, 23, 30), inject_time_only=True,
                         scan=datetime(2025, 3, 2, 0, 30))
    vol = load_pet(f)
    assert vol.administration.datetime == datetime(2025, 3, 1, 23, 30)
    assert _one(vol) == pytest.approx(3.1581, abs=5e-4)
    assert any("day before" in w for w in vol.provenance.warnings)


def test_header_half_life_missing_uses_nuclide_code(tmp_path):
    vol = load_pet(write_pet_series(tmp_path / "a", half_life_s=None))
    assert any("ICRP-107" in w for w in vol.provenance.warnings)
    assert _one(vol) == pytest.approx(3.1581, abs=5e-4)


def test_weight_in_grams_is_converted_with_warning(tmp_path):
    vol = load_pet(write_pet_series(tmp_path / "a", weight_kg=80000))
    assert vol.patient.weight_kg == 80
    assert any("grams" in w for w in vol.provenance.warnings)


def test_ge_private_reference_time_through_creator(tmp_path):
    """Series time after acquisition: the GE private decay DateTime is found via its creator."""
    f = write_pet_series(tmp_path / "a", scan=datetime(2025, 3, 1, 10, 0))

    def ge(ds, i):
        ds.Manufacturer = "GE MEDICAL SYSTEMS"
        ds.SeriesTime = "103000"
        block = ds.private_block(0x0009, "GEMS_PETD_01", create=True)
        block.add_new(0x0D, "DT", "20250301100000")
    edit_all(f, ge)
    vol = load_pet(f)
    assert "GE private" in vol.provenance.parameters["reference_time_source"]
    assert _one(vol) == pytest.approx(3.1581, abs=5e-4)


def test_philips_cnts_activity_factor_through_creator(tmp_path):
    f = write_pet_series(tmp_path / "a", values_bqml=5000.0, units="CNTS")   # stored counts*slope = 5000

    def philips(ds, i):
        ds.Manufacturer = "Philips Medical Systems"
        block = ds.private_block(0x7053, "Philips PET Private Group", create=True)
        block.add_new(0x09, "DS", "2.0")       # Bq/mL per count
        block.add_new(0x00, "DS", "0.000631")  # SUV factor (ignored when the activity factor exists)
    edit_all(f, philips)
    vol = load_pet(f)
    assert _one(vol) == pytest.approx(3.1581, abs=5e-4)
    assert not any("private creator" in w for w in vol.provenance.warnings)


def test_decay_correction_none_multi_frame(tmp_path):
    """Frames not decay corrected, acquired at 10:00 and 10:10: each corrected separately."""
    lam = np.log(2) / 6586.2
    dur = 180.0
    # activity concentration averaged over frame k, as a scanner without decay correction stores it
    def stored(t0_s):
        a_ref = 10000.0  # at 10:00
        return a_ref * np.exp(-lam * t0_s) * (1 - np.exp(-lam * dur)) / (lam * dur)
    vals = np.stack([np.full((8, 8), stored(0.0 if k < 2 else 600.0)) for k in range(4)])
    per_slice = {k: {"AcquisitionTime": "101000"} for k in (2, 3)}
    f = write_pet_series(tmp_path / "a", values_bqml=vals, decay_correction="NONE",
                         corrected=("ATTN", "SCAT"), per_slice=per_slice)
    vol = load_pet(f)
    np.testing.assert_allclose(vol.image.array.mean(axis=(1, 2)), 3.1581, atol=1e-3)

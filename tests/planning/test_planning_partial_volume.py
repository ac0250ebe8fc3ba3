"""Partial-volume handling of small regions (dilated VOI minus background) against analytic truths."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.planning.uptake import compute_diagnostic_uptake

SPACING = (2.0, 2.0, 2.0)
VOX_ML = 0.008
W_KG = 70.0
FWHM_MM = 6.0


def _gland(shape=(40, 40, 40), radius_vox=4.0):
    z, y, x = np.indices(shape)
    c = np.array(shape) // 2
    return ((z - c[0]) ** 2 + (y - c[1]) ** 2 + (x - c[2]) ** 2) <= radius_vox ** 2


def _blurred(true_suv: np.ndarray) -> np.ndarray:
    sigma_vox = FWHM_MM / 2.3548 / SPACING[0]
    return ndimage.gaussian_filter(true_suv, sigma_vox, mode="constant")


@pytest.mark.parametrize("background", [0.0, 1.0])
def test_dilated_voi_recovers_total_activity_of_a_blurred_gland(background):
    gland = _gland()  # 8 mm radius sphere, ~2 mL: a parotid-sized or smaller gland
    true = np.full(gland.shape, background)
    true[gland] = 20.0
    pet = Image(_blurred(true), SPACING, units="SUVbw")
    truth_pct = 100 * 20.0 * gland.sum() * VOX_ML / (W_KG * 1000)
    plain = compute_diagnostic_uptake(pet, None, {"parotid_left": gland}, scan_time_h=1.0,
                                      patient_weight_kg=W_KG).region("parotid_glands")
    pv = compute_diagnostic_uptake(pet, None, {"parotid_left": gland}, scan_time_h=1.0,
                                   patient_weight_kg=W_KG, pv_fwhm_mm=FWHM_MM).region("parotid_glands")
    assert plain.percent_ia < 0.8 * truth_pct  # spill-out loses > 20 % of a small gland
    assert pv.percent_ia == pytest.approx(truth_pct, rel=0.04)
    assert pv.percent_ia_voi == pytest.approx(plain.percent_ia, rel=1e-12)
    assert "dilated" in pv.partial_volume


def test_large_organs_and_liver_keep_the_voi_sum():
    gland = _gland(radius_vox=4.0)
    true = np.zeros(gland.shape)
    true[gland] = 20.0
    pet = Image(_blurred(true), SPACING, units="SUVbw")
    res = compute_diagnostic_uptake(pet, None, {"liver": gland}, scan_time_h=1.0,
                                    patient_weight_kg=W_KG, pv_fwhm_mm=FWHM_MM)
    assert res.region("liver").partial_volume is None
    small_limit = compute_diagnostic_uptake(pet, None, {"spleen": gland}, scan_time_h=1.0,
                                            patient_weight_kg=W_KG, pv_fwhm_mm=FWHM_MM,
                                            pv_max_volume_ml=0.5)
    assert small_limit.region("spleen").partial_volume is None


def test_cold_region_in_hot_background_keeps_the_voi_sum():
    gland = _gland()
    true = np.full(gland.shape, 10.0)
    true[gland] = 2.0
    pet = Image(_blurred(true) * _gland(radius_vox=18), SPACING, units="SUVbw")
    r = compute_diagnostic_uptake(pet, None, {"lacrimal_left": gland}, scan_time_h=1.0,
                                  patient_weight_kg=W_KG, pv_fwhm_mm=FWHM_MM).region("lacrimal_glands")
    assert r.percent_ia == pytest.approx(r.percent_ia_voi) and "kept" in r.partial_volume


def test_lesions_get_the_same_handling_and_bad_fwhm_is_refused():
    gland = _gland(radius_vox=3.0)
    true = np.full(gland.shape, 0.5)
    true[gland] = 15.0
    pet = Image(_blurred(true), SPACING, units="SUVbw")
    labels = gland.astype(np.int16) * 4
    res = compute_diagnostic_uptake(pet, None, {}, lesion_labels=labels, scan_time_h=1.0,
                                    patient_weight_kg=W_KG, pv_fwhm_mm=FWHM_MM)
    les = res.region("lesion_4")
    assert les.percent_ia == pytest.approx(100 * 15.0 * gland.sum() * VOX_ML / (W_KG * 1000), rel=0.06)
    for bad in (0.0, -2.0, float("nan")):
        with pytest.raises(InvalidInputError):
            compute_diagnostic_uptake(pet, None, {}, lesion_labels=labels, scan_time_h=1.0,
                                      patient_weight_kg=W_KG, pv_fwhm_mm=bad)
    with pytest.raises(InvalidInputError):  # a Bq/mL image needs the administration
        compute_diagnostic_uptake(pet.with_array(pet.array, units="Bq/mL"), None, {},
                                  lesion_labels=labels, scan_time_h=1.0, patient_weight_kg=W_KG)

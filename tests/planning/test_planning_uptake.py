"""%IA and masses from a synthetic diagnostic PET (hand-computed truths)."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.patient import Administration
from theranostix.planning.uptake import compute_diagnostic_uptake

SPACING = (4.0, 4.0, 4.0)  # 0.064 mL voxels
ADMIN = Administration(agent="psma-ga68", radionuclide="Ga-68", activity_mbq=150.0,
                       datetime=datetime(2026, 1, 1, 9, 0))


def _masks():
    shape = (20, 20, 20)
    kl = np.zeros(shape, bool)
    kl[2:6, 2:6, 2:6] = True
    kr = np.zeros(shape, bool)
    kr[2:6, 10:14, 2:6] = True
    blood = np.zeros(shape, bool)
    blood[10:14, 10:14, 10:14] = True
    lesions = np.zeros(shape, np.int16)
    lesions[15:17, 15:17, 15:17] = 3
    return shape, kl, kr, blood, lesions


def test_suvbw_to_percent_ia_and_blood_based_marrow():
    shape, kl, kr, blood, lesions = _masks()
    suv = np.full(shape, 0.5)
    suv[kl | kr] = 30.0
    suv[blood] = 2.0
    suv[lesions > 0] = 20.0
    pet = Image(suv, SPACING, units="SUVbw")
    res = compute_diagnostic_uptake(pet, ADMIN, {"kidney_left": kl, "kidney_right": kr, "aorta": blood},
                                    lesion_labels=lesions, scan_time_h=1.0, patient_weight_kg=80.0,
                                    hematocrit=0.40)
    kid = res.region("kidneys")
    assert kid.percent_ia == pytest.approx(100 * 30.0 * 128 * 0.064 / 80000.0, rel=1e-12)
    assert kid.mass_g == pytest.approx(128 * 0.064) and kid.suv_mean == pytest.approx(30.0)
    # RMBLR = 0.19 / (1 - 0.40); blood fraction per mL = SUV / W(g)
    rm = res.region("red_marrow")
    assert rm.percent_ia == pytest.approx(100 * 2.0 / 80000.0 * (0.19 / 0.6) * 1170.0, rel=1e-12)
    les = res.region("lesion_3")
    assert les.kind == "lesion" and les.percent_ia == pytest.approx(100 * 20 * 8 * 0.064 / 80000.0)
    wb = res.region("whole_body")
    assert wb.mass_g == 80000.0
    assert any("whole body" in w for w in res.provenance.warnings)


def test_bqml_is_decay_corrected_to_injection():
    shape, kl, kr, _blood, _les = _masks()
    lam = math.log(2) / (67.71 / 60.0)  # Ga-68, FACTS.md
    t = 1.0
    injected_at_scan_bq = 150e6 * math.exp(-lam * t)
    conc = 0.05 * injected_at_scan_bq / (64 * 0.064)  # 5 % of the (decayed) injected activity in kl
    arr = np.zeros(shape)
    arr[kl] = conc
    pet = Image(arr, SPACING, units="Bq/mL")
    res = compute_diagnostic_uptake(pet, ADMIN, {"kidneys": kl}, scan_time_h=t)
    assert res.region("kidneys").percent_ia == pytest.approx(5.0, rel=1e-3)


def test_ct_density_gives_mass():
    shape, kl, _kr, _b, _l = _masks()
    pet = Image(np.ones(shape), SPACING, units="SUVbw")
    ct = Image(np.full(shape, 1000.0), SPACING, units="HU")
    from theranostix.dosimetry.voxel import density_from_hu

    rho = float(density_from_hu(ct).array[0, 0, 0])
    res = compute_diagnostic_uptake(pet, ADMIN, {"liver": kl}, ct=ct, scan_time_h=1.0, patient_weight_kg=70)
    assert rho > 1.2
    assert res.region("liver").mass_g == pytest.approx(64 * 0.064 * rho)


def test_bad_inputs_raise():
    shape, kl, _kr, _b, _l = _masks()
    pet = Image(np.ones(shape), SPACING, units="SUVbw")
    with pytest.raises(InvalidInputError):  # SUV without weight
        compute_diagnostic_uptake(pet, ADMIN, {"kidneys": kl}, scan_time_h=1.0)
    with pytest.raises(InvalidInputError):  # mask on another grid
        compute_diagnostic_uptake(pet, ADMIN, {"kidneys": kl[:-1]}, scan_time_h=1.0, patient_weight_kg=70)
    with pytest.raises(InvalidInputError):  # empty mask
        compute_diagnostic_uptake(pet, ADMIN, {"kidneys": np.zeros(shape, bool)}, scan_time_h=1.0,
                                  patient_weight_kg=70)
    neg = Image(np.where(kl, -5.0, 1.0), SPACING, units="SUVbw")
    with pytest.raises(InvalidInputError):  # negative uptake
        compute_diagnostic_uptake(neg, ADMIN, {"kidneys": kl}, scan_time_h=1.0, patient_weight_kg=70)
    with pytest.raises(InvalidInputError):  # unsupported units
        compute_diagnostic_uptake(Image(np.ones(shape), SPACING, units="counts"), ADMIN, {"kidneys": kl},
                                  scan_time_h=1.0)
    with pytest.raises(InvalidInputError):
        compute_diagnostic_uptake(pet, ADMIN, {"kidneys": kl}, scan_time_h=0.0, patient_weight_kg=70)


def test_whole_body_slightly_above_100_percent_is_clipped_with_warning():
    shape = (10, 10, 10)
    # 1000 voxels x 0.064 mL x SUV 1.04 / 64 g = 104 % of the injected activity
    pet = Image(np.full(shape, 1.04), SPACING, units="SUVbw")
    kid = np.zeros(shape, bool)
    kid[:2, :2, :2] = True
    res = compute_diagnostic_uptake(pet, ADMIN, {"kidneys": kid}, scan_time_h=1.0, patient_weight_kg=0.064)
    assert res.region("whole_body").percent_ia == 100.0
    assert any("clipped to 100" in w for w in res.provenance.warnings)
    with pytest.raises(InvalidInputError):  # far above: refused
        compute_diagnostic_uptake(Image(np.full(shape, 3.0), SPACING, units="SUVbw"), ADMIN,
                                  {"kidneys": kid}, scan_time_h=1.0, patient_weight_kg=0.064)

"""Follow-up liver reference at the baseline VOI location (PERCIST asks for the same region).

Synthetic liver with two halves of different uptake (4.0 and 5.0 SUV, identical at both scans):
the automatic follow-up VOI lands in the other half, so the reference seems to change by 25 %
(not comparable). The VOI carried from baseline measures the same half (comparable). When the
liver uptake really changes (x 1.4) the carried VOI still sees it and PERCIST refuses (NE).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.pet.lesions import LesionMetrics, LesionTable
from theranostix.pet.metrics import whole_body_burden
from theranostix.response.pipeline import assess_response
from theranostix.response.reference_voi import carry_reference_voi

T0 = datetime(2026, 1, 5, 9, 0)
SP = 4.0
SHAPE = (30, 30, 40)  # z, y, x
LIVER_BOX = (slice(5, 25), slice(5, 25), slice(5, 35))
LEFT_CENTRE = (12 * SP + 2 * SP, 15 * SP, 15 * SP)      # x, y, z (mm): left half (x index < 20)
RIGHT_CENTRE = (27 * SP, 15 * SP, 15 * SP)              # right half


def _suv(scale: float = 1.0, shift_x_vox: int = 0) -> Image:
    a = np.full(SHAPE, 0.5, dtype=np.float32)
    z, y, x = LIVER_BOX
    a[z, y, x] = 4.0
    a[z, y, 20:35] = 5.0
    a[z, y, x] *= scale
    a = np.roll(a, shift_x_vox, axis=2)
    return Image(a, spacing=(SP, SP, SP), origin=(0.0, 0.0, 0.0), units="SUVbw")


def _organs(shift_x_vox: int = 0) -> Image:
    a = np.zeros(SHAPE, dtype=np.int16)
    a[LIVER_BOX] = 3
    a = np.roll(a, shift_x_vox, axis=2)
    return Image(a, spacing=(SP, SP, SP), origin=(0.0, 0.0, 0.0), units="label")


def _lesion(suv_peak: float) -> LesionMetrics:
    return LesionMetrics(lesion_id=1, site="bone", centroid_lps_mm=(140.0, 100.0, 20.0),
                         max_voxel_lps_mm=(140.0, 100.0, 20.0), suv_max=suv_peak * 1.2,
                         suv_mean=0.8 * suv_peak, suv_peak_local=suv_peak, suv_peak_global=suv_peak,
                         n_voxels=60, volume_ml=4.0, total_lesion_activity=3.2 * suv_peak,
                         longest_diameter_mm=20.0, long_axis_axial_mm=20.0, short_axis_mm=20.0)


def _analysis(suv: Image, liver_mean: float, centre, days: float = 0.0, with_centre: bool = True):
    from theranostix.pet.pipeline import AnalysisResult

    les = [_lesion(12.0)]
    table = LesionTable(lesions=les, burden=whole_body_burden(les))
    liver = {"found": True, "mean": liver_mean, "sd": 0.05, "method": "auto"}
    if with_centre:
        liver["centre_mm"] = list(centre)
    return AnalysisResult(tracer="fdg", suv_kind="bw", reference_time=T0 + timedelta(days=days),
                          uptake_time_min=60.0, patient={"sex": "M", "weight_kg": 80.0, "height_m": 1.8},
                          reference_regions={"liver": liver}, lesions=table, burden=table.burden,
                          scores={}, eligibility={}, provenance=Provenance(), suv=suv,
                          organs=_organs(), organ_names={3: "liver"})


def _percist(fu, base=None, **kw):
    base = base or _analysis(_suv(), 4.0, LEFT_CENTRE)
    fa = assess_response(base, [fu], criteria=["percist"], **kw).followups[0]
    return fa, fa.criteria["percist"]


def test_carried_voi_keeps_same_region_comparable():
    # automatic follow-up VOI in the other half: 5.0 vs 4.0 (+25 %) -> NE
    fu = _analysis(_suv(), 5.0, RIGHT_CENTRE, days=60)
    fa, p = _percist(fu, follow_reference="automatic")
    assert p.category == "NE"
    fa, p = _percist(fu)
    assert p.category == "SMD"
    info = fa.values["followup_reference_regions"]["liver"]
    assert info["method"] == "baseline_voi_carried"
    assert info["carried"]["mean"] == pytest.approx(4.0, abs=1e-6)
    assert info["automatic"]["mean"] == 5.0
    assert p.provenance.parameters["followup_reference_regions"]["liver"]["method"] == "baseline_voi_carried"


def test_carried_voi_still_refuses_a_real_liver_change():
    fu = _analysis(_suv(scale=1.4), 5.6, LEFT_CENTRE, days=60)
    fa, p = _percist(fu)
    assert fa.values["followup_reference_regions"]["liver"]["carried"]["mean"] == pytest.approx(5.6, rel=1e-6)
    assert p.category == "NE"
    assert any("liver" in f for f in p.flags)
    with pytest.raises(InvalidInputError, match="not comparable"):
        _percist(fu, percist_on_incomparable="refuse")


def test_fallback_to_automatic_is_recorded():
    base = _analysis(_suv(), 4.0, LEFT_CENTRE, with_centre=False)
    fu = _analysis(_suv(), 4.1, RIGHT_CENTRE, days=60)
    fa, p = _percist(fu, base=base)
    info = fa.values["followup_reference_regions"]["liver"]
    assert info["method"] == "automatic" and "no centre" in info["fallback_reason"]
    assert any("automatic VOI used" in f for f in fa.flags)
    assert p.category == "SMD"


def test_carry_through_a_shift():
    """Follow-up shifted by -5 voxels (-20 mm) in x: the mapped centre lands in the same tissue."""
    region = {"found": True, "mean": 4.0, "centre_mm": list(LEFT_CENTRE)}
    shifted = _suv(shift_x_vox=-5)
    same, _ = carry_reference_voi(region, shifted)  # without the mapping: part in the 5.0 half
    moved, text = carry_reference_voi(region, shifted,
                                      baseline_to_followup=lambda p: np.asarray(p) - [20.0, 0.0, 0.0],
                                      followup_organs=_organs(-5), organ_labels=[3])
    assert moved["mean"] == pytest.approx(4.0, abs=1e-6) and moved["sd"] == pytest.approx(0.0, abs=1e-6)
    assert same["mean"] > 4.0
    assert "through the registration" in text
    # 30 mm sphere on a 4 mm grid: voxel centres within 15 mm (hand count of the lattice points)
    n = sum(1 for i in range(-4, 5) for j in range(-4, 5) for k in range(-4, 5)
            if (i * i + j * j + k * k) * 16 <= 225)
    assert moved["volume_ml"] == pytest.approx(n * 0.064)


def test_carry_refusals():
    region = {"found": True, "mean": 4.0, "centre_mm": list(LEFT_CENTRE)}
    out, why = carry_reference_voi(region, _suv(), baseline_to_followup=lambda p: np.asarray(p) - [60.0, 0, 0])
    assert out is None and "outside" in why
    out, why = carry_reference_voi(region, _suv(), followup_organs=_organs(8), organ_labels=[3])
    assert out is None and "mask" in why
    les = np.zeros(SHAPE, dtype=np.int16)
    les[15, 15, 14] = 7
    out, why = carry_reference_voi(region, _suv(), followup_lesion_labels=_suv().with_array(les))
    assert out is None and "lesion" in why
    assert carry_reference_voi(None, _suv())[0] is None
    assert carry_reference_voi({"found": False, "centre_mm": [0, 0, 0]}, _suv())[0] is None


def test_bad_follow_reference_option():
    fu = _analysis(_suv(), 4.0, LEFT_CENTRE, days=60)
    with pytest.raises(InvalidInputError):
        _percist(fu, follow_reference="nearest")


def test_no_carry_through_a_failed_registration():
    """A registration below the quality gate (kept with on_registration_failure='flag') is not
    used to place the liver VOI: the automatic VOI is used and the reason recorded."""
    from theranostix.core.image import Image as Img

    rng = np.random.default_rng(1)
    k, j, i = np.mgrid[0:30, 0:30, 0:40].astype(float)
    ct = np.full(k.shape, -1000.0, dtype=np.float32)
    body = (((i - 20) / 17) ** 2 + ((j - 15) / 12) ** 2 <= 1) & (k > 2) & (k < 27)
    ct[body] = 20.0
    ct[body & (((i - 12) / 4) ** 2 + ((j - 14) / 5) ** 2 <= 1) & (k > 15)] = -800.0
    ct[(((i - 20) / 3) ** 2 + ((j - 24) / 3) ** 2 <= 1) & body] = 700.0
    base = _analysis(_suv(), 4.0, LEFT_CENTRE)
    base.ct = Img(ct, spacing=(SP, SP, SP), origin=(0.0, 0.0, 0.0), units="HU")
    fu = _analysis(_suv(), 4.1, LEFT_CENTRE, days=60)
    fu.ct = Img(rng.normal(0, 300, ct.shape).astype(np.float32), spacing=(SP, SP, SP), origin=(0.0, 0.0, 0.0),
                units="HU")
    fa, p = _percist(fu, base=base, on_registration_failure="flag")
    info = fa.values["followup_reference_regions"]["liver"]
    assert not fa.registration.accepted
    assert info["method"] == "automatic" and "registration" in info["fallback_reason"]

"""Registration recovers a known rigid motion; a mismatched pair is refused."""

from __future__ import annotations

import time

import numpy as np
import pytest
import SimpleITK as sitk

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.response.registration import register_followup


def _phantom(shape=(40, 48, 56), spacing=(4.0, 4.0, 4.0), seed=0) -> Image:
    """Body ellipsoid (muscle) with lungs (air), a spine (bone) and a liver-like blob."""
    nz, ny, nx = shape
    z, y, x = np.meshgrid(*(np.arange(n) for n in shape), indexing="ij")
    zc, yc, xc = nz / 2, ny / 2, nx / 2
    hu = np.full(shape, -1000.0, dtype=np.float32)
    def ell(cx, cy, cz, rx, ry, rz):
        return ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 + ((z - cz) / rz) ** 2 < 1
    body = ell(xc, yc, zc, nx * 0.42, ny * 0.35, nz * 0.45)
    hu[body] = 40
    hu[body & (ell(xc * 0.6, yc, nz * 0.7, 7, 8, 6) | ell(xc * 1.4, yc, nz * 0.72, 6, 8, 7))] = -800
    hu[body & ell(xc, yc * 1.45, zc, 3, 3, nz * 0.4)] = 700
    hu[ell(xc * 0.7, yc * 0.95, nz * 0.42, 9, 7, 6)] = 70
    hu[ell(xc * 1.3, yc * 1.1, nz * 0.35, 4, 4, 5)] = 200  # a contrast-filled kidney-like blob
    hu += np.random.default_rng(seed).normal(0, 5, shape).astype(np.float32)
    return Image(hu, spacing=spacing, origin=(-100.0, -90.0, -60.0), units="HU")


def _moved(img: Image, translation=(6.0, -4.0, 8.0), angle_z_deg=4.0) -> tuple[Image, sitk.Euler3DTransform]:
    t = sitk.Euler3DTransform()
    centre = img.index_to_world(np.array(img.size_ijk) / 2.0)
    t.SetCenter(tuple(centre))
    t.SetRotation(0.0, 0.0, np.radians(angle_z_deg))
    t.SetTranslation(translation)
    # follow-up = baseline moved by t^-1 (so that t maps baseline points to follow-up points)
    moved = sitk.Resample(img.to_sitk(), img.to_sitk(), t.GetInverse(), sitk.sitkLinear, -1000.0)
    return Image.from_sitk(moved, units="HU"), t


def test_rigid_registration_recovers_known_motion():
    base = _phantom()
    fu, truth = _moved(base)
    res = register_followup(base, fu)
    pts = base.index_to_world(np.array([[20, 20, 20], [40, 30, 10], [28, 24, 30]], dtype=float))
    expected = np.asarray([truth.TransformPoint(tuple(p)) for p in pts])
    got = res.baseline_to_followup(pts)
    assert np.max(np.linalg.norm(got - expected, axis=1)) < 2.0  # mm, half a voxel
    back = res.followup_to_baseline(expected)
    assert np.max(np.linalg.norm(back - pts, axis=1)) < 2.0
    assert res.ncc_after > res.ncc_before + 0.3 and res.ncc_after > 0.6


def test_different_patient_is_refused_or_flagged():
    base = _phantom()
    other = Image(np.random.default_rng(3).normal(-200, 400, base.shape).astype(np.float32),
                  spacing=base.spacing, origin=base.origin, units="HU")
    with pytest.raises(InvalidInputError, match="registration quality"):
        register_followup(base, other)
    flagged = register_followup(base, other, mode="flag")
    assert any("registration quality" in w for w in flagged.provenance.warnings)


def test_non_ct_input_refused():
    base = _phantom()
    pet = base.with_array(base.array, units="SUVbw")
    with pytest.raises(InvalidInputError, match="HU"):
        register_followup(base, pet)


def test_registration_is_reproducible_and_refuses_the_wall_clock_seed():
    """Same inputs, same transform (SimpleITK seeds its random metric sampling from the wall clock
    when given 0, which made repeated runs differ)."""
    base = _phantom()
    fu, _ = _moved(base)
    pts = base.index_to_world(np.array([[20, 20, 20], [40, 30, 10]], dtype=float))
    a = register_followup(base, fu).baseline_to_followup(pts)
    time.sleep(1.1)  # a wall-clock seed would differ by now
    b = register_followup(base, fu).baseline_to_followup(pts)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(InvalidInputError, match="seed"):
        register_followup(base, fu, seed=0)

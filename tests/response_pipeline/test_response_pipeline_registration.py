"""assess_response with CTs: registration carries tracking; a different patient's CT is refused."""

from __future__ import annotations

import numpy as np
import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.response.pipeline import assess_response

SHIFT = np.array([16.0, 0.0, 20.0])  # patient moved (mm, LPS) at follow-up


def _phantom(origin=(0.0, 0.0, 0.0)) -> Image:
    k, j, i = np.mgrid[0:40, 0:36, 0:44].astype(float)
    a = np.full(k.shape, -1000.0, dtype=np.float32)
    body = ((i - 22) / 18) ** 2 + ((j - 18) / 13) ** 2 <= 1
    body &= (k > 2) & (k < 37)
    a[body] = 20.0
    a[body & (((i - 14) / 5) ** 2 + ((j - 15) / 6) ** 2 <= 1) & (k > 18)] = -800.0  # one lung
    a[(((i - 22) / 3) ** 2 + ((j - 27) / 3) ** 2 <= 1) & body] = 700.0  # spine
    a[body & (((i - 30) / 4) ** 2 + ((j - 14) / 4) ** 2 + ((k - 10) / 5) ** 2 <= 1)] = 60.0  # liver-ish
    return Image(a, spacing=(4.0, 4.0, 4.0), origin=tuple(origin), units="HU")


def _pair(make, fu_ct):
    b = make.analysis([make.lesion(1, (40.0, 60.0, 80.0), 1.0, 12.0), make.lesion(2, (120.0, 70.0, 60.0), 2.0, 9.0)],
                      ct=_phantom())
    f = make.analysis([make.lesion(1, tuple(np.array([40.0, 60.0, 80.0]) + SHIFT), 0.8, 10.0),
                       make.lesion(2, tuple(np.array([120.0, 70.0, 60.0]) + SHIFT), 1.5, 8.0)],
                      days=60, ct=fu_ct)
    return b, f


def test_registration_recovers_shift_and_tracks(make):
    b, f = _pair(make, _phantom(origin=tuple(SHIFT)))
    fa = assess_response(b, [f]).followups[0]
    reg = fa.registration
    assert reg.performed and reg.accepted and reg.ncc_after > 0.9
    assert np.allclose(reg.translation_mm, SHIFT, atol=2.0)
    assert fa.tracking.n_matched == 2 and fa.n_new_lesions == 0
    # without registration the 25.6 mm displacement breaks the matching
    fa0 = assess_response(b, [f], register=False).followups[0]
    assert fa0.tracking.n_matched == 0 and fa0.n_new_lesions == 2
    assert any("registration disabled" in x for x in fa0.flags)


def test_other_patient_ct_refused_or_flagged(make):
    rng = np.random.default_rng(3)
    other = Image(rng.normal(0, 300, (40, 36, 44)).astype(np.float32), spacing=(4.0, 4.0, 4.0),
                  origin=(0.0, 0.0, 0.0), units="HU")
    b, f = _pair(make, other)
    with pytest.raises(InvalidInputError, match="registration"):
        assess_response(b, [f])
    fa = assess_response(b, [f], on_registration_failure="flag").followups[0]
    assert not fa.registration.accepted and any("registration quality" in x for x in fa.flags)

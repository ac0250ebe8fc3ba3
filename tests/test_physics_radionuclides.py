"""Radionuclide physics against ICRP-107 values published in shared/reference/dosimetry/FACTS.md."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.physics import decay_factor_between, emission_summary, normalize_nuclide, radionuclide


def test_lu177_emissions_match_facts():
    # FACTS.md: total electrons 147.9 keV/decay (beta 133.3, IC 13.52, Auger+CK 1.13), photons 35.1 keV
    s = emission_summary("Lu-177")
    assert s.electrons_kev == pytest.approx(147.9, abs=0.05)
    assert s.beta_minus_kev == pytest.approx(133.3, abs=0.1)
    assert s.ic_electrons_kev == pytest.approx(13.52, abs=0.02)
    assert s.auger_electrons_kev == pytest.approx(1.13, abs=0.02)
    assert s.photons_kev == pytest.approx(35.1, abs=0.05)
    assert s.electrons_kev * 1.602176634e-16 == pytest.approx(2.3701e-14, rel=1e-3)  # J per decay


def test_tb161_emissions_match_facts():
    s = emission_summary("Tb-161")
    assert s.electrons_kev == pytest.approx(202.5, abs=0.2)
    assert s.photons_kev == pytest.approx(36.35, abs=0.2)


@pytest.mark.parametrize("name,hours", [("Lu-177", 159.528), ("F-18", 109.77 / 60), ("Ga-68", 67.71 / 60),
                                        ("Ac-225", 240.0), ("Y-90", 64.10), ("I-131", 8.0207 * 24)])
def test_half_lives(name, hours):
    assert radionuclide(name).half_life_h == pytest.approx(hours, rel=1e-3)


def test_positron_fractions():
    assert emission_summary("Ga-68").positron_yield == pytest.approx(0.889, abs=0.001)
    assert emission_summary("F-18").positron_yield == pytest.approx(0.967, abs=0.001)


def test_decay_between_datetimes_and_lambda():
    t0 = datetime(2025, 1, 1, 10, 0)
    assert decay_factor_between("F-18", t0, t0 + timedelta(minutes=109.77)) == pytest.approx(0.5, rel=1e-4)
    assert decay_factor_between(6586.2, t0, t0 + timedelta(hours=1)) == pytest.approx(math.exp(-math.log(2) * 3600 / 6586.2))
    lu = radionuclide("Lu-177")
    # FACTS.md: decay during a 30-min acquisition, lambda dt / (1 - exp(-lambda dt)) = 1.001087
    x = lu.decay_constant_per_h * 0.5
    assert x / (1 - math.exp(-x)) == pytest.approx(1.001087, abs=1e-6)


def test_ac225_progeny():
    assert [p for p, _ in radionuclide("Ac-225").progeny] == ["Fr-221"]


@pytest.mark.parametrize("alias", ["Lu-177", "lu177", "177Lu", "Lu177", "^177Lu", "177-Lu"])
def test_aliases(alias):
    assert normalize_nuclide(alias) == "Lu-177"


@pytest.mark.parametrize("bad", ["Xx-999", "hello", "", "Lu-999"])
def test_bad_names(bad):
    with pytest.raises(InvalidInputError):
        normalize_nuclide(bad)

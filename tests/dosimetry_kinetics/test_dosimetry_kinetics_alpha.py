"""Ac-225 chain: branching, progeny time-integrals, energies, RBE weighting."""

from __future__ import annotations

import math

import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.dosimetry.alpha import (
    alpha_local_dose,
    chain_branching,
    chain_energy_per_decay,
    cumulative_progeny_decays,
    rbe_weighted_dose,
)


def test_ac225_chain_branching_matches_facts():
    b = chain_branching("Ac-225")
    assert set(b) == {"Ac-225", "Fr-221", "At-217", "Bi-213", "Po-213", "Tl-209", "Pb-209"}
    # FACTS.md: Bi-213 -> Po-213 0.9791, -> Tl-209 0.0209
    assert b["Po-213"] / b["Bi-213"] == pytest.approx(0.9791, abs=1e-4)
    assert b["Tl-209"] / b["Bi-213"] == pytest.approx(0.0209, abs=1e-4)
    assert b["Pb-209"] == pytest.approx(b["Bi-213"], rel=1e-9)


def test_progeny_time_integrals_equal_branching_times_parent():
    """Independent check: radioactivedecay's Bateman solution integrated over 30 half-lives."""
    c = cumulative_progeny_decays("Ac-225", 1.0, 24 * 300)
    parent = 1.0 * 10.0 * 24 / math.log(2)  # FACTS.md: T1/2 = 10.0 d
    assert c["Ac-225"] == pytest.approx(parent, rel=2e-3)
    for nuc, frac in chain_branching("Ac-225").items():
        assert c[nuc] == pytest.approx(frac * c["Ac-225"], rel=1e-3)


def test_alpha_energy_per_parent_decay():
    ce = chain_energy_per_decay("Ac-225")
    # hand sum of the main alpha energies (MeV): Ac-225 5.83, Fr-221 6.34, At-217 7.07,
    # Po-213 8.38 x 0.979, Bi-213 5.87 x 0.021 -> 27.6 MeV (small alpha lines lower the mean)
    assert ce.alpha_mev == pytest.approx(27.6, abs=0.4)
    assert ce.electron_mev < 1.0 and ce.photon_mev < 0.5


def test_relocation_of_bi213_removes_its_branch():
    full = chain_energy_per_decay("Ac-225")
    half = chain_energy_per_decay("Ac-225", retention={"Bi-213": 0.5})
    by = {m.nuclide: m for m in half.members}
    assert by["Po-213"].retention == pytest.approx(0.5)
    assert by["Fr-221"].retention == 1.0
    lost = sum(m.alpha_mev for m in full.members if m.nuclide in ("Bi-213", "Po-213", "Tl-209"))
    assert full.alpha_mev - half.alpha_mev == pytest.approx(lost / 2, rel=1e-9)
    with pytest.raises(InvalidInputError):
        chain_energy_per_decay("Ac-225", retention={"Lu-177": 0.5})
    with pytest.raises(InvalidInputError):
        chain_energy_per_decay("Ac-225", retention={"Bi-213": 1.5})


def test_local_dose_and_rbe_weighting():
    r = alpha_local_dose(1000.0, 300.0, rbe_alpha=5.0)
    ce = chain_energy_per_decay("Ac-225")
    k = 1000 * 3.6e9 * 1.602176634e-13 / 0.3
    assert r.alpha_dose_gy == pytest.approx(k * ce.alpha_mev)
    assert r.rbe_weighted_dose_gy == pytest.approx(5 * r.alpha_dose_gy + r.electron_dose_gy)
    assert alpha_local_dose(1000.0, 300.0, rbe_alpha=1.0).rbe_weighted_dose_gy == pytest.approx(
        r.absorbed_dose_gy)
    assert rbe_weighted_dose(1.0, 0.1, 5.0) == pytest.approx(5.1)
    with pytest.raises(InvalidInputError):
        rbe_weighted_dose(1.0, 0.1, 0.0)
    with pytest.raises(InvalidInputError):
        alpha_local_dose(1000.0, 0.0)

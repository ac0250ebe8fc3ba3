"""Radionuclide physics from ICRP-107.

Half-lives, decay constants and progeny come from ``radioactivedecay`` (ICRP-107 decay data);
emission energies per decay come from the ``icrp107-database`` package (OpenGATE's export of the
ICRP-107 tables; yields are per decay, not normalised fractions). Both are version-recorded in
:data:`DECAY_DATA`, which every dosimetry result stores in its provenance.

References
----------
ICRP Publication 107: Nuclear Decay Data for Dosimetric Calculations. Ann ICRP 2008;38(3).
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from functools import lru_cache
from importlib import resources
from importlib.metadata import version

import numpy as np
import radioactivedecay as rd
from pydantic import BaseModel, ConfigDict

from theranostix.core.errors import InvalidInputError

DECAY_DATA = (
    f"ICRP-107 via radioactivedecay {version('radioactivedecay')} "
    f"({rd.DEFAULTDATA.dataset_name}); emissions via icrp107-database {version('icrp107-database')}"
)

_ALIASES = {"LU177": "Lu-177", "F18": "F-18", "GA68": "Ga-68"}


def normalize_nuclide(name: str) -> str:
    """Return the canonical ``Xx-NNN[m]`` spelling of a nuclide name.

    Accepts ``"Lu-177"``, ``"lu177"``, ``"177Lu"``, ``"Lu177"``, ``"^177Lu"``, ``"Tc-99m"``.

    Raises
    ------
    InvalidInputError
        If the name is not a nuclide known to ICRP-107.
    """
    s = name.strip().replace("^", "").replace(" ", "")
    m = re.fullmatch(r"([A-Za-z]{1,2})-?(\d{1,3})(m\d?)?", s) or None
    if m:
        sym, mass, meta = m.group(1), m.group(2), m.group(3) or ""
    else:
        m = re.fullmatch(r"(\d{1,3})(m\d?)?-?([A-Za-z]{1,2})", s)
        if not m:
            raise InvalidInputError(
                f"{name!r} is not a radionuclide name", where="radionuclide",
                fix="write it like 'Lu-177', 'F-18' or 'Tc-99m'.",
            )
        mass, meta, sym = m.group(1), m.group(2) or "", m.group(3)
    canon = f"{sym.capitalize()}-{mass}{meta.lower()}"
    try:
        rd.Nuclide(canon)
    except Exception as exc:
        raise InvalidInputError(
            f"{name!r} is not in the ICRP-107 decay data", where="radionuclide",
        ) from exc
    return canon


class EmissionSummary(BaseModel):
    """Mean energy emitted per decay, by radiation type (keV per decay).

    ``electrons_kev`` = beta (mean energy x yield) + internal conversion + Auger electrons;
    ``photons_kev`` = gamma + X-rays (+ annihilation photons for positron emitters).
    """

    model_config = ConfigDict(frozen=True)

    nuclide: str
    beta_minus_kev: float
    beta_plus_kev: float
    ic_electrons_kev: float
    auger_electrons_kev: float
    electrons_kev: float
    gamma_kev: float
    xray_kev: float
    annihilation_kev: float
    photons_kev: float
    alpha_kev: float
    alpha_recoil_kev: float
    total_kev: float
    positron_yield: float


class Radionuclide(BaseModel):
    """A radionuclide's decay properties (ICRP-107)."""

    model_config = ConfigDict(frozen=True)

    name: str
    half_life_s: float

    @property
    def half_life_h(self) -> float:
        """Half-life in hours."""
        return self.half_life_s / 3600.0

    @property
    def decay_constant_per_s(self) -> float:
        """Decay constant lambda in 1/s."""
        return math.log(2.0) / self.half_life_s

    @property
    def decay_constant_per_h(self) -> float:
        """Decay constant lambda in 1/h."""
        return math.log(2.0) / self.half_life_h

    @property
    def progeny(self) -> list[tuple[str, float]]:
        """Direct progeny and branching fractions (stable daughters included)."""
        n = rd.Nuclide(self.name)
        return list(zip(n.progeny(), n.branching_fractions()))

    @property
    def emissions(self) -> EmissionSummary:
        """Mean emitted energy per decay by radiation type."""
        return emission_summary(self.name)

    def decay_factor(self, hours: float) -> float:
        """Fraction remaining after ``hours`` (``exp(-lambda t)``); negative hours grow."""
        return math.exp(-self.decay_constant_per_h * hours)


@lru_cache(maxsize=256)
def radionuclide(name: str) -> Radionuclide:
    """Return the :class:`Radionuclide` for a name such as ``"Lu-177"`` or ``"68Ga"``."""
    canon = normalize_nuclide(name)
    return Radionuclide(name=canon, half_life_s=float(rd.Nuclide(canon).half_life("s")))


def _icrp107_json(nuclide: str) -> dict:
    path = resources.files("icrp107_database") / "icrp107" / f"{nuclide}.json"
    if not path.is_file():
        raise InvalidInputError(
            f"no ICRP-107 emission data for {nuclide}", where="icrp107-database",
        )
    raw = json.loads(path.read_text())
    return json.loads(raw) if isinstance(raw, str) else raw


@lru_cache(maxsize=256)
def emission_lines(nuclide: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """Discrete emission lines of one kind: (energies in MeV, yields per decay).

    ``kind`` is an ICRP-107 key: ``"beta-"``, ``"beta+"`` (mean energies of the beta branches),
    ``"gamma"``, ``"X"``, ``"auger"``, ``"IE"`` (internal conversion), ``"alpha"``,
    ``"alpha recoil"``, ``"annihilation"``, or ``"b-spectra"`` (the beta spectrum: energy in MeV
    and number of betas per MeV per decay; see :func:`beta_spectrum`).
    """
    data = _icrp107_json(normalize_nuclide(nuclide))
    rows = data["emissions"].get(kind)
    if rows is None:
        raise InvalidInputError(f"unknown ICRP-107 emission kind {kind!r}", where="emission kind")
    if not rows:
        return np.zeros(0), np.zeros(0)
    arr = np.asarray(rows, dtype=float)
    arr.setflags(write=False)
    return arr[:, 0], arr[:, 1]


def beta_spectrum(nuclide: str) -> tuple[np.ndarray, np.ndarray]:
    """ICRP-107 beta spectrum: kinetic energy (MeV) and betas per MeV per decay."""
    return emission_lines(nuclide, "b-spectra")


@lru_cache(maxsize=256)
def emission_summary(nuclide: str) -> EmissionSummary:
    """Mean energy emitted per decay (keV) by radiation type, from ICRP-107.

    Examples
    --------
    >>> s = emission_summary("Lu-177")
    >>> round(s.electrons_kev, 1), round(s.photons_kev, 1)
    (147.9, 35.1)
    """
    name = normalize_nuclide(nuclide)

    def kev(kind: str) -> float:
        e, y = emission_lines(name, kind)
        return float(np.sum(e * y) * 1000.0)

    bm, bp = kev("beta-"), kev("beta+")
    ic, au = kev("IE"), kev("auger")
    g, x, ann = kev("gamma"), kev("X"), kev("annihilation")
    al, ar = kev("alpha"), kev("alpha recoil")
    electrons = bm + bp + ic + au
    photons = g + x + ann
    _, ypos = emission_lines(name, "beta+")
    return EmissionSummary(
        nuclide=name, beta_minus_kev=bm, beta_plus_kev=bp, ic_electrons_kev=ic,
        auger_electrons_kev=au, electrons_kev=electrons, gamma_kev=g, xray_kev=x,
        annihilation_kev=ann, photons_kev=photons, alpha_kev=al, alpha_recoil_kev=ar,
        total_kev=electrons + photons + al + ar, positron_yield=float(np.sum(ypos)),
    )


def decay_factor_between(nuclide_or_half_life_s: str | float, t_from: datetime, t_to: datetime) -> float:
    """Activity ratio A(t_to)/A(t_from) for physical decay between two datetimes.

    Parameters
    ----------
    nuclide_or_half_life_s
        A nuclide name (ICRP-107 half-life) or a half-life in seconds.
    t_from, t_to
        Timezone-naive datetimes in the same (scanner local) clock.
    """
    if isinstance(nuclide_or_half_life_s, str):
        half_life_s = radionuclide(nuclide_or_half_life_s).half_life_s
    else:
        half_life_s = float(nuclide_or_half_life_s)
        if not half_life_s > 0:
            raise InvalidInputError(f"half-life must be positive, got {half_life_s} s")
    dt = (t_to - t_from).total_seconds()
    return math.exp(-math.log(2.0) * dt / half_life_s)

"""Radionuclide physics (ICRP-107): half-lives, decay, emissions."""

from theranostix.physics.radionuclides import (
    DECAY_DATA,
    EmissionSummary,
    Radionuclide,
    beta_spectrum,
    decay_factor_between,
    emission_lines,
    emission_summary,
    normalize_nuclide,
    radionuclide,
)

__all__ = [
    "DECAY_DATA",
    "EmissionSummary",
    "Radionuclide",
    "beta_spectrum",
    "decay_factor_between",
    "emission_lines",
    "emission_summary",
    "normalize_nuclide",
    "radionuclide",
]

"""Digital twins: synthetic patients with known truth, written as scanner-like DICOM.

Body side (anatomy, tracers, disease, therapy, follow-up): :mod:`theranostix.twin.truth`.
Scanner side: :mod:`.scanners` (PET, CT, SPECT models), :mod:`.export` (DICOM), and
:mod:`.generate` (:func:`make_twin`, the one call that makes a twin on disk).

Submodules are imported lazily so ``import theranostix.twin`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["make_twin", "TwinResult", "simulate_pet", "simulate_ct", "simulate_spect"]

_LAZY = {
    "make_twin": "theranostix.twin.generate",
    "TwinResult": "theranostix.twin.generate",
    "simulate_pet": "theranostix.twin.scanners",
    "simulate_ct": "theranostix.twin.scanners",
    "simulate_spect": "theranostix.twin.scanners",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'theranostix.twin' has no attribute {name!r}")

"""Provenance carried by every result: what produced a number, from what, with which settings."""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field


def _software_version() -> str:
    from theranostix import __version__

    return __version__


class Provenance(BaseModel):
    """Where a result came from.

    Attributes
    ----------
    software
        Package name and version that produced the result.
    created
        Local time the result was created.
    inputs
        Identifiers of the inputs: DICOM UIDs, file paths and SHA-256 hashes.
    parameters
        Every parameter that influenced the result (thresholds, rules chosen, ...).
    decay_data
        Decay-data set used (e.g. ``"ICRP-107 via radioactivedecay 0.6.1"``), when relevant.
    warnings
        Every fallback or doubtful point met on the way. Never empty silently: a fallback is
        always recorded here.
    """

    software: str = Field(default_factory=lambda: f"theranostix {_software_version()}")
    created: datetime = Field(default_factory=lambda: datetime.now().replace(microsecond=0))
    inputs: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Any] = Field(default_factory=dict)
    decay_data: str | None = None
    warnings: list[str] = Field(default_factory=list)

    def warn(self, message: str) -> None:
        """Record a warning (a fallback, an assumption, a doubtful value)."""
        if message not in self.warnings:
            self.warnings.append(message)

    def merged(self, other: "Provenance") -> "Provenance":
        """Return a copy holding the inputs, parameters and warnings of both."""
        out = self.model_copy(deep=True)
        out.inputs.update(other.inputs)
        out.parameters.update(other.parameters)
        out.decay_data = out.decay_data or other.decay_data
        for w in other.warnings:
            out.warn(w)
        return out


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_bytes):
            h.update(chunk)
    return h.hexdigest()

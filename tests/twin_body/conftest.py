"""Shared, module-cached twins for the twin-body tests (building one takes well under a second)."""

from __future__ import annotations

from functools import lru_cache

import pytest

from theranostix.twin.anatomy import build_anatomy
from theranostix.twin.disease import build_disease


@lru_cache(maxsize=None)
def cached_anatomy(sex: str, seed: int, spacing_mm: float = 2.0):
    """Anatomies are deterministic, so tests share them (read-only use)."""
    return build_anatomy(sex, seed=seed, spacing_mm=spacing_mm)


@pytest.fixture(scope="session")
def anatomy_of():
    return cached_anatomy


@pytest.fixture(scope="session")
def male():
    return cached_anatomy("M", 0)


@pytest.fixture(scope="session")
def female():
    return cached_anatomy("F", 0)


@pytest.fixture(scope="session")
def disseminated(male):
    return build_disease(male, "disseminated", seed=4)

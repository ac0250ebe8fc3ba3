"""Fixtures of the pet_anatomy tests; the phantom itself is in pet_anatomy_phantom.py."""

from __future__ import annotations

import pytest

from pet_anatomy_phantom import Phantom, make_phantom  # noqa: F401


@pytest.fixture(scope="session")
def phantom() -> Phantom:
    return make_phantom()


@pytest.fixture(scope="session")
def anatomy(phantom):
    """The phantom's CT anatomy on the PET grid, built once for the session."""
    from theranostix.pet.reference_regions import PetCtAnatomy

    return PetCtAnatomy.build(phantom.pet, phantom.ct)



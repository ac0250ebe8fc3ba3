"""Core model: images with geometry, patient context, provenance and errors."""

from theranostix.core.errors import (
    ComputationError,
    InvalidInputError,
    QuantitationError,
    TheranostixError,
    UnsupportedInputError,
)
from theranostix.core.image import Image
from theranostix.core.patient import Administration, Patient, Study, Timepoint
from theranostix.core.provenance import Provenance

__all__ = [
    "Administration",
    "ComputationError",
    "Image",
    "InvalidInputError",
    "Patient",
    "Provenance",
    "QuantitationError",
    "Study",
    "TheranostixError",
    "Timepoint",
    "UnsupportedInputError",
]

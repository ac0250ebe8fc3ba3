"""Patient, Administration, Timepoint and Study: the clinical context of an image.

Times are timezone-naive ``datetime`` objects in scanner local time (DICOM has no reliable time
zone); durations are explicit floats in hours (``*_h``) or seconds (``*_s``).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from theranostix.core.image import Image

Sex = Literal["M", "F", "O"]


class Patient(BaseModel):
    """A patient as far as quantitation and dosimetry need it.

    Attributes
    ----------
    patient_id
        Identifier as stored in the source (DICOM PatientID). Treated as identifying information:
        never logged; exports meant to be anonymous must drop it.
    sex
        ``"M"``, ``"F"`` or ``"O"`` (other/unknown).
    weight_kg
        Body weight in kg.
    height_m
        Height in metres (DICOM PatientSize is in metres).
    birth_date
        Date of birth, if known.
    """

    model_config = ConfigDict(frozen=True)

    patient_id: str | None = None
    sex: Sex = "O"
    weight_kg: float | None = Field(default=None, gt=0, lt=700)
    height_m: float | None = Field(default=None, gt=0.3, lt=2.8)
    birth_date: date | None = None

    @property
    def height_cm(self) -> float | None:
        """Height in cm, or ``None``."""
        return None if self.height_m is None else self.height_m * 100.0


class Administration(BaseModel):
    """One administration of a radiopharmaceutical.

    Attributes
    ----------
    agent
        Radiopharmaceutical name as recorded (e.g. ``"[68Ga]Ga-PSMA-11"``, ``"Fluorodeoxyglucose"``).
    radionuclide
        Nuclide in ``radioactivedecay`` notation, e.g. ``"F-18"``, ``"Ga-68"``, ``"Lu-177"``.
    activity_mbq
        Administered activity in MBq at ``datetime`` (not corrected for residual).
    datetime
        Injection (start) time, scanner local time.
    half_life_s
        Half-life used for decay correction, in seconds (from the DICOM header when present,
        otherwise ICRP-107).
    half_life_source
        Where ``half_life_s`` came from (e.g. ``"RadionuclideHalfLife (0018,1075)"``).
    """

    model_config = ConfigDict(frozen=True)

    agent: str | None = None
    radionuclide: str
    activity_mbq: float = Field(gt=0)
    datetime: datetime
    half_life_s: float | None = Field(default=None, gt=0)
    half_life_source: str | None = None


class Timepoint(BaseModel):
    """Images acquired together (one PET/CT, one SPECT/CT session).

    Attributes
    ----------
    label
        Human-readable label (``"baseline"``, ``"cycle1-24h"``...).
    acquisition_datetime
        Start of acquisition (scanner local time).
    hours_after_administration
        Time from the administration to the reference time of the images, in hours.
    images
        Images by role (``"pet"``, ``"ct"``, ``"spect"``...).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    label: str
    acquisition_datetime: datetime | None = None
    hours_after_administration: float | None = None
    images: dict[str, Image] = Field(default_factory=dict)

    @field_validator("images")
    @classmethod
    def _roles_lowercase(cls, v: dict[str, Image]) -> dict[str, Image]:
        return {k.lower(): img for k, img in v.items()}


class Study(BaseModel):
    """A patient's study: one administration and the timepoints imaged after it."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    study_uid: str | None = None
    patient: Patient
    administration: Administration | None = None
    timepoints: list[Timepoint] = Field(default_factory=list)

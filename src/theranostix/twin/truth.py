"""Ground-truth types of the digital twins and the public entry points that build them.

This module is the contract between the *body* side of the twins (anatomy, tracers, disease,
therapy, follow-up) and the *scanner* side (PET/CT/SPECT models, DICOM export). It holds only the
data types and thin functions that delegate to :mod:`.anatomy`, :mod:`.tracers`, :mod:`.disease`,
:mod:`.therapy` and :mod:`.followup` (imported lazily, so this module imports quickly).

Geometry follows :mod:`theranostix.core.image`: arrays are indexed ``[k, j, i]`` (z, y, x); positions
are DICOM LPS millimetres (+x patient left, +y posterior, +z head).

Conversion used throughout: activity concentration [Bq/mL] = SUVbw * injected activity [Bq] at
the reference time / (weight_kg * 1000 g/kg), tissue density taken as 1 g/mL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from pydantic import BaseModel, Field

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image

#: Twin structure name -> the organ-mask name a TotalSegmentator-like user mask would carry (what
#: :mod:`theranostix.pet.organ_masks` expects). Used wherever the twin's labels stand in for user
#: organ masks (benchmarks, tests). Structures not listed (muscle, fat, bone, marrow ...) are not
#: organ masks. ``blood_pool`` (the great vessels) is named ``aorta``.
TWIN_TO_ORGAN_MASK: dict[str, str] = {
    "kidney_left_cortex": "kidney_left", "kidney_left_medulla": "kidney_left",
    "kidney_right_cortex": "kidney_right", "kidney_right_medulla": "kidney_right",
    "bladder": "urinary_bladder", "parotid_left": "parotid_gland_left",
    "parotid_right": "parotid_gland_right", "submandibular_left": "submandibular_gland_left",
    "submandibular_right": "submandibular_gland_right", "lacrimal_left": "lacrimal_gland_left",
    "lacrimal_right": "lacrimal_gland_right", "blood_pool": "aorta", "thyroid": "thyroid_gland",
    "adrenal_left": "adrenal_gland_left", "adrenal_right": "adrenal_gland_right",
    "liver": "liver", "spleen": "spleen", "small_bowel": "small_bowel", "colon": "colon",
    "duodenum": "duodenum", "stomach": "stomach", "prostate": "prostate", "lung_left": "lung_left",
    "lung_right": "lung_right", "brain": "brain", "heart": "heart", "pancreas": "pancreas",
}

__all__ = [
    "TWIN_TO_ORGAN_MASK",
    "Anatomy",
    "TrueLesion",
    "Disease",
    "TracerProfile",
    "RegionKinetics",
    "TherapyTruth",
    "build_anatomy",
    "build_disease",
    "tracer_suv_map",
    "load_tracer_profiles",
    "therapy_kinetics",
    "therapy_activity_map",
    "followup_disease",
]


# --------------------------------------------------------------------------- anatomy
@dataclass(eq=False)
class Anatomy:
    """A synthetic adult body from the vertex to the upper thighs.

    Attributes
    ----------
    labels
        ``uint16`` label map on the truth grid (default 2 mm isotropic); 0 = air outside the body.
    names
        Label value -> structure name (``"liver"``, ``"kidney_left_cortex"``, ``"red_marrow"`` ...).
    hu
        ``float32`` true CT numbers (HU) on the same grid.
    sex
        ``"M"`` or ``"F"``.
    height_m, weight_kg
        Stature and body weight of the patient (weight used for SUVbw).
    node_stations
        PROMISE lymph-node station name -> LPS centre (mm), e.g. ``"internal_iliac_left"``.
    seed
        Seed the anatomy was built with.
    organ_scale
        Organ group -> volume scale factor drawn for this patient (1 = ICRP-89 reference).
    bone_parts, bone_part_names
        ``uint8`` map naming the bone each skeletal voxel belongs to (``"spine_L"``, ``"pelvis"``,
        ``"rib"`` ...), 0 elsewhere; used to name the site of bone lesions.
    """

    labels: Image
    names: dict[int, str]
    hu: Image
    sex: str
    height_m: float
    weight_kg: float
    node_stations: dict[str, tuple[float, float, float]]
    seed: int = 0
    organ_scale: dict[str, float] = field(default_factory=dict)
    bone_parts: Image | None = None
    bone_part_names: dict[int, str] = field(default_factory=dict)

    @property
    def ids(self) -> dict[str, int]:
        """Structure name -> label value."""
        return {n: v for v, n in self.names.items()}

    def mask(self, *names: str) -> np.ndarray:
        """Boolean mask (shape of ``labels.array``) of the union of the named structures.

        Raises
        ------
        InvalidInputError
            If a name is not a structure of this anatomy.
        """
        ids = self.ids
        unknown = [n for n in names if n not in ids]
        if unknown:
            raise InvalidInputError(
                f"unknown structure(s) {unknown}",
                where="Anatomy.mask",
                fix=f"use one of {sorted(ids)}",
            )
        return np.isin(self.labels.array, [ids[n] for n in names])

    def volume_ml(self, *names: str) -> float:
        """Voxelised volume (mL) of the union of the named structures."""
        return float(self.mask(*names).sum()) * self.labels.voxel_volume_ml

    def structure_volumes_ml(self) -> dict[str, float]:
        """Voxelised volume (mL) of every structure (one pass over the label map)."""
        counts = np.bincount(self.labels.array.ravel(), minlength=max(self.names) + 1)
        return {n: float(counts[v]) * self.labels.voxel_volume_ml for v, n in self.names.items()}


# --------------------------------------------------------------------------- disease
class TrueLesion(BaseModel):
    """One true lesion of a twin.

    ``volume_ml`` is the sub-voxel (supersampled) volume on the truth grid: the sum over voxels of
    the lesion's fractional occupancy times the voxel volume (so a 2 mm lesion on a 2 mm grid keeps
    its true volume). ``suv`` is the true uptake (SUVbw) of the diagnostic tracer inside the lesion.
    """

    lesion_id: int
    kind: str  # "prostate" | "node" | "bone" | "liver" | "lung"
    station: str | None = None
    centre_mm: tuple[float, float, float]
    diameter_mm: float
    volume_ml: float
    suv: float
    host: str | None = None  # anatomical structure the lesion sits in (e.g. "red_marrow")
    new: bool = False  # True for a lesion that appeared at follow-up


@dataclass(eq=False)
class Disease:
    """All true lesions of a twin.

    Attributes
    ----------
    lesions
        The lesions.
    labels
        ``uint16`` lesion-id map on the anatomy grid (0 = none). A voxel carries the id of the lesion
        occupying at least half of it; every lesion has at least its best-covered voxel.
    fraction
        ``float32`` fractional occupancy (0..1) of lesion tissue per voxel (supersampled partial
        volume), on the same grid. ``tracer_suv_map`` mixes lesion and host uptake with it.
    patches
        lesion_id -> (index slices, float32 occupancy patch) of that lesion alone.
    pattern, seed, tracer
        How the disease was made (``tracer``: the diagnostic tracer whose uptake ``suv`` holds).
    """

    lesions: list[TrueLesion]
    labels: Image
    fraction: Image | None = None
    patches: dict[int, tuple[tuple[slice, slice, slice], np.ndarray]] = field(default_factory=dict)
    pattern: str = "explicit"
    seed: int = 0
    tracer: str | None = None

    def __post_init__(self) -> None:
        # A Disease made by hand (lesions + labels only) gets its occupancy patches and fraction
        # map computed from the lesion spheres, exactly as build_disease does.
        missing = [les for les in self.lesions if les.lesion_id not in self.patches]
        if missing:
            from theranostix.twin.disease import sphere_occupancy

            for les in missing:
                sl, patch = sphere_occupancy(self.labels, les.centre_mm, les.diameter_mm)
                if sl is None:
                    raise InvalidInputError(f"lesion {les.lesion_id} lies outside the grid",
                                            where="Disease.lesions")
                self.patches[les.lesion_id] = (sl, patch)
        if self.fraction is None and self.lesions:
            frac = np.zeros(self.labels.shape, dtype=np.float32)
            for sl, patch in self.patches.values():
                frac[sl] = np.minimum(frac[sl] + patch, 1.0)
            self.fraction = self.labels.with_array(frac, units="1", twin="lesion_fraction")

    def lesion(self, lesion_id: int) -> TrueLesion:
        """The lesion with this id."""
        for les in self.lesions:
            if les.lesion_id == lesion_id:
                return les
        raise InvalidInputError(f"no lesion with id {lesion_id}", where="Disease.lesion")

    @property
    def total_volume_ml(self) -> float:
        """Sum of the true lesion volumes (mL)."""
        return float(sum(les.volume_ml for les in self.lesions))


# --------------------------------------------------------------------------- tracers
class TracerProfile(BaseModel):
    """Population biodistribution of a diagnostic tracer (one entry of ``data/tracers.yaml``).

    ``organs`` and ``lesion_suv`` hold (mean, between-patient SD) of the true SUVmean (SUVbw);
    ``sources`` maps each row (``"organ:liver"``, ``"lesion:node"``, ``"uptake_time"``) to its citation.
    """

    key: str
    name: str
    radionuclide: str
    uptake_time_min: float
    target: str = ""
    organs: dict[str, tuple[float, float]]
    lesion_suv: dict[str, tuple[float, float]]
    sources: dict[str, str] = Field(default_factory=dict)
    notes: str = ""


# --------------------------------------------------------------------------- therapy
class RegionKinetics(BaseModel):
    """True time-activity curve of one region after a therapeutic administration.

    A(t) [MBq] = administered_mbq * sum_i fractions[i] * exp(-rates_per_h[i] * t), t in h after
    injection. The rates are *effective* (biological + physical decay of Lu-177), so A(t) is the
    activity actually present; an uptake phase is a negative-fraction term with a fast rate, so
    A(0) = 0 for regions with an uptake phase. ``tia_mbq_h`` = administered_mbq * sum_i a_i/lambda_i
    (exact integral from 0 to infinity).
    """

    region: str
    volume_ml: float
    fractions: list[float]
    rates_per_h: list[float]
    tia_mbq_h: float
    effective_half_life_h: float | None = None
    uptake_half_life_h: float | None = None

    def activity_mbq(self, time_h: float | np.ndarray, administered_mbq: float) -> np.ndarray | float:
        """Activity (MBq) in the region at ``time_h`` hours after injection."""
        t = np.asarray(time_h, dtype=float)
        a = np.asarray(self.fractions)[:, None]
        lam = np.asarray(self.rates_per_h)[:, None]
        out = administered_mbq * (a * np.exp(-lam * t.reshape(1, -1))).sum(axis=0)
        return float(out[0]) if t.ndim == 0 else out.reshape(t.shape)


class TherapyTruth(BaseModel):
    """True kinetics of a Lu-177 therapy: per-organ and per-lesion (``"lesion_<id>"``) regions."""

    agent: str
    radionuclide: str = "Lu-177"
    administered_mbq: float
    regions: dict[str, RegionKinetics]
    seed: int = 0
    sources: dict[str, str] = Field(default_factory=dict)


# --------------------------------------------------------------------------- entry points
def build_anatomy(sex: str = "M", seed: int = 0, spacing_mm: float = 2.0) -> Anatomy:
    """Build a seeded adult anatomy (see :func:`theranostix.twin.anatomy.build_anatomy`)."""
    from theranostix.twin.anatomy import build_anatomy as _build

    return _build(sex=sex, seed=seed, spacing_mm=spacing_mm)


def build_disease(
    anatomy: Anatomy,
    pattern: str = "nodal",
    seed: int = 0,
    lesions: list[dict] | None = None,
    tracer: str = "psma-ga68",
) -> Disease:
    """Place true lesions (patterns: localized, nodal, oligometastatic, disseminated, or a list)."""
    from theranostix.twin.disease import build_disease as _build

    return _build(anatomy, pattern=pattern, seed=seed, lesions=lesions, tracer=tracer)


def load_tracer_profiles() -> dict[str, TracerProfile]:
    """All tracer profiles of ``data/tracers.yaml`` keyed by tracer key."""
    from theranostix.twin.tracers import load_tracer_profiles as _load

    return _load()


def tracer_suv_map(
    anatomy: Anatomy, disease: Disease, tracer: str, seed: int = 0
) -> tuple[Image, dict[str, float]]:
    """True SUVbw map (float32, units ``"SUVbw"``) and the per-structure SUVmean used."""
    from theranostix.twin.tracers import tracer_suv_map as _map

    return _map(anatomy, disease, tracer, seed=seed)


def therapy_kinetics(
    anatomy: Anatomy,
    disease: Disease,
    diag_organ_suv: dict[str, float],
    agent: str = "lu177-psma617",
    seed: int = 0,
    administered_mbq: float = 7400.0,
) -> TherapyTruth:
    """True per-region Lu-177 kinetics correlated with the diagnostic uptake."""
    from theranostix.twin.therapy import therapy_kinetics as _kin

    return _kin(anatomy, disease, diag_organ_suv, agent=agent, seed=seed,
                administered_mbq=administered_mbq)


def therapy_activity_map(
    anatomy: Anatomy, disease: Disease, truth: TherapyTruth, time_h: float
) -> Image:
    """True activity concentration (Bq/mL) at ``time_h`` h after injection (decay included)."""
    from theranostix.twin.therapy import therapy_activity_map as _map

    return _map(anatomy, disease, truth, time_h)


def followup_disease(
    anatomy: Anatomy, disease: Disease, cycles: int, seed: int = 0, response: str = "auto"
) -> tuple[Disease, dict]:
    """The same patient's disease after ``cycles`` therapy cycles, plus the true response info."""
    from theranostix.twin.followup import followup_disease as _fu

    return _fu(anatomy, disease, cycles, seed=seed, response=response)

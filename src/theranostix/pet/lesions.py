"""Lesion result models (one row per lesion, whole-body burden) and anatomical-site assignment.

The models are plain pydantic objects (JSON-serialisable). Arrays (label maps) travel next to
them in :class:`theranostix.pet.segmentation.LesionSegmentation`, never inside the JSON.

Site assignment is pluggable: any callable ``(lesion_mask, image) -> str`` can be passed to the
segmentation and metric functions. Two ready-made rules are provided here:

* :func:`site_from_label_map` -- majority organ/station label under the lesion (an ``Image`` of
  integer labels on the PET grid, plus a ``{label: name}`` dictionary);
* :func:`site_from_nearest_station` -- the nearest named station centre (LPS mm) within a
  maximum distance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field, field_validator

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance

#: Site name used when no rule could assign one.
UNASSIGNED = "unassigned"

#: Signature of a site-assignment rule: boolean lesion mask (PET grid, [k, j, i]) and the PET image.
SiteAssigner = Callable[[np.ndarray, Image], str]


class RegionStats(BaseModel):
    """Statistics of an image inside a mask (e.g. a reference region).

    Attributes
    ----------
    mean, sd, max, min, median
        Voxel statistics in the image units (``sd`` is the sample SD, ddof=1; 0 for one voxel).
    n_voxels
        Number of voxels in the mask.
    volume_ml
        ``n_voxels`` x voxel volume, mL.
    units
        Units of the image (e.g. ``"SUVbw"``).
    """

    mean: float
    sd: float
    max: float
    min: float
    median: float
    n_voxels: int
    volume_ml: float
    units: str


class LesionMetrics(BaseModel):
    """Measurements of one lesion (definitions in ``docs/pet-lesions.md``, CRITERIA.md §2).

    Attributes
    ----------
    lesion_id
        Label value of the lesion in the label map (1..N).
    site
        Anatomical site (organ, node station, ``"bone"``, ...) or ``"unassigned"``.
    centroid_lps_mm
        Geometric centroid of the voxel centres, DICOM patient coordinates (LPS), mm.
    max_voxel_lps_mm
        Position of the hottest voxel (LPS, mm).
    suv_max, suv_mean
        Max and mean SUV in the lesion mask.
    suv_peak_local
        IBSI local intensity peak: mean SUV in the 1 cm^3 sphere centred on the max voxel.
    suv_peak_global
        PERCIST/QIBA peak: max over sphere centres inside the lesion of the sphere mean SUV.
    n_voxels, volume_ml
        Voxel count and volume (= metabolic tumour volume of the lesion), mL.
    total_lesion_activity
        SUVmean x volume ("TLA", "TLG", "TL-PSMA" of the lesion), SUV.mL.
    longest_diameter_mm
        Longest 3-D extent (max distance between voxel centres + voxel extent along that line).
    long_axis_axial_mm, short_axis_mm
        RECIST-like axial long axis and short axis (perpendicular, same axial slice).
    detection_score
        Contrast-to-noise score of the small-lesion detector, when the lesion came from it.
    method
        Which rule produced the lesion (``"threshold"``, ``"detector"``, ...).
    units
        SUV kind of the image (``"SUVbw"``, ``"SUVlbm"`` ...).
    """

    lesion_id: int
    site: str = UNASSIGNED
    centroid_lps_mm: tuple[float, float, float]
    max_voxel_lps_mm: tuple[float, float, float]
    suv_max: float
    suv_mean: float
    suv_peak_local: float
    suv_peak_global: float
    n_voxels: int
    volume_ml: float
    total_lesion_activity: float
    longest_diameter_mm: float
    long_axis_axial_mm: float
    short_axis_mm: float
    detection_score: float | None = None
    method: str = "threshold"
    units: str = "SUVbw"


class WholeBodyBurden(BaseModel):
    """Whole-body tumour burden (CRITERIA.md §2).

    Attributes
    ----------
    n_lesions
        Number of lesions.
    total_volume_ml
        PSMA-TV / MTV / TTV: sum of lesion volumes, mL.
    total_lesion_activity
        TL-PSMA / TLG: sum over lesions of SUVmean_i x V_i, SUV.mL.
    suv_mean_whole_body
        ``total_lesion_activity / total_volume_ml`` (NaN with no lesion).
    suv_max_hottest, suv_peak_hottest
        Highest lesion SUVmax and highest global SUVpeak (NaN with no lesion).
    counts_by_site
        Number of lesions per site name.
    volume_ml_by_site
        Volume per site, mL.
    """

    n_lesions: int
    total_volume_ml: float
    total_lesion_activity: float
    suv_mean_whole_body: float
    suv_max_hottest: float
    suv_peak_hottest: float
    counts_by_site: dict[str, int]
    volume_ml_by_site: dict[str, float]

    @field_validator("suv_mean_whole_body", "suv_max_hottest", "suv_peak_hottest", mode="before")
    @classmethod
    def _null_is_nan(cls, v: Any) -> Any:
        """JSON has no NaN: a scan without lesions is written with ``null`` and read back as NaN."""
        return float("nan") if v is None else v


class LesionTable(BaseModel):
    """All lesions of one image with the whole-body burden and provenance."""

    lesions: list[LesionMetrics]
    burden: WholeBodyBurden
    provenance: Provenance = Field(default_factory=Provenance)


# ---------------------------------------------------------------------------- site assignment
def site_from_label_map(
    labels: Image,
    names: Mapping[int, str],
    *,
    ignore_background: bool = True,
    background_name: str = UNASSIGNED,
) -> SiteAssigner:
    """Build a site rule: the majority label of ``labels`` under the lesion.

    Parameters
    ----------
    labels
        Integer label map on the PET grid (same shape; geometry checked when the rule runs).
    names
        ``{label value: site name}``; label 0 is background.
    ignore_background
        When True (default) background voxels (label 0) do not vote unless the lesion lies
        entirely on background, in which case ``background_name`` is returned.
    background_name
        Name returned for background.

    Returns
    -------
    SiteAssigner
        Callable ``(lesion_mask, image) -> site name``. Ties are broken by the lower label value.

    Raises
    ------
    InvalidInputError
        When the label map is not on the PET grid (raised when the rule is called), or when a label
        under a lesion has no name.
    """
    arr = np.asarray(labels.array)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.allclose(arr, np.round(arr)):
            raise InvalidInputError(
                "the site label map must hold integer labels", where="site_from_label_map(labels)"
            )
        arr = np.round(arr).astype(np.int64)

    def assign(mask: np.ndarray, image: Image) -> str:
        if not labels.same_grid(image):
            raise InvalidInputError(
                f"site label map grid {labels.shape} / spacing {labels.spacing} / origin "
                f"{labels.origin} differs from the PET grid {image.shape} / {image.spacing} / "
                f"{image.origin}",
                where="site_from_label_map(labels)",
                fix="resample the label map onto the PET grid (theranostix.core.resample).",
            )
        values = arr[np.asarray(mask, dtype=bool)]
        if values.size == 0:
            return background_name
        if ignore_background:
            values = values[values != 0]
            if values.size == 0:
                return background_name
        uniq, counts = np.unique(values, return_counts=True)
        best = int(uniq[np.argmax(counts)])  # np.argmax returns the first (lowest label) on ties
        if best == 0:
            return background_name
        if best not in names:
            raise InvalidInputError(
                f"label {best} under a lesion has no name", where="site_from_label_map(names)",
                fix="give a name for every label value of the map.",
            )
        return str(names[best])

    return assign


def site_from_nearest_station(
    station_centres_lps_mm: Mapping[str, Sequence[float]],
    *,
    max_distance_mm: float = 30.0,
    fallback: SiteAssigner | None = None,
) -> SiteAssigner:
    """Build a site rule: the nearest named station centre to the lesion centroid.

    Parameters
    ----------
    station_centres_lps_mm
        ``{station name: (x, y, z)}`` in LPS mm (e.g. from the anatomy module).
    max_distance_mm
        Stations farther than this from the lesion centroid are not assigned (mm).
    fallback
        Rule used when no station is close enough (default: ``"unassigned"``).

    Returns
    -------
    SiteAssigner
    """
    if not station_centres_lps_mm:
        raise InvalidInputError("no station centres given", where="site_from_nearest_station")
    names = list(station_centres_lps_mm)
    centres = np.asarray([station_centres_lps_mm[n] for n in names], dtype=float)
    if centres.shape != (len(names), 3) or not np.all(np.isfinite(centres)):
        raise InvalidInputError(
            "station centres must be finite (x, y, z) triples in mm",
            where="site_from_nearest_station",
        )
    if not max_distance_mm > 0:
        raise InvalidInputError("max_distance_mm must be > 0", where="site_from_nearest_station")

    def assign(mask: np.ndarray, image: Image) -> str:
        idx = np.argwhere(np.asarray(mask, dtype=bool))
        if idx.size == 0:
            return UNASSIGNED
        centroid = image.index_to_world(idx[:, ::-1].mean(axis=0))
        d = np.linalg.norm(centres - centroid[None, :], axis=1)
        best = int(np.argmin(d))
        if d[best] <= max_distance_mm:
            return names[best]
        return fallback(mask, image) if fallback is not None else UNASSIGNED

    return assign


def chain_site_rules(*rules: SiteAssigner) -> SiteAssigner:
    """Try each rule in turn; the first answer that is not ``"unassigned"`` wins."""

    def assign(mask: np.ndarray, image: Image) -> str:
        for rule in rules:
            site = rule(mask, image)
            if site != UNASSIGNED:
                return site
        return UNASSIGNED

    return assign

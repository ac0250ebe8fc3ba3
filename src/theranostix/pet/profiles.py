"""Tracer-generic segmentation/detection profiles (``pet/data/detection_profiles.yaml``).

A profile names the threshold rule (fixed SUV, liver-based, percent of SUVmax), an optional
separate rule inside the bone mask (qPSMA), the small-lesion detector settings and the minimum
lesion volume. Users may load the shipped profiles by name or build their own (``dict`` / YAML
text) -- every number is a visible, overridable parameter.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from theranostix.core.errors import InvalidInputError

ThresholdKind = Literal[
    "fixed_suv", "percist_liver", "qpsma_liver", "liver_mean_sd", "percent_of_max", "none"
]


class ThresholdRule(BaseModel):
    """One segmentation threshold rule.

    Attributes
    ----------
    kind
        ``fixed_suv``: SUV >= ``suv``.
        ``percist_liver``: SUV >= ``liver_factor`` x liver mean + ``n_sd`` x liver SD (PERCIST 1.0,
        Wahl 2009: 1.5 and 2).
        ``qpsma_liver``: SUV >= (``qpsma_scale`` / liver mean) x (liver mean + liver SD)
        (qPSMA, Gafita 2019; 4.30 [M, verify]).
        ``liver_mean_sd``: SUV >= liver mean + ``n_sd`` x liver SD (Hirata 2014: 3).
        ``percent_of_max``: region grown from every component with SUV >= ``seed_suv`` at
        ``fraction`` x its local SUVmax (above ``background_suv``), within ``max_radius_mm``.
        ``none``: no threshold segmentation (detector only).
    """

    model_config = ConfigDict(extra="forbid")

    kind: ThresholdKind
    suv: float | None = Field(default=None, gt=0)
    liver_factor: float = Field(default=1.5, gt=0)
    n_sd: float = Field(default=2.0, ge=0)
    qpsma_scale: float = Field(default=4.30, gt=0)
    fraction: float = Field(default=0.41, gt=0, lt=1)
    seed_suv: float | None = Field(default=None, gt=0)
    background_suv: float = Field(default=0.0, ge=0)
    max_radius_mm: float = Field(default=60.0, gt=0)

    @model_validator(mode="after")
    def _needs(self) -> "ThresholdRule":
        if self.kind == "fixed_suv" and self.suv is None:
            raise ValueError("a fixed_suv rule needs 'suv'")
        if self.kind == "percent_of_max" and self.seed_suv is None:
            raise ValueError("a percent_of_max rule needs 'seed_suv' (seed threshold)")
        return self

    @property
    def needs_liver(self) -> bool:
        """True when the rule needs liver reference statistics."""
        return self.kind in ("percist_liver", "qpsma_liver", "liver_mean_sd")


class DetectorParams(BaseModel):
    """Settings of the small-lesion detector (:mod:`theranostix.pet.detection`).

    Attributes
    ----------
    enabled
        Run the detector.
    psf_fwhm_mm
        Effective reconstructed resolution FWHM (mm); 5 mm ~ EARL2-like (SIMULATION.md §6.2).
    lesion_diameters_mm
        True lesion diameters the matched filters are tuned to (one filter scale each).
    cnr_threshold
        Acceptance threshold on the matched-filter contrast-to-noise ratio (Rose k = 5).
    shell_inner_mm, shell_width_mm
        Local background shell: inner radius (None: 3 x sqrt(2) x the largest filter sigma),
        and radial width (mm).
    min_shell_voxels
        Minimum usable (non-excluded, in-image) voxels in the shell; fewer skips the candidate.
    min_noise_sd_suv
        Floor of the local noise SD (SUV), to avoid infinite CNR in noiseless regions.
    min_contrast_suv
        Minimum matched-filter contrast (SUV) above the local background.
    segmentation_fraction
        A detection is segmented at background + fraction x (peak - background).
    prefilter_factor
        Candidates whose fast (box-shell, non-robust) CNR is below factor x threshold are dropped
        before the robust evaluation.
    max_candidates
        At most this many candidates are evaluated robustly (highest fast CNR first).
    border_voxels
        Candidates within this many voxels of the image border are ignored (end slices are
        noisier than their truncated background shell, and filtering there is one-sided).
    detrend_background
        Remove a least-squares linear trend (plane in x, y, z) from the shell values before the
        median/MAD, so that smooth background gradients (organ edges) do not inflate the noise.
    max_segment_ml
        Detections whose adaptive segmentation is larger than this (mL) are rejected as extended
        structures (e.g. vertebral marrow), not small lesions; None keeps them. 1 mL exceeds the
        half-maximum region of a 10-mm sphere at 5 mm FWHM (~0.7 mL). Larger lesions are the
        threshold rule's job.
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    psf_fwhm_mm: float = Field(default=5.0, gt=0)
    lesion_diameters_mm: list[float] = Field(default_factory=lambda: [2.0, 8.0])
    cnr_threshold: float = Field(default=5.0, gt=0)
    shell_inner_mm: float | None = Field(default=None, gt=0)
    shell_width_mm: float = Field(default=20.0, gt=0)
    min_shell_voxels: int = Field(default=30, ge=5)
    min_noise_sd_suv: float = Field(default=0.01, gt=0)
    min_contrast_suv: float = Field(default=0.0, ge=0)
    segmentation_fraction: float = Field(default=0.5, gt=0, lt=1)
    prefilter_factor: float = Field(default=0.6, gt=0, le=1)
    max_candidates: int = Field(default=5000, ge=1)
    border_voxels: int = Field(default=1, ge=0)
    max_segment_ml: float | None = Field(default=1.0, gt=0)
    detrend_background: bool = False

    @model_validator(mode="after")
    def _diameters(self) -> "DetectorParams":
        if not self.lesion_diameters_mm or any(d < 0 for d in self.lesion_diameters_mm):
            raise ValueError("lesion_diameters_mm needs at least one diameter >= 0")
        return self


class AdaptiveRefinement(BaseModel):
    """Re-segmentation of each threshold lesion at a fraction of its contrast over local background.

    Each 18-connected component of the threshold mask is replaced by the 18-connected region of
    ``SUV >= b + fraction x (peak - b)`` holding its hottest voxel, where b is the median SUV in
    a shell ``shell_inner_mm`` .. ``shell_inner_mm + shell_width_mm`` around the component
    (contrast-oriented adaptive threshold, e.g. Erdi et al., Cancer 1997;80:2505; 50 % of the
    background-corrected peak). Growth is limited to the shell's outer bound.

    ``calibration = "sphere"`` replaces the fixed ``fraction`` by the sphere-calibrated,
    volume-dependent fraction of :func:`theranostix.pet.segmentation.sphere_edge_fraction`
    (the background-corrected value at the true edge of a uniform sphere seen through a Gaussian
    PSF of ``psf_fwhm_mm`` plus the voxel's box blur, relative to its blurred centre value), iterated
    from the current region's volume-equivalent diameter (Jentzen et al., J Nucl Med 2007;48:108:
    iterative, volume-dependent threshold calibrated on phantom spheres; ``fraction`` is the
    starting value, at most ``max_iterations`` updates). The calibrated contour may extend at
    most one voxel (18-neighbourhood) beyond the starting ``fraction`` contour, so that a lower
    fraction cannot merge a lesion with a neighbour or an organ's PSF flank.

    ``secondary_peaks``: a threshold component may hold several lesions (two bone lesions merged
    at SUV 3); the hottest is re-contoured first, then every further local maximum (over a
    ``peak_window_voxels`` cube) of the component that no region covers yet is re-contoured at its
    own b + fraction x (peak_i - b), so that a cooler neighbour is not lost (up to ``max_peaks``).
    """

    model_config = ConfigDict(extra="forbid")

    fraction: float = Field(default=0.5, gt=0, lt=1)
    calibration: Literal["fixed", "sphere", "sphere_consistent"] = "fixed"
    psf_fwhm_mm: float = Field(default=5.0, gt=0)
    max_iterations: int = Field(default=6, ge=1)
    subvoxel_peak: bool = False
    secondary_peaks: bool = True
    peak_window_voxels: int = Field(default=5, ge=3)
    max_peaks: int = Field(default=10, ge=1)
    shell_inner_mm: float = Field(default=10.0, gt=0)
    shell_width_mm: float = Field(default=10.0, gt=0)


class DetectionProfile(BaseModel):
    """A named, tracer-generic segmentation/detection recipe."""

    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    tracers: list[str] = Field(default_factory=list)
    threshold: ThresholdRule
    bone_threshold: ThresholdRule | None = None
    refinement: AdaptiveRefinement | None = None
    detector: DetectorParams = Field(default_factory=lambda: DetectorParams(enabled=False))
    min_volume_ml: float = Field(default=0.0, ge=0)
    #: Background of a bone lesion (its contour's host level and its noise significance):
    #: ``"bone"`` every voxel of the CT bone mask; ``"marrow"`` only bone voxels below
    #: ``anatomy.MARROW_MAX_HU`` (cancellous bone and red marrow), not the cortex, whose near-zero
    #: uptake pulls the background below the marrow a lesion stands out of.
    bone_background: Literal["bone", "marrow"] = "bone"
    citations: list[str] = Field(default_factory=list)


def profile_from_dict(name: str, data: dict[str, Any]) -> DetectionProfile:
    """Validate a profile given as a dict (e.g. parsed from a user's YAML file).

    Raises
    ------
    InvalidInputError
        With pydantic's explanation of every invalid field.
    """
    try:
        return DetectionProfile(name=name, **data)
    except (ValidationError, TypeError) as exc:
        raise InvalidInputError(
            f"invalid detection profile {name!r}: {exc}", where=f"profile {name}",
            fix="see theranostix/pet/data/detection_profiles.yaml for the schema.",
        ) from None


@lru_cache(maxsize=1)
def _shipped() -> dict[str, DetectionProfile]:
    text = resources.files("theranostix.pet").joinpath("data/detection_profiles.yaml").read_text()
    raw = yaml.safe_load(text)
    return {name: profile_from_dict(name, body) for name, body in raw["profiles"].items()}


def available_profiles() -> list[str]:
    """Names of the shipped profiles."""
    return sorted(_shipped())


def load_profile(name: str) -> DetectionProfile:
    """A shipped profile by name (a deep copy, safe to modify).

    Raises
    ------
    InvalidInputError
        Unknown name (the message lists the available ones).
    """
    profiles = _shipped()
    if name not in profiles:
        raise InvalidInputError(
            f"unknown detection profile {name!r}", where="load_profile",
            fix=f"use one of {sorted(profiles)} or build a DetectionProfile.",
        )
    return profiles[name].model_copy(deep=True)

"""Organ masks on the PET grid from pluggable sources, and physiological uptake per tracer.

A source implements :class:`OrganMaskSource`: ``masks(target, provenance) -> dict[str, bool array]``
on the grid of ``target`` (normally the PET). Two sources ship:

* :class:`UserOrganMasks` — label maps the user supplies (read by :mod:`theranostix.io.masks`:
  NIfTI label maps or folders, e.g. TotalSegmentator output, DICOM SEG, RTSTRUCT), names mapped to
  ours (:func:`canonical_organ_name`), checked (frame of reference, grid, field of view) and
  resampled with nearest neighbour (:func:`theranostix.core.resample.resample_to`);
* :class:`CtPetOrganEstimate` — the project's own estimate from CT + PET without a trained model:
  liver and spleen from CT anatomy refined by PET (as in :mod:`.reference_regions`; the spleen
  with the kidneys removed first), kidneys, urinary bladder (hot seed grown over fluid-density
  CT), salivary and lacrimal glands as high-uptake blobs in their known anatomical positions, the
  heart (mediastinal soft tissue inside the rib cage), the thyroid (iodine-dense anterior neck),
  and bowel (extended, not focal, uptake; faecal/gas density for the colon). Every rule is named
  and documented in ``docs/pet-anatomy.md`` section 3(b), with its limits.

Organ names are TotalSegmentator's (``liver``, ``spleen``, ``kidney_left``, ``urinary_bladder``,
``parotid_gland_left`` ...) plus ``lung_left``/``lung_right`` (lobes merged), ``bone`` (every
bone merged) and ``lacrimal_gland_left``/``_right``.
"""

from __future__ import annotations

import re
from typing import Protocol, Sequence, runtime_checkable

import numpy as np
from scipy import ndimage as ndi

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.core.resample import resample_to
from theranostix.pet.anatomy import convex_hull_per_slice, fill_holes_per_slice, largest_component
from theranostix.pet.reference_regions import (
    SOFT_TISSUE_WALL_MARGIN_MM,
    SPLEEN_HU_RANGE,
    PetCtAnatomy,
    _lung_slices,
    axis_coordinates,
    check_same_frame,
    head_blobs,
    liver_reference,
    spleen_reference,
    body_midline_x,
)

# ----------------------------------------------------------------------------- names
#: Our organ names (TotalSegmentator's where it has one).
CANONICAL_ORGANS: tuple[str, ...] = (
    "liver", "spleen", "kidney_left", "kidney_right", "urinary_bladder", "parotid_gland_left",
    "parotid_gland_right", "submandibular_gland_left", "submandibular_gland_right",
    "lacrimal_gland_left", "lacrimal_gland_right", "small_bowel", "duodenum", "colon", "stomach",
    "gallbladder", "pancreas", "aorta", "heart", "lung_left", "lung_right", "brain", "prostate",
    "adrenal_gland_left", "adrenal_gland_right", "thyroid_gland", "esophagus", "bone",
)

#: Other spellings -> ours: TotalSegmentator v1/v2 variants and AAPM TG-263 (Mayo et al. 2018).
ORGAN_ALIASES: dict[str, str] = {
    "kidney_l": "kidney_left", "kidney_r": "kidney_right", "bladder": "urinary_bladder",
    "parotid_l": "parotid_gland_left", "parotid_r": "parotid_gland_right",
    "parotid_left": "parotid_gland_left", "parotid_right": "parotid_gland_right",
    "glnd_submand_l": "submandibular_gland_left", "glnd_submand_r": "submandibular_gland_right",
    "submandibular_left": "submandibular_gland_left", "submandibular_right": "submandibular_gland_right",
    "glnd_lacrimal_l": "lacrimal_gland_left", "glnd_lacrimal_r": "lacrimal_gland_right",
    "lacrimal_left": "lacrimal_gland_left", "lacrimal_right": "lacrimal_gland_right",
    "bowel_small": "small_bowel", "bowel_large": "colon", "large_bowel": "colon",
    "lung_l": "lung_left", "lung_r": "lung_right", "a_aorta": "aorta", "aorta_thoracic": "aorta",
    "lung_upper_lobe_left": "lung_left", "lung_lower_lobe_left": "lung_left",
    "lung_upper_lobe_right": "lung_right", "lung_middle_lobe_right": "lung_right",
    "lung_lower_lobe_right": "lung_right", "glnd_thyroid": "thyroid_gland", "thyroid": "thyroid_gland",
    "adrenal_l": "adrenal_gland_left", "adrenal_r": "adrenal_gland_right", "gallbladder": "gallbladder",
    # kidney sub-structures (e.g. the digital twins' cortex/medulla labels) merge into the kidney
    "kidney_left_cortex": "kidney_left", "kidney_left_medulla": "kidney_left",
    "kidney_right_cortex": "kidney_right", "kidney_right_medulla": "kidney_right",
    "adrenal_left": "adrenal_gland_left", "adrenal_right": "adrenal_gland_right",
}
_BONE_RE = re.compile(
    r"^(vertebra[el]?_.*|rib_(left|right)_\d+|sacrum|hip_(left|right)|femur_(left|right)|"
    r"humerus_(left|right)|scapula_(left|right)|clavicula_(left|right)|sternum|skull|"
    r"costal_cartilages|bone.*|bones|skeleton)$")

#: Groups of organs used by detection and dosimetry.
ORGAN_GROUPS: dict[str, tuple[str, ...]] = {
    "kidneys": ("kidney_left", "kidney_right"),
    "parotid_glands": ("parotid_gland_left", "parotid_gland_right"),
    "submandibular_glands": ("submandibular_gland_left", "submandibular_gland_right"),
    "salivary_glands": ("parotid_gland_left", "parotid_gland_right", "submandibular_gland_left",
                        "submandibular_gland_right"),
    "lacrimal_glands": ("lacrimal_gland_left", "lacrimal_gland_right"),
    "bowel": ("small_bowel", "duodenum", "colon"),
}


def canonical_organ_name(name: str) -> str | None:
    """Our name for a structure name (case/space-insensitive), or ``None`` when unknown."""
    n = re.sub(r"[\s\-]+", "_", name.strip().lower())
    n = re.sub(r"\.nii(\.gz)?$", "", n)
    if n in CANONICAL_ORGANS:
        return n
    if n in ORGAN_ALIASES:
        return ORGAN_ALIASES[n]
    if _BONE_RE.match(n):
        return "bone"
    return None


# ----------------------------------------------------------------------------- tracers
#: Organs with physiological uptake per tracer family: excluded from lesion detection.
#: PSMA: Fendler et al., EJNMMI 2023;50:1466 (PSMA PET/CT joint EANM/SNMMI guideline 2.0) —
#: salivary and lacrimal glands, kidneys, urinary tract, liver, spleen, small bowel.
#: [18F]PSMA-1007 is mainly hepatobiliary (less urine, more liver/gallbladder/bowel; Giesel et al.
#: EJNMMI 2017;44:678). SSTR: Bozkurt et al., EJNMMI 2017;44:1588 (spleen, kidneys, liver,
#: adrenals, pituitary, urinary tract, uncinate process). FDG: Boellaard et al., EJNMMI
#: 2015;42:328 (brain, heart, urinary tract, variable bowel).  [M] defaults: override per call.
PHYSIOLOGICAL_UPTAKE: dict[str, tuple[str, ...]] = {
    "psma": ("parotid_gland_left", "parotid_gland_right", "submandibular_gland_left",
             "submandibular_gland_right", "lacrimal_gland_left", "lacrimal_gland_right",
             "kidney_left", "kidney_right", "urinary_bladder", "liver", "spleen",
             "small_bowel", "duodenum", "colon"),
    "psma_hepatobiliary": ("parotid_gland_left", "parotid_gland_right",
                           "submandibular_gland_left", "submandibular_gland_right",
                           "lacrimal_gland_left", "lacrimal_gland_right", "kidney_left",
                           "kidney_right", "urinary_bladder", "liver", "gallbladder", "spleen",
                           "small_bowel", "duodenum", "colon"),
    "sstr": ("spleen", "kidney_left", "kidney_right", "urinary_bladder", "liver",
             "adrenal_gland_left", "adrenal_gland_right", "thyroid_gland", "small_bowel",
             "duodenum"),
    "fdg": ("brain", "heart", "kidney_left", "kidney_right", "urinary_bladder", "small_bowel",
            "colon"),
}

#: Tracer names (agent part, case-insensitive) -> family in :data:`PHYSIOLOGICAL_UPTAKE`.
TRACER_FAMILY: dict[str, str] = {
    "psma-11": "psma", "psma11": "psma", "psma-617": "psma", "psma-i&t": "psma", "dcfpyl": "psma",
    "piflufolastat": "psma", "rhpsma-7.3": "psma", "flotufolastat": "psma", "psma": "psma",
    "psma-1007": "psma_hepatobiliary", "dotatate": "sstr", "dotatoc": "sstr", "dotanoc": "sstr",
    "sstr": "sstr", "fdg": "fdg",
}


def tracer_family(tracer: str) -> str:
    """Family key of a tracer name such as ``"[68Ga]Ga-PSMA-11"``, ``"PSMA-1007"``, ``"FDG"``.

    Raises
    ------
    InvalidInputError
        For a tracer not in :data:`TRACER_FAMILY`.
    """
    t = tracer.strip().lower()
    t = re.sub(r"^\[[^\]]*\]\s*", "", t)  # drop "[68Ga]"
    t = re.sub(r"^(ga|f|cu|lu|y|in|tc)-?\s*(?=[a-z])", "", t) if t not in TRACER_FAMILY else t
    if t in PHYSIOLOGICAL_UPTAKE:
        return t
    for key in sorted(TRACER_FAMILY, key=len, reverse=True):
        if key in t:
            return TRACER_FAMILY[key]
    raise InvalidInputError(
        f"unknown tracer {tracer!r}", where="tracer",
        fix=f"use one of {sorted(TRACER_FAMILY)} or a family {sorted(PHYSIOLOGICAL_UPTAKE)}")


def physiological_organs(tracer: str) -> tuple[str, ...]:
    """Organs with physiological uptake for a tracer (see :data:`PHYSIOLOGICAL_UPTAKE`)."""
    return PHYSIOLOGICAL_UPTAKE[tracer_family(tracer)]


def physiological_uptake_mask(masks: dict[str, np.ndarray], tracer: str,
                              provenance: Provenance | None = None) -> np.ndarray | None:
    """Union of the tracer's physiological-uptake organs present in ``masks``.

    Organs of the tracer's list missing from ``masks`` are recorded as a warning in
    ``provenance``. Returns ``None`` when no organ of the list is present.
    """
    organs = physiological_organs(tracer)
    present = [o for o in organs if o in masks]
    missing = [o for o in organs if o not in masks]
    if missing and provenance is not None:
        provenance.warn(f"physiological-uptake organs without a mask (not excluded): "
                        f"{', '.join(missing)}")
    if not present:
        return None
    out = np.zeros_like(masks[present[0]], dtype=bool)
    for o in present:
        out |= masks[o]
    return out


def with_groups(masks: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Add the :data:`ORGAN_GROUPS` unions (``kidneys``, ``bowel``, ...) that have any member."""
    out = dict(masks)
    for group, members in ORGAN_GROUPS.items():
        have = [masks[m] for m in members if m in masks]
        if have and group not in out:
            g = np.zeros_like(have[0], dtype=bool)
            for h in have:
                g |= h
            out[group] = g
    return out


# ----------------------------------------------------------------------------- sources
@runtime_checkable
class OrganMaskSource(Protocol):
    """Anything that gives boolean organ masks on a target grid."""

    name: str

    def masks(self, target: Image, provenance: Provenance | None = None) -> dict[str, np.ndarray]:
        """Boolean masks ``[k, j, i]`` on the grid of ``target``, keyed by our organ names."""
        ...


class UserOrganMasks:
    """Organ masks supplied by the user (label maps from :mod:`theranostix.io.masks`).

    Parameters
    ----------
    label_maps
        Integer label Images with ``metadata["label_names"]`` (``{"1": "liver"}``) and
        ``metadata["source"]`` (file name used in messages).
    reference
        The image the masks were made on (normally the CT). When given, every label map must be on
        its grid (same shape, spacing, origin within ``grid_tolerance_mm``): a mask of the wrong
        size is refused instead of being resampled silently.
    min_kept_fraction
        Warn when less than this fraction of a structure's volume falls inside the target.
    """

    name = "user"

    def __init__(self, label_maps: Sequence[Image], *, reference: Image | None = None,
                 grid_tolerance_mm: float = 0.5, min_kept_fraction: float = 0.5):
        if not label_maps:
            raise InvalidInputError("no organ masks given", where="organ masks")
        self.label_maps = list(label_maps)
        self.reference = reference
        self.grid_tolerance_mm = grid_tolerance_mm
        self.min_kept_fraction = min_kept_fraction

    def masks(self, target: Image, provenance: Provenance | None = None) -> dict[str, np.ndarray]:
        prov = provenance if provenance is not None else Provenance()
        out: dict[str, np.ndarray] = {}
        unmapped: list[str] = []
        for lm in self.label_maps:
            src = str(lm.metadata.get("source", "organ mask"))
            names = dict(lm.metadata.get("label_names", {}))
            if not names:
                raise InvalidInputError("label map without label names", where=src,
                                        fix="read masks with theranostix.io.masks")
            if self.reference is not None and not lm.same_grid(self.reference, self.grid_tolerance_mm):
                raise InvalidInputError(
                    f"mask grid {lm.shape} (spacing {tuple(round(s, 3) for s in lm.spacing)}, origin "
                    f"{tuple(round(o, 1) for o in lm.origin)}) differs from the CT grid "
                    f"{self.reference.shape} (spacing {tuple(round(s, 3) for s in self.reference.spacing)}"
                    f", origin {tuple(round(o, 1) for o in self.reference.origin)})",
                    where=src,
                    fix="use masks computed on this CT (e.g. run TotalSegmentator on the same CT "
                    "series), or omit the reference CT to resample them by their own geometry")
            check_same_frame(lm, target, what=f"organ mask {src}", prov=None)
            arr = lm.array
            src_counts = {v: int(np.count_nonzero(arr == int(v))) for v in names}
            on_target = arr if lm.same_grid(target) else resample_to(lm, target, "nearest", 0).array
            if np.count_nonzero(on_target) == 0 and any(src_counts.values()):
                raise InvalidInputError(
                    "the organ masks do not overlap the PET field of view", where=src,
                    fix="check that the masks belong to this patient and scan (frame of reference, "
                    "origin); NIfTI masks must keep the CT's affine")
            for v, raw_name in names.items():
                canon = canonical_organ_name(raw_name)
                key = canon or re.sub(r"\s+", "_", raw_name.strip().lower())
                if canon is None:
                    unmapped.append(raw_name)
                m = on_target == int(v)
                if src_counts[v] and canon is not None:
                    kept = m.sum() * target.voxel_volume_ml / (src_counts[v] * lm.voxel_volume_ml)
                    if kept < self.min_kept_fraction:
                        prov.warn(f"{raw_name} ({src}): only {100 * kept:.0f} % of its volume lies "
                                  "in the PET field of view")
                out[key] = out[key] | m if key in out else m
        if unmapped:
            prov.parameters["unmapped_mask_names"] = sorted(set(unmapped))
        prov.parameters["organ_mask_source"] = "user"
        prov.inputs["organ_masks"] = sorted({str(lm.metadata.get("source", "?")) for lm in self.label_maps})
        return out


# ----------------------------------------------------------------------------- estimate rules
#: Every rule of the CT+PET estimate is a named parameter here; the rule names (``kidney_blob``,
#: ``bladder_fluid_growth`` ...) are those of ``docs/pet-anatomy.md`` section 3(b) and of the
#: ``organ_estimate_rules`` entry recorded in the provenance.
#: Uptake tests use the PET smoothed with a Gaussian of this sigma (voxels): at 4-mm voxels the
#: twins' voxel noise is 20-30 % of the organ level, so unsmoothed thresholds fragment organs.
ESTIMATE_SMOOTHING_SIGMA_VOXELS: float = 1.0
KIDNEY_MIN_UPTAKE_RATIO: float = 1.5  #: kidney blobs: smoothed PET >= this x liver reference mean
BLADDER_MIN_UPTAKE_RATIO: float = 2.0  #: bladder seed: smoothed PET >= this x liver reference mean
#: retried at this ratio when no blob is found (low urine activity, e.g. after voiding; a
#: [68Ga]PSMA-11 twin bladder at SUV ~11 with liver ~7 was missed at 2.0)
BLADDER_FALLBACK_UPTAKE_RATIO: float = 1.2
KIDNEY_MIN_VOLUME_ML: float = 10.0
#: kidney core: the blob's voxels >= this fraction of its own 99th-percentile (smoothed) uptake
#: (the cortex), holes filled; the kidney is the core grown by KIDNEY_GROW_VOXELS inside the blob.
#: A spleen or bowel loop touching the kidney at >= 1.5 x liver is so cut off (PSMA-11 spleen/liver
#: reached 1.5 and kidney/spleen only 2.5 on the twins)
KIDNEY_PEAK_FRACTION: float = 0.5
#: kidney_split: watershed markers at least this far apart; parts kept when their 99th-percentile
#: uptake is >= KIDNEY_SPLIT_MIN_RATIO x the hottest part's
KIDNEY_SPLIT_MIN_DISTANCE_MM: float = 20.0
KIDNEY_SPLIT_MIN_RATIO: float = 0.75
KIDNEY_GROW_VOXELS: int = 2
BLADDER_MIN_VOLUME_ML: float = 10.0
#: kidney spill-over halo: voxels within this many voxels of the kidney blob whose smoothed PET
#: is >= KIDNEY_HALO_MIN_X_REFERENCE x reference are added (PSF spill-out of the cortex, which
#: the pipeline's 1-voxel margin does not cover at cortex/liver ratios of 5-8)
KIDNEY_HALO_VOXELS: int = 1
KIDNEY_HALO_MIN_X_REFERENCE: float = 1.0
#: spleen estimate grown (rule organ_growth) into connected voxels of spleen-like uptake (this
#: range x its smoothed median) and soft-tissue HU, by at most ORGAN_GROWTH_VOXELS steps: the
#: homogeneity-refined candidate holds only about half of the spleen, and the rest, at 1-1.5 x
#: liver, would be called lesions (the pipeline grows the liver the same way)
ORGAN_GROWTH_UPTAKE_RANGE: tuple[float, float] = (0.6, 1.5)
ORGAN_GROWTH_VOXELS: int = 4
#: bladder growth from its hot seed: connected voxels whose smoothed PET is >= this fraction of
#: the seed's median AND whose CT number is fluid-like (BLADDER_HU_RANGE; urine 0-20 HU): the CT
#: test keeps the prostate and soft-tissue tumour (>= 35-40 HU) and perivesical fat (about
#: -100 HU) out of the bladder
BLADDER_GROW_FRACTION: float = 0.4
BLADDER_HU_RANGE: tuple[float, float] = (-40.0, 25.0)
BLADDER_GROW_VOXELS: int = 8
#: heart: the largest soft-tissue component (HEART_HU_RANGE) between the lungs (inside the
#: per-slice convex hull of the lungs), in the lower HEART_LUNG_FRACTION of the lungs' height
HEART_HU_RANGE: tuple[float, float] = (-20.0, 120.0)
HEART_LUNG_FRACTION: float = 0.7
HEART_MIN_VOLUME_ML: float = 150.0
HEART_WALL_EROSION_VOXELS: int = 3  #: lungs+ribs hull eroded in-plane by this (chest wall)
HEART_BELOW_LUNG_BASE_MM: float = 30.0  #: the heart is searched this far below the lung bases too
#: thyroid: iodine-rich gland, denser than muscle on unenhanced CT (normal about 80-130 HU,
#: [M] typical value), within THYROID_MAX_MIDLINE_MM of the midline in the anterior neck, from
#: THYROID_BELOW_APEX_MM below to THYROID_ABOVE_APEX_MM above the lung apices
THYROID_HU_RANGE: tuple[float, float] = (70.0, 190.0)
THYROID_MAX_MIDLINE_MM: float = 40.0
THYROID_BELOW_APEX_MM: float = 30.0
THYROID_ABOVE_APEX_MM: float = 70.0
THYROID_MIN_VOLUME_ML: float = 1.0
THYROID_MAX_VOLUME_ML: float = 80.0
#: bowel (abdominal cavity: deeper than the body-wall margin, from the lung bases down to the
#: bladder, outside liver/spleen/kidneys/bladder/bone):
#: * uptake: smoothed PET >= BOWEL_MIN_UPTAKE_X_REFERENCE x the liver mean in soft tissue
#:   (BOWEL_HU_RANGE); a component is bowel when it is >= BOWEL_MIN_COMPONENT_ML and extended
#:   (major axis >= BOWEL_MIN_EXTENT_MM: tubular/loops); compact components are left alone (they
#:   may be nodes). Inside it, extended sub-regions hotter than BOWEL_HOT_X_MEDIAN x the bowel
#:   median form a separate "duodenum" mask (hot proximal bowel: its own focal-rule level)
#: * colon: mottled faecal content between fat and soft tissue (smoothed HU in COLON_HU_RANGE)
#:   or gas (HU < BOWEL_GAS_MAX_HU, outside the lungs) with a 1-voxel rim; components
#:   >= COLON_MIN_COMPONENT_ML and extended (>= COLON_MIN_EXTENT_MM)
#: * focal_spot_kept: compact hot spots (>= FOCAL_SPOT_MIN_X_MEDIAN x the mask's median,
#:   major axis at 50 % of their peak < FOCAL_SPOT_MAX_EXTENT_MM) are cut out of the bowel masks
FOCAL_SPOT_MIN_X_MEDIAN: float = 1.5
FOCAL_SPOT_MAX_EXTENT_MM: float = 25.0
#: focal_spot_kept: the loop level is the lower of the mask's median and its local mean over
#: a cube of this size around the spot
FOCAL_SPOT_LOCAL_WINDOW_MM: float = 44.0
BOWEL_MIN_UPTAKE_X_REFERENCE: float = 0.25
#: ... but never below this x the median smoothed uptake of the body-wall muscle (soft tissue of
#: MUSCLE_HU_RANGE within SOFT_TISSUE_WALL_MARGIN_MM of the skin, same z range, 2 voxels away from
#: the organs already found; not applied with fewer than 100 such voxels): bowel wall and
#: content take up PSMA ligands above muscle (twin values: muscle 0.7, bowel 2.5-3, liver 4.9)
BOWEL_MIN_X_MUSCLE: float = 2.0
MUSCLE_HU_RANGE: tuple[float, float] = (10.0, 80.0)
#: rectum_behind_bladder: cavity extension below the bladder centre (see _bowel)
RECTUM_BELOW_BLADDER_MM: float = 40.0
RECTUM_MAX_MIDLINE_MM: float = 45.0
BOWEL_HU_RANGE: tuple[float, float] = (-60.0, 100.0)
BOWEL_MIN_COMPONENT_ML: float = 5.0
BOWEL_MIN_EXTENT_MM: float = 40.0
BOWEL_HOT_X_MEDIAN: float = 1.4
#: hot_bowel_own_level: the hot segment's mask is its voxels >= this fraction of its own
#: 99th-percentile uptake (grown by HOT_BOWEL_GROW_VOXELS into voxels as hot and hotter than
#: HOT_BOWEL_MIN_X_REFERENCE x the liver reference): the focal rule then works at the segment's own
#: level (on 20 twins, hot duodenum at 2-4.5 x liver was left at a threshold 0.4 x its peak)
HOT_BOWEL_CORE_FRACTION: float = 0.5
HOT_BOWEL_GROW_VOXELS: int = 4
HOT_BOWEL_MIN_X_REFERENCE: float = 1.3
COLON_HU_RANGE: tuple[float, float] = (-70.0, -5.0)
BOWEL_GAS_MAX_HU: float = -300.0
COLON_MIN_COMPONENT_ML: float = 20.0
COLON_MIN_EXTENT_MM: float = 60.0
#: lacrimal_orbit_peak (lacrimal glands missed by the head-blob threshold): search box relative
#: to the parotid centroid (z above it, lateral distance from the midline, and in front of it);
#: the peak must reach LACRIMAL_MIN_X_BACKGROUND x the box median. [M] adult anatomy: the glands
#: lie in the upper outer orbit, about 60-70 mm above and 80 mm in front of the parotids.
LACRIMAL_ABOVE_PAROTID_MM: tuple[float, float] = (35.0, 100.0)
LACRIMAL_LATERAL_MM: tuple[float, float] = (15.0, 55.0)
LACRIMAL_ANTERIOR_OF_PAROTID_MM: float = 40.0
LACRIMAL_MIN_X_BACKGROUND: float = 2.5
#: a head blob smaller than this is completed by the orbit-peak rule (it is the gland's tip)
LACRIMAL_MIN_BLOB_ML: float = 0.5
#: organs the estimate may return besides the tracer's physiological organs: background organs
#: that the pipeline treats with its focal rule (only uptake above the organ's own level can be a
#: lesion), so noise peaks in them are not called lesions
ESTIMATE_BACKGROUND_ORGANS: tuple[str, ...] = ("heart", "thyroid_gland")
_S26 = np.ones((3, 3, 3), bool)
_S6 = ndi.generate_binary_structure(3, 1)


def _major_axis_mm(mask: np.ndarray, spacing_kji: tuple[float, float, float]) -> float:
    """Length (mm) of a component's major axis: 4 x the SD of its voxel positions along it
    (a uniform rod of length L gives 1.15 L, a sphere of diameter D gives 0.89 D)."""
    pts = np.argwhere(mask) * np.asarray(spacing_kji)
    if len(pts) < 3:
        return 0.0
    ev = np.linalg.eigvalsh(np.cov(pts.T))
    return float(4.0 * np.sqrt(max(ev[-1], 0.0)))


def _components(mask: np.ndarray, structure: np.ndarray = _S26) -> tuple[np.ndarray, int, np.ndarray]:
    lab, n = ndi.label(mask, structure)
    sizes = np.bincount(lab.ravel(), minlength=n + 1)
    sizes[0] = 0
    return lab, n, sizes


class CtPetOrganEstimate:
    """The project's own organ estimate from CT + PET (no trained model).

    Parameters
    ----------
    pet
        The PET (its grid is the working grid).
    ct
        CT in HU on the PET's frame of reference.
    anatomy
        A :class:`PetCtAnatomy` already built for this PET and CT (reused instead of ``ct``).
    tracer
        Tracer name or family; the estimate covers the tracer's physiological-uptake organs that
        it can find, plus the background organs :data:`ESTIMATE_BACKGROUND_ORGANS`.

    Method (rules named as in ``docs/pet-anatomy.md`` section 3(b); every threshold is a module
    constant; uptake tests on the PET smoothed by ``ESTIMATE_SMOOTHING_SIGMA_VOXELS``)
    ------
    * ``liver_ct_uptake``: the organs of :func:`.reference_regions.liver_reference` (CT soft
      tissue under the right lung base, refined by uptake);
    * ``kidney_blob``: each side's largest blob >= ``KIDNEY_MIN_UPTAKE_RATIO`` x the liver mean
      (or the body median), posterior, 30-150 mm from the midline, within 250 mm below the lung
      base; holes filled per slice (medulla, sinus) and a spill-over halo
      (``KIDNEY_HALO_*``);
    * ``spleen_not_kidney``: :func:`.reference_regions.spleen_reference` with the kidneys removed;
    * ``bladder_fluid_growth``: hot midline seed below the kidneys grown over fluid-density CT;
    * ``head_gland_blobs``: parotid / submandibular / lacrimal glands (head blobs);
    * ``heart_mediastinal_soft_tissue``, ``thyroid_iodine_density``: CT background organs;
    * ``bowel_extended_uptake`` (small bowel), ``hot_bowel_own_level`` (duodenum: hot bowel at
      its own level), ``colon_faecal_density`` with ``rectum_behind_bladder``, and
      ``focal_spot_kept`` (compact spots cut out of every bowel mask);
    * ``lacrimal_orbit_peak``: lacrimal glands too small for the head-blob threshold.
    """

    name = "ct_pet_estimate"

    def __init__(self, pet: Image, ct: Image | None = None, tracer: str = "psma", *,
                 anatomy: PetCtAnatomy | None = None):
        if ct is None and anatomy is None:
            raise InvalidInputError("the CT+PET organ estimate needs a CT", where="organ masks",
                                    fix="pass the CT of this PET/CT or user organ masks")
        self.pet = pet
        self.ct = ct
        self.anatomy = anatomy
        self.tracer = tracer
        self.family = tracer_family(tracer)

    # ------------------------------------------------------------------ main
    def masks(self, target: Image, provenance: Provenance | None = None) -> dict[str, np.ndarray]:
        prov = provenance if provenance is not None else Provenance()
        anat = self.anatomy or PetCtAnatomy.build(self.pet, self.ct)
        if anat.body is None or anat.hu is None:
            raise InvalidInputError("the CT+PET organ estimate needs a CT", where="organ masks",
                                    fix="pass the CT of this PET/CT or user organ masks")
        for w in anat.provenance.warnings:
            prov.warn(w)
        pet = self.pet
        out: dict[str, np.ndarray] = {}
        rules: dict[str, str] = {}
        liver = liver_reference(pet, anatomy=anat)
        if liver.found and liver.organ_mask is not None:
            out["liver"] = liver.organ_mask
            rules["liver"] = "liver_ct_uptake"
        else:
            prov.warn(f"liver not estimated: {liver.reason}")
        assert anat.body is not None and anat.lungs is not None
        body = anat.body
        ref = liver.statistics.mean if liver.found and liver.statistics else float(
            np.median(pet.array[body]))
        if not (liver.found and liver.statistics):
            prov.warn("kidney/bladder/bowel thresholds relative to the body median (no liver "
                      "reference)")
        sm = ndi.gaussian_filter(np.asarray(pet.array, np.float32), ESTIMATE_SMOOTHING_SIGMA_VOXELS)
        geo = self._geometry(anat)

        cores: list[np.ndarray] = []
        kidney_z = self._kidneys(sm, ref, geo, anat, out, rules, prov, cores)
        kid = np.logical_or.reduce(cores) if cores else np.zeros(pet.shape, bool)
        spleen = spleen_reference(pet, anatomy=anat, kidneys=kid if kid.any() else None,
                                  liver_mean=(liver.statistics.mean if liver.found and liver.statistics
                                              else None))
        if spleen.found and spleen.organ_mask is not None:
            out["spleen"] = self._grow(spleen.organ_mask, sm, anat, kid)
            # kidney and spleen masks are kept one voxel apart (the spleen wins the contact rim)
            rim = ndi.binary_dilation(out["spleen"], _S26)
            for k in ("kidney_left", "kidney_right"):
                if k in out:
                    out[k] &= ~rim
            rules["spleen"] = "spleen_not_kidney"
        else:
            prov.warn(f"spleen not estimated: {spleen.reason}")
        self._bladder(sm, ref, geo, anat, kidney_z, out, rules, prov)
        self._head_glands(anat, out, rules, prov)
        self._heart(geo, anat, out, rules, prov)
        self._thyroid(geo, anat, out, rules, prov)
        self._bowel(sm, ref, geo, anat, out, rules, prov)

        prov.parameters.update({"organ_mask_source": "ct_pet_estimate", "tracer_family": self.family,
                                "kidney_min_uptake_ratio": KIDNEY_MIN_UPTAKE_RATIO,
                                "bladder_min_uptake_ratio": BLADDER_MIN_UPTAKE_RATIO,
                                "reference_uptake": round(ref, 4),
                                "organ_estimate_rules": rules,
                                "organ_estimate_volumes_ml": {
                                    k: round(float(v.sum() * pet.voxel_volume_ml), 1)
                                    for k, v in sorted(out.items())}})
        wanted = set(PHYSIOLOGICAL_UPTAKE[self.family]) | {"liver", "spleen"} | set(
            ESTIMATE_BACKGROUND_ORGANS)
        out = {k: v for k, v in out.items() if k in wanted}
        if not target.same_grid(pet):
            out = {k: resample_to(pet.with_array(v.astype(np.uint8), units="label"), target,
                                  "nearest", 0).array.astype(bool) for k, v in out.items()}
        return out

    # ------------------------------------------------------------------ helpers
    def _geometry(self, anat: PetCtAnatomy) -> dict:
        pet = self.pet
        assert anat.body is not None and anat.lungs is not None
        x, y, z = axis_coordinates(pet)
        mid = body_midline_x(anat, x)
        cy = float((anat.body.sum(axis=(0, 2)) * y).sum() / max(anat.body.sum(), 1))
        lung_k = _lung_slices(anat.lungs)
        z_base = float(z[lung_k].min()) if lung_k.size else float(z.max())
        z_apex = float(z[lung_k].max()) if lung_k.size else float(z.max())
        sx, sy, sz = pet.spacing
        return {"x": x, "y": y, "z": z, "mid": mid, "cy": cy, "z_base": z_base, "z_apex": z_apex,
                "dx": np.abs(x - mid), "has_lungs": bool(lung_k.size), "sp_kji": (sz, sy, sx)}

    def _grow(self, organ: np.ndarray, sm: np.ndarray, anat: PetCtAnatomy,
              forbidden: np.ndarray) -> np.ndarray:
        """Rule ``organ_growth``: grow an organ into connected voxels of organ-like uptake
        (``ORGAN_GROWTH_UPTAKE_RANGE`` x its smoothed median) and soft-tissue CT numbers
        (``SPLEEN_HU_RANGE``), at most ``ORGAN_GROWTH_VOXELS`` steps, never into ``forbidden``."""
        med = float(np.median(sm[organ]))
        lo, hi = ORGAN_GROWTH_UPTAKE_RANGE
        allowed = (anat.body & (sm >= lo * med) & (sm <= hi * med) & ~forbidden
                   & (anat.hu >= SPLEEN_HU_RANGE[0]) & (anat.hu <= SPLEEN_HU_RANGE[1]))
        if anat.lungs is not None:
            allowed &= ~anat.lungs
        if anat.bone is not None:
            allowed &= ~anat.bone
        return ndi.binary_dilation(organ, _S6, iterations=ORGAN_GROWTH_VOXELS,
                                   mask=allowed | organ)

    @staticmethod
    def _hot_bowel_segment(comp: np.ndarray, sm: np.ndarray, ref: float, anat: PetCtAnatomy,
                           out: dict[str, np.ndarray]) -> np.ndarray:
        """Rule ``hot_bowel_own_level``: the hot bowel segment at its own level.

        The core is the component's voxels >= ``HOT_BOWEL_CORE_FRACTION`` x its maximum
        smoothed uptake P (the segment's own level: the focal rule's median then lies near
        0.7 P, not at the level of the cooler loops around it). The core is grown by at most
        ``HOT_BOWEL_GROW_VOXELS`` (26-connected) into voxels >= max(HOT_BOWEL_CORE_FRACTION x P,
        ``HOT_BOWEL_MIN_X_REFERENCE`` x reference), not lung, bone, kidney or bladder: the part of
        the loop that the cavity rule cut off next to the liver (hotter than the liver, so not
        liver parenchyma) is joined back.
        """
        p = float(sm[comp].max())
        level = HOT_BOWEL_CORE_FRACTION * p
        core = comp & (sm >= level)
        if not core.any():
            return core
        allowed = anat.body & (sm >= max(level, HOT_BOWEL_MIN_X_REFERENCE * ref))
        if anat.lungs is not None:
            allowed &= ~anat.lungs
        if anat.bone is not None:
            allowed &= ~anat.bone
        for k in ("kidney_left", "kidney_right", "urinary_bladder"):
            if k in out:
                allowed &= ~out[k]
        return ndi.binary_dilation(core, _S26, iterations=HOT_BOWEL_GROW_VOXELS,
                                   mask=allowed | core)

    @staticmethod
    def _protect_focal(mask: np.ndarray, sm: np.ndarray, sp: tuple[float, float, float]) -> np.ndarray:
        """Rule ``focal_spot_kept``: cut compact hot spots out of a bowel mask.

        Local maxima of the smoothed PET (3x3x3) inside the mask that reach
        ``FOCAL_SPOT_MIN_X_MEDIAN`` x the loop level are grown to 50 % of their peak above
        that level (background-corrected). The loop level is the lower of the mask's median and
        the mean of the mask's uptake in a cube of ``FOCAL_SPOT_LOCAL_WINDOW_MM`` around the
        spot (a warm node beside cool loops is judged against them). When that
        blob is compact (major axis < ``FOCAL_SPOT_MAX_EXTENT_MM``: a node, not a bowel loop) it
        is removed from the mask with a 1-voxel rim, so the lesion rules still see it.
        """
        if not mask.any():
            return mask
        med = float(np.median(sm[mask]))
        box = ndi.find_objects(mask.astype(np.uint8))[0]
        box = tuple(slice(max(0, b.start - 2), b.stop + 2) for b in box)
        m, s = mask[box], sm[box]
        zone = ndi.binary_dilation(m, _S26)
        # peaks in the mask or on its rim (a node just outside a loop still reaches into it)
        # the loop level around each voxel: mean of the mask's smoothed uptake in a cube of
        # FOCAL_SPOT_LOCAL_WINDOW_MM (a warm node next to cool loops is judged against them, not
        # against the median of a mask that also holds hot loops elsewhere)
        w = max(3, int(round(FOCAL_SPOT_LOCAL_WINDOW_MM / max(sp))) | 1)
        mf = m.astype(np.float32)
        local = ndi.uniform_filter(s * mf, w) / np.maximum(ndi.uniform_filter(mf, w), 1e-6)
        local = np.where(ndi.uniform_filter(mf, w) > 0.05, local, med)
        level = np.minimum(local, med)
        peaks = zone & (s == ndi.maximum_filter(s, size=3)) & (s >= FOCAL_SPOT_MIN_X_MEDIAN * level)
        cut = np.zeros(m.shape, bool)
        for k, j, i in np.argwhere(peaks):
            if cut[k, j, i]:
                continue
            p = float(s[k, j, i])
            lv = float(level[k, j, i])
            # 50 % of the peak above the loop level (background-corrected, as in the
            # pipeline's adaptive contour): a node at 2 x bowel level stays a compact blob
            lab, _ = ndi.label(zone & (s >= lv + 0.5 * (p - lv)), _S26)
            blob = lab == lab[k, j, i]
            if _major_axis_mm(blob, sp) < FOCAL_SPOT_MAX_EXTENT_MM:
                cut |= ndi.binary_dilation(blob, _S26)
        out = mask.copy()
        out[box] &= ~cut
        return out

    @staticmethod
    def _split_off_neighbours(blob: np.ndarray, sm: np.ndarray,
                              sp: tuple[float, float, float]) -> np.ndarray:
        """Rule ``kidney_split``: a kidney blob touching the spleen (or a bowel loop) of similar
        uptake is split by a watershed of its distance map (markers: distance maxima at least
        ``KIDNEY_SPLIT_MIN_DISTANCE_MM`` apart); the parts whose 99th-percentile uptake reaches
        ``KIDNEY_SPLIT_MIN_RATIO`` x the hottest part's are kept (the renal cortex is the hottest
        abdominal structure for PSMA ligands)."""
        from skimage.feature import peak_local_max
        from skimage.segmentation import watershed

        box = ndi.find_objects(blob.astype(np.uint8))[0]
        b = blob[box]
        edt = ndi.distance_transform_edt(b, sampling=sp)
        md = max(1, int(round(KIDNEY_SPLIT_MIN_DISTANCE_MM / max(sp))))
        peaks = peak_local_max(edt, min_distance=md, labels=b.astype(int), exclude_border=False)
        if len(peaks) < 2:
            return blob
        markers = np.zeros(b.shape, np.int32)
        for n, (k, j, i) in enumerate(peaks, start=1):
            markers[k, j, i] = n
        parts = watershed(-edt, markers, mask=b)
        s = sm[box]
        p99 = {n: float(np.percentile(s[parts == n], 99)) for n in range(1, len(peaks) + 1)
               if (parts == n).any()}
        top = max(p99.values())
        keep = np.isin(parts, [n for n, v in p99.items() if v >= KIDNEY_SPLIT_MIN_RATIO * top])
        out = np.zeros_like(blob)
        out[box] = keep
        return largest_component(out)

    def _kidneys(self, sm, ref, g, anat, out, rules, prov,
                 kidney_core: list[np.ndarray]) -> list[float]:
        pet = self.pet
        x, y, z, mid, dx = g["x"], g["y"], g["z"], g["mid"], g["dx"]
        region = anat.body & ~anat.lungs
        region &= ((z <= g["z_base"]) & (z >= g["z_base"] - 250.0))[:, None, None]
        region &= (y > g["cy"])[None, :, None] & ((dx >= 30.0) & (dx <= 150.0))[None, None, :]
        lab, n, sizes = _components(region & (sm >= KIDNEY_MIN_UPTAKE_RATIO * ref))
        kidney_z: list[float] = []
        if not n:
            prov.warn("kidneys not found")
            return kidney_z
        coms = ndi.center_of_mass(np.ones_like(lab), lab, range(1, n + 1))
        for side, sel in (("left", lambda xx: xx > mid), ("right", lambda xx: xx < mid)):
            best = None
            for c in range(1, n + 1):
                cx = float(np.interp(coms[c - 1][2], np.arange(x.size), x))
                vol = sizes[c] * pet.voxel_volume_ml
                if sel(cx) and vol >= KIDNEY_MIN_VOLUME_ML and (best is None or sizes[c] > sizes[best]):
                    best = c
            if best is None:
                prov.warn(f"kidney_{side} not found (no posterior paravertebral blob >= "
                          f"{KIDNEY_MIN_UPTAKE_RATIO:g} x reference)")
                continue
            m = self._split_off_neighbours(lab == best, sm, g["sp_kji"])
            # the part near the blob's own peak: a spleen or bowel loop touching the kidney at
            # 1.5 x liver is cut off (PSMA-11 spleen/liver reaches 1.5 on the twins)
            peak = float(np.percentile(sm[m], 99))
            core = fill_holes_per_slice(largest_component(m & (sm >= KIDNEY_PEAK_FRACTION * peak)))
            m = ndi.binary_dilation(core, _S6, iterations=KIDNEY_GROW_VOXELS, mask=m | core)
            m = fill_holes_per_slice(m)
            kidney_core.append(m.copy())
            halo = ndi.binary_dilation(m, _S26, iterations=KIDNEY_HALO_VOXELS) & ~m
            m |= halo & (sm >= KIDNEY_HALO_MIN_X_REFERENCE * ref) & anat.body & ~anat.lungs
            out[f"kidney_{side}"] = m
            rules[f"kidney_{side}"] = "kidney_blob"
            kidney_z.append(float(z[np.flatnonzero(m.any(axis=(1, 2)))].min()))
        return kidney_z

    def _bladder(self, sm, ref, g, anat, kidney_z, out, rules, prov) -> None:
        pet = self.pet
        z, dx = g["z"], g["dx"]
        z_top = (min(kidney_z) - 30.0) if kidney_z else g["z_base"] - 300.0
        region = anat.body & (z < z_top)[:, None, None] & (dx < 80.0)[None, None, :]
        if anat.bone is not None:
            region &= ~anat.bone
        seed = None
        for ratio in (BLADDER_MIN_UPTAKE_RATIO, BLADDER_FALLBACK_UPTAKE_RATIO):
            lab, n, sizes = _components(region & (sm >= ratio * ref))
            if n:
                best = int(np.argmax(sizes))
                if sizes[best] * pet.voxel_volume_ml >= BLADDER_MIN_VOLUME_ML:
                    seed = lab == best
                    if ratio != BLADDER_MIN_UPTAKE_RATIO:
                        prov.warn(f"urinary_bladder found only at the fallback threshold {ratio:g} "
                                  "x reference (low urinary activity)")
                    break
        if seed is None:
            prov.warn("urinary_bladder not found (pelvis outside the field of view or no hot "
                      "midline blob)")
            return
        hu = ndi.median_filter(np.asarray(anat.hu, np.float32), size=3)  # noise, not edges
        level = float(np.median(sm[seed]))
        allowed = region & (sm >= BLADDER_GROW_FRACTION * level) & (hu >= BLADDER_HU_RANGE[0]) & (hu <= BLADDER_HU_RANGE[1])
        grown = ndi.binary_dilation(seed, _S6, iterations=BLADDER_GROW_VOXELS, mask=allowed | seed)
        # the seed's blurred rim in perivesical fat is dropped too (the pipeline adds its margin)
        fluid = (hu >= BLADDER_HU_RANGE[0]) & (hu <= BLADDER_HU_RANGE[1])
        grown = fill_holes_per_slice(grown & fluid)
        out["urinary_bladder"] = largest_component(grown) if grown.any() else seed
        rules["urinary_bladder"] = "bladder_fluid_growth"

    def _head_glands(self, anat, out, rules, prov) -> None:
        blobs, why = head_blobs(anat)
        parotid_z: dict[str, float] = {}
        for side in ("left", "right"):
            cands = [b for b in blobs if b.side == side]
            if cands:
                out[f"parotid_gland_{side}"] = cands[0].mask
                parotid_z[side] = cands[0].centroid_mm[2]
        if not parotid_z:
            prov.warn(f"salivary and lacrimal glands not estimated: {why or 'no lateral blobs'}")
            return
        zp = float(np.mean(list(parotid_z.values())))
        for side in ("left", "right"):
            rest = [b for b in blobs if b.side == side and b.mask is not out.get(f"parotid_gland_{side}")]
            sub = [b for b in rest if b.centroid_mm[2] < zp - 15.0]
            lac = [b for b in rest if b.centroid_mm[2] > zp + 20.0]
            if sub:
                out[f"submandibular_gland_{side}"] = sub[0].mask
            if lac:
                out[f"lacrimal_gland_{side}"] = lac[0].mask
        for k in list(out):
            if k.startswith(("parotid", "submandibular", "lacrimal")):
                rules[k] = "head_gland_blobs"
        for side in ("left", "right"):
            key = f"lacrimal_gland_{side}"
            if key not in out or out[key].sum() * self.pet.voxel_volume_ml < LACRIMAL_MIN_BLOB_ML:
                m = self._lacrimal_in_orbit(side, zp, anat, out)
                if m is not None:
                    out[key] = (out[key] | m) if key in out else m
                    rules[key] = "lacrimal_orbit_peak"

    def _lacrimal_in_orbit(self, side: str, z_parotid: float, anat: PetCtAnatomy,
                           out: dict[str, np.ndarray]) -> np.ndarray | None:
        """Rule ``lacrimal_orbit_peak``: a lacrimal gland too small to pass the head-blob threshold
        (under 1 mL: partial volume at 4-mm voxels reads it at a third of its uptake).

        Search box (relative to the parotid centroids, from the twins' adult anatomy and the
        usual head anatomy [M]): ``LACRIMAL_ABOVE_PAROTID_MM`` above the parotids,
        ``LACRIMAL_LATERAL_MM`` from the midline on that side, and in front of the parotids by at
        least ``LACRIMAL_ANTERIOR_OF_PAROTID_MM``; not bone. The smoothed peak must reach
        ``LACRIMAL_MIN_X_BACKGROUND`` x the median of the box (orbit fat, brain, muscle). The gland
        is the peak's 26-neighbours >= half of the peak (the pipeline adds its margin).
        """
        pet = self.pet
        x, y, z = axis_coordinates(pet)
        mid = body_midline_x(anat, x)
        par = out.get(f"parotid_gland_{side}")
        if par is None or not par.any():
            return None
        y_par = float(y[np.argwhere(par)[:, 1]].mean())
        dx = (x - mid) if side == "left" else (mid - x)
        box = (anat.body & ((z >= z_parotid + LACRIMAL_ABOVE_PAROTID_MM[0])
                            & (z <= z_parotid + LACRIMAL_ABOVE_PAROTID_MM[1]))[:, None, None]
               & (y <= y_par - LACRIMAL_ANTERIOR_OF_PAROTID_MM)[None, :, None]
               & ((dx >= LACRIMAL_LATERAL_MM[0]) & (dx <= LACRIMAL_LATERAL_MM[1]))[None, None, :])
        if anat.bone is not None:
            box &= ~anat.bone
        if box.sum() < 27:
            return None
        sl = ndi.find_objects(box.astype(np.uint8))[0]
        sl = tuple(slice(max(0, b.start - 3), b.stop + 3) for b in sl)
        sm = ndi.gaussian_filter(np.asarray(pet.array[sl], np.float32), ESTIMATE_SMOOTHING_SIGMA_VOXELS)
        b = box[sl]
        vals = np.where(b, sm, -np.inf)
        k, j, i = np.unravel_index(int(np.argmax(vals)), vals.shape)
        peak = float(sm[k, j, i])
        if peak < LACRIMAL_MIN_X_BACKGROUND * float(np.median(sm[b])):
            return None
        seed = np.zeros(b.shape, bool)
        seed[k, j, i] = True
        blob = ndi.binary_dilation(seed, _S26, iterations=1, mask=sm >= 0.5 * peak) | seed
        full = np.zeros(pet.shape, bool)
        full[sl] = blob
        return full

    def _heart(self, g, anat, out, rules, prov) -> None:
        pet = self.pet
        if not g["has_lungs"]:
            prov.warn("heart not estimated: no lungs in the field of view")
            return
        z = g["z"]
        z_hi = g["z_base"] + HEART_LUNG_FRACTION * (g["z_apex"] - g["z_base"])
        in_lungs = (z >= g["z_base"]) & (z <= z_hi)
        below = (z < g["z_base"]) & (z >= g["z_base"] - HEART_BELOW_LUNG_BASE_MM)
        lung_hull = convex_hull_per_slice(anat.lungs & in_lungs[:, None, None])
        k_base = int(np.flatnonzero(z == g["z_base"])[0])
        # the thoracic cavity: the hull of lungs and ribs (the heart reaches in front of the
        # lungs), minus the chest wall (HEART_WALL_EROSION_VOXELS in-plane)
        cage = anat.lungs | (anat.bone if anat.bone is not None else False)
        hull = convex_hull_per_slice(cage & in_lungs[:, None, None])
        hull = ndi.binary_erosion(hull, ndi.generate_binary_structure(3, 1)[1:2],
                                  iterations=HEART_WALL_EROSION_VOXELS) | lung_hull
        hull[below] = hull[k_base]  # the heart rests on the diaphragm below the lung bases
        slab = (in_lungs | below)[:, None, None]
        hu = anat.hu
        cand = hull & slab & ~anat.lungs & (hu >= HEART_HU_RANGE[0]) & (hu <= HEART_HU_RANGE[1])
        if anat.bone is not None:
            cand &= ~ndi.binary_dilation(anat.bone, _S26)
        for k in ("liver", "spleen"):
            if k in out:
                cand &= ~ndi.binary_dilation(out[k], _S26)
        cand = ndi.binary_opening(cand, _S6)
        lab, n, sizes = _components(cand)
        if not n or sizes.max() * pet.voxel_volume_ml < HEART_MIN_VOLUME_ML:
            prov.warn(f"heart not estimated: no mediastinal soft-tissue component of "
                      f"{HEART_MIN_VOLUME_ML:g} mL between the lungs")
            return
        out["heart"] = lab == int(np.argmax(sizes))
        rules["heart"] = "heart_mediastinal_soft_tissue"

    def _thyroid(self, g, anat, out, rules, prov) -> None:
        pet = self.pet
        if not g["has_lungs"]:
            return
        z, y, dx = g["z"], g["y"], g["dx"]
        zone = anat.body & ((z >= g["z_apex"] - THYROID_BELOW_APEX_MM)
                            & (z <= g["z_apex"] + THYROID_ABOVE_APEX_MM))[:, None, None]
        zone &= (dx <= THYROID_MAX_MIDLINE_MM)[None, None, :] & ~anat.lungs
        # anterior neck: in front of the centre of the body in each slice
        rows = anat.body.sum(axis=2)  # [k, j]
        cy_k = (rows * y[None, :]).sum(axis=1) / np.maximum(rows.sum(axis=1), 1)
        zone &= y[None, :, None] < cy_k[:, None, None]
        hu = ndi.gaussian_filter(np.asarray(anat.hu, np.float32), 0.7)
        cand = zone & (hu >= THYROID_HU_RANGE[0]) & (hu <= THYROID_HU_RANGE[1])
        if anat.bone is not None:
            cand &= ~ndi.binary_dilation(anat.bone, _S26)
        lab, n, sizes = _components(cand)
        keep = np.zeros(pet.shape, bool)
        for c in np.argsort(sizes)[::-1][:2]:
            v = sizes[c] * pet.voxel_volume_ml
            if c and THYROID_MIN_VOLUME_ML <= v <= THYROID_MAX_VOLUME_ML:
                keep |= lab == c
        if not keep.any():
            prov.warn("thyroid_gland not estimated: no iodine-dense soft tissue in the anterior "
                      "neck at the level of the lung apices")
            return
        out["thyroid_gland"] = keep
        rules["thyroid_gland"] = "thyroid_iodine_density"

    def _bowel(self, sm, ref, g, anat, out, rules, prov) -> None:
        pet = self.pet
        z = g["z"]
        z_low = g["z_base"] - 400.0
        if "urinary_bladder" in out:
            kb = np.flatnonzero(out["urinary_bladder"].any(axis=(1, 2)))
            z_low = float(np.median(z[kb]))
        zone = anat.body & ((z <= g["z_base"]) & (z >= z_low))[:, None, None] & ~anat.lungs
        if "urinary_bladder" in out:
            # rule rectum_behind_bladder: below the bladder's centre the cavity continues only
            # behind the bladder's posterior wall, near the midline, down to
            # RECTUM_BELOW_BLADDER_MM under its lowest slice (rectum and sigmoid; the prostate and
            # the seminal vesicles, in front of the rectum, stay outside)
            bl = out["urinary_bladder"]
            y_post = float(g["y"][np.flatnonzero(bl.any(axis=(0, 2)))].max())
            z_bot = float(z[kb].min()) - RECTUM_BELOW_BLADDER_MM
            rect = (((z < z_low) & (z >= z_bot))[:, None, None]
                    & (g["y"] > y_post)[None, :, None]
                    & (g["dx"] <= RECTUM_MAX_MIDLINE_MM)[None, None, :])
            zone |= anat.body & rect
        zone &= anat.body_depth_mm() > SOFT_TISSUE_WALL_MARGIN_MM
        if anat.bone is not None:
            zone_colon = zone & ~anat.bone  # faecal density next to the pelvic bones is kept
            zone &= ~ndi.binary_dilation(anat.bone, _S26)
        else:
            zone_colon = zone.copy()
        taken = np.zeros(pet.shape, bool)
        for k in ("liver", "spleen", "kidney_left", "kidney_right", "urinary_bladder", "heart"):
            if k in out:
                taken |= out[k]
        if taken.any():
            near_taken = ndi.binary_dilation(taken, _S26)
            zone &= ~near_taken
            zone_colon &= ~near_taken
        hu = ndi.gaussian_filter(np.asarray(anat.hu, np.float32), 1.0)
        sp = g["sp_kji"]
        # colon: faecal density or gas, extended
        gas = zone_colon & (np.asarray(anat.hu) < BOWEL_GAS_MAX_HU)
        col = zone_colon & (hu >= COLON_HU_RANGE[0]) & (hu <= COLON_HU_RANGE[1])
        if gas.any():
            col |= ndi.binary_dilation(gas, _S26) & zone_colon
        col = ndi.binary_opening(col, _S6)
        lab, n, sizes = _components(col)
        colon = np.zeros(pet.shape, bool)
        for c in range(1, n + 1):
            if sizes[c] * pet.voxel_volume_ml < COLON_MIN_COMPONENT_ML:
                continue
            m = lab == c
            if _major_axis_mm(m, sp) >= COLON_MIN_EXTENT_MM:
                colon |= m
        # uptake: extended components of bowel-level uptake
        # floor: BOWEL_MIN_X_MUSCLE x the body-wall muscle level (a low liver reference must not
        # bring the threshold down to muscle and fat)
        wall = (anat.body & (anat.body_depth_mm() <= SOFT_TISSUE_WALL_MARGIN_MM)
                & (hu >= MUSCLE_HU_RANGE[0]) & (hu <= MUSCLE_HU_RANGE[1])
                & ((z <= g["z_base"]) & (z >= z_low))[:, None, None])
        if taken.any():
            wall &= ~ndi.binary_dilation(taken, _S26, iterations=2)
        muscle = float(np.median(sm[wall])) if wall.sum() >= 100 else 0.0
        bowel_thr = max(BOWEL_MIN_UPTAKE_X_REFERENCE * ref, BOWEL_MIN_X_MUSCLE * muscle)
        prov.parameters["bowel_uptake_threshold_suv"] = round(bowel_thr, 3)
        # the colon (its own CT class and level) first: uptake components are sought outside it
        cand = (zone & ~colon & (sm >= bowel_thr) & (hu >= BOWEL_HU_RANGE[0])
                & (hu <= BOWEL_HU_RANGE[1]))
        lab, n, sizes = _components(cand)
        bowel = np.zeros(pet.shape, bool)
        for c in range(1, n + 1):
            if sizes[c] * pet.voxel_volume_ml < BOWEL_MIN_COMPONENT_ML:
                continue
            m = lab == c
            if _major_axis_mm(m, sp) >= BOWEL_MIN_EXTENT_MM:
                bowel |= m
        if bowel.any():
            med = float(np.median(sm[bowel]))
            hot = bowel & (sm >= max(BOWEL_HOT_X_MEDIAN * med, HOT_BOWEL_MIN_X_REFERENCE * ref))
            lab, n, sizes = _components(hot)
            duo = np.zeros(pet.shape, bool)
            for c in range(1, n + 1):
                m = lab == c
                if (sizes[c] * pet.voxel_volume_ml >= BOWEL_MIN_COMPONENT_ML
                        and _major_axis_mm(m, sp) >= BOWEL_MIN_EXTENT_MM):
                    duo |= self._hot_bowel_segment(m, sm, ref, anat, out)
            if duo.any():
                out["duodenum"] = duo
                rules["duodenum"] = "hot_bowel_own_level"
            out["small_bowel"] = bowel & ~duo
            rules["small_bowel"] = "bowel_extended_uptake"
        if colon.any():
            out["colon"] = colon
            rules["colon"] = "colon_faecal_density"
        for k in ("small_bowel", "duodenum", "colon"):
            if k in out:
                out[k] = self._protect_focal(out[k], sm, sp)
                if not out[k].any():
                    del out[k]
        missing = [k for k in ("small_bowel", "duodenum", "colon") if k not in out]
        if missing:
            prov.warn(f"bowel parts not estimated from CT+PET ({', '.join(missing)}): no extended "
                      "bowel-like uptake or faecal/gas density found; supply masks to exclude "
                      "bowel uptake")

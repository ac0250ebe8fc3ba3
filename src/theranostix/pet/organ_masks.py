"""Organ masks on the PET grid from pluggable sources, and physiological uptake per tracer.

A source implements :class:`OrganMaskSource`: ``masks(target, provenance) -> dict[str, bool array]``
on the grid of ``target`` (normally the PET). Two sources ship:

* :class:`UserOrganMasks` — label maps the user supplies (read by :mod:`theranostix.io.masks`:
  NIfTI label maps or folders, e.g. TotalSegmentator output, DICOM SEG, RTSTRUCT), names mapped to
  ours (:func:`canonical_organ_name`), checked (frame of reference, grid, field of view) and
  resampled with nearest neighbour (:func:`theranostix.core.resample.resample_to`);
* :class:`CtPetOrganEstimate` — the project's own estimate from CT + PET without a trained model:
  liver and spleen from CT anatomy refined by PET (as in :mod:`.reference_regions`), kidneys,
  urinary bladder, salivary and lacrimal glands as high-uptake blobs in their known anatomical
  positions. Its limits are real and listed in ``docs/pet-anatomy.md``; bowel is **not** estimated.

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
from theranostix.pet.reference_regions import (
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


KIDNEY_MIN_UPTAKE_RATIO: float = 1.5  #: kidney blobs: PET >= this x liver reference mean
BLADDER_MIN_UPTAKE_RATIO: float = 2.0  #: bladder blob: PET >= this x liver reference mean
#: retried at this ratio when no blob is found (low urine activity, e.g. after voiding; a
#: [68Ga]PSMA-11 twin bladder at SUV ~11 with liver ~7 was missed at 2.0)
BLADDER_FALLBACK_UPTAKE_RATIO: float = 1.2
KIDNEY_MIN_VOLUME_ML: float = 10.0
BLADDER_MIN_VOLUME_ML: float = 10.0


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
        it can find (see ``docs/pet-anatomy.md`` for what it cannot).

    Method
    ------
    * liver, spleen: the organs found by :func:`.reference_regions.liver_reference` /
      :func:`.spleen_reference` (CT soft tissue under the lung bases, refined by uptake);
    * kidneys: on each side the largest blob with PET >= ``KIDNEY_MIN_UPTAKE_RATIO`` x the liver
      reference mean (or x the body median without a liver), posterior (behind the body centre),
      30-150 mm from the midline, from the lung base down 250 mm;
    * urinary bladder: the largest blob >= ``BLADDER_MIN_UPTAKE_RATIO`` x reference within 80 mm of
      the midline, below the kidneys (or 300 mm below the lung base);
    * parotid / submandibular / lacrimal glands: high-uptake blobs above the lung apices
      (:func:`.reference_regions.head_blobs`): the largest blob each side is the parotid; blobs
      > 15 mm below it are submandibular, > 20 mm above it lacrimal.
    * bowel (small bowel, duodenum, colon): **not estimated** (no reliable model-free method);
      a warning is recorded.
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

    def masks(self, target: Image, provenance: Provenance | None = None) -> dict[str, np.ndarray]:
        prov = provenance if provenance is not None else Provenance()
        anat = self.anatomy or PetCtAnatomy.build(self.pet, self.ct)
        if anat.body is None:
            raise InvalidInputError("the CT+PET organ estimate needs a CT", where="organ masks",
                                    fix="pass the CT of this PET/CT or user organ masks")
        for w in anat.provenance.warnings:
            prov.warn(w)
        pet = self.pet
        out: dict[str, np.ndarray] = {}
        liver = liver_reference(pet, anatomy=anat)
        spleen = spleen_reference(pet, anatomy=anat, liver_mean=(
            liver.statistics.mean if liver.found and liver.statistics else None))
        for reg in (liver, spleen):
            if reg.found and reg.organ_mask is not None:
                out[reg.name] = reg.organ_mask
            else:
                prov.warn(f"{reg.name} not estimated: {reg.reason}")
        assert anat.body is not None and anat.lungs is not None
        body = anat.body
        ref = liver.statistics.mean if liver.found and liver.statistics else float(
            np.median(pet.array[body]))
        if not (liver.found and liver.statistics):
            prov.warn("kidney/bladder thresholds relative to the body median (no liver reference)")
        x, y, z = axis_coordinates(pet)
        mid = body_midline_x(anat, x)
        cy = float((body.sum(axis=(0, 2)) * y).sum() / max(body.sum(), 1))
        lung_k = _lung_slices(anat.lungs)
        z_base = float(z[lung_k].min()) if lung_k.size else float(z.max())
        structure = np.ones((3, 3, 3), bool)

        # kidneys
        dx = np.abs(x - mid)
        region = body & ~anat.lungs
        region &= ((z <= z_base) & (z >= z_base - 250.0))[:, None, None]
        region &= (y > cy)[None, :, None] & ((dx >= 30.0) & (dx <= 150.0))[None, None, :]
        lab, n = ndi.label(region & (pet.array >= KIDNEY_MIN_UPTAKE_RATIO * ref), structure)
        kidney_z: list[float] = []
        if n:
            sizes = np.bincount(lab.ravel())
            coms = ndi.center_of_mass(np.ones_like(lab), lab, range(1, n + 1))
            for side, sel in (("left", lambda xx: xx > mid), ("right", lambda xx: xx < mid)):
                best = None
                for c in range(1, n + 1):
                    cx = float(np.interp(coms[c - 1][2], np.arange(x.size), x))
                    vol = sizes[c] * pet.voxel_volume_ml
                    if sel(cx) and vol >= KIDNEY_MIN_VOLUME_ML and (best is None or sizes[c] > sizes[best]):
                        best = c
                if best is not None:
                    out[f"kidney_{side}"] = lab == best
                    kidney_z.append(float(z[np.flatnonzero((lab == best).any(axis=(1, 2)))].min()))
                else:
                    prov.warn(f"kidney_{side} not found (no posterior paravertebral blob >= "
                              f"{KIDNEY_MIN_UPTAKE_RATIO:g} x reference)")
        else:
            prov.warn("kidneys not found")

        # urinary bladder
        z_top = (min(kidney_z) - 30.0) if kidney_z else z_base - 300.0
        region = body & (z < z_top)[:, None, None] & (dx < 80.0)[None, None, :]
        for ratio in (BLADDER_MIN_UPTAKE_RATIO, BLADDER_FALLBACK_UPTAKE_RATIO):
            lab, n = ndi.label(region & (pet.array >= ratio * ref), structure)
            if n:
                sizes = np.bincount(lab.ravel())
                sizes[0] = 0
                best = int(np.argmax(sizes))
                if sizes[best] * pet.voxel_volume_ml >= BLADDER_MIN_VOLUME_ML:
                    out["urinary_bladder"] = lab == best
                    if ratio != BLADDER_MIN_UPTAKE_RATIO:
                        prov.warn(f"urinary_bladder found only at the fallback threshold {ratio:g} "
                                  "x reference (low urinary activity)")
                    break
        if "urinary_bladder" not in out:
            prov.warn("urinary_bladder not found (pelvis outside the field of view or no hot "
                      "midline blob)")

        # head glands
        blobs, why = head_blobs(anat)
        parotid_z: dict[str, float] = {}
        for side in ("left", "right"):
            cands = [b for b in blobs if b.side == side]
            if cands:
                out[f"parotid_gland_{side}"] = cands[0].mask
                parotid_z[side] = cands[0].centroid_mm[2]
        if not parotid_z:
            prov.warn(f"salivary and lacrimal glands not estimated: {why or 'no lateral blobs'}")
        else:
            zp = float(np.mean(list(parotid_z.values())))
            for side in ("left", "right"):
                rest = [b for b in blobs if b.side == side and b.mask is not out.get(f"parotid_gland_{side}")]
                sub = [b for b in rest if b.centroid_mm[2] < zp - 15.0]
                lac = [b for b in rest if b.centroid_mm[2] > zp + 20.0]
                if sub:
                    out[f"submandibular_gland_{side}"] = sub[0].mask
                if lac:
                    out[f"lacrimal_gland_{side}"] = lac[0].mask
        prov.warn("bowel (small_bowel, duodenum, colon) is not estimated from CT+PET; supply masks "
                  "to exclude bowel uptake")
        prov.parameters.update({"organ_mask_source": "ct_pet_estimate", "tracer_family": self.family,
                                "kidney_min_uptake_ratio": KIDNEY_MIN_UPTAKE_RATIO,
                                "bladder_min_uptake_ratio": BLADDER_MIN_UPTAKE_RATIO,
                                "reference_uptake": round(ref, 4)})
        wanted = set(PHYSIOLOGICAL_UPTAKE[self.family]) | {"liver", "spleen"}
        out = {k: v for k, v in out.items() if k in wanted}
        if not target.same_grid(pet):
            out = {k: resample_to(pet.with_array(v.astype(np.uint8), units="label"), target,
                                  "nearest", 0).array.astype(bool) for k, v in out.items()}
        return out

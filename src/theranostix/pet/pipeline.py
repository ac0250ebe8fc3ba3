"""Whole PET analysis of one study: anatomy, reference regions, lesions, burden, scores, eligibility.

:func:`analyze_study` chains the tested building blocks of :mod:`theranostix.pet` and
:mod:`theranostix.planning` (method, thresholds and citations: ``docs/pet-analysis.md``):

1. tracer (``"auto"``: from the DICOM Radiopharmaceutical name, recorded);
2. CT masks on the PET grid (:class:`.reference_regions.PetCtAnatomy`; a CT on another frame of
   reference is refused; no CT -> recorded fallback: no bone/body mask, no CT reference regions);
3. organ masks (user masks via :class:`.organ_masks.UserOrganMasks`, otherwise the CT+PET estimate
   :class:`.organ_masks.CtPetOrganEstimate`);
4. reference regions (liver, blood pool, parotid, spleen; a missing one is recorded, never fatal);
5. physiological-uptake exclusion per tracer: intensely avid organs whole (dilated by
   ``ORGAN_MARGIN_VOXELS``; :data:`WHOLE_EXCLUSION_PREFIXES`); in the other organs (liver, spleen,
   bowel, and the background organs of :data:`BACKGROUND_ORGANS`) only voxels whose smoothed SUV
   is below the organ's median + ``ORGAN_FOCAL_K`` x robust SD, so focal lesions survive;
6. segmentation + small-lesion detection with the tracer's profile;
7. sites (bone from the CT bone mask, organs from the organ masks, node stations by the nearest
   station centre of a table placed relative to CT/PET landmarks: :data:`STATION_OFFSETS_MM`);
8. whole-body burden, miPSMA per lesion, PROMISE miTNM, VISION and TheraP eligibility.

:func:`theranostix.io.analysis_folder.write_analysis` / ``read_analysis`` are the file edge (this
module reads and writes no file).
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage as ndi

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.pet.anatomy import MARROW_MAX_HU
from theranostix.pet.lesions import (
    UNASSIGNED,
    LesionMetrics,
    LesionTable,
    WholeBodyBurden,
    site_from_label_map,
)
from theranostix.pet.metrics import region_statistics as lesion_region_statistics
from theranostix.pet.organ_masks import (
    canonical_organ_name,
    CtPetOrganEstimate,
    UserOrganMasks,
    physiological_organs,
)
from theranostix.pet.profiles import DetectionProfile, load_profile
from theranostix.pet.reference_regions import (
    PetCtAnatomy,
    ReferenceRegions,
    axis_coordinates,
    find_reference_regions,
)
from theranostix.pet.scores import ReferenceUptake, mipsma_score
from theranostix.pet.segmentation import (
    lesion_local_significance,
    lesions_without_own_peak,
    segment_lesions,
)
from theranostix.pet.staging import promise_mitnm, staging_input_from_sites

# ----------------------------------------------------------------------------- tracers
#: Tracer key -> (regex on the DICOM Radiopharmaceutical name, family, default detection profile).
#: Keys follow the twin tracer keys. Order matters: the first match wins.
TRACERS: dict[str, tuple[str, str, str]] = {
    "psma-1007": (r"psma.?1007", "psma_hepatobiliary", "psma-adaptive"),
    "psma-dcfpyl": (r"dcfpyl|piflufolastat|pylarify", "psma", "psma-adaptive"),
    "psma-ga68": (r"psma.?11\b|psma.?hbed|gozetotide|psma.?617|psma.?i&t|psma", "psma", "psma-adaptive"),
    "dotatate-ga68": (r"dota.?(tate|toc|noc)|sstr|edotreotide|oxodotreotide", "sstr", "sstr-liver"),
    "fdg": (r"fdg|fluorodeoxyglucose|fludeoxyglucose", "fdg", "fdg-percist-adaptive"),
}

#: Profile used when the tracer's default profile needs a liver reference that was not found.
NO_LIVER_FALLBACK_PROFILE: dict[str, str] = {
    "psma": "psma-adaptive", "psma_hepatobiliary": "psma-adaptive", "sstr": "sstr-liver",
    "fdg": "fdg-suv2.5",
}

#: Voxels added around each physiological organ (PSF spill-over; 1 voxel ~ one 4-mm voxel, a bit
#: under one FWHM at 5 mm resolution). The 5-twin pilot of docs/pet-lesions.md found that 2 voxels
#: lost nodes next to the bladder.
ORGAN_MARGIN_VOXELS: int = 1
#: Liver/spleen: voxels of the (dilated) organ are excluded only when their Gaussian-smoothed SUV
#: is below median + k x robust SD of the smoothed organ. k = 4 (not the k = 3 of the liver
#: mean + 3 SD rule of Hirata et al., PLoS One 2014): a liver holds ~2000 resolution elements, so
#: k = 3 (one-sided p = 1.3e-3) leaves a few noise clusters per liver, k = 4 (p = 3e-5) ~0.1.
ORGAN_FOCAL_K: float = 4.0
#: Smoothing (Gaussian sigma, voxels) before the liver/spleen focal rule (noise of single voxels).
ORGAN_FOCAL_SIGMA_VOXELS: float = 1.0
#: Lesions inside a focal-rule organ need at least this many voxels (see _postfilter).
FOCAL_ORGAN_MIN_VOXELS: int = 2
#: Spill-over rule (see _postfilter): a lesion must hold a local maximum (over a cube of
#: LOCAL_MAX_WINDOW_VOXELS) of the whole, un-masked PET smoothed by SPILLOVER_SIGMA_VOXELS, unless
#: the hotter voxel it rises towards belongs to another lesion (a shoulder of a lesion cluster).
#: A component without a peak of its own is the flank of something hotter -- on the twins the PSF
#: tail of an excluded organ (bladder, kidney) or an organ's hotter part -- not an uptake focus.
#: (Every one of the 54 false positives of twins 100-107 lacked a local maximum; 2 of 110 true
#: lesions did: a prostate primary abutting the bladder and a bone lesion beside a hotter one.)
LOCAL_MAX_WINDOW_VOXELS: int = 3
#: Sites exempt from the spill-over rule: a prostate primary abutting the hotter bladder has no
#: local maximum of its own in the smoothed image, yet it is the lesion PSMA staging starts from
#: (miT). Measured (lead, 2026-11-24, twins with user masks): seeds 100-111 FP/patient 0.00 ->
#: 0.08, lesions >= 4 mm found 88 -> 91 of 116, Dice >= 10 mm 0.739 -> 0.761; held-out seeds
#: 300-319 FP 0.05 -> 0.05, 147 -> 150 of 194, Dice 0.723 -> 0.739.
SPILLOVER_EXEMPT_SITE_KINDS: frozenset[str] = frozenset({"prostate"})
#: Noise-aware significance rule (see _postfilter, segmentation.lesion_local_significance): a
#: threshold lesion is kept only when its SUVmax exceeds the median of its own tissue's background
#: (bone lesions: bone voxels, others: non-bone voxels, 10-20 mm around it, not excluded, not in a
#: lesion) by LOCAL_SIGNIFICANCE_K robust per-voxel noise SDs of that background. k = 5 is the Rose
#: constant (Rose, J Opt Soc Am 1948;38:196). Removes red-marrow noise peaks crossing SUV 3 in twins
#: with marrow near SUV 2.5 (z 2.5-4.4 measured), real lesions scored z >= 6.8 except two faint
#: bone lesions (SUVmax 3.1 and 3.3, z 4.3 and 4.7).
LOCAL_SIGNIFICANCE_K: float = 5.0
SPILLOVER_SIGMA_VOXELS: float = 1.0
#: Physiological organs excluded WHOLE (+ margin): intensely avid, where no focal rule can tell a
#: lesion from the organ (kidneys, urinary bladder, salivary and lacrimal glands; brain and heart
#: for FDG). Every other physiological or background organ with a mask gets the focal rule
#: (liver, spleen, bowel, ...), so that lesions inside or next to them survive.
WHOLE_EXCLUSION_PREFIXES: tuple[str, ...] = ("kidney_", "urinary_bladder", "parotid_gland_",
                                             "submandibular_gland_", "lacrimal_gland_", "brain",
                                             "heart")
#: Organs with moderate background uptake that are not "physiological-uptake" organs of the
#: tracer but whose own background can exceed a fixed SUV threshold (blood pool/myocardium,
#: thyroid, stomach wall, pancreas, adrenals; for FDG also the salivary and lacrimal glands,
#: whose physiological uptake, SUV ~1.5-3, is not on FDG's whole-exclusion list: on the FDG
#: response twins a submandibular gland became a 5 mL "lesion" at SUVmax 3.7). When a mask is
#: available the focal rule is applied to them too: only uptake standing out of the organ's own
#: background can be a lesion. (For PSMA the glands are whole-excluded, which takes precedence.)
BACKGROUND_ORGANS: tuple[str, ...] = ("heart", "aorta", "thyroid_gland", "stomach", "pancreas",
                                      "adrenal_gland_left", "adrenal_gland_right", "esophagus",
                                      "gallbladder", "parotid_gland_left", "parotid_gland_right",
                                      "submandibular_gland_left", "submandibular_gland_right",
                                      "lacrimal_gland_left", "lacrimal_gland_right")

#: CT+PET organ estimate only (no user masks): the liver estimate is grown into connected voxels
#: of liver-like uptake (smoothed SUV within these fractions of its median) and liver CT numbers
#: (reference_regions.LIVER_HU_RANGE), at most LIVER_GROWTH_VOXELS voxels.
LIVER_GROWTH_UPTAKE_RANGE: tuple[float, float] = (0.6, 1.5)
LIVER_GROWTH_VOXELS: int = 15
#: CT+PET organ estimate only: a threshold lesion larger than ORGAN_LIKE_MIN_ML whose SUVmax is
#: below ORGAN_LIKE_MAX_X_LIVER x the liver reference mean is taken as un-masked physiological
#: uptake (bowel, un-estimated liver/spleen parts) and removed, with a warning giving its position.
#: A project heuristic (no literature value): bulky PSMA-avid disease is normally far hotter.
ORGAN_LIKE_MIN_ML: float = 30.0
ORGAN_LIKE_MAX_X_LIVER: float = 2.0

# ----------------------------------------------------------------------------- node stations
#: PROMISE node-station centres RELATIVE to landmarks (LPS mm offsets: +x patient left, +y
#: posterior, +z head). Pelvic stations and the prostate are relative to the centroid of the
#: urinary bladder (PET/organ mask); the retroperitoneal station to the mid-point of the kidney
#: centroids; mediastinal and supraclavicular to the lungs (centroid / apex). The offsets were
#: measured on the project's adult reference phantom (theranostix.twin, male, seed 7) and are an
#: APPROXIMATION of pelvic lymphatic anatomy (real positions vary by 2-3 cm between patients):
#: a node is given the nearest centre within STATION_MAX_DISTANCE_MM, then a zone rule.
STATION_OFFSETS_MM: dict[str, tuple[str, tuple[float, float, float]]] = {
    "prostate": ("bladder", (0.0, 16.0, -48.0)),
    "obturator_left": ("bladder", (50.0, 42.0, -28.0)),
    "obturator_right": ("bladder", (-50.0, 42.0, -28.0)),
    "external_iliac_left": ("bladder", (58.0, 28.0, 6.0)),
    "external_iliac_right": ("bladder", (-58.0, 28.0, 6.0)),
    "internal_iliac_left": ("bladder", (48.0, 92.0, 16.0)),
    "internal_iliac_right": ("bladder", (-48.0, 92.0, 16.0)),
    "presacral": ("bladder", (0.0, 88.0, 36.0)),
    "common_iliac_left": ("bladder", (40.0, 54.0, 66.0)),
    "common_iliac_right": ("bladder", (-40.0, 54.0, 66.0)),
    "inguinal_left": ("bladder", (80.0, -12.0, -72.0)),
    "inguinal_right": ("bladder", (-80.0, -12.0, -72.0)),
    "retroperitoneal": ("kidneys", (28.0, -38.0, -21.0)),
    "mediastinal": ("lungs", (0.0, 4.0, -12.0)),
    "supraclavicular_left": ("lung_apex", (48.0, 2.0, 2.0)),
    "supraclavicular_right": ("lung_apex", (-48.0, 2.0, 2.0)),
}
#: Lesions farther than this from every station centre go to the zone rule (mm).
STATION_MAX_DISTANCE_MM: float = 30.0
#: A lesion is "bone" when at least this fraction of its voxels lies in the CT bone mask.
BONE_SITE_FRACTION: float = 0.5
#: Organs (mask names) that name a lesion site when they hold the majority of its voxels.
ORGAN_SITE_NAMES: tuple[str, ...] = (
    "prostate", "liver", "spleen", "lung_left", "lung_right", "lungs", "adrenal_gland_left",
    "adrenal_gland_right", "brain", "pancreas", "stomach", "thyroid_gland")
#: VISION/TheraP "measurable" soft tissue: RECIST 1.1 node short axis >= 15 mm, other >= 10 mm.
RECIST_NODE_SHORT_AXIS_MM: float = 15.0
RECIST_MEASURABLE_MM: float = 10.0


class AnalysisResult(BaseModel):
    """The PET analysis of one study (contract: ``briefs/analysis_contract.md``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    tracer: str
    suv_kind: str
    reference_time: datetime | None
    uptake_time_min: float | None
    patient: dict
    reference_regions: dict[str, dict]
    lesions: LesionTable
    burden: WholeBodyBurden
    scores: dict[str, Any]
    eligibility: dict[str, Any]
    provenance: Provenance
    labels: Image | None = Field(default=None, exclude=True)
    suv: Image | None = Field(default=None, exclude=True)
    ct: Image | None = Field(default=None, exclude=True)
    #: Organ masks used (user or CT+PET estimate) as one label image on the PET grid, with
    #: ``organ_names`` {label: organ}; ``None`` when no organ mask was available.
    organs: Image | None = Field(default=None, exclude=True)
    organ_names: dict[int, str] = Field(default_factory=dict)


# ----------------------------------------------------------------------------- tracer decision
def resolve_tracer(tracer: str, agent: str | None, prov: Provenance) -> str:
    """Tracer key from ``tracer`` (a key, or ``"auto"``: the DICOM Radiopharmaceutical name).

    Raises
    ------
    InvalidInputError
        Unknown key, or ``"auto"`` with a missing/unrecognised Radiopharmaceutical.
    """
    t = (tracer or "").strip().lower()
    if t != "auto":
        if t in TRACERS:
            prov.parameters["tracer_decision"] = f"given: {t}"
            return t
        for key, (rx, _, _) in TRACERS.items():  # a name such as "[68Ga]Ga-PSMA-11"
            if re.search(rx, t):
                prov.parameters["tracer_decision"] = f"given name {tracer!r} -> {key}"
                return key
        raise InvalidInputError(f"unknown tracer {tracer!r}", where="--tracer",
                                fix=f"use auto or one of {', '.join(TRACERS)}")
    if not agent:
        raise InvalidInputError(
            "tracer 'auto' but the PET has no Radiopharmaceutical (0018,0031) name",
            where="RadiopharmaceuticalInformationSequence",
            fix=f"give the tracer explicitly (--tracer {'|'.join(TRACERS)})")
    a = agent.lower()
    for key, (rx, _, _) in TRACERS.items():
        if re.search(rx, a):
            prov.parameters["tracer_decision"] = (
                f"auto: Radiopharmaceutical (0018,0031) {agent!r} matched /{rx}/ -> {key}")
            return key
    raise InvalidInputError(
        f"tracer 'auto': Radiopharmaceutical {agent!r} is not a known tracer",
        where="Radiopharmaceutical (0018,0031)",
        fix=f"give the tracer explicitly (--tracer {'|'.join(TRACERS)})")


# ----------------------------------------------------------------------------- organ masks
def organ_label_image(pet: Image, masks: dict[str, np.ndarray]) -> tuple[Image | None, dict[int, str]]:
    """The organ masks as one label image on the PET grid (labels 1.. in sorted name order).

    Where masks overlap, the later name in sorted order wins in this label image (the masks used
    for exclusion stay separate boolean arrays).
    """
    if not masks:
        return None, {}
    arr = np.zeros(pet.shape, np.uint16)
    names: dict[int, str] = {}
    for lab, name in enumerate(sorted(masks), start=1):
        arr[np.asarray(masks[name], bool)] = lab
        names[lab] = name
    return pet.with_array(arr, units="label"), names


def _organ_masks(pet: Image, ct: Image | None, anat: PetCtAnatomy, tracer: str,
                 organ_masks: list[Image] | dict[str, np.ndarray] | None,
                 prov: Provenance) -> tuple[dict[str, np.ndarray], str]:
    if isinstance(organ_masks, dict):
        out = {}
        for name, m in organ_masks.items():
            arr = np.asarray(m)
            if arr.shape != pet.shape:
                raise InvalidInputError(
                    f"organ mask {name!r} has shape {arr.shape}, the PET grid is {pet.shape}",
                    where=f"organ_masks[{name!r}]",
                    fix="give masks on the PET grid, or label Images with their geometry")
            key = canonical_organ_name(name) or name  # e.g. kidney cortex + medulla -> kidney
            out[key] = (out[key] | arr.astype(bool)) if key in out else arr.astype(bool)
        prov.parameters["organ_mask_source"] = "user (arrays on the PET grid)"
        return out, "user"
    if organ_masks is not None:
        src = UserOrganMasks(list(organ_masks), reference=ct)
        return src.masks(pet, prov), "user"
    if anat.body is None:
        prov.warn("no CT and no organ masks: physiological uptake is not excluded, sites are "
                  "not assigned (every lesion 'unassigned')")
        return {}, "none"
    est = CtPetOrganEstimate(pet, anatomy=anat, tracer=TRACERS[tracer][1])
    masks = est.masks(pet, prov)
    _grow_liver(pet, anat, masks, prov)
    kid = np.zeros(pet.shape, bool)
    for k in ("kidney_left", "kidney_right"):
        if k in masks:
            kid |= _dilate(masks[k], 1)
    if "spleen" in masks and kid.any() and (masks["spleen"] & kid).sum() > 0.2 * masks["spleen"].sum():
        prov.warn("spleen estimate overlaps a kidney: dropped (spleen not excluded, spleen "
                  "reference from this estimate not used)")
        del masks["spleen"]
    return masks, "ct_pet_estimate"


def _grow_liver(pet: Image, anat: PetCtAnatomy, masks: dict[str, np.ndarray], prov: Provenance) -> None:
    from theranostix.pet.reference_regions import LIVER_HU_RANGE

    liver = masks.get("liver")
    if liver is None or not liver.any() or anat.hu is None or anat.body is None:
        return
    sm = ndi.gaussian_filter(np.asarray(pet.array, np.float32), 1.0)
    med = float(np.median(sm[liver]))
    lo, hi = LIVER_GROWTH_UPTAKE_RANGE
    allowed = (anat.body & (sm >= lo * med) & (sm <= hi * med)
               & (anat.hu >= LIVER_HU_RANGE[0]) & (anat.hu <= LIVER_HU_RANGE[1]))
    for name in ("kidney_left", "kidney_right", "urinary_bladder"):
        if name in masks:
            allowed &= ~masks[name]
    if anat.bone is not None:
        allowed &= ~anat.bone
    if anat.lungs is not None:
        allowed &= ~anat.lungs
    grown = ndi.binary_dilation(liver, ndi.generate_binary_structure(3, 1),
                                iterations=LIVER_GROWTH_VOXELS, mask=allowed | liver)
    added = int(grown.sum() - liver.sum())
    masks["liver"] = grown
    prov.parameters["liver_estimate_grown_ml"] = round(added * pet.voxel_volume_ml, 1)


def _dilate(mask: np.ndarray, n: int) -> np.ndarray:
    if n <= 0 or not mask.any():
        return mask
    box = ndi.find_objects(mask.astype(np.uint8))[0]
    box = tuple(slice(max(0, s.start - n - 1), s.stop + n + 1) for s in box)
    out = np.zeros_like(mask)
    out[box] = ndi.binary_dilation(mask[box], ndi.generate_binary_structure(3, 2), iterations=n)
    return out


def focal_organ_exclusion(suv: np.ndarray, organ: np.ndarray, *, k: float = ORGAN_FOCAL_K,
                          sigma_voxels: float = ORGAN_FOCAL_SIGMA_VOXELS,
                          margin_voxels: int = ORGAN_MARGIN_VOXELS) -> tuple[np.ndarray, dict]:
    """Voxels of a liver/spleen mask (dilated by ``margin_voxels``) that are *normal* uptake.

    A voxel is excluded when its Gaussian-smoothed SUV (sigma ``sigma_voxels``) is below
    ``median + k * 1.4826 * MAD`` of the smoothed SUV inside the organ; hotter voxels (focal
    lesions) stay available to the lesion rules. Returns the mask and the threshold used.
    """
    zone = _dilate(organ, margin_voxels)
    if not organ.any():
        return zone, {}
    box = ndi.find_objects(zone.astype(np.uint8))[0]
    box = tuple(slice(max(0, s.start - 2), s.stop + 2) for s in box)
    sm = np.zeros(suv.shape, np.float32)
    sm[box] = ndi.gaussian_filter(suv[box].astype(np.float32), sigma_voxels)
    vals = sm[organ]
    med = float(np.median(vals))
    rsd = float(1.4826 * np.median(np.abs(vals - med)))
    thr = med + k * rsd
    return zone & (sm < thr), {"median_suv": round(med, 4), "robust_sd_suv": round(rsd, 4),
                               "threshold_suv": round(thr, 4)}


def host_organ_labels(masks: dict[str, np.ndarray], tracer: str, *,
                      focal_rule_organs: bool = True) -> np.ndarray | None:
    """Integer label map of the organs a lesion can sit in and be contoured against.

    Every organ mask except the tracer's whole-excluded organs (:data:`WHOLE_EXCLUSION_PREFIXES`),
    numbered in name order (0 = no organ); used by the adaptive contour as the lesion's background
    tissue (``segmentation.host_background``). With ``focal_rule_organs=False`` the organs under
    the focal rule (physiological and :data:`BACKGROUND_ORGANS`, whose lesions already had to
    stand out of the organ's noise) are left out too: the organs the significance rule judges a
    lesion against (``segmentation.lesion_local_significance``; for PSMA: prostate gland, lungs).
    ``None`` without masks.
    """
    organs = physiological_organs(TRACERS[tracer][1])
    names = sorted(o for o, m in masks.items() if m.any()
                   and not _whole_excluded(o, organs)
                   and (focal_rule_organs or not (o in organs or o in BACKGROUND_ORGANS)))
    if not names:
        return None
    out = np.zeros(next(iter(masks.values())).shape, np.int32)
    for i, o in enumerate(names, start=1):
        out[masks[o]] = i
    return out


def _contour_hosts(masks: dict[str, np.ndarray], tracer: str,
                   bone: np.ndarray | None) -> np.ndarray | None:
    """Host tissues of the adaptive contour: the organ masks (:func:`host_organ_labels`) and,
    where no organ mask lies, the CT bone mask as one more host (a bone lesion stands out of the
    red marrow around it, not of the muscle and fat of its shell)."""
    host = host_organ_labels(masks, tracer) if masks else None
    if bone is None or not bone.any():
        return host
    if host is None:
        return bone.astype(np.int32)
    host = host.copy()
    host[(host == 0) & bone] = int(host.max()) + 1
    return host


def bone_background_mask(anat: PetCtAnatomy, prof: DetectionProfile,
                         prov: Provenance) -> np.ndarray | None:
    """Voxels that may be a lesion's background under the profile's ``bone_background`` rule.

    ``"marrow"``: every voxel except cortical bone (CT bone mask with HU >= ``MARROW_MAX_HU`` on
    the PET grid), so that a bone lesion's contour level and noise significance come from the
    marrow it sits in (on 4-mm voxels, half or more of the bone-mask voxels within 20 mm of a
    vertebra or rib are cortex at PSMA SUV ~0.2, so bone-mask statistics describe two tissues). ``None`` (all voxels) for
    ``"bone"`` or without CT.
    """
    if prof.bone_background != "marrow" or anat.bone is None or anat.hu is None:
        return None
    prov.parameters["bone_background"] = f"marrow (bone-mask voxels < {MARROW_MAX_HU:g} HU)"
    return ~(anat.bone & (anat.hu >= MARROW_MAX_HU))


def _whole_excluded(organ: str, organs: tuple[str, ...]) -> bool:
    """Is ``organ`` excluded whole for a tracer whose physiological organs are ``organs``?"""
    return organ in organs and organ.startswith(WHOLE_EXCLUSION_PREFIXES)


def _focal_zone(masks: dict[str, np.ndarray], tracer: str) -> np.ndarray | None:
    """Union of the organs under the focal rule (the same organs as in :func:`exclusion_mask`)."""
    organs = physiological_organs(TRACERS[tracer][1])
    zone = None
    for o, m in masks.items():
        if (o in organs or o in BACKGROUND_ORGANS) and not _whole_excluded(o, organs):
            zone = m.copy() if zone is None else zone | m
    return zone


def exclusion_mask(suv: Image, masks: dict[str, np.ndarray], tracer: str,
                   prov: Provenance) -> np.ndarray | None:
    """Physiological-uptake mask of the tracer (rules in the module docstring)."""
    family = TRACERS[tracer][1]
    organs = physiological_organs(family)
    missing = [o for o in organs if o not in masks]
    if missing:
        prov.warn("physiological-uptake organs without a mask (not excluded): " + ", ".join(missing))
    present = [o for o in organs if o in masks and masks[o].any()]
    present += [o for o in BACKGROUND_ORGANS if o not in present and o in masks and masks[o].any()]
    if not present:
        return None
    out = np.zeros(suv.shape, bool)
    rules: dict[str, Any] = {}
    arr = np.asarray(suv.array)
    for o in present:
        if not _whole_excluded(o, organs):
            m, info = focal_organ_exclusion(arr, masks[o])
            rules[o] = {"rule": f"smoothed SUV < median + {ORGAN_FOCAL_K:g} robust SD", **info}
            out |= m
        else:
            out |= _dilate(masks[o], ORGAN_MARGIN_VOXELS)
            rules[o] = {"rule": f"whole organ + {ORGAN_MARGIN_VOXELS} voxel margin"}
    prov.parameters["physiological_exclusion"] = rules
    return out


# ----------------------------------------------------------------------------- sites
def _centroid_mm(img: Image, mask: np.ndarray) -> np.ndarray:
    return img.index_to_world(np.argwhere(mask).mean(axis=0)[::-1])


def station_centres(pet: Image, masks: dict[str, np.ndarray], anat: PetCtAnatomy,
                    prov: Provenance) -> dict[str, tuple[float, float, float]]:
    """Station centres (LPS mm) from :data:`STATION_OFFSETS_MM` and the landmarks found."""
    land: dict[str, np.ndarray] = {}
    if "urinary_bladder" in masks and masks["urinary_bladder"].any():
        land["bladder"] = _centroid_mm(pet, masks["urinary_bladder"])
    kid = [masks[k] for k in ("kidney_left", "kidney_right") if k in masks and masks[k].any()]
    if len(kid) == 2:
        c = (_centroid_mm(pet, kid[0]) + _centroid_mm(pet, kid[1])) / 2.0
        land["kidneys"] = c
    if anat.lungs is not None and anat.lungs.any():
        land["lungs"] = _centroid_mm(pet, anat.lungs)
        _, _, z = axis_coordinates(pet)
        ks = np.flatnonzero(anat.lungs.any(axis=(1, 2)))
        apex = land["lungs"].copy()
        apex[2] = float(z[ks].max())
        land["lung_apex"] = apex
    if "lungs" in land:  # x of the mid-line from the lungs for the landmarks placed on organs
        for k in ("kidneys",):
            if k in land:
                land[k][0] = land["lungs"][0]
    out: dict[str, tuple[float, float, float]] = {}
    for name, (ref, off) in STATION_OFFSETS_MM.items():
        if ref in land:
            out[name] = tuple(float(v) for v in land[ref] + np.asarray(off))
    absent = sorted({ref for ref, _ in STATION_OFFSETS_MM.values()} - set(land))
    if absent:
        prov.warn("node-station landmarks not found (" + ", ".join(absent) + "): the stations "
                  "placed on them are not available")
    prov.parameters["station_landmarks_mm"] = {k: [round(float(x), 1) for x in v]
                                               for k, v in land.items()}
    return out


def make_site_rule(pet: Image, masks: dict[str, np.ndarray], anat: PetCtAnatomy,
                   prov: Provenance):
    """Site rule: bone (CT) -> organ mask -> nearest node station -> zone -> ``unassigned``."""
    organ_names = [n for n in ORGAN_SITE_NAMES if n in masks and masks[n].any()]
    if anat.lungs is not None and "lung_left" not in organ_names and "lung_right" not in organ_names:
        masks = {**masks, "lungs": anat.lungs}
        organ_names.append("lungs")
    lab = np.zeros(pet.shape, np.int16)
    names: dict[int, str] = {}
    for i, n in enumerate(organ_names, start=1):
        lab[masks[n] & (lab == 0)] = i
        names[i] = "lung" if n.startswith("lung") else n
    organ_rule = site_from_label_map(pet.with_array(lab, units="label"), names) if names else None
    centres = station_centres(pet, masks, anat, prov)
    cnames = list(centres)
    cxyz = np.asarray([centres[n] for n in cnames]) if cnames else np.zeros((0, 3))
    bone = anat.bone
    x, _, z = axis_coordinates(pet)
    lung_k = np.flatnonzero(anat.lungs.any(axis=(1, 2))) if anat.lungs is not None else np.array([])
    z_apex = float(z[lung_k].max()) if lung_k.size else None
    z_base = float(z[lung_k].min()) if lung_k.size else None
    z_pelvis = centres.get("common_iliac_left", (0, 0, None))[2]
    x_mid = float(cxyz[:, 0].mean()) if len(cxyz) else float(np.mean(x))
    prov.parameters["site_rule"] = (
        f"bone if >= {BONE_SITE_FRACTION:g} of voxels in the CT bone mask; else majority organ "
        f"mask {organ_names}; else nearest node station within {STATION_MAX_DISTANCE_MM:g} mm; "
        "else zone (above lung apex: supraclavicular/cervical side; between lungs: mediastinal; "
        "lung base to common iliac: retroperitoneal; below: other_pelvic)")

    def assign(mask: np.ndarray, image: Image) -> str:
        if bone is not None and bone[mask].mean() >= BONE_SITE_FRACTION:
            return "bone"
        if organ_rule is not None:
            s = organ_rule(mask, image)
            if s != UNASSIGNED:
                return s
        if anat.body is None and not cnames:
            return UNASSIGNED
        c = image.index_to_world(np.argwhere(mask)[:, ::-1].mean(axis=0))
        if len(cxyz):
            d = np.linalg.norm(cxyz - c[None, :], axis=1)
            i = int(np.argmin(d))
            if d[i] <= STATION_MAX_DISTANCE_MM:
                return cnames[i]
        side = "left" if c[0] > x_mid else "right"
        if z_apex is not None and c[2] > z_apex:
            return f"supraclavicular_{side}"
        if z_apex is not None and z_base is not None and c[2] >= z_base:
            return "mediastinal" if abs(c[0] - x_mid) < 40.0 else f"axillary_{side}"
        if z_pelvis is not None and c[2] >= z_pelvis:
            return "retroperitoneal"
        if z_pelvis is not None:
            return "other_pelvic"
        return UNASSIGNED

    return assign


def site_kind(site: str) -> str:
    """Coarse kind of a site name: prostate, node, bone, liver, lung, organ or unassigned."""
    from theranostix.pet.staging import ALL_STATIONS, normalise_station
    s = normalise_station(site)
    if s in ALL_STATIONS or s in ("other_pelvic",):
        return "node"
    if s in ("bone", "prostate", "liver", "lung"):
        return s
    if s == UNASSIGNED:
        return UNASSIGNED
    return "organ"


# ----------------------------------------------------------------------------- scores
def _ref_dict(regions: ReferenceRegions) -> dict[str, dict]:
    out = {}
    for name in ("liver", "blood_pool", "parotid", "spleen"):
        r = regions.get(name)
        st = r.statistics
        out[name] = {"found": r.found, "mean": st.mean if st else None, "sd": st.sd if st else None,
                     "max": st.max if st else None, "volume_ml": st.volume_ml if st else None,
                     "method": r.method, "reason": r.reason,
                     "centre_mm": list(r.centre_mm) if r.centre_mm else None}
    return out


def _scores(lesions: list[LesionMetrics], refs: dict[str, dict], tracer: str,
            prov: Provenance) -> dict[str, Any]:
    out: dict[str, Any] = {}
    family = TRACERS[tracer][1]
    if family.startswith("psma"):
        ru = ReferenceUptake(blood_pool_suv_mean=refs["blood_pool"]["mean"],
                             liver_suv_mean=refs["liver"]["mean"],
                             parotid_suv_mean=refs["parotid"]["mean"],
                             spleen_suv_mean=refs["spleen"]["mean"])
        per: dict[str, Any] = {}
        try:
            for les in lesions:
                per[str(les.lesion_id)] = mipsma_score(
                    les.suv_max, ru, tracer=tracer).model_dump(mode="json")
            out["mipsma"] = per
        except InvalidInputError as exc:
            out["mipsma"] = {"refused": exc.message}
            prov.warn(f"miPSMA not scored: {exc.message}")
    sites = [les.site for les in lesions]
    staging_in, skipped = staging_input_from_sites(sites)
    if skipped:
        prov.warn(f"{len(skipped)} lesion(s) without an anatomical site are not staged")
    if family.startswith("psma"):
        try:
            out["promise_mitnm"] = promise_mitnm(staging_in).model_dump(mode="json")
        except InvalidInputError as exc:
            out["promise_mitnm"] = {"refused": exc.message}
        out["staging_input"] = staging_in.model_dump(mode="json")
        out["staging_skipped_sites"] = skipped
    return out


def psma_lesions_for_eligibility(lesions: list[LesionMetrics]) -> list[Any]:
    """Metastatic lesions as :class:`planning.eligibility.PsmaLesion` (local/unassigned left out)."""
    from theranostix.planning.eligibility import PsmaLesion
    out = []
    for les in lesions:
        k = site_kind(les.site)
        if k in ("prostate", UNASSIGNED):
            continue
        kind = "lymph_node" if k == "node" else "bone" if k == "bone" else "visceral"
        measurable = (les.short_axis_mm >= RECIST_NODE_SHORT_AXIS_MM if kind == "lymph_node"
                      else les.long_axis_axial_mm >= RECIST_MEASURABLE_MM if kind == "visceral"
                      else False)
        out.append(PsmaLesion(lesion_id=f"lesion {les.lesion_id} ({les.site})", kind=kind,
                              suv_max=les.suv_max, short_axis_mm=les.short_axis_mm,
                              soft_tissue_component_short_axis_mm=None, measurable=measurable))
    return out


def _eligibility(lesions: list[LesionMetrics], refs: dict[str, dict], tracer: str,
                 prov: Provenance) -> dict[str, Any]:
    if not TRACERS[tracer][1].startswith("psma"):
        return {"note": f"VISION/TheraP apply to PSMA PET only (tracer {tracer})"}
    from theranostix.planning.eligibility import therap_eligibility, vision_eligibility
    mets = psma_lesions_for_eligibility(lesions)
    out: dict[str, Any] = {"short_axis_source": "PET segmentation (not CT): approximate"}
    if refs["liver"]["mean"] is None:
        out["vision"] = {"refused": "liver reference region not found"}
    else:
        try:
            out["vision"] = vision_eligibility(mets, refs["liver"]["mean"]).model_dump(mode="json")
        except InvalidInputError as exc:
            out["vision"] = {"refused": exc.message}
    if not mets:
        out["therap"] = {"refused": "no metastatic lesion detected"}
    else:
        try:
            out["therap"] = therap_eligibility(mets).model_dump(mode="json")
        except InvalidInputError as exc:
            out["therap"] = {"refused": exc.message}
    for k in ("vision", "therap"):
        if "refused" in out[k]:
            prov.warn(f"{k} eligibility not decided: {out[k]['refused']}")
    return out


def _postfilter(seg: Any, suv: Image, liver_mean: float | None, focal_zone: np.ndarray | None,
                site_rule: Any, prov: Provenance, organ_like: bool,
                bone: np.ndarray | None = None, excl: np.ndarray | None = None,
                significance_hosts: np.ndarray | None = None,
                background_mask: np.ndarray | None = None) -> Any:
    """Drop (recorded) false-positive patterns of the threshold/detector output:

    * spill-over: lesions holding no local maximum of the smoothed, un-masked PET
      (:data:`LOCAL_MAX_WINDOW_VOXELS`, :data:`SPILLOVER_SIGMA_VOXELS`) and not rising towards
      another lesion: a PSF tail of a hotter neighbour (excluded organ) has no peak of its own;
      exempt: prostate-site lesions (:data:`SPILLOVER_EXEMPT_SITE_KINDS`) and lesions holding the
      centre of an accepted small-lesion detection (it passed the detector's Rose-level test);
    * noise: threshold lesions (and detector lesions in bone: the detector's noise estimate does
      not see the red marrow's structured variation) whose SUVmax is less than
      :data:`LOCAL_SIGNIFICANCE_K` robust
      noise SDs above their own tissue's local background (``lesion_local_significance``; inside
      an organ of ``significance_hosts`` -- e.g. the prostate gland -- that organ's own voxels;
      shells limited to ``background_mask`` when given, see :func:`bone_background_mask`);
    * organ-like components (estimate mode only, :data:`ORGAN_LIKE_MIN_ML`);
    * single voxels inside the focal-rule organs (a real lesion seen through a 5-mm PSF covers
      more than one 4-mm voxel; a lone voxel there is noise or spill-over).
    """
    from theranostix.pet.metrics import lesion_table

    drop = []
    lab_arr = seg.labels.array
    flanks = set(lesions_without_own_peak(suv, lab_arr, sigma_voxels=SPILLOVER_SIGMA_VOXELS,
                                          window_voxels=LOCAL_MAX_WINDOW_VOXELS))
    # a lesion holding the centre of an accepted small-lesion detection already stood out of its
    # local background at the Rose level: a node abutting a hotter organ (colon, bladder) has no
    # peak of its own in the 1-voxel smoothed image, yet it is not that organ's PSF flank
    detected = {int(lab_arr[tuple(d.index_kji)]) for d in seg.detections} - {0}
    n_spill_kept = len(flanks & detected)
    flanks -= detected
    zsig = lesion_local_significance(suv, lab_arr, tissue_mask=bone, exclude_mask=excl,
                                     host_labels=significance_hosts, background_mask=background_mask)
    n_spill = n_noise = 0
    for les in seg.table.lesions:
        if les.lesion_id in flanks and site_kind(les.site) not in SPILLOVER_EXEMPT_SITE_KINDS:
            n_spill += 1
            drop.append(les)
        elif ((les.method == "threshold" or site_kind(les.site) == "bone")
              and zsig.get(les.lesion_id, np.inf) < LOCAL_SIGNIFICANCE_K):
            n_noise += 1
            drop.append(les)
        elif (organ_like and liver_mean is not None and les.method == "threshold"
                and les.volume_ml > ORGAN_LIKE_MIN_ML
                and les.suv_max < ORGAN_LIKE_MAX_X_LIVER * liver_mean):
            prov.warn(f"removed as un-masked physiological uptake (organ-like: {les.volume_ml:.0f} "
                      f"mL, SUVmax {les.suv_max:.1f} < {ORGAN_LIKE_MAX_X_LIVER:g} x liver) at "
                      f"{tuple(round(v) for v in les.centroid_lps_mm)} mm; supply organ masks")
            drop.append(les)
        elif focal_zone is not None and les.n_voxels < FOCAL_ORGAN_MIN_VOXELS:
            m = lab_arr == les.lesion_id
            if focal_zone[m].mean() >= 0.5:
                drop.append(les)
    prov.parameters["n_removed_spillover_no_local_max"] = n_spill
    prov.parameters["n_spillover_exempt_detector_centre"] = n_spill_kept
    prov.parameters["n_removed_not_significant"] = n_noise
    if not drop:
        return seg
    prov.parameters["n_removed_by_postfilter"] = len(drop)
    keep = [les for les in seg.table.lesions if les not in drop]
    old = seg.labels.array
    lut = np.zeros(int(old.max()) + 1, np.int32)
    for new_id, les in enumerate(keep, start=1):
        lut[les.lesion_id] = new_id
    lab = lut[old]
    methods = {lut[les.lesion_id]: les.method for les in keep}
    scores = {lut[les.lesion_id]: les.detection_score for les in keep if les.detection_score is not None}
    table = lesion_table(suv, lab, site_rule=site_rule, methods=methods, detection_scores=scores,
                         provenance=seg.table.provenance)
    return seg.model_copy(update={"table": table, "labels": seg.labels.with_array(lab)})


# ----------------------------------------------------------------------------- main entry
def analyze_study(pet: Any, ct: Image | None = None, *, tracer: str = "auto",
                  organ_masks: list[Image] | dict[str, np.ndarray] | None = None,
                  profile: str | None = None) -> AnalysisResult:
    """Analyse one PET(/CT) study (see the module docstring and ``docs/pet-analysis.md``).

    Parameters
    ----------
    pet
        :class:`theranostix.io.dicom.pet.PetVolume` (``.image`` in SUV units).
    ct
        CT (HU) of the same acquisition, or ``None`` (recorded fallback: no bone mask, no CT
        reference regions, no organ estimate).
    tracer
        ``"auto"`` (from the DICOM Radiopharmaceutical name) or a key of :data:`TRACERS`.
    organ_masks
        User masks: label Images (e.g. :func:`theranostix.io.masks.read_organ_masks`; checked
        against the CT grid) or boolean arrays on the PET grid keyed by organ name.
    profile
        Detection profile name (default: the tracer's, :data:`TRACERS`).

    Raises
    ------
    InvalidInputError
        Non-SUV PET, unknown tracer, CT on another frame of reference, organ masks of the wrong
        grid.
    """
    t0 = time.perf_counter()
    suv: Image = pet.image
    prov = Provenance(inputs={"pet_series_uid": getattr(pet, "series_uid", ""),
                              "study_uid": getattr(pet, "study_uid", "")})
    prov = prov.merged(pet.provenance) if getattr(pet, "provenance", None) else prov
    adm = getattr(pet, "administration", None)
    key = resolve_tracer(tracer, adm.agent if adm else None, prov)
    family = TRACERS[key][1]

    anat = PetCtAnatomy.build(suv, ct)
    prov = prov.merged(anat.provenance)
    if ct is None:
        prov.warn("PET without CT: no bone mask (bone lesions not identified as such), no body "
                  "mask, no CT reference regions; the qPSMA bone rule is not applied")
    masks, mask_source = _organ_masks(suv, ct, anat, key, organ_masks, prov)
    prov.parameters["organ_masks"] = sorted(masks)
    regions = find_reference_regions(suv, organ_masks=masks or None, anatomy=anat)
    for w in regions.provenance.warnings:
        prov.warn(w)
    refs = _ref_dict(regions)
    excl = exclusion_mask(suv, masks, key, prov)

    liver_stats = None
    if regions.liver.found and regions.liver.mask is not None:
        liver_stats = lesion_region_statistics(suv, regions.liver.mask)
    pname = profile or TRACERS[key][2]
    prof: DetectionProfile = load_profile(pname)
    if liver_stats is None and (prof.threshold.needs_liver or (
            prof.bone_threshold is not None and prof.bone_threshold.needs_liver)):
        fb = NO_LIVER_FALLBACK_PROFILE[family]
        if fb == pname:
            raise InvalidInputError(f"profile {pname!r} needs a liver reference, none was found",
                                    where="liver reference region",
                                    fix="supply a CT or organ masks with the liver")
        prov.warn(f"profile {pname!r} needs the liver reference, which was not found: "
                  f"profile {fb!r} used instead")
        pname, prof = fb, load_profile(fb)
    prov.parameters["detection_profile"] = pname
    site_rule = make_site_rule(suv, masks, anat, prov) if (masks or anat.body is not None) else None
    bg_mask = bone_background_mask(anat, prof, prov)
    seg = segment_lesions(suv, prof, exclude_mask=excl, bone_mask=anat.bone, body_mask=anat.body,
                          liver_stats=liver_stats, site_rule=site_rule,
                          host_labels=_contour_hosts(masks, key, anat.bone),
                          host_background_mask=bg_mask)
    for w in seg.provenance.warnings:
        prov.warn(w)
    seg = _postfilter(seg, suv, liver_stats.mean if liver_stats is not None else None,
                      _focal_zone(masks, key), site_rule, prov,
                      organ_like=mask_source == "ct_pet_estimate", bone=anat.bone, excl=excl,
                      background_mask=bg_mask,
                      significance_hosts=host_organ_labels(masks, key, focal_rule_organs=False)
                      if masks else None)
    prov.parameters["thresholds_suv"] = seg.thresholds_suv
    prov.parameters["n_detections_small_lesion_detector"] = len(seg.detections)
    lesions = seg.table.lesions
    organs, organ_names = organ_label_image(suv, masks)
    scores = _scores(lesions, refs, key, prov)
    elig = _eligibility(lesions, refs, key, prov)
    uptake = None
    if adm is not None and getattr(pet, "reference_time", None) is not None:
        uptake = (pet.reference_time - adm.datetime).total_seconds() / 60.0
    pat = getattr(pet, "patient", None)
    patient = {"sex": getattr(pat, "sex", None), "weight_kg": getattr(pat, "weight_kg", None),
               "height_m": getattr(pat, "height_m", None)}
    prov.parameters.update({"tracer": key, "tracer_family": family, "organ_mask_source": mask_source,
                            "analysis_seconds": round(time.perf_counter() - t0, 2)})
    return AnalysisResult(
        tracer=key, suv_kind=getattr(pet, "suv_kind", "bw"),
        reference_time=getattr(pet, "reference_time", None), uptake_time_min=uptake,
        patient=patient, reference_regions=refs, lesions=seg.table, burden=seg.table.burden,
        scores=scores, eligibility=elig, provenance=prov, labels=seg.labels, suv=suv, ct=ct,
        organs=organs, organ_names=organ_names)


__all__ = ["AnalysisResult", "TRACERS", "STATION_OFFSETS_MM", "analyze_study", "exclusion_mask",
           "focal_organ_exclusion", "host_organ_labels", "organ_label_image", "WHOLE_EXCLUSION_PREFIXES", "make_site_rule", "resolve_tracer",
           "site_kind", "station_centres"]

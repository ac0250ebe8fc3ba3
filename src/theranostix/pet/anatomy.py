"""Body, lung and bone masks from a CT in Hounsfield units, with classical morphology only.

No trained model and nothing downloaded: thresholds, connected components and hole filling
(:mod:`scipy.ndimage`). Every threshold is a named parameter below.

Masks are boolean arrays on the CT grid, indexed ``[k, j, i]`` like ``Image.array``.

Thresholds (defaults; override per call)
----------------------------------------
``BODY_HU_MIN = -500``
    Everything denser than -500 HU is patient (or couch/clothing); air is about -1000 HU and fat
    about -100 HU, so -500 sits halfway between air and the least dense soft tissue.
``LUNG_HU_MAX = -400``
    Aerated lung parenchyma is about -900 to -700 HU (expiration up to about -600 HU); -400 HU
    keeps dependent, partly collapsed lung while leaving out soft tissue (> -100 HU).
``BONE_HU_MIN = 200``
    Cortical bone is about +700 to +1900 HU, trabecular (cancellous) bone about +100 to +400 HU
    depending on age and mineral density, red marrow about 0 to +100 HU. 200 HU keeps cortex and
    dense trabecular bone; marrow enclosed by a cortical shell in an axial slice is added back by
    hole filling (``BONE_MAX_HOLE_CM2``). Osteoporotic trabecular bone (< 200 HU) is partly missed,
    and iodinated contrast (vessels, renal pelvis: 150-400 HU) or calcifications can be counted as
    bone; small islands (< ``BONE_MIN_COMPONENT_ML``) are dropped.

Values follow the usual CT attenuation tables (e.g. Hounsfield-unit ranges in Bushberg et al.,
*The Essential Physics of Medical Imaging*, 3rd ed., 2012, ch. 10; Lamba et al., Radiographics
2014;34:1361 for tissue ranges). They are conventions, not measurements of this scanner.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage as ndi

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.units import HU

BODY_HU_MIN: float = -500.0  #: HU; patient vs surrounding air
LUNG_HU_MAX: float = -400.0  #: HU; aerated lung is below this value
BONE_HU_MIN: float = 200.0  #: HU; cortical + dense trabecular bone is above this value
#: HU; bone-mask voxels below this are cancellous bone and marrow (trabecular bone +100 to +400 HU,
#: red marrow 0 to +100 HU; cortex +700 to +1900 HU, see the module notes): the tissue a bone
#: lesion's background is taken from when a profile asks for ``bone_background: marrow``.
MARROW_MAX_HU: float = 400.0
BONE_MAX_HOLE_CM2: float = 30.0  #: cm^2; marrow holes up to this axial area are filled (vertebra ~15 cm^2)
BONE_MIN_COMPONENT_ML: float = 0.5  #: mL; smaller dense islands (calcifications, noise) are dropped
LUNG_SECOND_COMPONENT_MIN_FRACTION: float = 0.25  #: 2nd air component kept as lung if >= this x 1st
LUNG_MIN_VOLUME_ML: float = 50.0  #: mL; smaller internal air is never called lung
LUNG_PLAUSIBLE_MIN_ML: float = 500.0  #: mL; less lung triggers the convex-hull fallback
LUNG_PARENCHYMA_MIN_HU: float = -950.0  #: HU; fallback only: parenchyma vs outside air (-1000)
LUNG_MAX_HOLE_CM2: float = 2.0  #: cm^2; vessels/nodules enclosed by lung in a slice are added back

# 6-connectivity for 2-D per-slice work, 26-connectivity (full) in 3-D component labelling
_STRUCT_3D = np.ones((3, 3, 3), dtype=bool)


def require_hu(ct: Image, where: str = "CT") -> None:
    """Refuse an image that is not a CT in Hounsfield units.

    Raises
    ------
    InvalidInputError
        If ``ct.units`` is not ``"HU"`` or the values cannot be HU (no value below 0, which means
        the stored pixel values were not rescaled with RescaleSlope/RescaleIntercept).
    """
    if ct.units != HU:
        raise InvalidInputError(
            f"expected a CT in Hounsfield units (units 'HU'), got units {ct.units!r}",
            where=where,
            fix="load the CT with theranostix.io.dicom.load_ct (which applies the rescale) or "
            "pass the attenuation image, not the PET/SPECT",
        )
    arr = ct.array
    if arr.size == 0 or not np.isfinite(arr).any():
        raise InvalidInputError("the CT has no finite values", where=where)
    if float(np.nanmin(arr)) >= 0.0:
        raise InvalidInputError(
            "CT values are all >= 0: these look like stored pixel values, not HU (air is -1000 HU)",
            where=where,
            fix="apply RescaleSlope and RescaleIntercept (0028,1053)/(0028,1052) when reading",
        )


def _largest_components(labels: np.ndarray, n: int) -> list[tuple[int, int]]:
    """(label, size) of the ``n`` largest labels of a label array (label 0 is background)."""
    sizes = np.bincount(labels.ravel())
    if sizes.size <= 1:
        return []
    sizes[0] = 0
    order = np.argsort(sizes)[::-1][:n]
    return [(int(lab), int(sizes[lab])) for lab in order if sizes[lab] > 0]


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 26-connected component of a boolean mask (empty mask -> empty mask)."""
    labels, n = ndi.label(mask, structure=_STRUCT_3D)
    if n == 0:
        return np.zeros_like(mask, dtype=bool)
    lab, _ = _largest_components(labels, 1)[0]
    return labels == lab


def fill_holes_per_slice(mask: np.ndarray, max_hole_voxels: int | None = None) -> np.ndarray:
    """Fill holes in every axial slice (``mask[k]``).

    Parameters
    ----------
    mask
        Boolean mask ``[k, j, i]``.
    max_hole_voxels
        Fill only holes up to this many voxels per slice; ``None`` fills all holes.
    """
    out = np.empty_like(mask, dtype=bool)
    for k in range(mask.shape[0]):
        sl = mask[k]
        if not sl.any():
            out[k] = sl
        elif max_hole_voxels is None:
            out[k] = ndi.binary_fill_holes(sl)
        else:
            holes = ndi.binary_fill_holes(sl) & ~sl
            lab, n = ndi.label(holes)
            if n:
                small = np.bincount(lab.ravel()) <= max_hole_voxels
                small[0] = False
                out[k] = sl | small[lab]
            else:
                out[k] = sl
    return out


def body_mask(ct: Image, *, threshold_hu: float = BODY_HU_MIN) -> np.ndarray:
    """Mask of the patient's body.

    Method: ``HU > threshold_hu``; a 3-D opening with a 3x3x3 cube to detach thin couch and
    clothing contacts; the largest 26-connected component; then holes filled in every axial slice
    (so lungs, airways and bowel gas belong to the body).

    Parameters
    ----------
    ct
        CT image in HU.
    threshold_hu
        HU above which a voxel is patient (default ``BODY_HU_MIN`` = -500 HU).

    Returns
    -------
    numpy.ndarray
        Boolean mask on the CT grid; empty if nothing is denser than the threshold.
    """
    require_hu(ct)
    dense = ct.array > threshold_hu
    opened = ndi.binary_opening(dense, structure=_STRUCT_3D)
    if not opened.any():  # very thin objects: keep the raw threshold
        opened = dense
    body = largest_component(opened)
    return fill_holes_per_slice(body)


def lung_mask(
    ct: Image,
    body: np.ndarray | None = None,
    *,
    threshold_hu: float = LUNG_HU_MAX,
    min_volume_ml: float = LUNG_MIN_VOLUME_ML,
    second_component_min_fraction: float = LUNG_SECOND_COMPONENT_MIN_FRACTION,
    warnings: list[str] | None = None,
) -> np.ndarray:
    """Mask of the lungs (with the trachea and main bronchi when connected).

    Method: air (``HU < threshold_hu``) inside the body mask (so air outside the patient is
    excluded); 26-connected components; the largest component is lung if it holds at least
    ``min_volume_ml``. The second largest is kept as the other lung when it is at least
    ``second_component_min_fraction`` of the largest and overlaps it in z by at least half of its
    own extent (lungs lie side by side; bowel and stomach gas lie below the lungs and are smaller,
    which is the bowel-gas heuristic). Vessels enclosed by lung in an axial slice (holes up to
    ``LUNG_MAX_HOLE_CM2``) are added back.

    Fallback: when less than ``LUNG_PLAUSIBLE_MIN_ML`` of lung is enclosed by the body mask (the
    lungs touch the outside air, e.g. a chest wall cut off by a truncated field of view), lung
    parenchyma (3x3x3-averaged HU between ``LUNG_PARENCHYMA_MIN_HU`` = -950 and the lung
    threshold, so not the -1000 HU outside air) is searched inside the per-slice convex hull of
    the body instead, and a message is appended to ``warnings``. Severe emphysema (< -950 HU) is
    missed by this fallback.

    Limits: a large hiatal hernia or pneumoperitoneum next to a lung can be taken as lung; a
    collapsed or fully consolidated lung is missed (it is not air).
    """
    require_hu(ct)
    if body is None:
        body = body_mask(ct)
    out = _lungs_inside(ct, body, threshold_hu, min_volume_ml, second_component_min_fraction)
    vol = out.sum() * ct.voxel_volume_ml
    if vol < LUNG_PLAUSIBLE_MIN_ML:
        # fallback: lung parenchyma (-950..-400 HU after 3x3x3 averaging) is denser than the
        # outside air (-1000 HU); search it inside the per-slice convex hull of the body
        hull = convex_hull_per_slice(ct.array > BODY_HU_MIN)
        avg = ndi.uniform_filter(ct.array.astype(np.float32), size=3)
        parenchyma = (avg > LUNG_PARENCHYMA_MIN_HU) & (avg < threshold_hu) & hull
        parenchyma = ndi.binary_opening(parenchyma, structure=_STRUCT_3D)
        alt = _lungs_inside(ct, parenchyma, threshold_hu, min_volume_ml,
                            second_component_min_fraction, air=parenchyma)
        alt_vol = alt.sum() * ct.voxel_volume_ml
        if alt_vol >= LUNG_PLAUSIBLE_MIN_ML and alt_vol > vol:
            if warnings is not None:
                warnings.append(
                    f"only {vol:.0f} mL of lung is enclosed by the body: the lungs touch the outside "
                    "air (chest wall missing or truncated?); lung parenchyma (-950 to -400 HU) was "
                    f"searched inside the per-slice convex hull of the body instead ({alt_vol:.0f} mL)")
            out = alt
    return out


def convex_hull_per_slice(mask: np.ndarray) -> np.ndarray:
    """Per-slice 2-D convex hull of a mask (``skimage.morphology.convex_hull_image``)."""
    from skimage.morphology import convex_hull_image

    out = np.zeros_like(mask, dtype=bool)
    for k in range(mask.shape[0]):
        if mask[k].sum() >= 3:
            out[k] = convex_hull_image(mask[k])
    return out


def _lungs_inside(ct: Image, body: np.ndarray, threshold_hu: float, min_volume_ml: float,
                  second_component_min_fraction: float, air: np.ndarray | None = None) -> np.ndarray:
    if air is None:
        air = (ct.array < threshold_hu) & body
    labels, n = ndi.label(air, structure=_STRUCT_3D)
    out = np.zeros_like(air, dtype=bool)
    if n == 0:
        return out
    vox_ml = ct.voxel_volume_ml
    comps = _largest_components(labels, 2)
    first_lab, first_size = comps[0]
    if first_size * vox_ml < min_volume_ml:
        return out
    out |= labels == first_lab
    if len(comps) > 1:
        lab2, size2 = comps[1]
        if size2 >= second_component_min_fraction * first_size and size2 * vox_ml >= min_volume_ml:
            z1 = np.flatnonzero((labels == first_lab).any(axis=(1, 2)))
            z2 = np.flatnonzero((labels == lab2).any(axis=(1, 2)))
            overlap = max(0, min(z1[-1], z2[-1]) - max(z1[0], z2[0]) + 1)
            if overlap >= 0.5 * (z2[-1] - z2[0] + 1):
                out |= labels == lab2
    sx, sy, _ = ct.spacing
    max_hole = max(1, int(LUNG_MAX_HOLE_CM2 * 100.0 / (sx * sy)))
    return fill_holes_per_slice(out, max_hole_voxels=max_hole) & body


def bone_mask(
    ct: Image,
    body: np.ndarray | None = None,
    *,
    threshold_hu: float = BONE_HU_MIN,
    max_hole_cm2: float = BONE_MAX_HOLE_CM2,
    min_component_ml: float = BONE_MIN_COMPONENT_ML,
) -> np.ndarray:
    """Mask of the skeleton.

    Method: ``HU > threshold_hu`` inside the body; marrow cavities enclosed by cortex in an axial
    slice (holes up to ``max_hole_cm2``, which excludes the pelvic inlet and the thorax) are filled;
    26-connected islands smaller than ``min_component_ml`` are removed.

    See the module docstring for the cortical / trabecular note and what is mislabelled.
    """
    require_hu(ct)
    if body is None:
        body = body_mask(ct)
    dense = (ct.array > threshold_hu) & body
    sx, sy, _ = ct.spacing
    max_hole = max(1, int(max_hole_cm2 * 100.0 / (sx * sy)))
    filled = fill_holes_per_slice(dense, max_hole_voxels=max_hole)
    labels, n = ndi.label(filled, structure=_STRUCT_3D)
    if n == 0:
        return filled
    sizes = np.bincount(labels.ravel())
    min_vox = max(1, int(np.ceil(min_component_ml / ct.voxel_volume_ml)))
    keep = sizes >= min_vox
    keep[0] = False
    return keep[labels]


@dataclass
class CtMasks:
    """Body, lung and bone masks of one CT (boolean arrays on the CT grid ``[k, j, i]``).

    Attributes
    ----------
    ct
        The CT the masks were computed from (HU).
    body, lungs, bone
        Boolean masks.
    parameters
        Thresholds used (HU, cm^2, mL).
    warnings
        Fallbacks taken (e.g. lungs searched inside the convex hull of the body).
    """

    ct: Image
    body: np.ndarray
    lungs: np.ndarray
    bone: np.ndarray
    parameters: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def as_images(self) -> dict[str, Image]:
        """The masks as ``uint8`` Images on the CT grid (units ``"label"``)."""
        return {
            name: self.ct.with_array(getattr(self, name).astype(np.uint8), units="label")
            for name in ("body", "lungs", "bone")
        }


def ct_masks(
    ct: Image,
    *,
    body_threshold_hu: float = BODY_HU_MIN,
    lung_threshold_hu: float = LUNG_HU_MAX,
    bone_threshold_hu: float = BONE_HU_MIN,
) -> CtMasks:
    """Body, lung and bone masks of a CT in one call (the body mask is computed once)."""
    require_hu(ct)
    body = body_mask(ct, threshold_hu=body_threshold_hu)
    warnings: list[str] = []
    lungs = lung_mask(ct, body, threshold_hu=lung_threshold_hu, warnings=warnings)
    bone = bone_mask(ct, body, threshold_hu=bone_threshold_hu)
    return CtMasks(
        ct=ct,
        body=body,
        lungs=lungs,
        bone=bone,
        parameters={
            "body_threshold_hu": body_threshold_hu,
            "lung_threshold_hu": lung_threshold_hu,
            "bone_threshold_hu": bone_threshold_hu,
            "bone_max_hole_cm2": BONE_MAX_HOLE_CM2,
            "bone_min_component_ml": BONE_MIN_COMPONENT_ML,
        },
        warnings=warnings,
    )

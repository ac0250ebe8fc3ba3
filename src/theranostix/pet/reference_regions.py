"""Reference regions for PET quantification: liver, blood pool, parotid and spleen.

Two ways to find each region, both pure functions:

* **from organ masks** the user supplies (e.g. TotalSegmentator run elsewhere, read with
  :mod:`theranostix.io.masks` and put on the PET grid with :mod:`theranostix.pet.organ_masks`):
  the sphere is placed at the deepest point of the organ (the maximum of its Euclidean distance
  map), so it lies entirely inside the mask;
* **estimated from CT + PET** without any trained model: the organ is located from CT anatomy
  (lung bases, spine, soft-tissue HU) and refined by PET uptake homogeneity (see each function).

Definitions (PERCIST 1.0, Wahl et al. JNM 2009;50 Suppl 1:122S; see
``reference/pet/CRITERIA.md`` §3.1):

* liver: a **3 cm diameter sphere** in the normal right lobe;
* blood pool: a **1 cm diameter x 2 cm long cylinder** in the descending thoracic aorta;
* parotid (PROMISE V2 miPSMA score, Seifert et al. Eur Urol 2023;83:405): the gland's SUVmean;
* spleen (replaces the liver for [18F]PSMA-1007): a sphere in the spleen (no standard size;
  ``SPLEEN_SPHERE_DIAMETER_MM``).

Voxel rule: a voxel belongs to a sphere or cylinder when its *centre* lies inside it. Statistics
are over those voxels of the PET (mean, SD with ddof = 1, max, min, volume = N x voxel volume).

A region that cannot be found is returned with ``found=False`` and the reason (never a guess);
:meth:`ReferenceRegion.require` turns that into an :class:`InvalidInputError`.

Limits of the CT+PET estimate are listed in ``docs/pet-anatomy.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage as ndi

from theranostix.core.errors import InvalidInputError, UnsupportedInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.core.resample import resample_to, resample_to_spacing
from theranostix.pet.anatomy import CtMasks, ct_masks, fill_holes_per_slice, largest_component, require_hu

# ----------------------------------------------------------------------------- parameters
LIVER_SPHERE_DIAMETER_MM: float = 30.0  #: PERCIST 1.0 liver VOI (Wahl 2009)
BLOOD_POOL_DIAMETER_MM: float = 10.0  #: PERCIST 1.0 blood-pool cylinder diameter
BLOOD_POOL_LENGTH_MM: float = 20.0  #: PERCIST 1.0 blood-pool cylinder length
SPLEEN_SPHERE_DIAMETER_MM: float = 20.0  #: no standard; a sphere that fits a normal spleen
CT_WORK_SPACING_MM: float = 2.0  #: CTs finer than this are resampled to it before masking
EDGE_MARGIN_MM: float = 8.0  #: extra distance from the organ edge (about 1 PET FWHM)
LIVER_HU_RANGE: tuple[float, float] = (20.0, 160.0)  #: unenhanced ~50-65 HU, portal venous <= 150
SPLEEN_HU_RANGE: tuple[float, float] = (20.0, 160.0)
SOFT_TISSUE_WALL_MARGIN_MM: float = 15.0  #: body-wall muscles within this depth are excluded
LIVER_SLAB_BELOW_LUNG_BASE_MM: float = 200.0  #: search from the right lung base down this far
LIVER_SLAB_ABOVE_LUNG_BASE_MM: float = 60.0  #: ... and up this far (the dome rises into the lung)
SPLEEN_SLAB_BELOW_LUNG_BASE_MM: float = 150.0
SPLEEN_SLAB_ABOVE_LUNG_BASE_MM: float = 40.0
LIVER_MIN_VOLUME_ML: float = 300.0  #: smaller candidates are not called liver
SPLEEN_MIN_VOLUME_ML: float = 40.0
SPLEEN_KIDNEY_CLEARANCE_VOXELS: int = 1  #: kidneys (holes filled) dilated by this before the spleen search
#: CT+PET spleen: its uptake must be >= this x the liver mean. Spleen/liver SUV ratio: about
#: 1.3 PSMA-11, 0.9 PSMA-1007, 0.8-0.9 FDG, 2-3 SSTR (tracer profiles of the twins,
#: twin/data/tracers.yaml); muscle is 0.15-0.35 x liver, so a candidate below 0.5 x is not spleen
SPLEEN_MIN_X_LIVER: float = 0.5
UPTAKE_HOMOGENEITY_TOLERANCE: float = 0.5  #: keep voxels within +/-50 % of the organ median
SPLEEN_HOT_LIMIT_X_LIVER: float = 3.5  #: SSTR spleen/liver can reach ~3; PSMA kidney/liver ~4-5
ORGAN_UPTAKE_PERCENTILE: float = 90.0  #: CT+PET estimate: organ level near this candidate percentile
LUNG_EXTENT_MIN_AREA_FRACTION: float = 0.1  #: lung base/apex: slices with >= this x max lung area
AORTA_HU_RANGE: tuple[float, float] = (0.0, 200.0)  #: unenhanced blood ~40 HU
AORTA_RADIUS_RANGE_MM: tuple[float, float] = (8.0, 18.0)  #: descending aorta diameter 16-36 mm
AORTA_WINDOW_X_MM: tuple[float, float] = (-10.0, 70.0)  #: search window, x relative to spine (+ = left)
AORTA_WINDOW_Y_MM: tuple[float, float] = (-50.0, 30.0)  #: y relative to vertebral body front (+ = post.)
AORTA_MIN_SLICE_FRACTION: float = 0.3  #: the aorta must be tracked in >= 30 % of the slices
AORTA_MIN_EDGE_FRACTION: float = 0.5  #: Hough score: fraction of the circle on Canny edges
AORTA_SMOOTHING_SIGMA_MM: float = 3.0  #: in-plane Gaussian before edge detection (CT noise)
AORTA_MAX_TRACK_DEVIATION_MM: float = 10.0  #: slice centres farther from the median are outliers
PAROTID_MIN_HEIGHT_ABOVE_LUNG_APEX_MM: float = 60.0  #: the parotids lie well above the lung apices
PAROTID_BLOB_FRACTION: float = 0.4  #: head blobs: PET >= this x the 99.5th percentile of the head
PAROTID_ISOCONTOUR_FRACTION: float = 0.5  #: gland VOI: voxels >= this x the gland maximum
PAROTID_MIN_VOLUME_ML: float = 1.0


# ----------------------------------------------------------------------------- results
class RegionStatistics(BaseModel):
    """PET statistics inside a region (values in the PET's units, volume in mL)."""

    mean: float
    sd: float
    max: float
    min: float
    volume_ml: float
    n_voxels: int
    units: str


class ReferenceRegion(BaseModel):
    """A reference region, or the reason it could not be found.

    Attributes
    ----------
    name
        ``"liver"``, ``"blood_pool"``, ``"parotid"`` or ``"spleen"``.
    found
        False when the region could not be placed; ``reason`` says why.
    method
        How it was found, e.g. ``"user_mask:deepest_point_sphere"``, ``"ct_pet_estimate"``.
    statistics
        PET statistics inside the region.
    centre_mm
        LPS centre of the sphere/cylinder (mm).
    geometry
        Shape and size, e.g. ``{"shape": "sphere", "diameter_mm": 30.0}``.
    mask
        Boolean mask on the PET grid (not serialised).
    organ_mask
        The whole organ found on the way (CT+PET estimate or user mask), on the PET grid
        (not serialised); ``None`` when not applicable.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    found: bool
    method: str
    reason: str | None = None
    statistics: RegionStatistics | None = None
    centre_mm: tuple[float, float, float] | None = None
    geometry: dict[str, Any] = Field(default_factory=dict)
    provenance: Provenance = Field(default_factory=Provenance)
    mask: np.ndarray | None = Field(default=None, exclude=True, repr=False)
    organ_mask: np.ndarray | None = Field(default=None, exclude=True, repr=False)

    def require(self) -> "ReferenceRegion":
        """Return self when found, else raise :class:`InvalidInputError` with the reason."""
        if not self.found:
            raise InvalidInputError(
                f"the {self.name} reference region could not be found: {self.reason}",
                where=f"reference region '{self.name}' ({self.method})",
                fix="supply organ masks (e.g. TotalSegmentator output via --organs) or a CT "
                "covering the region, or choose another reference region",
            )
        return self


class ReferenceRegions(BaseModel):
    """The four reference regions of one PET."""

    liver: ReferenceRegion
    blood_pool: ReferenceRegion
    parotid: ReferenceRegion
    spleen: ReferenceRegion
    provenance: Provenance = Field(default_factory=Provenance)

    def get(self, name: str) -> ReferenceRegion:
        """Region by name (``liver``, ``blood_pool``, ``parotid``, ``spleen``)."""
        if name not in ("liver", "blood_pool", "parotid", "spleen"):
            raise InvalidInputError(f"unknown reference region {name!r}", where="reference region")
        return getattr(self, name)


def _not_found(name: str, method: str, reason: str, prov: Provenance | None = None) -> ReferenceRegion:
    return ReferenceRegion(name=name, found=False, method=method, reason=reason,
                           provenance=prov or Provenance())


def region_statistics(pet: Image, mask: np.ndarray) -> RegionStatistics:
    """Mean, SD (ddof=1), max, min and volume of ``pet`` inside ``mask`` (mask on the PET grid)."""
    if mask.shape != pet.shape:
        raise InvalidInputError(
            f"mask shape {mask.shape} differs from the PET grid {pet.shape}",
            where="reference-region mask",
            fix="resample the mask to the PET grid (theranostix.pet.organ_masks)",
        )
    vals = pet.array[mask].astype(float)
    if vals.size == 0:
        raise InvalidInputError("empty region mask", where="reference-region mask")
    return RegionStatistics(
        mean=float(vals.mean()),
        sd=float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
        max=float(vals.max()),
        min=float(vals.min()),
        volume_ml=float(vals.size * pet.voxel_volume_ml),
        n_voxels=int(vals.size),
        units=pet.units,
    )


# ----------------------------------------------------------------------------- geometry helpers
def axis_coordinates(image: Image) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LPS x of every column i, y of every row j, z of every slice k (axis-aligned grids only).

    Raises
    ------
    UnsupportedInputError
        When the grid is oblique (direction not a signed permutation of the identity).
    """
    d = image.direction_matrix
    if not np.allclose(np.abs(d), np.eye(3), atol=1e-4):
        raise UnsupportedInputError(
            "reference regions need an axial image (direction = identity up to axis flips); "
            f"got direction {image.direction}",
            where="image geometry",
            fix="resample the image to an axial grid first (theranostix.core.resample)",
        )
    nx, ny, nz = image.size_ijk
    sx, sy, sz = image.spacing
    ox, oy, oz = image.origin
    return (ox + d[0, 0] * sx * np.arange(nx), oy + d[1, 1] * sy * np.arange(ny),
            oz + d[2, 2] * sz * np.arange(nz))


def _sampling_kji(image: Image) -> tuple[float, float, float]:
    sx, sy, sz = image.spacing
    return (sz, sy, sx)


def distance_inside_mm(mask: np.ndarray, image: Image) -> np.ndarray:
    """Distance (mm) from each voxel centre in ``mask`` to the nearest centre outside it.

    The array border counts as outside (the mask is padded with background), so a region never
    extends past the field of view.
    """
    out = np.zeros(mask.shape, dtype=float)
    if not mask.any():
        return out
    box = ndi.find_objects(mask.astype(np.uint8))[0]  # outside the box all is background: exact
    padded = np.pad(mask[box], 1)
    dt = ndi.distance_transform_edt(padded, sampling=_sampling_kji(image))
    out[box] = dt[1:-1, 1:-1, 1:-1]
    return out


def sphere_mask(image: Image, centre_kji: tuple[int, int, int], diameter_mm: float) -> np.ndarray:
    """Voxels of ``image`` whose centres lie within ``diameter_mm / 2`` of voxel ``centre_kji``."""
    r = diameter_mm / 2.0
    sz, sy, sx = _sampling_kji(image)
    k, j, i = np.ogrid[: image.shape[0], : image.shape[1], : image.shape[2]]
    d2 = ((k - centre_kji[0]) * sz) ** 2 + ((j - centre_kji[1]) * sy) ** 2 + ((i - centre_kji[2]) * sx) ** 2
    return d2 <= r * r + 1e-9


def cylinder_mask(image: Image, centre_kji: tuple[int, int, int], diameter_mm: float,
                  length_mm: float) -> np.ndarray:
    """Voxels whose centres lie in a z-aligned cylinder centred on voxel ``centre_kji``."""
    r = diameter_mm / 2.0
    sz, sy, sx = _sampling_kji(image)
    k, j, i = np.ogrid[: image.shape[0], : image.shape[1], : image.shape[2]]
    inplane = ((j - centre_kji[1]) * sy) ** 2 + ((i - centre_kji[2]) * sx) ** 2 <= r * r + 1e-9
    along = np.abs((k - centre_kji[0]) * sz) <= length_mm / 2.0 + 1e-9
    return inplane & along


def place_sphere(
    organ: np.ndarray, image: Image, diameter_mm: float, margin_mm: float = EDGE_MARGIN_MM,
    prov: Provenance | None = None, organ_name: str = "organ", prefer: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple[int, int, int], float] | None:
    """Put a sphere at the deepest point of ``organ`` (the maximum of its distance map).

    Returns ``(sphere mask, centre index (k, j, i), depth_mm)``, or ``None`` when no sphere of
    this diameter fits (the deepest point is closer to the edge than the radius). When it fits
    only without ``margin_mm`` the sphere is still placed and a warning is recorded in ``prov``.
    Ties are broken by the lowest flat index (deterministic). With ``prefer`` (a boolean mask,
    e.g. the right half of the liver) the deepest point inside ``prefer`` is used when the sphere
    fits there; the distances are always those to the edge of the whole ``organ``.
    """
    if not organ.any():
        return None
    dt = distance_inside_mm(organ, image)
    r = diameter_mm / 2.0
    flat = int(np.argmax(dt))
    if prefer is not None:
        dt_pref = np.where(prefer, dt, 0.0)
        flat_pref = int(np.argmax(dt_pref))
        if dt_pref.flat[flat_pref] > r:
            flat = flat_pref
        elif prov is not None:
            prov.warn(f"{organ_name}: the sphere does not fit in the preferred part; placed at "
                      "the organ's deepest point")
    depth = float(dt.flat[flat])
    if depth <= r:
        return None
    if depth <= r + margin_mm and prov is not None:
        prov.warn(
            f"{organ_name}: the {diameter_mm:g} mm sphere fits only {depth - r:.1f} mm from the "
            f"organ edge (< the {margin_mm:g} mm margin); partial-volume spill-in is possible"
        )
    centre = tuple(int(c) for c in np.unravel_index(flat, organ.shape))
    return sphere_mask(image, centre, diameter_mm), centre, depth  # type: ignore[return-value]


def refine_by_uptake(candidate: np.ndarray, pet: np.ndarray,
                     tolerance: float = UPTAKE_HOMOGENEITY_TOLERANCE,
                     organ_percentile: float | None = None) -> np.ndarray:
    """Keep candidate voxels whose uptake is within ``±tolerance`` of the organ's uptake level.

    The level is the candidate median, or, with ``organ_percentile`` (CT+PET estimate), the
    median of the voxels within x0.5-x1.5 of that percentile of the candidate: the liver and
    spleen take up more than the muscle and fat that a CT soft-tissue candidate also holds, so
    the level is that of the avid organ even when it is a minority of the candidate.

    Removes hot spots (lesions, kidneys touching the liver) and cold parts (cysts, gallbladder,
    heart when its uptake differs); the largest remaining component is returned. The test is made
    on the PET smoothed with a Gaussian of sigma = 1 voxel: single noisy voxels do not punch holes
    in the organ, and hot spots spread outwards, so they are excluded with a small rim.
    """
    if not candidate.any():
        return candidate
    box = ndi.find_objects(candidate.astype(np.uint8))[0]
    box = tuple(slice(max(0, b.start - 1), b.stop + 1) for b in box)
    smooth = np.zeros(pet.shape, dtype=np.float32)
    smooth[box] = ndi.gaussian_filter(pet[box].astype(np.float32), sigma=1.0)
    if organ_percentile is None:
        med = float(np.median(smooth[candidate]))
    else:
        level0 = float(np.percentile(smooth[candidate], organ_percentile))
        near = candidate & (smooth >= 0.5 * level0) & (smooth <= 1.5 * level0)
        med = float(np.median(smooth[near])) if near.any() else level0
    keep = candidate & (smooth >= med * (1.0 - tolerance)) & (smooth <= med * (1.0 + tolerance))
    return largest_component(keep)


# ----------------------------------------------------------------------------- CT on the PET grid
@dataclass
class PetCtAnatomy:
    """CT anatomy brought onto the PET grid (built once, shared by every region finder).

    Attributes
    ----------
    pet
        The PET image.
    ct
        The CT (HU) or ``None``.
    masks
        Body/lung/bone masks on the CT grid.
    hu
        CT resampled to the PET grid (linear, -1000 HU outside the CT field of view).
    body, lungs, bone
        Masks on the PET grid (nearest neighbour).
    provenance
        Checks and warnings.
    """

    pet: Image
    ct: Image | None
    masks: CtMasks | None
    hu: np.ndarray | None
    body: np.ndarray | None
    lungs: np.ndarray | None
    bone: np.ndarray | None
    provenance: Provenance
    _body_depth: np.ndarray | None = None

    def body_depth_mm(self) -> np.ndarray:
        """Depth (mm) of each PET voxel inside the body (computed once)."""
        if self._body_depth is None:
            assert self.body is not None
            self._body_depth = distance_inside_mm(self.body, self.pet)
        return self._body_depth

    @classmethod
    def build(cls, pet: Image, ct: Image | None = None, min_overlap: float = 0.3,
              work_spacing_mm: float = CT_WORK_SPACING_MM) -> "PetCtAnatomy":
        """Check the CT against the PET and bring its masks onto the PET grid.

        A CT finer than ``work_spacing_mm`` is first resampled (linear) to that voxel size, so a
        512 x 512 diagnostic CT costs about as much as a 256 x 256 one; ``ct`` then holds that
        working CT (recorded in the provenance). Pass ``work_spacing_mm=0`` to keep the native grid.

        Raises
        ------
        InvalidInputError
            Non-HU CT, different frames of reference, or fields of view that do not overlap.
        """
        prov = Provenance(parameters={"pet_units": pet.units})
        axis_coordinates(pet)
        if ct is None:
            prov.warn("no CT: CT-based reference regions (liver, blood pool, spleen, parotid) are "
                      "not estimated; supply a CT or organ masks")
            return cls(pet, None, None, None, None, None, None, prov)
        require_hu(ct)
        check_same_frame(ct, pet, what="CT", prov=prov)
        frac = coverage_fraction(ct, pet)
        if frac == 0.0:
            raise InvalidInputError(
                "the CT and the PET fields of view do not overlap",
                where="CT geometry", fix="use the CT of the same PET/CT acquisition",
            )
        if frac < min_overlap:
            prov.warn(f"the CT covers only {100 * frac:.0f} % of the PET field of view")
        if work_spacing_mm > 0 and min(ct.spacing) < work_spacing_mm:
            ct = resample_to_spacing(ct, tuple(max(s, work_spacing_mm) for s in ct.spacing),
                                     "linear", default_value=-1000.0)
            prov.parameters["ct_work_spacing_mm"] = list(ct.spacing)
        masks = ct_masks(ct)
        hu = resample_to(ct, pet, "linear", default_value=-1000.0).array
        on_pet = {name: resample_to(img, pet, "nearest", 0).array.astype(bool)
                  for name, img in masks.as_images().items()}
        prov.parameters.update(masks.parameters)
        for w in masks.warnings:
            prov.warn(f"CT masks: {w}")
        return cls(pet, ct, masks, hu, on_pet["body"], on_pet["lungs"], on_pet["bone"], prov)


def check_same_frame(image: Image, target: Image, what: str, prov: Provenance | None = None) -> None:
    """Refuse ``image`` when its FrameOfReferenceUID differs from the target's.

    When either UID is unknown the check cannot be made and a warning is recorded in ``prov``.
    """
    a, b = image.frame_of_reference_uid, target.frame_of_reference_uid
    if a and b and a != b:
        raise InvalidInputError(
            f"the {what} is on another frame of reference ({a}) than the PET ({b})",
            where=f"{what} FrameOfReferenceUID (0020,0052)",
            fix=f"register the {what} to the PET and resample it, or use the {what} acquired with "
            "this PET",
        )
    if (not a or not b) and prov is not None:
        prov.warn(f"{what}: frame of reference unknown; assumed to be the PET's (same scanner "
                  "coordinates)")


def coverage_fraction(image: Image, target: Image) -> float:
    """Fraction of the target's voxel centres that lie inside ``image``'s field of view."""
    ones = image.with_array(np.ones(image.shape, dtype=np.uint8), units="1")
    return float(resample_to(ones, target, "nearest", 0).array.mean())


def _lung_slices(lungs: np.ndarray) -> np.ndarray:
    """Slice indices holding at least ``LUNG_EXTENT_MIN_AREA_FRACTION`` of the largest lung area.

    Ignores thin spurious extensions (airway, air trapped next to the lung apex or base).
    """
    area = lungs.sum(axis=(1, 2))
    if area.max() == 0:
        return np.zeros(0, dtype=int)
    return np.flatnonzero(area >= LUNG_EXTENT_MIN_AREA_FRACTION * area.max())


def body_midline_x(anat: PetCtAnatomy, x: np.ndarray) -> float:
    """LPS x (mm) of the body's centroid on the PET grid (``x``: column coordinates)."""
    assert anat.body is not None
    cols = anat.body.sum(axis=(0, 1))
    return float((cols * x).sum() / max(cols.sum(), 1))


# ----------------------------------------------------------------------------- liver and spleen
def _organ_under_lung(anat: PetCtAnatomy, side: str, hu_range: tuple[float, float],
                      below_mm: float, above_mm: float, min_volume_ml: float,
                      name: str, hot_limit: float | None = None,
                      exclude: np.ndarray | None = None,
                      min_uptake: float | None = None) -> tuple[np.ndarray | None, str]:
    """CT+PET organ estimate under the right (liver) or left (spleen) hemidiaphragm.

    ``exclude``: voxels never part of the organ (e.g. the kidneys, dilated, for the spleen).
    ``min_uptake``: voxels whose smoothed PET (sigma 1 voxel) is below it are left out before the
    largest component is taken (so muscle or bowel next to the spleen cannot win).
    """
    assert anat.hu is not None and anat.body is not None and anat.lungs is not None
    pet = anat.pet
    x, y, z = axis_coordinates(pet)
    mid = body_midline_x(anat, x)
    right_side = x < mid  # LPS: patient right is -x
    side_cols = right_side if side == "right" else x > mid + 30.0
    lung_side = anat.lungs & side_cols[None, None, :]
    if not lung_side.any():
        return None, f"no {side} lung in the CT field of view, so the {side} hemidiaphragm is unknown"
    z_base = float(z[_lung_slices(lung_side)].min())
    slab = (z >= z_base - below_mm) & (z <= z_base + above_mm)
    depth = anat.body_depth_mm()
    cand = (anat.hu >= hu_range[0]) & (anat.hu <= hu_range[1]) & (depth > SOFT_TISSUE_WALL_MARGIN_MM)
    cand &= ~ndi.binary_dilation(anat.lungs) & ~ndi.binary_dilation(anat.bone, iterations=2)
    cand &= slab[:, None, None] & side_cols[None, None, :]
    if exclude is not None:
        cand &= ~exclude
    if min_uptake is not None:
        cand &= ndi.gaussian_filter(pet.array.astype(np.float32), 1.0) >= min_uptake
    if side == "left":  # the spleen is posterolateral
        cy = float((anat.body.sum(axis=(0, 2)) * y).sum() / max(anat.body.sum(), 1))
        cand &= (y > cy - 10.0)[None, :, None]
    cand = ndi.binary_opening(cand, structure=np.ones((3, 3, 3), bool))
    organ = largest_component(cand)
    vol = organ.sum() * pet.voxel_volume_ml
    if vol < min_volume_ml:
        return None, (f"no soft-tissue region ({hu_range[0]:g} to {hu_range[1]:g} HU) of at least "
                      f"{min_volume_ml:g} mL under the {side} lung base (largest {vol:.0f} mL)")
    if hot_limit is not None:  # leave out kidneys etc. before estimating the organ's level
        cooler = organ & (ndi.gaussian_filter(pet.array.astype(np.float32), 1.0) < hot_limit)
        organ = cooler if cooler.any() else organ
    refined = refine_by_uptake(organ, pet.array, organ_percentile=ORGAN_UPTAKE_PERCENTILE)
    vol_r = refined.sum() * pet.voxel_volume_ml
    if vol_r < min_volume_ml:
        return None, (f"the {name} candidate has no homogeneous-uptake part of {min_volume_ml:g} mL "
                      f"(largest {vol_r:.0f} mL)")
    return refined, ""


def _sphere_region(name: str, method: str, pet: Image, organ: np.ndarray, diameter_mm: float,
                   prov: Provenance, margin_mm: float = EDGE_MARGIN_MM,
                   prefer: np.ndarray | None = None) -> ReferenceRegion:
    placed = place_sphere(organ, pet, diameter_mm, margin_mm, prov, organ_name=name, prefer=prefer)
    if placed is None:
        depth = float(distance_inside_mm(organ, pet).max()) if organ.any() else 0.0
        return _not_found(name, method, (
            f"no {diameter_mm:g} mm sphere fits inside the {name} (deepest point {depth:.1f} mm "
            "from its edge)"), prov)
    sph, centre, depth = placed
    prov.parameters.update({f"{name}_sphere_diameter_mm": diameter_mm, "edge_margin_mm": margin_mm})
    return ReferenceRegion(
        name=name, found=True, method=method, statistics=region_statistics(pet, sph),
        centre_mm=tuple(float(v) for v in pet.index_to_world(centre[::-1])),
        geometry={"shape": "sphere", "diameter_mm": diameter_mm, "depth_mm": round(depth, 2),
                  "organ_volume_ml": float(organ.sum() * pet.voxel_volume_ml)},
        provenance=prov, mask=sph, organ_mask=organ,
    )


def _from_user_mask(name: str, pet: Image, mask: np.ndarray, diameter_mm: float,
                    exclude_outliers: bool) -> ReferenceRegion:
    prov = Provenance(parameters={"source": "user organ mask"})
    if mask.shape != pet.shape:
        raise InvalidInputError(
            f"{name} mask shape {mask.shape} differs from the PET grid {pet.shape}",
            where=f"organ mask '{name}'",
            fix="put the masks on the PET grid with theranostix.pet.organ_masks (nearest-neighbour)",
        )
    organ = mask.astype(bool)
    if not organ.any():
        return _not_found(name, "user_mask:deepest_point_sphere", f"the {name} mask is empty on the "
                          "PET grid (outside the PET field of view?)", prov)
    if exclude_outliers:
        refined = refine_by_uptake(organ, pet.array)
        removed = int(organ.sum() - refined.sum())
        if removed:
            prov.warn(f"{name}: {removed} voxels of the supplied mask excluded as uptake outliers "
                      f"(outside ±{100 * UPTAKE_HOMOGENEITY_TOLERANCE:.0f} % of the organ median)")
        organ = refined
    prefer = None
    if name == "liver" and organ.any():  # PERCIST: right lobe = patient right (-x) of the centroid
        x, _, _ = axis_coordinates(pet)
        cx = float(x[np.argwhere(organ)[:, 2]].mean())
        prefer = organ & (x < cx)[None, None, :]
    reg = _sphere_region(name, "user_mask:deepest_point_sphere", pet, organ, diameter_mm, prov,
                         prefer=prefer)
    reg.organ_mask = mask.astype(bool)
    return reg


def liver_reference(
    pet: Image, ct: Image | None = None, organ_masks: dict[str, np.ndarray] | None = None, *,
    anatomy: PetCtAnatomy | None = None, diameter_mm: float = LIVER_SPHERE_DIAMETER_MM,
    exclude_outliers: bool = True,
) -> ReferenceRegion:
    """PERCIST liver reference: a 3 cm sphere in the right lobe.

    With ``organ_masks["liver"]`` (on the PET grid): uptake outliers removed (optional), then the
    sphere at the deepest point of the mask's right part (patient right of the mask centroid;
    the whole mask when it does not fit there). Otherwise the CT+PET estimate: soft tissue
    (``LIVER_HU_RANGE``) under the right lung base, deeper than the body wall, not lung or bone,
    right of the midline; the largest component, refined by uptake homogeneity; sphere at its
    deepest point (which lies in the right lobe by construction).
    """
    if organ_masks and "liver" in organ_masks:
        return _from_user_mask("liver", pet, organ_masks["liver"], diameter_mm, exclude_outliers)
    anat = anatomy or PetCtAnatomy.build(pet, ct)
    prov = anat.provenance.model_copy(deep=True)
    method = "ct_pet_estimate:right_upper_quadrant_soft_tissue+uptake_homogeneity"
    if anat.hu is None:
        return _not_found("liver", method, "no CT and no liver mask", prov)
    organ, why = _organ_under_lung(anat, "right", LIVER_HU_RANGE, LIVER_SLAB_BELOW_LUNG_BASE_MM,
                                   LIVER_SLAB_ABOVE_LUNG_BASE_MM, LIVER_MIN_VOLUME_ML, "liver")
    if organ is None:
        return _not_found("liver", method, why, prov)
    return _sphere_region("liver", method, pet, organ, diameter_mm, prov)


def spleen_reference(
    pet: Image, ct: Image | None = None, organ_masks: dict[str, np.ndarray] | None = None, *,
    anatomy: PetCtAnatomy | None = None, diameter_mm: float = SPLEEN_SPHERE_DIAMETER_MM,
    exclude_outliers: bool = True, liver_mean: float | None = None,
    kidneys: np.ndarray | None = None,
) -> ReferenceRegion:
    """Spleen reference sphere (for [18F]PSMA-1007 miPSMA scoring).

    Same two paths as :func:`liver_reference`; the CT+PET estimate looks posterolaterally under
    the left lung base (``x`` > midline + 30 mm, posterior half). With ``liver_mean`` (the liver
    reference mean), voxels hotter than ``SPLEEN_HOT_LIMIT_X_LIVER`` x that value (the upper pole
    of a PSMA-avid kidney) are left out before the spleen's uptake level is estimated.

    ``kidneys`` (boolean mask on the PET grid, e.g. from ``organ_masks`` or the CT+PET estimate):
    the kidneys with holes filled (renal sinus, medulla) and dilated by
    ``SPLEEN_KIDNEY_CLEARANCE_VOXELS`` are removed from the candidate first (the kidney medulla
    and the blurred cortex edge have spleen-like uptake; rule ``spleen_not_kidney``). Without
    a kidney mask, the blobs with smoothed PET >= ``SPLEEN_HOT_LIMIT_X_LIVER`` x ``liver_mean``
    are removed the same way. The found candidate must then still pass the volume check
    (``SPLEEN_MIN_VOLUME_ML``), and with ``liver_mean`` only voxels with smoothed uptake
    >= ``SPLEEN_MIN_X_LIVER`` x the liver mean are candidates, and the spleen's median uptake must
    lie within ``SPLEEN_MIN_X_LIVER``-``SPLEEN_HOT_LIMIT_X_LIVER`` x the liver mean; otherwise the
    spleen is "not found" with the reason: right or absent.
    """
    if organ_masks and "spleen" in organ_masks:
        return _from_user_mask("spleen", pet, organ_masks["spleen"], diameter_mm, exclude_outliers)
    anat = anatomy or PetCtAnatomy.build(pet, ct)
    prov = anat.provenance.model_copy(deep=True)
    method = "ct_pet_estimate:left_upper_quadrant_soft_tissue+uptake_homogeneity"
    if anat.hu is None:
        return _not_found("spleen", method, "no CT and no spleen mask", prov)
    hot = SPLEEN_HOT_LIMIT_X_LIVER * liver_mean if liver_mean else None
    if organ_masks and kidneys is None:
        ks = [organ_masks[k] for k in ("kidney_left", "kidney_right") if k in organ_masks]
        if ks:
            kidneys = np.logical_or.reduce(ks)
    if (kidneys is None or not np.asarray(kidneys).any()) and liver_mean and anat.body is not None:
        # no kidney mask: the kidney-hot blobs (smoothed PET >= SPLEEN_HOT_LIMIT_X_LIVER x liver)
        sm = ndi.gaussian_filter(pet.array.astype(np.float32), 1.0)
        kidneys = anat.body & (sm >= SPLEEN_HOT_LIMIT_X_LIVER * liver_mean)
        method += "+hot_blobs_removed"
    elif kidneys is not None:
        method += "+kidneys_removed"
    kid_zone = None
    if kidneys is not None and np.asarray(kidneys).any():
        kid_zone = ndi.binary_dilation(fill_holes_per_slice(np.asarray(kidneys, bool)),
                                       np.ones((3, 3, 3), bool),
                                       iterations=SPLEEN_KIDNEY_CLEARANCE_VOXELS)
    organ, why = _organ_under_lung(anat, "left", SPLEEN_HU_RANGE, SPLEEN_SLAB_BELOW_LUNG_BASE_MM,
                                   SPLEEN_SLAB_ABOVE_LUNG_BASE_MM, SPLEEN_MIN_VOLUME_ML, "spleen",
                                   hot_limit=hot, exclude=kid_zone,
                                   min_uptake=SPLEEN_MIN_X_LIVER * liver_mean if liver_mean else None)
    if organ is None:
        return _not_found("spleen", method, why, prov)
    if liver_mean:
        level = float(np.median(pet.array[organ]))
        if not SPLEEN_MIN_X_LIVER * liver_mean <= level <= SPLEEN_HOT_LIMIT_X_LIVER * liver_mean:
            return _not_found("spleen", method, (
                f"the spleen candidate's uptake ({level:.2f}) is outside {SPLEEN_MIN_X_LIVER:g}-"
                f"{SPLEEN_HOT_LIMIT_X_LIVER:g} x the liver mean ({liver_mean:.2f}): not spleen"), prov)
    return _sphere_region("spleen", method, pet, organ, diameter_mm, prov, margin_mm=4.0)


# ----------------------------------------------------------------------------- blood pool
def _circle_in_slice(hu: np.ndarray, soft: np.ndarray, window: tuple[slice, slice],
                     spacing_xy: tuple[float, float]) -> tuple[float, float, float, float] | None:
    """Best Hough circle (row, col, radius_mm, score) of the aorta inside a slice window."""
    from skimage.feature import canny
    from skimage.transform import hough_circle, hough_circle_peaks

    if hu[window].shape[0] < 5 or hu[window].shape[1] < 5:
        return None
    pix = float(np.mean(spacing_xy))
    # low-dose CT noise (SD 20-50 HU) is averaged out first: Gaussian of sigma 3 mm
    sub = ndi.gaussian_filter(np.clip(hu[window], -200.0, 200.0).astype(np.float32),
                              sigma=max(0.5, AORTA_SMOOTHING_SIGMA_MM / pix))
    edges = canny(sub, sigma=0.5, low_threshold=15.0, high_threshold=40.0)
    radii = np.arange(AORTA_RADIUS_RANGE_MM[0] / pix, AORTA_RADIUS_RANGE_MM[1] / pix + 1e-9, 1.0)
    if radii.size == 0 or not edges.any():
        return None
    acc = hough_circle(edges, radii)
    accums, cx, cy, rr = hough_circle_peaks(acc, radii, total_num_peaks=5)
    allowed = soft[window]  # not bone, not lung, inside the body
    for a, c, r_, rad in zip(accums, cx, cy, rr):
        if a < AORTA_MIN_EDGE_FRACTION:  # most of the circle must lie on an edge
            continue
        jj, ii = np.ogrid[: sub.shape[0], : sub.shape[1]]
        disc = (jj - r_) ** 2 + (ii - c) ** 2 <= (0.7 * rad) ** 2
        if disc.sum() < 3:
            continue
        inside = sub[disc]  # the inside must be homogeneous blood-density soft tissue
        if allowed[disc].mean() < 0.8 or not (AORTA_HU_RANGE[0] <= np.median(inside) <= AORTA_HU_RANGE[1]):
            continue
        if np.std(inside) > 40.0:
            continue
        d2 = (jj - r_) ** 2 + (ii - c) ** 2
        ring = (d2 >= (rad + 3.0 / pix) ** 2) & (d2 <= (rad + 7.0 / pix) ** 2)
        if ring.sum() < 4 or np.mean(np.abs(sub[ring] - np.median(inside)) > 60.0) < 0.5:
            continue  # no contrast: the wall must be surrounded by fat, lung or bone
        return (float(r_ + window[0].start), float(c + window[1].start), float(rad * pix), float(a))
    return None


def blood_pool_reference(
    pet: Image, ct: Image | None = None, organ_masks: dict[str, np.ndarray] | None = None, *,
    anatomy: PetCtAnatomy | None = None, diameter_mm: float = BLOOD_POOL_DIAMETER_MM,
    length_mm: float = BLOOD_POOL_LENGTH_MM,
) -> ReferenceRegion:
    """PERCIST blood pool: a 1 cm x 2 cm z-aligned cylinder in the descending thoracic aorta.

    With ``organ_masks["aorta"]``: in every slice the most posterior component of the aorta mask is
    the descending aorta; the cylinder is centred at the middle of its extent where the ascending
    aorta is also seen anterior of it (thoracic levels: two components separated more
    antero-posteriorly than left-right, so the iliac arteries of a mask that includes them do not
    count), else at the middle of the upper half of the mask.

    CT estimate (on the CT grid, axial slices of the middle half of the lungs' z extent): the spine
    is the bone near the midline in the posterior half; in a window left-anterior of the vertebral
    body (``AORTA_WINDOW_*``) a Hough transform on Canny edges finds circles of radius
    ``AORTA_RADIUS_RANGE_MM`` whose inside is homogeneous blood-density soft tissue. Slice centres
    are tracked (median, outliers beyond ``AORTA_MAX_TRACK_DEVIATION_MM`` dropped); the cylinder is
    centred at the median accepted slice, snapped to the nearest PET voxel centre.
    """
    if organ_masks and "aorta" in organ_masks:
        return _blood_pool_from_mask(pet, organ_masks["aorta"], diameter_mm, length_mm)
    anat = anatomy or PetCtAnatomy.build(pet, ct)
    prov = anat.provenance.model_copy(deep=True)
    method = "ct_estimate:hough_circle_left_anterior_of_spine"
    if anat.masks is None or anat.ct is None:
        return _not_found("blood_pool", method, "no CT and no aorta mask", prov)
    ctimg, m = anat.ct, anat.masks
    try:
        xc, yc, zc = axis_coordinates(ctimg)
    except UnsupportedInputError as exc:
        return _not_found("blood_pool", method, f"the CT is not axial ({exc.what})", prov)
    lung_z = _lung_slices(m.lungs)
    if lung_z.size < 3:
        return _not_found("blood_pool", method, "no lungs in the CT field of view: thoracic levels "
                          "unknown", prov)
    k0, k1 = lung_z.min(), lung_z.max()
    ks = range(int(k0 + 0.25 * (k1 - k0)), int(k0 + 0.75 * (k1 - k0)) + 1)
    hu = ctimg.array
    mid_x = float((m.body.sum(axis=(0, 1)) * xc).sum() / max(m.body.sum(), 1))
    sx, sy, _ = ctimg.spacing
    hits: list[tuple[int, float, float, float]] = []
    for k in ks:
        body_k = m.body[k]
        if not body_k.any():
            continue
        rows = body_k.any(axis=1)
        y_mid = float(np.mean(yc[rows]))
        spine = m.bone[k] & (np.abs(xc - mid_x) < 40.0)[None, :] & (yc > y_mid - 20.0)[:, None]
        if spine.sum() < 5:
            continue
        jj, ii = np.nonzero(spine)
        x_sp = float(np.mean(xc[ii]))
        y_front = float(np.min(yc[jj]))

        def _idx_range(coords: np.ndarray, lo: float, hi: float) -> slice:
            sel = np.flatnonzero((coords >= lo) & (coords <= hi))
            return slice(int(sel.min()), int(sel.max()) + 1) if sel.size else slice(0, 0)

        win = (_idx_range(yc, y_front + AORTA_WINDOW_Y_MM[0], y_front + AORTA_WINDOW_Y_MM[1]),
               _idx_range(xc, x_sp + AORTA_WINDOW_X_MM[0], x_sp + AORTA_WINDOW_X_MM[1]))
        soft = ~m.bone[k] & ~m.lungs[k] & body_k
        found = _circle_in_slice(hu[k], soft, win, (sx, sy))
        if found is None:
            continue
        row, col, rad, _ = found
        hits.append((k, float(np.interp(col, np.arange(xc.size), xc)),
                     float(np.interp(row, np.arange(yc.size), yc)), rad))
    if len(hits) < 3:
        return _not_found("blood_pool", method, (
            f"no round blood-density structure left-anterior of the spine in {len(ks)} thoracic "
            f"slices ({len(hits)} candidate slices)"), prov)
    arr = np.array(hits)
    mx, my = np.median(arr[:, 1]), np.median(arr[:, 2])
    good = np.hypot(arr[:, 1] - mx, arr[:, 2] - my) <= AORTA_MAX_TRACK_DEVIATION_MM
    arr = arr[good]
    z_hits = zc[arr[:, 0].astype(int)]
    if arr.shape[0] < AORTA_MIN_SLICE_FRACTION * len(ks):
        return _not_found("blood_pool", method, (
            f"a consistent round structure was found in only {arr.shape[0]} of {len(ks)} thoracic "
            f"slices (< {100 * AORTA_MIN_SLICE_FRACTION:.0f} %): no reliable descending aorta"), prov)
    if np.ptp(z_hits) < length_mm or arr.shape[0] < 3:
        return _not_found("blood_pool", method, (
            f"the aorta was tracked over only {np.ptp(z_hits):.0f} mm (< {length_mm:g} mm)"), prov)
    zmed = float(np.median(z_hits))
    near = np.abs(z_hits - zmed) <= length_mm / 2.0
    centre_world = (float(np.median(arr[near, 1])), float(np.median(arr[near, 2])), zmed)
    radius_mm = float(np.median(arr[near, 3]))
    prov.parameters.update({"blood_pool_diameter_mm": diameter_mm, "blood_pool_length_mm": length_mm,
                            "aorta_radius_mm": round(radius_mm, 1), "aorta_slices": int(arr.shape[0])})
    if radius_mm < diameter_mm / 2.0 + 2.0:
        prov.warn(f"aorta radius {radius_mm:.1f} mm leaves < 2 mm around the cylinder")
    return _cylinder_region(pet, centre_world, diameter_mm, length_mm, method, prov,
                            extra={"aorta_radius_mm": round(radius_mm, 1)})


def _cylinder_region(pet: Image, centre_world: tuple[float, float, float], diameter_mm: float,
                     length_mm: float, method: str, prov: Provenance,
                     extra: dict[str, Any] | None = None,
                     organ: np.ndarray | None = None) -> ReferenceRegion:
    ijk = np.rint(pet.world_to_index(centre_world)).astype(int)
    if np.any(ijk < 0) or np.any(ijk >= np.asarray(pet.size_ijk)):
        return _not_found("blood_pool", method, "the aorta lies outside the PET field of view", prov)
    centre = (int(ijk[2]), int(ijk[1]), int(ijk[0]))
    cyl = cylinder_mask(pet, centre, diameter_mm, length_mm)
    return ReferenceRegion(
        name="blood_pool", found=True, method=method, statistics=region_statistics(pet, cyl),
        centre_mm=tuple(float(v) for v in pet.index_to_world(ijk)),
        geometry={"shape": "cylinder", "diameter_mm": diameter_mm, "length_mm": length_mm,
                  "axis": "z", **(extra or {})},
        provenance=prov, mask=cyl, organ_mask=organ,
    )


def _blood_pool_from_mask(pet: Image, aorta: np.ndarray, diameter_mm: float,
                          length_mm: float) -> ReferenceRegion:
    prov = Provenance(parameters={"source": "user organ mask"})
    method = "user_mask:descending_aorta_cylinder"
    if aorta.shape != pet.shape:
        raise InvalidInputError(
            f"aorta mask shape {aorta.shape} differs from the PET grid {pet.shape}",
            where="organ mask 'aorta'", fix="put the masks on the PET grid (pet.organ_masks)")
    aorta = aorta.astype(bool)
    ks = np.flatnonzero(aorta.any(axis=(1, 2)))
    if ks.size == 0:
        return _not_found("blood_pool", method, "the aorta mask is empty on the PET grid", prov)
    x, y, z = axis_coordinates(pet)
    # per slice: the most posterior component (the descending aorta at thoracic levels) and whether
    # the slice also shows the ascending aorta: a second component lying ANTERIOR of it (separated
    # more in y than in x). Two components side by side are the common iliac arteries below the
    # bifurcation (thin: a 1 cm cylinder there reads ~80 % of the blood by partial volume).
    desc: dict[int, tuple[float, float, bool]] = {}
    for k in ks:
        lab, n = ndi.label(aorta[k])
        cents = []
        for c in range(1, n + 1):
            jj, ii = np.nonzero(lab == c)
            cents.append((float(np.mean(x[ii])), float(np.mean(y[jj]))))
        post = max(cents, key=lambda v: v[1])
        ant = min(cents, key=lambda v: v[1])
        desc[int(k)] = (post[0], post[1], n >= 2 and (post[1] - ant[1]) > abs(post[0] - ant[0]))
    thoracic = [k for k, v in desc.items() if v[2]]
    if thoracic:
        kc = int(np.median(thoracic))
    else:
        upper = ks[ks.size // 2:] if z[-1] > z[0] else ks[: max(1, ks.size // 2)]
        kc = int(np.median(upper))
        prov.warn("aorta mask never shows ascending and descending parts in one slice; the "
                  "cylinder is centred in the upper half of the mask")
    kc = min(desc, key=lambda k: abs(k - kc))
    cx, cy, _ = desc[kc]
    reg = _cylinder_region(pet, (cx, cy, float(z[kc])), diameter_mm, length_mm, method, prov,
                           organ=aorta)
    if reg.found and reg.mask is not None:
        inside = float((reg.mask & aorta).sum() / reg.mask.sum())
        if inside < 0.9:
            reg.provenance.warn(f"only {100 * inside:.0f} % of the blood-pool cylinder lies inside "
                                "the aorta mask")
    return reg


# ----------------------------------------------------------------------------- parotid
@dataclass
class HeadBlob:
    """A high-uptake blob in the head and neck (PET grid)."""

    mask: np.ndarray
    centroid_mm: tuple[float, float, float]
    volume_ml: float
    side: str  # "left" | "right" | "midline"


def head_blobs(anat: PetCtAnatomy) -> tuple[list[HeadBlob], str]:
    """High-uptake blobs above the lung apices (``PAROTID_MIN_HEIGHT_ABOVE_LUNG_APEX_MM``).

    Threshold: ``PAROTID_BLOB_FRACTION`` x the 99.5th percentile of PET in the head region of the
    body. Returns the blobs (largest first) or an empty list and the reason.
    """
    if anat.body is None or anat.lungs is None:
        return [], "no CT: the head region (above the lung apices) is unknown"
    pet = anat.pet
    x, _, z = axis_coordinates(pet)
    lung_k = _lung_slices(anat.lungs)
    if lung_k.size == 0:
        return [], "no lungs in the CT field of view, so the head region cannot be located"
    apex = float(z[lung_k].max())
    above = z > apex + PAROTID_MIN_HEIGHT_ABOVE_LUNG_APEX_MM
    region = anat.body & above[:, None, None]
    if region.sum() < 10:
        return [], (f"the field of view ends less than {PAROTID_MIN_HEIGHT_ABOVE_LUNG_APEX_MM:g} mm "
                    "above the lung apices (head not imaged)")
    vals = pet.array[region]
    thr = PAROTID_BLOB_FRACTION * float(np.percentile(vals, 99.5))
    lab, n = ndi.label(region & (pet.array >= thr), structure=np.ones((3, 3, 3), bool))
    mid = body_midline_x(anat, x)
    blobs: list[HeadBlob] = []
    for c in range(1, n + 1):
        mk = lab == c
        vol = float(mk.sum() * pet.voxel_volume_ml)
        kji = np.argwhere(mk).mean(axis=0)
        cen = tuple(float(v) for v in pet.index_to_world(kji[::-1]))
        side = "left" if cen[0] > mid + 15.0 else "right" if cen[0] < mid - 15.0 else "midline"
        blobs.append(HeadBlob(mk, cen, vol, side))  # type: ignore[arg-type]
    blobs.sort(key=lambda b: -b.volume_ml)
    return blobs, "" if blobs else "no high-uptake blob in the head region"


def _isocontour(pet: np.ndarray, blob: np.ndarray, fraction: float) -> np.ndarray:
    return blob & (pet >= fraction * float(pet[blob].max()))


def parotid_reference(
    pet: Image, ct: Image | None = None, organ_masks: dict[str, np.ndarray] | None = None, *,
    anatomy: PetCtAnatomy | None = None,
) -> ReferenceRegion:
    """Parotid reference (both glands together) for the PROMISE V2 miPSMA score.

    With ``parotid_gland_left`` / ``parotid_gland_right`` masks: the union of the masks eroded by
    one voxel (to limit partial-volume loss at the edges; the uneroded masks when erosion empties
    them, with a warning). CT+PET estimate: the largest high-uptake blob on each side above the
    lung apices (:func:`head_blobs`), each cut at ``PAROTID_ISOCONTOUR_FRACTION`` of its maximum.
    Designed for PSMA/SSTR tracers, where the parotids are among the hottest head structures; with
    FDG the brain dominates and the estimate is not meaningful.
    """
    names = ("parotid_gland_left", "parotid_gland_right")
    if organ_masks and any(n in organ_masks for n in names):
        prov = Provenance(parameters={"source": "user organ mask"})
        glands = [organ_masks[n].astype(bool) for n in names if n in organ_masks]
        if len(glands) == 1:
            prov.warn("only one parotid mask supplied")
        union = np.zeros(pet.shape, bool)
        for g in glands:
            if g.shape != pet.shape:
                raise InvalidInputError(f"parotid mask shape {g.shape} differs from the PET grid "
                                        f"{pet.shape}", where="organ mask 'parotid'",
                                        fix="put the masks on the PET grid (pet.organ_masks)")
            er = ndi.binary_erosion(g)
            if not er.any():
                prov.warn("a parotid mask vanished on erosion; the uneroded mask is used")
                er = g
            union |= er
        if not union.any():
            return _not_found("parotid", "user_mask:eroded_glands", "the parotid masks are empty "
                              "on the PET grid", prov)
        return _region_from_mask("parotid", "user_mask:eroded_glands", pet, union, prov,
                                 {"shape": "organ", "glands": len(glands)})
    anat = anatomy or PetCtAnatomy.build(pet, ct)
    prov = anat.provenance.model_copy(deep=True)
    method = "ct_pet_estimate:lateral_head_blobs_isocontour"
    blobs, why = head_blobs(anat)
    if not blobs:
        return _not_found("parotid", method, why, prov)
    chosen = []
    for side in ("right", "left"):
        cands = [b for b in blobs if b.side == side and b.volume_ml >= PAROTID_MIN_VOLUME_ML]
        if cands:
            chosen.append(cands[0])
    if not chosen:
        return _not_found("parotid", method, "no lateral high-uptake blob of at least "
                          f"{PAROTID_MIN_VOLUME_ML:g} mL in the head", prov)
    if len(chosen) == 1:
        prov.warn(f"parotid found on the {chosen[0].side} side only")
    elif abs(chosen[0].centroid_mm[2] - chosen[1].centroid_mm[2]) > 40.0:
        prov.warn("the two parotid candidates are more than 40 mm apart in z")
    union = np.zeros(pet.shape, bool)
    for b in chosen:
        union |= _isocontour(pet.array, b.mask, PAROTID_ISOCONTOUR_FRACTION)
    prov.parameters.update({"parotid_blob_fraction": PAROTID_BLOB_FRACTION,
                            "parotid_isocontour_fraction": PAROTID_ISOCONTOUR_FRACTION})
    organ = np.zeros(pet.shape, bool)
    for b in chosen:
        organ |= b.mask
    reg = _region_from_mask("parotid", method, pet, union, prov,
                            {"shape": "isocontour", "glands": len(chosen)})
    reg.organ_mask = organ
    return reg


def _region_from_mask(name: str, method: str, pet: Image, mask: np.ndarray, prov: Provenance,
                      geometry: dict[str, Any]) -> ReferenceRegion:
    kji = np.argwhere(mask).mean(axis=0)
    return ReferenceRegion(
        name=name, found=True, method=method, statistics=region_statistics(pet, mask),
        centre_mm=tuple(float(v) for v in pet.index_to_world(kji[::-1])), geometry=geometry,
        provenance=prov, mask=mask, organ_mask=mask,
    )


# ----------------------------------------------------------------------------- all together
def find_reference_regions(
    pet: Image, ct: Image | None = None, organ_masks: dict[str, np.ndarray] | None = None, *,
    anatomy: PetCtAnatomy | None = None,
) -> ReferenceRegions:
    """Liver, blood pool, parotid and spleen reference regions of one PET.

    Parameters
    ----------
    pet
        PET image (SUV or Bq/mL; statistics are in its units). Must be axial.
    ct
        CT in HU on the same frame of reference (any grid), or ``None``.
    organ_masks
        Boolean masks on the PET grid keyed by organ name (``liver``, ``spleen``, ``aorta``,
        ``parotid_gland_left``, ``parotid_gland_right``); used in preference to the CT estimate.
    anatomy
        A :class:`PetCtAnatomy` already built for this PET and CT (reused instead of ``ct``).

    Returns
    -------
    ReferenceRegions
        Each region found or not (with the reason); never raises for a region that is missing.

    Raises
    ------
    InvalidInputError
        For a CT that is not in HU, on another frame of reference, or outside the PET's field of
        view.
    """
    anat = anatomy or PetCtAnatomy.build(pet, ct)
    liver = liver_reference(pet, organ_masks=organ_masks, anatomy=anat)
    liver_mean = liver.statistics.mean if liver.found and liver.statistics else None
    regions = ReferenceRegions(
        liver=liver,
        blood_pool=blood_pool_reference(pet, organ_masks=organ_masks, anatomy=anat),
        parotid=parotid_reference(pet, organ_masks=organ_masks, anatomy=anat),
        spleen=spleen_reference(pet, organ_masks=organ_masks, anatomy=anat, liver_mean=liver_mean),
        provenance=anat.provenance.model_copy(deep=True),
    )
    for r in (regions.liver, regions.blood_pool, regions.parotid, regions.spleen):
        if not r.found:
            regions.provenance.warn(f"{r.name} reference region not found: {r.reason}")
    return regions

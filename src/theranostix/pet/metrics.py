"""Lesion and whole-body PET metrics (CRITERIA.md §2): pure functions, SUV image + masks in.

Conventions (see ``docs/pet-lesions.md`` for formulas and citations)
--------------------------------------------------------------------
* A mask is a boolean array on the image grid (``[k, j, i]``) or an :class:`Image` on the same grid.
* Volumes: voxel count x voxel volume (mL). Centroids: mean of voxel-centre positions (LPS mm).
* SUVpeak uses a sphere of volume 1 cm^3 (diameter 12.41 mm). Voxel rule ``"partial"`` (default)
  weights each voxel by the fraction of its volume inside the sphere (estimated on an n^3
  sub-voxel grid); ``"centre"`` includes the voxels whose centre lies inside the sphere.
  ``suv_peak_local`` is the IBSI *local intensity peak* (sphere centred on the hottest voxel);
  ``suv_peak_global`` is the PERCIST/QIBA peak (sphere centre placed on any lesion voxel so as
  to maximise the sphere mean). In both, the sphere averages *all* image voxels it covers (not
  only lesion voxels); voxels outside the field of view are left out of the average.
* Diameters: longest 3-D extent = IBSI maximum 3-D diameter (largest distance between vertices
  of the marching-cubes surface of the mask); RECIST-like axial long/short axis measured on the
  mask outline of one axial slice (the one with the longest in-plane axis), the short axis being
  the caliper width perpendicular to the long axis in that slice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull
from scipy.spatial.distance import pdist, squareform
from skimage import measure

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.core.units import SUV_UNITS
from theranostix.pet.lesions import (
    UNASSIGNED,
    LesionMetrics,
    LesionTable,
    RegionStats,
    SiteAssigner,
    WholeBodyBurden,
)

#: Diameter (mm) of a 1 cm^3 sphere: (6000/pi)^(1/3) = 12.407 mm (CRITERIA.md §2; PERCIST "1.2 cm").
PEAK_SPHERE_DIAMETER_MM = 12.407
#: Sub-voxel samples per axis for partial-volume weights of the peak sphere.
PEAK_SUBSAMPLES = 7


# ---------------------------------------------------------------------------- input checks
def require_suv_image(image: Image, where: str = "image") -> None:
    """Refuse images that are not SUV, are empty or hold non-finite values.

    Raises
    ------
    InvalidInputError
        Units not in :data:`theranostix.core.units.SUV_UNITS`, zero voxels, or NaN/inf values.
    """
    if not isinstance(image, Image):
        raise InvalidInputError(f"expected an Image, got {type(image).__name__}", where=where)
    if image.units not in SUV_UNITS:
        raise InvalidInputError(
            f"image units are {image.units!r}, not an SUV kind {SUV_UNITS}",
            where=where,
            fix="convert the PET to SUV first (theranostix.io.dicom.load_pet(..., suv='bw')).",
        )
    if image.array.size == 0:
        raise InvalidInputError("the image has no voxels", where=where)
    if not np.issubdtype(image.array.dtype, np.number) or not np.all(np.isfinite(image.array)):
        raise InvalidInputError(
            "the image holds non-numeric, NaN or infinite values", where=where,
            fix="check the reconstruction/SUV conversion; mask out invalid voxels explicitly.",
        )


def require_positive_uptake(image: Image, where: str = "image") -> None:
    """Refuse an SUV image without any positive voxel (a blank or failed reconstruction)."""
    if not float(np.max(image.array)) > 0.0:
        raise InvalidInputError(
            "the PET image has no voxel with positive uptake (blank image)", where=where,
            fix="check the reconstruction and the SUV conversion.",
        )


def as_mask(mask: np.ndarray | Image, image: Image, where: str = "mask") -> np.ndarray:
    """Return ``mask`` as a boolean array on the grid of ``image``.

    Raises
    ------
    InvalidInputError
        Shape (or, for an :class:`Image`, geometry) differs from the image grid, or values are
        not binary (0/1, bool).
    """
    if isinstance(mask, Image):
        if not mask.same_grid(image):
            raise InvalidInputError(
                f"mask grid (shape {mask.shape}, spacing {mask.spacing}, origin {mask.origin}) "
                f"differs from the image grid (shape {image.shape}, spacing {image.spacing}, "
                f"origin {image.origin})",
                where=where, fix="resample the mask onto the PET grid.",
            )
        arr = mask.array
    else:
        arr = np.asarray(mask)
    if arr.shape != image.shape:
        raise InvalidInputError(
            f"mask shape {arr.shape} does not match the image shape {image.shape}", where=where,
            fix="give a mask on the PET grid (array order [k, j, i]).",
        )
    if arr.dtype == bool:
        return arr
    if not np.all(np.isin(arr, (0, 1))):
        raise InvalidInputError(
            "mask values must be 0/1 or boolean (use a label map function for labels)", where=where
        )
    return arr.astype(bool)


def _as_labels(labels: np.ndarray | Image, image: Image, where: str = "labels") -> np.ndarray:
    if isinstance(labels, Image):
        if not labels.same_grid(image):
            raise InvalidInputError(
                "label map grid differs from the image grid", where=where,
                fix="resample the label map onto the PET grid.",
            )
        arr = labels.array
    else:
        arr = np.asarray(labels)
    if arr.shape != image.shape:
        raise InvalidInputError(
            f"label map shape {arr.shape} does not match the image shape {image.shape}",
            where=where,
        )
    if not np.issubdtype(arr.dtype, np.integer):
        if arr.dtype == bool:
            return arr.astype(np.int32)
        if not np.all(np.isfinite(arr)) or not np.allclose(arr, np.round(arr)):
            raise InvalidInputError("label map values must be integers", where=where)
        arr = np.round(arr).astype(np.int64)
    if arr.min(initial=0) < 0:
        raise InvalidInputError("label map values must be >= 0", where=where)
    return arr


# ---------------------------------------------------------------------------- region statistics
def region_statistics(image: Image, mask: np.ndarray | Image, where: str = "mask") -> RegionStats:
    """Mean, SD (ddof=1), max, min, median, voxel count and volume (mL) of ``image`` in ``mask``.

    Works for any image units (SUV, Bq/mL, HU). Raises :class:`InvalidInputError` for an empty
    mask or a mask off the image grid.
    """
    if image.array.size == 0:
        raise InvalidInputError("the image has no voxels", where="image")
    m = as_mask(mask, image, where)
    values = np.asarray(image.array[m], dtype=float)
    if values.size == 0:
        raise InvalidInputError("the region mask is empty", where=where)
    if not np.all(np.isfinite(values)):
        raise InvalidInputError("the image holds NaN/inf values inside the region", where=where)
    return RegionStats(
        mean=float(values.mean()),
        sd=float(values.std(ddof=1)) if values.size > 1 else 0.0,
        max=float(values.max()),
        min=float(values.min()),
        median=float(np.median(values)),
        n_voxels=int(values.size),
        volume_ml=float(values.size * image.voxel_volume_ml),
        units=image.units,
    )


# ---------------------------------------------------------------------------- SUVpeak
@lru_cache(maxsize=32)
def _peak_kernel_cached(
    spacing: tuple[float, float, float], diameter_mm: float, rule: str, subsamples: int
) -> np.ndarray:
    r = diameter_mm / 2.0
    sx, sy, sz = spacing
    half = [int(np.ceil(r / s + 0.5)) for s in (sz, sy, sx)]  # k, j, i half-widths
    kk, jj, ii = np.meshgrid(*(np.arange(-h, h + 1) for h in half), indexing="ij")
    if rule == "centre":
        d2 = (kk * sz) ** 2 + (jj * sy) ** 2 + (ii * sx) ** 2
        w = (d2 <= r * r).astype(float)
    else:
        n = subsamples
        off = (np.arange(n) + 0.5) / n - 0.5  # sub-voxel centres in voxel units
        w = np.zeros(kk.shape)
        for oz in off:
            z2 = ((kk + oz) * sz) ** 2
            for oy in off:
                zy2 = z2 + ((jj + oy) * sy) ** 2
                for ox in off:
                    w += (zy2 + ((ii + ox) * sx) ** 2) <= r * r
        w /= n**3
    w[w < 1e-12] = 0.0
    w.setflags(write=False)
    return w


def peak_sphere_kernel(
    spacing: Sequence[float],
    diameter_mm: float = PEAK_SPHERE_DIAMETER_MM,
    rule: str = "partial",
    subsamples: int = PEAK_SUBSAMPLES,
) -> np.ndarray:
    """Voxel weights of the SUVpeak sphere on a grid of voxel size ``spacing`` (x, y, z mm).

    Parameters
    ----------
    spacing
        Voxel size (i, j, k) = (x, y, z) in mm.
    diameter_mm
        Sphere diameter; default 12.407 mm = 1 cm^3 (CRITERIA.md §2; Wahl et al., PERCIST 1.0,
        J Nucl Med 2009;50:122S; IBSI local intensity peak uses the same 1 cm^3 sphere).
    rule
        ``"partial"``: weight = fraction of the voxel volume inside the sphere (``subsamples``^3
        sub-voxel points); ``"centre"``: weight 1 when the voxel centre is inside the sphere.
    subsamples
        Sub-voxel points per axis for the partial rule.

    Returns
    -------
    numpy.ndarray
        Kernel indexed [k, j, i], centred; weights are *not* normalised.
    """
    if rule not in ("partial", "centre"):
        raise InvalidInputError(
            f"unknown SUVpeak voxel rule {rule!r}", where="peak_sphere_kernel(rule)",
            fix="use 'partial' or 'centre'.",
        )
    if not diameter_mm > 0 or subsamples < 1:
        raise InvalidInputError("diameter_mm must be > 0, subsamples >= 1", where="peak_sphere_kernel")
    sp = tuple(float(s) for s in spacing)
    return _peak_kernel_cached(sp, float(diameter_mm), rule, int(subsamples))  # type: ignore[arg-type]


def _sphere_mean_at(arr: np.ndarray, centre_kji: Sequence[int], kernel: np.ndarray) -> float:
    half = np.array(kernel.shape) // 2
    c = np.asarray(centre_kji)
    lo = c - half
    hi = c + half + 1
    lo_c = np.maximum(lo, 0)
    hi_c = np.minimum(hi, arr.shape)
    sub = arr[tuple(slice(a, b) for a, b in zip(lo_c, hi_c))]
    w = kernel[tuple(slice(a - l, b - l) for a, b, l in zip(lo_c, hi_c, lo))]
    return float((sub * w).sum() / w.sum())


def suv_peak_local(
    image: Image,
    mask: np.ndarray | Image,
    *,
    diameter_mm: float = PEAK_SPHERE_DIAMETER_MM,
    rule: str = "partial",
) -> float:
    """IBSI local intensity peak: mean SUV in the 1 cm^3 sphere centred on the hottest mask voxel.

    When several voxels share the maximum, the highest of their sphere means is returned (IBSI
    reference manual, "local intensity peak"). The sphere mean uses all image voxels it covers
    (voxel rule ``rule``, see :func:`peak_sphere_kernel`).
    """
    m = as_mask(mask, image)
    if not m.any():
        raise InvalidInputError("the lesion mask is empty", where="suv_peak_local(mask)")
    arr = np.asarray(image.array, dtype=float)
    vmax = arr[m].max()
    ties = m & (arr == vmax)
    kernel = peak_sphere_kernel(image.spacing, diameter_mm, rule)
    if ties.sum() == 1:
        centre = np.unravel_index(np.flatnonzero(ties)[0], arr.shape)
        return _sphere_mean_at(arr, centre, kernel)
    bbox = ndimage.find_objects(ties.astype(np.uint8))[0]
    means, bbox = sphere_mean_map(arr, kernel, bbox)
    return float(means[ties[bbox]].max())


def sphere_mean_map(
    arr: np.ndarray, kernel: np.ndarray, bbox: tuple[slice, ...] | None = None
) -> tuple[np.ndarray, tuple[slice, ...]]:
    """Mean of ``arr`` in the kernel sphere centred on every voxel of ``bbox`` (normalised convolution).

    Voxels outside the array do not count (numerator and denominator both exclude them).

    Returns
    -------
    (means, bbox)
        Array of sphere means over ``bbox`` and the bbox itself (whole array when None).
    """
    if bbox is None:
        bbox = tuple(slice(0, n) for n in arr.shape)
    half = np.array(kernel.shape) // 2
    lo = [max(s.start - h, 0) for s, h in zip(bbox, half)]
    hi = [min(s.stop + h, n) for s, h, n in zip(bbox, half, arr.shape)]
    crop = np.asarray(arr[tuple(slice(a, b) for a, b in zip(lo, hi))], dtype=float)
    if kernel.size <= 343:  # small kernels: direct correlation
        num = ndimage.correlate(crop, kernel, mode="constant", cval=0.0)
        den = ndimage.correlate(np.ones_like(crop), kernel, mode="constant", cval=0.0)
    else:  # the kernel is point-symmetric, so convolution == correlation; FFT for speed
        from scipy.signal import fftconvolve  # slow to import; only needed here

        num = fftconvolve(crop, kernel, mode="same")
        den = fftconvolve(np.ones_like(crop), kernel, mode="same")
    means = num / den
    inner = tuple(slice(s.start - a, s.stop - a) for s, a in zip(bbox, lo))
    return means[inner], bbox


def suv_peak_global(
    image: Image,
    mask: np.ndarray | Image,
    *,
    diameter_mm: float = PEAK_SPHERE_DIAMETER_MM,
    rule: str = "partial",
) -> float:
    """PERCIST/QIBA SUVpeak: the highest 1 cm^3-sphere mean over sphere centres on lesion voxels.

    The sphere may extend beyond the lesion (it averages all image voxels it covers); its centre
    is restricted to voxel centres of the mask (Wahl et al. 2009; IBSI "global intensity peak"
    restricted to the ROI). Computed by normalised convolution with the spherical kernel.
    """
    m = as_mask(mask, image)
    objs = ndimage.find_objects(m.astype(np.uint8))
    if not objs or objs[0] is None:
        raise InvalidInputError("the lesion mask is empty", where="suv_peak_global(mask)")
    kernel = peak_sphere_kernel(image.spacing, diameter_mm, rule)
    means, bbox = sphere_mean_map(image.array, kernel, objs[0])
    return float(means[m[bbox]].max())


# ---------------------------------------------------------------------------- diameters
def _farthest_pair(points: np.ndarray) -> tuple[int, int, float]:
    if len(points) == 1:
        return 0, 0, 0.0
    cand = np.arange(len(points))
    if len(points) > 64:
        try:
            cand = ConvexHull(points, qhull_options="QJ").vertices
        except Exception:  # degenerate (e.g. planar) sets: brute force below
            cand = np.arange(len(points))
    d = squareform(pdist(points[cand]))
    a, b = np.unravel_index(np.argmax(d), d.shape)
    return int(cand[a]), int(cand[b]), float(d[a, b])


def lesion_diameters(image: Image, mask: np.ndarray | Image) -> tuple[float, float, float]:
    """Longest 3-D diameter, axial long axis and axial short axis of a lesion mask (mm).

    Definitions
    -----------
    longest
        IBSI "maximum 3D diameter" (feature L0JK, Zwanenburg et al., Radiology 2020;295:328):
        the largest distance between vertices of the mask surface mesh (marching cubes at the
        0.5 level, i.e. vertices half-way between inside and outside voxel centres).
    long_axis_axial, short_axis
        On each axial slice (constant k) the mask outline is traced at the 0.5 level (marching
        squares); the in-plane long axis is the largest distance between outline points. The
        slice with the longest in-plane axis is used (ties: larger short axis); the short axis
        is the caliper width of that outline perpendicular to the long axis, in the slice plane
        -- the RECIST 1.1 node "short axis" (Eisenhauer et al., Eur J Cancer 2009;45:228),
        measured on the outline.

    A single voxel measures one voxel side in each direction. The "axial plane" is the image
    slice plane (k constant); for oblique acquisitions it is the acquisition plane.
    """
    m = as_mask(mask, image)
    if not m.any():
        raise InvalidInputError("the lesion mask is empty", where="lesion_diameters(mask)")
    objs = ndimage.find_objects(m.astype(np.uint8))[0]
    sub = np.pad(m[objs], 1).astype(np.float32)
    offset = np.array([s.start for s in objs], dtype=float) - 1.0  # k, j, i of sub[0, 0, 0]
    axes_scaled = image.direction_matrix * np.asarray(image.spacing)[None, :]  # columns i, j, k

    def world(kji: np.ndarray) -> np.ndarray:
        return (kji + offset)[:, ::-1] @ axes_scaled.T

    verts = measure.marching_cubes(sub, level=0.5)[0]
    _, _, longest = _farthest_pair(world(verts))

    e_k = image.direction_matrix[:, 2]
    best = (-1.0, -1.0)
    for k in range(1, sub.shape[0] - 1):
        sl = sub[k]
        if not sl.any():
            continue
        contour = np.concatenate(measure.find_contours(sl, 0.5), axis=0)  # (j, i)
        p = world(np.column_stack([np.full(len(contour), float(k)), contour]))
        a2, c2, d2 = _farthest_pair(p)
        u2 = (p[c2] - p[a2]) / d2
        w2 = np.cross(e_k, u2)
        w2 /= np.linalg.norm(w2)
        proj = p @ w2
        cand = (d2, float(proj.max() - proj.min()))
        if cand > best:
            best = cand
    return float(longest), float(best[0]), float(best[1])


# ---------------------------------------------------------------------------- per-lesion metrics
def lesion_metrics(
    image: Image,
    mask: np.ndarray | Image,
    *,
    lesion_id: int = 1,
    site: str | SiteAssigner | None = None,
    method: str = "threshold",
    detection_score: float | None = None,
    peak_rule: str = "partial",
    peak_diameter_mm: float = PEAK_SPHERE_DIAMETER_MM,
) -> LesionMetrics:
    """All metrics of one lesion (see :class:`theranostix.pet.lesions.LesionMetrics`).

    Parameters
    ----------
    image
        PET in SUV units (``SUVbw``, ``SUVlbm``, ...).
    mask
        Boolean lesion mask on the image grid (one lesion; it need not be connected).
    site
        A site name, a site rule ``(mask, image) -> name``, or None (``"unassigned"``).
    peak_rule
        SUVpeak voxel rule: ``"partial"`` (default) or ``"centre"``.

    Raises
    ------
    InvalidInputError
        Non-SUV or empty image, mask off the grid, empty mask.
    """
    require_suv_image(image)
    m = as_mask(mask, image, "lesion mask")
    if not m.any():
        raise InvalidInputError("the lesion mask is empty", where="lesion_metrics(mask)")
    arr = image.array
    values = np.asarray(arr[m], dtype=float)
    idx = np.argwhere(m)  # k, j, i
    centroid = image.index_to_world(idx[:, ::-1].mean(axis=0))
    top = idx[np.argmax(values)]
    longest, long_ax, short_ax = lesion_diameters(image, m)
    n = int(values.size)
    volume_ml = n * image.voxel_volume_ml
    suv_mean = float(values.mean())
    if callable(site):
        site_name = site(m, image)
    else:
        site_name = site or UNASSIGNED
    return LesionMetrics(
        lesion_id=int(lesion_id),
        site=str(site_name),
        centroid_lps_mm=tuple(float(c) for c in centroid),
        max_voxel_lps_mm=tuple(float(c) for c in image.index_to_world(top[::-1])),
        suv_max=float(values.max()),
        suv_mean=suv_mean,
        suv_peak_local=suv_peak_local(image, m, diameter_mm=peak_diameter_mm, rule=peak_rule),
        suv_peak_global=suv_peak_global(image, m, diameter_mm=peak_diameter_mm, rule=peak_rule),
        n_voxels=n,
        volume_ml=float(volume_ml),
        total_lesion_activity=float(suv_mean * volume_ml),
        longest_diameter_mm=longest,
        long_axis_axial_mm=long_ax,
        short_axis_mm=short_ax,
        detection_score=None if detection_score is None else float(detection_score),
        method=method,
        units=image.units,
    )


def whole_body_burden(lesions: Sequence[LesionMetrics]) -> WholeBodyBurden:
    """PSMA-TV (sum of volumes), TL-PSMA (sum SUVmean_i V_i), whole-body SUVmean, counts per site.

    CRITERIA.md §2: TLA = sum_i SUVmean_i V_i = whole-body SUVmean x PSMA-TV. With no lesion the
    volumes are 0 and SUVmean/SUVmax/SUVpeak are NaN.
    """
    tv = float(sum(les.volume_ml for les in lesions))
    tla = float(sum(les.suv_mean * les.volume_ml for les in lesions))
    counts: dict[str, int] = {}
    vols: dict[str, float] = {}
    for les in lesions:
        counts[les.site] = counts.get(les.site, 0) + 1
        vols[les.site] = vols.get(les.site, 0.0) + les.volume_ml
    return WholeBodyBurden(
        n_lesions=len(lesions),
        total_volume_ml=tv,
        total_lesion_activity=tla,
        suv_mean_whole_body=tla / tv if tv > 0 else float("nan"),
        suv_max_hottest=max((les.suv_max for les in lesions), default=float("nan")),
        suv_peak_hottest=max((les.suv_peak_global for les in lesions), default=float("nan")),
        counts_by_site=counts,
        volume_ml_by_site=vols,
    )


def lesion_table(
    image: Image,
    labels: np.ndarray | Image,
    *,
    site_rule: SiteAssigner | None = None,
    sites: Mapping[int, str] | None = None,
    methods: Mapping[int, str] | None = None,
    detection_scores: Mapping[int, float] | None = None,
    peak_rule: str = "partial",
    provenance: Provenance | None = None,
) -> LesionTable:
    """Metrics of every lesion of a label map (label 0 = background, 1..N = lesions).

    Parameters
    ----------
    image
        PET in SUV units.
    labels
        Integer label map on the image grid.
    site_rule
        Site rule applied to each lesion mask (overridden per lesion by ``sites``).
    sites, methods, detection_scores
        Optional per-label site names, method names and detector scores.
    peak_rule
        SUVpeak voxel rule.
    provenance
        Provenance to extend (a new one otherwise).
    """
    require_suv_image(image)
    lab = _as_labels(labels, image)
    prov = provenance.model_copy(deep=True) if provenance is not None else Provenance()
    prov.parameters.setdefault("suv_peak_rule", peak_rule)
    prov.parameters.setdefault("suv_peak_sphere_diameter_mm", PEAK_SPHERE_DIAMETER_MM)
    out: list[LesionMetrics] = []
    half = np.array(peak_sphere_kernel(image.spacing, rule=peak_rule).shape) // 2 + 1
    for lid, sl in enumerate(ndimage.find_objects(lab), start=1):
        if sl is None:
            continue
        # measure on a crop (lesion box + SUVpeak kernel radius): identical values, much faster
        lo = [max(s.start - h, 0) for s, h in zip(sl, half)]
        hi = [min(s.stop + h, n) for s, h, n in zip(sl, half, image.shape)]
        box = tuple(slice(a, b) for a, b in zip(lo, hi))
        m_crop = lab[box] == lid
        if sites and lid in sites:
            site: str | None = sites[lid]
        elif site_rule is not None:
            full = np.zeros(image.shape, dtype=bool)
            full[box] = m_crop
            site = site_rule(full, image)
        else:
            site = None
        sub = Image(
            np.asarray(image.array[box]), image.spacing,
            origin=tuple(float(x) for x in image.index_to_world(lo[::-1])),
            direction=image.direction, units=image.units,
            frame_of_reference_uid=image.frame_of_reference_uid,
        )
        out.append(
            lesion_metrics(
                sub, m_crop, lesion_id=lid, site=site,
                method=(methods or {}).get(lid, "threshold"),
                detection_score=(detection_scores or {}).get(lid),
                peak_rule=peak_rule,
            )
        )
    return LesionTable(lesions=out, burden=whole_body_burden(out), provenance=prov)

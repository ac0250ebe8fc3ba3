"""True lesions of a twin: prostate primary, lymph nodes in PROMISE stations, bone and visceral
metastases, with sub-voxel (supersampled) partial-volume masks.

Every lesion is a sphere. Its fractional occupancy of each truth voxel is computed by
supersampling: each voxel is split into ``n^3`` sub-voxels (``n`` chosen so that the lesion
diameter spans at least 16 sub-voxels, 3 <= n <= 24) and the fraction of sub-voxel centres inside
the sphere is the occupancy. The lesion's ``volume_ml`` is the sum of occupancies times the voxel
volume: a 2 mm lesion on a 2 mm grid keeps its true volume (4/3 pi r^3 within a few %), and the
SUV map mixes lesion and host uptake with the same occupancy, so blurring it by a scanner PSF gives
the correct partial-volume loss.
"""

from __future__ import annotations

import zlib

import numpy as np

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.twin.tracers import draw_lesion_suv, get_profile
from theranostix.twin.truth import Anatomy, Disease, TrueLesion

PATTERNS = ("localized", "nodal", "oligometastatic", "disseminated")
KINDS = ("prostate", "node", "bone", "liver", "lung")
PELVIC_STATIONS = ("internal_iliac_left", "internal_iliac_right", "external_iliac_left",
                   "external_iliac_right", "obturator_left", "obturator_right", "presacral",
                   "common_iliac_left", "common_iliac_right")
EXTRAPELVIC_STATIONS = ("retroperitoneal", "inguinal_left", "inguinal_right", "mediastinal",
                        "supraclavicular_left", "supraclavicular_right")

#: Lymph-node diameters (mm): log-normal, median 9 mm, clipped to the 2-30 mm range of the issue.
NODE_DIAMETER_MEDIAN_MM = 9.0
NODE_DIAMETER_LOG_SD = 0.55
NODE_DIAMETER_RANGE_MM = (2.0, 30.0)
#: Minimum fraction of a lesion's volume inside its host organ/bone.
HOST_FRACTION_MIN = {"bone": 0.9, "liver": 0.98, "lung": 0.95, "prostate": 0.9}
#: Label threshold: a voxel carries a lesion id when the lesion occupies at least this fraction.
LABEL_OCCUPANCY = 0.5


def _rng(seed: int, *tags: str) -> np.random.Generator:
    return np.random.default_rng([int(seed)] + [zlib.crc32(t.encode()) for t in tags])


# ----------------------------------------------------------------------------- geometry
def sphere_occupancy(grid: Image, centre_mm, diameter_mm: float,
                     min_subsamples_per_diameter: int = 16):
    """Fractional occupancy of a sphere on the voxels of ``grid`` (axis-aligned grids).

    Parameters
    ----------
    grid
        Image whose geometry is used (identity direction expected).
    centre_mm
        LPS centre (mm).
    diameter_mm
        Sphere diameter (mm).

    Returns
    -------
    (slices, patch)
        Index slices (k, j, i) of the bounding box and the float32 occupancy patch (0..1), or
        ``(None, None)`` when the sphere lies outside the grid.
    """
    sp = np.asarray(grid.spacing, float)
    r = diameter_mm / 2.0
    c = np.asarray(centre_mm, float)
    n = int(np.clip(np.ceil(min_subsamples_per_diameter * sp.max() / diameter_mm), 3, 24))
    lo = np.floor((c - r - np.asarray(grid.origin)) / sp).astype(int)
    hi = np.ceil((c + r - np.asarray(grid.origin)) / sp).astype(int) + 1
    size = np.asarray(grid.size_ijk)
    lo = np.maximum(lo, 0)
    hi = np.minimum(hi, size)
    if np.any(hi <= lo):
        return None, None
    off = ((np.arange(n) + 0.5) / n - 0.5)
    d2 = []
    for ax in range(3):
        centres = grid.origin[ax] + sp[ax] * np.arange(lo[ax], hi[ax])
        d2.append(((centres[:, None] + off[None, :] * sp[ax]) - c[ax]) ** 2)  # (m, n)
    dx2, dy2, dz2 = d2
    inside = (dz2[:, :, None, None, None, None] + dy2[None, None, :, :, None, None]
              + dx2[None, None, None, None, :, :]) <= r * r
    frac = inside.mean(axis=(1, 3, 5)).astype(np.float32)
    sl = (slice(lo[2], hi[2]), slice(lo[1], hi[1]), slice(lo[0], hi[0]))
    return sl, frac


# ----------------------------------------------------------------------------- placement
def _host_fraction(anatomy: Anatomy, sl, patch, names: tuple[str, ...]) -> float:
    ids = [v for v, n in anatomy.names.items() if n in names]
    inside = np.isin(anatomy.labels.array[sl], ids)
    total = float(patch.sum())
    return float((patch * inside).sum()) / total if total > 0 else 0.0


def _free(occupied: np.ndarray, sl, patch) -> bool:
    return not bool(((occupied[sl] > 0) & (patch > 0)).any())


def _place_in(anatomy: Anatomy, occupied: np.ndarray, rng, kind: str, diameter: float,
              host_names: tuple[str, ...], seed_names: tuple[str, ...], shrink: bool = True,
              cache: dict | None = None):
    """Random centre inside ``seed_names`` voxels with the lesion mostly inside ``host_names``."""
    cache = {} if cache is None else cache
    if seed_names not in cache:
        ids = [v for v, n in anatomy.names.items() if n in seed_names]
        cache[seed_names] = np.flatnonzero(np.isin(anatomy.labels.array, ids))
    cand = cache[seed_names]
    if cand.size == 0:
        raise InvalidInputError(f"no {seed_names} in this anatomy for a {kind} lesion",
                                where="build_disease")
    need = HOST_FRACTION_MIN[kind]
    d = float(diameter)
    for attempt in range(200):
        if shrink and attempt and attempt % 25 == 0:
            d = max(d * 0.85, 2.0)
        k, j, i = np.unravel_index(int(cand[rng.integers(cand.size)]), anatomy.labels.shape)
        centre = anatomy.labels.index_to_world((i, j, k))
        # coarse supersampling is enough to test the fit (the final patch is computed later)
        sl, patch = sphere_occupancy(anatomy.labels, centre, d, min_subsamples_per_diameter=6)
        if sl is None or not _free(occupied, sl, patch):
            continue
        if _host_fraction(anatomy, sl, patch, host_names) >= need:
            return tuple(float(x) for x in centre), d
    raise InvalidInputError(f"could not place a {kind} lesion of {diameter:.1f} mm",
                            where="build_disease", fix="use a smaller diameter")


def _node_diameter(rng) -> float:
    d = NODE_DIAMETER_MEDIAN_MM * np.exp(NODE_DIAMETER_LOG_SD * rng.standard_normal())
    return float(np.clip(d, *NODE_DIAMETER_RANGE_MM))


def _node_centre(anatomy: Anatomy, occupied: np.ndarray, rng, station: str, diameter: float,
                 jitter_mm: float = 4.0):
    base = np.asarray(anatomy.node_stations[station], float)
    for attempt in range(60):
        centre = base + (rng.normal(0.0, jitter_mm + attempt * 0.5, 3) if attempt or jitter_mm
                         else 0.0)
        sl, patch = sphere_occupancy(anatomy.labels, centre, diameter)
        if sl is not None and _free(occupied, sl, patch):
            return tuple(float(x) for x in centre)
    raise InvalidInputError(f"no room for another node at station {station}",
                            where="build_disease")


# ----------------------------------------------------------------------------- assembly
def _site_name(anatomy: Anatomy, centre, kind: str, station: str | None) -> tuple[str | None, str]:
    ijk = np.round(anatomy.labels.world_to_index(centre)).astype(int)
    ijk = np.clip(ijk, 0, np.asarray(anatomy.labels.size_ijk) - 1)
    host = anatomy.names.get(int(anatomy.labels.array[ijk[2], ijk[1], ijk[0]]), "outside")
    if station:
        return station, host
    if kind == "bone" and anatomy.bone_parts is not None:
        part = int(anatomy.bone_parts.array[ijk[2], ijk[1], ijk[0]])
        return anatomy.bone_part_names.get(part, "bone"), host
    return host, host


def assemble_disease(anatomy: Anatomy, specs: list[dict], pattern: str = "explicit",
                     seed: int = 0, tracer: str | None = None) -> Disease:
    """Rasterise lesion specifications into a :class:`Disease`.

    Each spec needs ``kind``, ``centre_mm``, ``diameter_mm``, ``suv``; optional ``lesion_id``,
    ``station``, ``host``, ``new``. Lesions of zero diameter are dropped.
    """
    lab = np.zeros(anatomy.labels.shape, dtype=np.uint16)
    best = np.zeros(anatomy.labels.shape, dtype=np.float32)
    frac = np.zeros(anatomy.labels.shape, dtype=np.float32)
    lesions: list[TrueLesion] = []
    patches = {}
    vv = anatomy.labels.voxel_volume_ml
    next_id = 1 + max([int(s.get("lesion_id") or 0) for s in specs] + [0])
    for spec in specs:
        if float(spec["diameter_mm"]) <= 0:
            continue
        lid = int(spec.get("lesion_id") or next_id)
        next_id = max(next_id, lid + 1)
        sl, patch = sphere_occupancy(anatomy.labels, spec["centre_mm"], float(spec["diameter_mm"]))
        if sl is None:
            raise InvalidInputError(f"lesion {lid} lies outside the body grid",
                                    where="lesion centre_mm")
        frac[sl] = np.minimum(frac[sl] + patch, 1.0)
        take = (patch >= LABEL_OCCUPANCY) | (patch == patch.max())
        take &= patch > best[sl]
        lab[sl][take] = lid
        best[sl][take] = patch[take]
        station, host = spec.get("station"), spec.get("host")
        if station is None or host is None:
            st2, host2 = _site_name(anatomy, spec["centre_mm"], spec["kind"], station)
            station, host = station or st2, host or host2
        lesions.append(TrueLesion(
            lesion_id=lid, kind=spec["kind"], station=station,
            centre_mm=tuple(float(x) for x in spec["centre_mm"]),
            diameter_mm=float(spec["diameter_mm"]), volume_ml=float(patch.sum()) * vv,
            suv=float(spec["suv"]), host=host, new=bool(spec.get("new", False))))
        patches[lid] = (sl, patch)
    labels = anatomy.labels.with_array(lab, units="label", twin="lesion_labels")
    fimg = anatomy.labels.with_array(frac, units="1", twin="lesion_fraction")
    return Disease(lesions=lesions, labels=labels, fraction=fimg, patches=patches,
                   pattern=pattern, seed=int(seed), tracer=tracer)


def _occupied_from(anatomy: Anatomy, specs: list[dict]) -> np.ndarray:
    occ = np.zeros(anatomy.labels.shape, dtype=np.uint8)
    for s in specs:
        sl, patch = sphere_occupancy(anatomy.labels, s["centre_mm"], float(s["diameter_mm"]) + 2.0)
        if sl is not None:
            occ[sl] |= (patch > 0)
    return occ


def new_lesion_spec(anatomy: Anatomy, kind: str, rng, tracer: str, occupied: np.ndarray,
                    station: str | None = None, diameter_mm: float | None = None,
                    suv: float | None = None, cache: dict | None = None) -> dict:
    """Draw one lesion specification of ``kind`` (placing it where it fits) and mark it occupied.

    ``cache`` (a dict reused across calls on the same anatomy) keeps candidate voxel lists.
    """
    if kind not in KINDS:
        raise InvalidInputError(f"unknown lesion kind {kind!r}", where="lesion kind",
                                fix=f"use one of {list(KINDS)}")
    if kind == "node":
        station = station or str(rng.choice(PELVIC_STATIONS))
        if station not in anatomy.node_stations:
            raise InvalidInputError(f"unknown node station {station!r}", where="lesion station",
                                    fix=f"use one of {sorted(anatomy.node_stations)}")
        d = float(diameter_mm) if diameter_mm else _node_diameter(rng)
        centre = _node_centre(anatomy, occupied, rng, station, d)
    elif kind == "prostate":
        if "prostate" not in anatomy.ids:
            raise InvalidInputError("a prostate lesion needs a male anatomy", where="lesion kind",
                                    fix="build the anatomy with sex='M'")
        d = float(diameter_mm) if diameter_mm else float(rng.uniform(8.0, 16.0))
        centre, d = _place_in(anatomy, occupied, rng, kind, d, ("prostate",), ("prostate",),
                                       shrink=diameter_mm is None,
                                       cache=cache)
    elif kind == "bone":
        d = float(diameter_mm) if diameter_mm else float(np.clip(rng.lognormal(np.log(11), 0.4),
                                                                   4, 30))
        centre, d = _place_in(anatomy, occupied, rng, kind, d, ("red_marrow", "bone_cortical"),
                              ("red_marrow",), shrink=diameter_mm is None,
                                       cache=cache)
    elif kind == "liver":
        d = float(diameter_mm) if diameter_mm else float(rng.uniform(8.0, 30.0))
        centre, d = _place_in(anatomy, occupied, rng, kind, d, ("liver",), ("liver",),
                                       shrink=diameter_mm is None,
                                       cache=cache)
    else:  # lung
        d = float(diameter_mm) if diameter_mm else float(rng.uniform(5.0, 20.0))
        centre, d = _place_in(anatomy, occupied, rng, kind, d, ("lung_left", "lung_right"),
                              ("lung_left", "lung_right"), shrink=diameter_mm is None,
                                       cache=cache)
    spec = {"kind": kind, "station": station if kind == "node" else None, "centre_mm": centre,
            "diameter_mm": d, "suv": float(suv) if suv is not None else
            draw_lesion_suv(tracer, kind, rng)}
    sl, patch = sphere_occupancy(anatomy.labels, centre, d + 2.0)
    if sl is not None:
        occupied[sl] |= (patch > 0)
    return spec


def _pattern_specs(anatomy: Anatomy, pattern: str, rng, tracer: str) -> list[tuple[str, str | None]]:
    male = "prostate" in anatomy.ids
    plan: list[tuple[str, str | None]] = [("prostate", None)] if male else []
    if pattern == "localized":
        if not male:
            raise InvalidInputError("pattern 'localized' (prostate primary) needs a male anatomy",
                                    where="build_disease(pattern)", fix="use sex='M'")
        return plan
    if pattern == "nodal":
        stations = rng.choice(PELVIC_STATIONS, size=int(rng.integers(2, 6)), replace=False)
        return plan + [("node", str(s)) for s in stations]
    if pattern == "oligometastatic":
        n_nodes = int(rng.integers(1, 3))
        plan += [("node", str(s)) for s in rng.choice(PELVIC_STATIONS, n_nodes, replace=False)]
        n_distant = int(rng.integers(1, 6 - n_nodes))
        for _ in range(n_distant):
            if rng.random() < 0.7:
                plan.append(("bone", None))
            else:
                plan.append(("node", str(rng.choice(EXTRAPELVIC_STATIONS))))
        return plan
    # disseminated
    stations = list(PELVIC_STATIONS) + list(EXTRAPELVIC_STATIONS)
    plan += [("node", str(s)) for s in rng.choice(stations, int(rng.integers(6, 13)),
                                                 replace=False)]
    plan += [("bone", None)] * int(rng.integers(8, 21))
    plan += [("liver", None)] * int(rng.integers(0, 4))
    plan += [("lung", None)] * int(rng.integers(0, 4))
    return plan


def build_disease(anatomy: Anatomy, pattern: str = "nodal", seed: int = 0,
                  lesions: list[dict] | None = None, tracer: str = "psma-ga68") -> Disease:
    """Place the true lesions of a twin.

    Parameters
    ----------
    anatomy
        The body.
    pattern
        ``"localized"`` (prostate primary), ``"nodal"`` (+ 2-5 pelvic nodes), ``"oligometastatic"``
        (+ 1-2 pelvic nodes and distant bone/extrapelvic-node lesions, <= 5 metastases),
        ``"disseminated"`` (6-12 nodes, 8-20 bone, 0-3 liver, 0-3 lung). Ignored when ``lesions``
        is given.
    seed
        Seed of every random choice.
    lesions
        Explicit list of lesions: dicts with ``kind`` (prostate|node|bone|liver|lung) and optional
        ``station`` (node), ``diameter_mm``, ``centre_mm`` (LPS), ``suv``.
    tracer
        Diagnostic tracer whose lesion uptake is drawn (``TrueLesion.suv``).

    Raises
    ------
    InvalidInputError
        Unknown pattern, kind, station or tracer; impossible diameters; prostate lesion in a female.
    """
    prof = get_profile(tracer)
    rng = _rng(seed, "disease", str(pattern), prof.key)
    if lesions is None:
        if pattern not in PATTERNS:
            raise InvalidInputError(f"unknown disease pattern {pattern!r}",
                                    where="build_disease(pattern)",
                                    fix=f"use one of {list(PATTERNS)} or an explicit lesion list")
        occupied = np.zeros(anatomy.labels.shape, dtype=np.uint8)
        cache: dict = {}
        specs = [new_lesion_spec(anatomy, kind, rng, prof.key, occupied, station=st, cache=cache)
                 for kind, st in _pattern_specs(anatomy, pattern, rng, prof.key)]
        return assemble_disease(anatomy, specs, pattern=pattern, seed=seed, tracer=prof.key)
    if not isinstance(lesions, list):
        raise InvalidInputError("lesions must be a list of dicts", where="build_disease(lesions)")
    occupied = np.zeros(anatomy.labels.shape, dtype=np.uint8)
    specs = []
    cache = {}
    for n, item in enumerate(lesions):
        where = f"build_disease(lesions[{n}])"
        if not isinstance(item, dict) or "kind" not in item:
            raise InvalidInputError("each lesion needs at least a 'kind'", where=where)
        kind = item["kind"]
        d = item.get("diameter_mm")
        if d is not None and not (0.5 <= float(d) <= 150.0):
            raise InvalidInputError(f"diameter_mm {d} outside 0.5-150 mm", where=where)
        suv = item.get("suv")
        if suv is not None and not (0.0 <= float(suv) < 1000.0):
            raise InvalidInputError(f"suv {suv} outside 0-1000", where=where)
        if item.get("centre_mm") is not None:
            if kind not in KINDS:
                raise InvalidInputError(f"unknown lesion kind {kind!r}", where=where,
                                        fix=f"use one of {list(KINDS)}")
            if d is None:
                raise InvalidInputError("a lesion with centre_mm needs diameter_mm", where=where)
            c = np.asarray(item["centre_mm"], float)
            if c.shape != (3,) or not np.all(np.isfinite(c)):
                raise InvalidInputError("centre_mm needs 3 finite numbers", where=where)
            st = item.get("station")
            if kind == "node" and st is not None and st not in anatomy.node_stations:
                raise InvalidInputError(f"unknown node station {st!r}", where=where,
                                        fix=f"use one of {sorted(anatomy.node_stations)}")
            spec = {"kind": kind, "station": st, "centre_mm": tuple(c), "diameter_mm": float(d),
                    "suv": float(suv) if suv is not None else draw_lesion_suv(prof.key, kind, rng)}
            sl, patch = sphere_occupancy(anatomy.labels, c, float(d) + 2.0)
            if sl is None:
                raise InvalidInputError("lesion centre outside the body grid", where=where)
            occupied[sl] |= (patch > 0)
        else:
            spec = new_lesion_spec(anatomy, kind, rng, prof.key, occupied,
                                   station=item.get("station"), diameter_mm=d, suv=suv,
                                   cache=cache)
        specs.append(spec)
    return assemble_disease(anatomy, specs, pattern="explicit", seed=seed, tracer=prof.key)

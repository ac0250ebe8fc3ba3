"""Synthetic adult anatomy (vertex to upper thighs) built from smooth shapes.

The body is painted structure by structure onto a label grid (painter's order: later shapes win).
Every shape is evaluated only inside its bounding box with broadcast numpy coordinates, so a whole
body on the default 2 mm grid takes about a second.

Shapes: ellipsoids (optionally rotated), capsules (tubes along polylines), elliptic cylinders and a
trunk outline whose superquadric cross-section varies with height. Positions are those of the ICRP
reference male (176 cm) in LPS mm with the vertex at z = 0, scaled by the patient's stature.
Organs with an ICRP-89 reference mass (``data/anatomy_reference.yaml``) are sized from that mass,
the ICRP-110 density and a seeded per-patient scale factor (log-normal, SD 8 %, clipped to
[0.85, 1.15]).

Chest: skin/subcutaneous fat, a muscle layer holding the ribs, and a thoracic cavity into which
the lungs are painted (so they never touch the outside air); what the organs leave of the cavity
is mediastinal fat, so the heart and the descending aorta are outlined by fat on CT.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.twin.truth import Anatomy

#: Per-patient organ volume variation: SD of the log scale factor and its clip range.
ORGAN_SCALE_LOG_SD = 0.08
ORGAN_SCALE_CLIP = (0.85, 1.15)

#: True CT numbers (HU) per tissue class. Typical values: fat -100, muscle 50, inflated lung
#: -800, cortical bone > 700 (here 1100), spongiosa 250 (e.g. Hounsfield-unit tables in
#: Bushberg, The Essential Physics of Medical Imaging, 3rd ed., ch. 10) [M].
TISSUE_HU: dict[str, float] = {
    "body": 35.0, "fat": -100.0, "muscle": 50.0, "lung": -800.0, "airway": -990.0,
    "heart": 40.0, "blood_pool": 40.0, "liver": 60.0, "spleen": 50.0, "kidney_cortex": 35.0,
    "kidney_medulla": 30.0, "bladder": 10.0, "prostate": 40.0, "uterus": 45.0, "breast": -40.0,
    "parotid": 0.0, "submandibular": 40.0, "lacrimal": 40.0, "thyroid": 100.0, "duodenum": 25.0,
    "small_bowel": 25.0, "colon": -20.0, "stomach": 20.0, "pancreas": 40.0, "adrenal": 30.0, "brain": 35.0, "bone_cortical": 1100.0,
    "red_marrow": 250.0, "yellow_marrow": -30.0, "disc": 80.0,
}

SEXES = {"M": "M", "MALE": "M", "F": "F", "FEMALE": "F"}


def tissue_class(structure: str) -> str:
    """Tissue class of a structure name: drops the ``_left``/``_right`` side.

    >>> tissue_class("kidney_left_cortex"), tissue_class("parotid_right"), tissue_class("liver")
    ('kidney_cortex', 'parotid', 'liver')
    """
    return structure.replace("_left", "").replace("_right", "")


@lru_cache(maxsize=1)
def load_anatomy_reference() -> dict:
    """Reference masses/densities of ``data/anatomy_reference.yaml`` (ICRP-89 / ICRP-110)."""
    text = resources.files("theranostix.twin").joinpath("data/anatomy_reference.yaml").read_text()
    return yaml.safe_load(text)


def reference_volume_ml(organ: str, sex: str) -> float:
    """ICRP-89 reference volume (mL) = mass / ICRP-110 density of an organ group of the YAML file."""
    row = load_anatomy_reference()["organs"][organ]
    mass = row[sex]
    if mass is None:
        raise InvalidInputError(f"{organ} has no reference mass for sex {sex}", where="anatomy")
    return float(mass) / float(row["density"])


#: Anatomy structures making up each reference organ group (for the ICRP-89 volume check).
ORGAN_GROUPS: dict[str, tuple[str, ...]] = {
    "brain": ("brain",), "liver": ("liver",), "spleen": ("spleen",),
    "kidneys": ("kidney_left_cortex", "kidney_left_medulla", "kidney_right_cortex",
                "kidney_right_medulla"),
    "lungs": ("lung_left", "lung_right"), "heart": ("heart",), "bladder": ("bladder",),
    "prostate": ("prostate",), "uterus": ("uterus",), "parotids": ("parotid_left", "parotid_right"),
    "submandibulars": ("submandibular_left", "submandibular_right"), "thyroid": ("thyroid",),
    "lacrimals": ("lacrimal_left", "lacrimal_right"), "small_bowel": ("small_bowel", "duodenum"),
    "colon": ("colon",), "stomach": ("stomach",), "pancreas": ("pancreas",),
    "adrenals": ("adrenal_left", "adrenal_right"),
}


# ============================================================================ painter
class _Canvas:
    """Label grid with world coordinates and bounding-box painting."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray, spacing: float):
        n = np.ceil((hi - lo) / spacing).astype(int) + 1
        self.spacing = spacing
        self.origin = lo
        self.xs = lo[0] + spacing * np.arange(n[0])
        self.ys = lo[1] + spacing * np.arange(n[1])
        self.zs = lo[2] + spacing * np.arange(n[2])
        self.lab = np.zeros((n[2], n[1], n[0]), dtype=np.uint16)
        self.part = np.zeros_like(self.lab, dtype=np.uint8)
        self.names: dict[int, str] = {}
        self.parts: dict[int, str] = {}

    def label(self, name: str) -> int:
        for v, n in self.names.items():
            if n == name:
                return v
        v = len(self.names) + 1
        self.names[v] = name
        return v

    def part_id(self, name: str) -> int:
        for v, n in self.parts.items():
            if n == name:
                return v
        v = len(self.parts) + 1
        self.parts[v] = name
        return v

    def _box(self, lo, hi):
        def rng(axis, a, b):
            c = (axis[0], self.spacing)
            i0 = max(int(np.floor((a - c[0]) / c[1])), 0)
            i1 = min(int(np.ceil((b - c[0]) / c[1])) + 1, axis.size)
            return i0, i1
        i0, i1 = rng(self.xs, lo[0], hi[0])
        j0, j1 = rng(self.ys, lo[1], hi[1])
        k0, k1 = rng(self.zs, lo[2], hi[2])
        if i1 <= i0 or j1 <= j0 or k1 <= k0:
            return None
        sl = (slice(k0, k1), slice(j0, j1), slice(i0, i1))
        x = self.xs[i0:i1][None, None, :]
        y = self.ys[j0:j1][None, :, None]
        z = self.zs[k0:k1][:, None, None]
        return sl, x, y, z

    def paint(self, name: str, lo, hi, fn, only: tuple[str, ...] | None = None,
              part: str | None = None) -> None:
        box = self._box(np.asarray(lo, float), np.asarray(hi, float))
        if box is None:
            return
        sl, x, y, z = box
        m = np.broadcast_to(fn(x, y, z), self.lab[sl].shape)
        if only is not None:
            ids = [v for v, n in self.names.items() if n in only]
            m = m & np.isin(self.lab[sl], ids)
        self.lab[sl][m] = self.label(name)
        if part is not None:
            self.part[sl][m] = self.part_id(part)

    # ---------------------------------------------------------------- primitives
    def ellipsoid(self, name, c, semi, rot_deg=(0.0, 0.0, 0.0), **kw) -> None:
        c = np.asarray(c, float)
        semi = np.asarray(semi, float)
        r = _rotation(rot_deg)
        ext = np.abs(r.T) @ semi if any(rot_deg) else semi

        def fn(x, y, z):
            d = (x - c[0], y - c[1], z - c[2])
            acc = 0.0
            for row in range(3):
                loc = r[row, 0] * d[0] + r[row, 1] * d[1] + r[row, 2] * d[2]
                acc = acc + (loc / semi[row]) ** 2
            return acc <= 1.0

        self.paint(name, c - ext, c + ext, fn, **kw)

    def count_ellipsoid(self, c, semi, only: tuple[str, ...] | None = None) -> int:
        """Voxels an axis-aligned ellipsoid would paint (without painting it)."""
        c = np.asarray(c, float)
        semi = np.asarray(semi, float)
        box = self._box(c - semi, c + semi)
        if box is None:
            return 0
        sl, x, y, z = box
        m = (((x - c[0]) / semi[0]) ** 2 + ((y - c[1]) / semi[1]) ** 2
             + ((z - c[2]) / semi[2]) ** 2) <= 1.0
        if only is not None:
            ids = [v for v, n in self.names.items() if n in only]
            m = m & np.isin(self.lab[sl], ids)
        return int(m.sum())

    def cylinder(self, name, c_xy, semi_xy, z0, z1, power=2.0, **kw) -> None:
        cx, cy = c_xy
        ax, ay = semi_xy

        def fn(x, y, z):
            return ((np.abs(x - cx) / ax) ** power + (np.abs(y - cy) / ay) ** power <= 1.0) & (
                (z >= z0) & (z <= z1))

        self.paint(name, (cx - ax, cy - ay, z0), (cx + ax, cy + ay, z1), fn, **kw)

    def tube(self, name, points, radius, **kw) -> None:
        """Union of capsules along a polyline (radius scalar or one per point)."""
        pts = np.asarray(points, float)
        rad = np.broadcast_to(np.asarray(radius, float), (len(pts),))
        for p0, p1, r0, r1 in zip(pts[:-1], pts[1:], rad[:-1], rad[1:]):
            rmax = max(r0, r1)
            seg = p1 - p0
            L2 = float(seg @ seg) or 1e-9

            def fn(x, y, z, p0=p0, seg=seg, L2=L2, r0=r0, r1=r1):
                t = ((x - p0[0]) * seg[0] + (y - p0[1]) * seg[1] + (z - p0[2]) * seg[2]) / L2
                t = np.clip(t, 0.0, 1.0)
                d2 = (x - p0[0] - t * seg[0]) ** 2 + (y - p0[1] - t * seg[1]) ** 2 + (
                    z - p0[2] - t * seg[2]) ** 2
                return d2 <= (r0 + t * (r1 - r0)) ** 2

            lo = np.minimum(p0, p1) - rmax
            hi = np.maximum(p0, p1) + rmax
            self.paint(name, lo, hi, fn, **kw)


def _rotation(rot_deg) -> np.ndarray:
    """World->local rotation from angles (deg) about x, y, z."""
    ax, ay, az = np.deg2rad(rot_deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return (rz @ ry @ rx).T


def _axes_for_volume(volume_ml: float, ratio) -> np.ndarray:
    """Ellipsoid semi-axes (mm) with the given aspect ratio and volume (mL)."""
    ratio = np.asarray(ratio, float)
    k = (volume_ml * 1000.0 * 3.0 / (4.0 * np.pi * np.prod(ratio))) ** (1.0 / 3.0)
    return ratio * k


# ============================================================================ body outline
# Trunk outline of the reference male: depth below vertex (mm) -> (half-width x, half-depth y,
# y centre), superquadric exponent 2.6. Female: narrower shoulders/waist, wider hips.
_TRUNK_M = np.array([
    # z,    a,     b,    y0
    [-268., 62.0, 58.0, 10.0],
    [-300., 165., 100., 5.0],
    [-330., 190., 112., 5.0],
    [-420., 172., 116., 0.0],
    [-550., 160., 112., 0.0],
    [-680., 150., 106., 0.0],
    [-800., 168., 110., 5.0],
    [-880., 172., 104., 5.0],
    [-915., 150., 90., 5.0],
])
_TRUNK_F = _TRUNK_M.copy()
_TRUNK_F[:, 1] *= np.array([1.0, 0.95, 0.90, 0.92, 0.92, 0.92, 1.08, 1.10, 1.10])
_TRUNK_F[:, 2] *= 0.95
_SQ_POWER = 2.6


def _paint_outline(cv: _Canvas, prof: np.ndarray, inset: float, name: str, s: float,
                   girth: float, only=None) -> None:
    prof = prof[np.argsort(prof[:, 0])]  # np.interp needs increasing z
    zz = prof[:, 0] * s
    aa = np.maximum(prof[:, 1] * s * girth - inset, 1.0)
    bb = np.maximum(prof[:, 2] * s * girth - inset, 1.0)
    y0 = prof[:, 3] * s
    z = cv.zs
    inside_z = (z >= zz.min()) & (z <= zz.max())
    a = np.interp(z, zz, aa)[:, None, None]
    b = np.interp(z, zz, bb)[:, None, None]
    yc = np.interp(z, zz, y0)[:, None, None]

    def fn(x, y, zg):
        # zg is the z-slab of the bounding box; use the pre-interpolated profiles
        k0 = int(round((zg[0, 0, 0] - cv.zs[0]) / cv.spacing))
        k1 = k0 + zg.shape[0]
        m = (np.abs(x) / a[k0:k1]) ** _SQ_POWER + (np.abs(y - yc[k0:k1]) / b[k0:k1]) ** _SQ_POWER
        return (m <= 1.0) & inside_z[k0:k1, None, None]

    amax, bmax = float(aa.max()), float(bb.max())
    cv.paint(name, (-amax, -bmax + y0.min(), zz.min()), (amax, bmax + y0.max(), zz.max()), fn,
             only=only)


def _outline_mask(xs: np.ndarray, ys: np.ndarray, z: np.ndarray, prof: np.ndarray, inset: float,
                  s: float, girth: float, z_range: tuple[float, float]) -> np.ndarray:
    """Mask ``[k, j, i]`` on the grid axes (mm) of the trunk outline shrunk by ``inset`` mm,
    limited to ``z_range`` (mm)."""
    prof = prof[np.argsort(prof[:, 0])]
    zz = prof[:, 0] * s
    a = np.interp(z, zz, np.maximum(prof[:, 1] * s * girth - inset, 1.0))[:, None, None]
    b = np.interp(z, zz, np.maximum(prof[:, 2] * s * girth - inset, 1.0))[:, None, None]
    yc = np.interp(z, zz, prof[:, 3] * s)[:, None, None]
    x = xs[None, None, :]
    y = ys[None, :, None]
    m = (np.abs(x) / a) ** _SQ_POWER + (np.abs(y - yc) / b) ** _SQ_POWER <= 1.0
    inside_z = (z >= max(z_range[0], zz.min())) & (z <= min(z_range[1], zz.max()))
    return m & inside_z[:, None, None]


def _restore_chest_wall(cv: _Canvas, prof: np.ndarray, s: float, girth: float, fat_mm: float,
                        muscle_mm: float) -> None:
    """Keep the chest wall intact: no organ or bone reaches into the subcutaneous fat, and no soft
    organ into the muscle layer (shapes painted later may poke through in slim patients).

    Only the chest above the liver and spleen domes (z >= -500 mm x stature scale) is restored.
    Lower down, in a slim patient the spleen, liver and kidneys can reach into the wall (a known
    limitation: restoring the wall there would cut them below their ICRP-89 volumes); the lungs
    are confined to the thoracic cavity at every level when they are painted.
    """
    z_range = (-500.0 * s, -300.0 * s)  # chest above the liver/spleen domes (see docstring)
    k = np.flatnonzero((cv.zs >= z_range[0]) & (cv.zs <= z_range[1]))
    if k.size == 0:
        return
    sl = slice(int(k[0]), int(k[-1]) + 1)
    axes = (cv.xs, cv.ys, cv.zs[sl])
    outer = _outline_mask(*axes, prof, 0.0, s, girth, z_range)
    below_fat = _outline_mask(*axes, prof, fat_mm, s, girth, z_range)
    below_muscle = _outline_mask(*axes, prof, fat_mm + muscle_mm, s, girth, z_range)
    lab = cv.lab[sl]
    keep_fat = np.isin(lab, [0] + [v for v, n in cv.names.items()
                                   if n == "fat" or n.startswith("breast")])
    fat_shell = outer & ~below_fat & ~keep_fat
    wall_ok = np.isin(lab, [v for v, n in cv.names.items()
                            if n in ("fat", "muscle", "bone_cortical", "red_marrow")
                            or n.startswith("breast")])
    muscle_shell = below_fat & ~below_muscle & ~wall_ok & (lab != 0)
    lab[fat_shell] = cv.label("fat")
    lab[muscle_shell] = cv.label("muscle")
    cv.part[sl][fat_shell] = 0


# ============================================================================ build
def build_anatomy(sex: str = "M", seed: int = 0, spacing_mm: float = 2.0) -> Anatomy:
    """Build a seeded adult anatomy from the vertex to the upper thighs.

    Parameters
    ----------
    sex
        ``"M"``/``"male"`` or ``"F"``/``"female"``.
    seed
        Seed of the per-patient variation (stature, weight, organ volumes).
    spacing_mm
        Isotropic voxel size of the truth grid (mm); 1 to 8 mm.

    Returns
    -------
    Anatomy
        Label map, HU map, names, node-station centres (LPS mm) and body metrics.

    Raises
    ------
    InvalidInputError
        Unknown sex, or a spacing outside 1-8 mm.
    """
    key = str(sex).strip().upper()
    if key not in SEXES:
        raise InvalidInputError(f"unknown sex {sex!r}", where="build_anatomy(sex)",
                                fix="use 'M'/'male' or 'F'/'female'")
    sex = SEXES[key]
    if not (isinstance(spacing_mm, (int, float)) and 1.0 <= float(spacing_mm) <= 8.0):
        raise InvalidInputError(f"spacing_mm must be within 1-8 mm, got {spacing_mm!r}",
                                where="build_anatomy(spacing_mm)")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}",
                                where="build_anatomy(seed)")
    spacing = float(spacing_mm)
    ref = load_anatomy_reference()
    body_ref = ref["body"][sex]
    rng = np.random.default_rng([int(seed), 0 if sex == "M" else 1, 1789])

    height_m = float(body_ref["height_m"] * (1.0 + 0.035 * np.clip(rng.standard_normal(), -2, 2)))
    weight_kg = float(body_ref["weight_kg"] * (height_m / body_ref["height_m"]) ** 2
                      * np.exp(0.12 * np.clip(rng.standard_normal(), -2, 2)))
    s = height_m / 1.76  # positions are those of the 176 cm reference male
    bmi_ratio = (weight_kg / height_m**2) / (body_ref["weight_kg"] / body_ref["height_m"] ** 2)
    girth = float(np.sqrt(bmi_ratio))
    fat_mm = (14.0 if sex == "M" else 22.0) * bmi_ratio**1.5
    muscle_mm = 12.0 if sex == "M" else 10.0

    scales: dict[str, float] = {}
    for organ in ORGAN_GROUPS:
        scales[organ] = float(np.clip(np.exp(ORGAN_SCALE_LOG_SD * rng.standard_normal()),
                                      *ORGAN_SCALE_CLIP))

    def vol(organ: str) -> float:
        return reference_volume_ml(organ, sex) * scales[organ]

    def P(*xyz):  # reference-male position -> this patient
        return np.asarray(xyz, float) * s

    prof = _TRUNK_M if sex == "M" else _TRUNK_F
    half_x = float(prof[:, 1].max() * s * girth) + 12.0
    half_y = float(prof[:, 2].max() * s * girth) + 25.0
    lo = np.array([-half_x, -half_y, -1030.0 * s])
    hi = np.array([half_x, half_y, 8.0])
    lo = np.floor(lo / spacing) * spacing
    cv = _Canvas(lo, hi, spacing)

    # --------------------------------------------------------------- envelope
    _paint_outline(cv, prof, 0.0, "fat", s, girth)
    thigh_r = 82.0 * s * girth
    for side in (-1, 1):
        cv.cylinder("fat", P(side * 92, 5)[:2], (thigh_r, thigh_r), -1040 * s, -860 * s)
    _paint_outline(cv, prof, fat_mm, "muscle", s, girth)
    for side in (-1, 1):
        cv.cylinder("muscle", P(side * 92, 5)[:2], (thigh_r - fat_mm,) * 2, -1040 * s, -880 * s)
    # cavities: thorax soft tissue (mediastinum), abdomen/pelvis visceral fat
    inner = fat_mm + muscle_mm
    thorax = prof[(prof[:, 0] <= -300) & (prof[:, 0] >= -560)]
    abdo = prof[(prof[:, 0] <= -540) & (prof[:, 0] >= -880)]
    _paint_outline(cv, thorax, inner, "body", s, girth)
    _paint_outline(cv, abdo, inner, "fat", s, girth)
    # head and neck
    cv.cylinder("muscle", P(0, 10)[:2], P(60, 60)[:2], -300 * s, -170 * s)
    cv.ellipsoid("body", P(0, 8, -110), P(80, 98, 107))
    if sex == "F":
        for side, nm in ((1, "left"), (-1, "right")):
            cv.ellipsoid(f"breast_{nm}", P(side * 85, -112, -440), P(60, 40, 56))

    # --------------------------------------------------------------- muscles
    for side in (-1, 1):
        cv.tube("muscle", [P(side * 32, 45, -620), P(side * 52, 25, -780),
                           P(side * 75, -5, -860)], 16 * s)  # psoas
        cv.cylinder("muscle", P(side * 36, 88)[:2], P(26, 20)[:2], -760 * s, -300 * s)  # erector
        cv.ellipsoid("muscle", P(side * 95, 70, -850), P(70, 45, 80), only=("fat",))  # gluteal

    # --------------------------------------------------------------- skeleton
    # skull (outer table, diploe, inner table) around the brain
    brain_c = P(0, 10, -75)
    brain_ax = _axes_for_volume(vol("brain"), (0.80, 0.97, 0.70))
    cv.ellipsoid("bone_cortical", brain_c, brain_ax + 7 * s, part="skull")
    cv.ellipsoid("red_marrow", brain_c, brain_ax + 5 * s, part="skull")
    cv.ellipsoid("bone_cortical", brain_c, brain_ax + 2.5 * s, part="skull")
    for side in (-1, 1):
        cv.tube("bone_cortical", [P(side * 48, 5, -145), P(side * 45, -30, -205),
                                  P(0, -72, -212)], 7 * s, part="mandible")
    # spine: C1-C7, T1-T12, L1-L5 vertebral bodies + posterior elements
    levels = ([("C", i, -212 - 13 * i, 22, 9) for i in range(1, 8)]
              + [("T", i, -285 - 25.5 * i, 45 + 12 * np.sin(np.pi * i / 13), 13 + 0.5 * i)
                 for i in range(1, 13)]
              + [("L", i, -590 - 34 * i, 42 - 3 * i, 19 + 0.6 * i) for i in range(1, 6)])
    for region, i, zc, yc, r in levels:
        pitch = {"C": 13, "T": 25.5, "L": 34}[region] * s
        zc, yc, r = zc * s, yc * s, r * s
        part = f"spine_{region}"
        cv.cylinder("bone_cortical", (0, yc), (1.25 * r, r), zc - 0.38 * pitch, zc + 0.38 * pitch,
                    part=part)
        cv.cylinder("red_marrow", (0, yc), (1.25 * r - 2 * s, r - 2 * s), zc - 0.38 * pitch + 2,
                    zc + 0.38 * pitch - 2, part=part)
        cv.cylinder("disc", (0, yc), (1.2 * r, 0.95 * r), zc + 0.38 * pitch, zc + 0.62 * pitch)
        cv.tube("bone_cortical", [(0, yc + r, zc), (0, yc + r + 32 * s, zc - 0.3 * pitch)],
                5 * s, part=part)
        for side in (-1, 1):
            cv.tube("bone_cortical", [(0, yc + r + 6 * s, zc), (side * (r + 22 * s),
                                                                yc + r + 8 * s, zc)],
                    4 * s, part=part)
    # ribs 1-12 (posterior at T level, sloping down anteriorly), centred in the chest-wall muscle
    # layer on the superquadric outline, so that they lie inside the body and outside the lungs
    rib_r = min(5.0 * s, 0.45 * muscle_mm)
    prof_at = prof[np.argsort(prof[:, 0])]
    for i in range(1, 13):
        zt = (-285 - 25.5 * i) * s
        phi_end = {True: 160.0, False: 120.0}[i <= 7] if i <= 10 else 80.0
        zp = zt + 8 * s
        phi = np.deg2rad(np.linspace(18.0, phi_end, 12))
        zs_rib = zp - 70 * s * (1 - np.cos(phi)) / 2
        # outline half-axes at each rib point's own height (the rib slopes down anteriorly)
        a_in = np.interp(zs_rib / s, prof_at[:, 0], prof_at[:, 1]) * s * girth - fat_mm \
            - 0.5 * muscle_mm
        b_in = np.interp(zs_rib / s, prof_at[:, 0], prof_at[:, 2]) * s * girth - fat_mm \
            - 0.5 * muscle_mm
        y0_rib = np.interp(zs_rib / s, prof_at[:, 0], prof_at[:, 3]) * s
        # upper ribs: the shoulder girdle widens the outline, not the rib cage
        a_in = np.minimum(a_in, 150 * s * girth)
        sx = np.abs(np.sin(phi)) ** (2.0 / _SQ_POWER)
        cy = np.sign(np.cos(phi)) * np.abs(np.cos(phi)) ** (2.0 / _SQ_POWER)
        for side in (-1, 1):
            pts = np.stack([side * a_in * sx, y0_rib + b_in * cy, zs_rib], axis=1)
            cv.tube("bone_cortical", pts, rib_r, part="rib")
            cv.tube("red_marrow", pts, 0.52 * rib_r, part="rib")
    # sternum, clavicles
    # sternum: just under the subcutaneous fat of the anterior chest wall
    st_y = float(np.interp(-410.0, prof_at[:, 0], prof_at[:, 3]) * s
                 - np.interp(-410.0, prof_at[:, 0], prof_at[:, 2]) * s * girth + fat_mm + 7 * s)
    cv.cylinder("bone_cortical", (0.0, st_y), P(17, 7)[:2], -500 * s, -320 * s, power=4,
                part="sternum")
    cv.cylinder("red_marrow", (0.0, st_y), P(13, 4)[:2], -496 * s, -324 * s, power=4,
                part="sternum")
    for side in (-1, 1):
        cv.tube("bone_cortical", [P(side * 18, -60, -318), P(side * 80, -45, -310),
                                  P(side * 150, -5, -318)], 7 * s, part="clavicle")
    # pelvis, sacrum, femora
    for side in (-1, 1):
        cv.ellipsoid("bone_cortical", P(side * 100, 40, -745), P(13, 55, 58),
                     rot_deg=(0, 0, -side * 30), part="pelvis")
        cv.ellipsoid("red_marrow", P(side * 100, 40, -745), P(8, 50, 53),
                     rot_deg=(0, 0, -side * 30), part="pelvis")
        cv.ellipsoid("bone_cortical", P(side * 82, 25, -838), P(24, 32, 40), part="pelvis")
        cv.ellipsoid("red_marrow", P(side * 82, 25, -838), P(20, 28, 36), part="pelvis")
        cv.tube("bone_cortical", [P(side * 72, -10, -842), P(side * 12, -55, -858)], 10 * s,
                part="pelvis")
        cv.tube("red_marrow", [P(side * 72, -10, -842), P(side * 12, -55, -858)], 6 * s,
                part="pelvis")
        cv.tube("bone_cortical", [P(side * 65, 15, -882), P(side * 12, -50, -872)], 8 * s,
                part="pelvis")
    cv.ellipsoid("bone_cortical", P(0, 82, -805), P(46, 22, 72), rot_deg=(25, 0, 0),
                 part="sacrum")
    cv.ellipsoid("red_marrow", P(0, 82, -805), P(41, 17, 67), rot_deg=(25, 0, 0), part="sacrum")
    for side in (-1, 1):
        head = P(side * 98, 8, -848)
        cv.tube("bone_cortical", [head, P(side * 132, 10, -872)], 16 * s, part="femur")
        cv.ellipsoid("bone_cortical", P(side * 135, 10, -870), P(22, 22, 24), part="femur")
        cv.tube("bone_cortical", [P(side * 132, 10, -880), P(side * 108, 6, -1060)], 14 * s,
                part="femur")
        cv.tube("red_marrow", [head, P(side * 132, 10, -872)], 11 * s, part="femur")
        cv.ellipsoid("red_marrow", P(side * 135, 10, -870), P(18, 18, 20), part="femur")
        cv.tube("yellow_marrow", [P(side * 131, 10, -900), P(side * 108, 6, -1060)], 8 * s,
                part="femur")
        cv.ellipsoid("bone_cortical", head, (24 * s,) * 3, part="femur")
        cv.ellipsoid("red_marrow", head, (21 * s,) * 3, part="femur")

    # --------------------------------------------------------------- organs
    cv.ellipsoid("brain", brain_c, brain_ax)
    for side, nm in ((1, "left"), (-1, "right")):
        cv.ellipsoid(f"lacrimal_{nm}", P(side * 33, -74, -108),
                     _axes_for_volume(vol("lacrimals") / 2, (2.0, 1.0, 1.0)), rot_deg=(0, 0, side * 25))
        cv.ellipsoid(f"parotid_{nm}", P(side * 56, 6, -172),
                     _axes_for_volume(vol("parotids") / 2, (0.5, 1.0, 1.05)))
        cv.ellipsoid(f"submandibular_{nm}", P(side * 33, -34, -207),
                     _axes_for_volume(vol("submandibulars") / 2, (1.0, 1.0, 0.8)))
    for side in (-1, 1):
        cv.ellipsoid("thyroid", P(side * 21, -22, -252),
                     _axes_for_volume(vol("thyroid") / 2, (0.6, 0.6, 1.5)))
    cv.tube("airway", [P(0, -8, -215), P(0, -5, -300), P(0, 5, -400)], 9 * s)
    for side, nm in ((1, "left"), (-1, "right")):
        cv.tube("airway", [P(0, 5, -400), P(side * 40, 12, -430)], 6 * s)
    # lungs
    # lungs: only inside the thoracic cavity (inside the chest wall of skin/fat, muscle and ribs);
    # the ellipsoids are enlarged until the part inside the cavity has the reference volume
    lung_ax = _axes_for_volume(vol("lungs") / 2, (0.46, 0.66, 1.0))
    lung_c = {"lung_right": P(-92, 12, -412), "lung_left": P(95, 12, -405)}
    cavity = ("body",)
    target = vol("lungs") / cv.spacing**3 * 1000.0
    for _ in range(4):
        n = sum(cv.count_ellipsoid(c, lung_ax, only=cavity) for c in lung_c.values())
        if n <= 0 or abs(n / target - 1.0) < 0.01:
            break
        lung_ax = lung_ax * float(np.clip(target / n, 0.5, 2.0)) ** (1.0 / 3.0)
    for name, c in lung_c.items():
        cv.ellipsoid(name, c, lung_ax, only=cavity)
    cv.ellipsoid("heart", P(18, -38, -478), _axes_for_volume(vol("heart"), (1.0, 0.85, 0.95)),
                 rot_deg=(0, 0, 25))
    # blood pool: aorta (ascending, arch, descending, abdominal) and iliac arteries
    cv.tube("blood_pool", [P(12, -30, -440), P(8, -10, -372), P(18, 15, -365), P(24, 30, -395)],
            14 * s)
    # descending thoracic aorta: ~25 mm, left-anterior of the vertebral bodies, in mediastinal fat
    # (a 4 mm fat collar separates it from the back of the heart, as periaortic/oesophageal fat)
    desc = [P(24, 30, -395), P(30, 28, -440), P(28, 26, -500), P(16, 20, -600), P(10, 14, -715)]
    desc_r = [12.5 * s, 12.5 * s, 12 * s, 10 * s, 9 * s]
    cv.tube("fat", desc[:3], [r + 4.0 * s for r in desc_r[:3]], only=("heart",))
    cv.tube("blood_pool", desc, desc_r)
    for side in (-1, 1):
        cv.tube("blood_pool", [P(10, 14, -715), P(side * 55, 15, -790), P(side * 75, -22, -862)],
                [7 * s, 6.5 * s, 6 * s])
    cv.ellipsoid("stomach", P(55, -40, -578), _axes_for_volume(vol("stomach"), (1.0, 0.7, 1.1)),
                 rot_deg=(0, 0, 20))
    panc_len = 122.5 * s  # path length 125 mm x mean squared taper 0.98
    panc_r = float(np.sqrt(vol("pancreas") * 1000 / (np.pi * panc_len)))
    cv.tube("pancreas", [P(-30, -15, -655), P(20, -22, -625), P(70, 12, -597)],
            [panc_r * 1.2, panc_r, panc_r * 0.75])
    liver_ax = _axes_for_volume(vol("liver"), (0.92, 0.80, 0.78))
    cv.ellipsoid("liver", P(-58, -8, -572), liver_ax, rot_deg=(0, 0, 0))
    cv.ellipsoid("spleen", P(86, 44, -568), _axes_for_volume(vol("spleen"), (0.5, 0.9, 1.0)),
                 rot_deg=(0, 0, -30))
    kid_ax = _axes_for_volume(vol("kidneys") / 2, (0.5, 0.45, 1.0))
    for side, nm, zc in ((1, "left", -642), (-1, "right", -660)):
        c = P(side * 78, 55, zc)
        cv.ellipsoid(f"kidney_{nm}_cortex", c, kid_ax, rot_deg=(0, 0, side * 20))
        cv.ellipsoid(f"kidney_{nm}_medulla", c, kid_ax * 0.72, rot_deg=(0, 0, side * 20))
    adr_ax = _axes_for_volume(vol("adrenals") / 2, (0.5, 1.0, 1.5))
    cv.ellipsoid("adrenal_left", P(45, 45, -585), adr_ax)
    cv.ellipsoid("adrenal_right", P(-40, 55, -608), adr_ax)
    sb_ax = _axes_for_volume(vol("small_bowel") * 0.9, (1.2, 0.75, 1.0))
    cv.ellipsoid("small_bowel", P(5, -38, -722), sb_ax)
    cv.tube("duodenum", [P(-20, -20, -632), P(-52, -8, -645), P(-48, 0, -680), P(-15, 4, -690),
                         P(10, -12, -680)], 12 * s)
    colon_r = float(np.sqrt(vol("colon") * 1000 / (np.pi * 700 * s)))
    cv.tube("colon", [P(-95, 0, -795), P(-100, -10, -660), P(-60, -62, -648), P(60, -62, -648),
                      P(100, 10, -642), P(100, 10, -770), P(60, 22, -800), P(22, 35, -835),
                      P(0, 38, -895)], colon_r)
    bl_r = (vol("bladder") * 1000 * 3 / (4 * np.pi)) ** (1 / 3)
    cv.ellipsoid("bladder", P(0, -48, -822), (bl_r * 1.1, bl_r * 0.95, bl_r * 0.96))
    if sex == "M":
        cv.ellipsoid("prostate", P(0, -32, -872),
                     _axes_for_volume(vol("prostate"), (1.25, 0.95, 1.1)))
    else:
        cv.ellipsoid("uterus", P(0, 2, -772), _axes_for_volume(vol("uterus"), (1.0, 0.6, 1.2)),
                     rot_deg=(-30, 0, 0))

    # mediastinum and the rest of the thoracic cavity not taken by organs: fat (HU -100), so the
    # heart, the great vessels and the descending aorta are outlined by fat on CT
    thorax_k = cv.zs < -250.0 * s
    cavity_left = cv.lab[thorax_k] == cv.label("body")
    cv.lab[thorax_k] = np.where(cavity_left, cv.label("fat"), cv.lab[thorax_k])
    _restore_chest_wall(cv, prof, s, girth, fat_mm, muscle_mm)

    # --------------------------------------------------------------- stations
    st = {
        "supraclavicular_left": (50, 8, -292), "supraclavicular_right": (-50, 8, -292),
        "mediastinal": (0, 12, -418),
        "retroperitoneal": (30, 14, -665),
        "common_iliac_left": (42, 8, -752), "common_iliac_right": (-42, 8, -752),
        "external_iliac_left": (60, -18, -815), "external_iliac_right": (-60, -18, -815),
        "internal_iliac_left": (50, 48, -805), "internal_iliac_right": (-50, 48, -805),
        "obturator_left": (52, -5, -852), "obturator_right": (-52, -5, -852),
        "presacral": (0, 44, -785),
        "inguinal_left": (85, -62, -898), "inguinal_right": (-85, -62, -898),
    }
    soft = [cv.label(n) for n in ("fat", "body", "muscle")]
    stations = {k: _nearest_soft_tissue(cv, P(*xyz), soft) for k, xyz in st.items()}

    # --------------------------------------------------------------- images
    origin = (float(cv.xs[0]), float(cv.ys[0]), float(cv.zs[0]))
    sp = (spacing,) * 3
    meta = {"twin": "anatomy", "sex": sex, "seed": int(seed)}
    labels = Image(cv.lab, sp, origin, units="label", metadata=dict(meta))
    lut = np.full(len(cv.names) + 1, -1000.0, dtype=np.float32)
    for v, n in cv.names.items():
        lut[v] = TISSUE_HU.get(tissue_class(n), 35.0)
    hu = Image(lut[cv.lab], sp, origin, units="HU", metadata=dict(meta))
    parts = Image(cv.part, sp, origin, units="label", metadata={"bone_parts": cv.parts})
    return Anatomy(labels=labels, names=dict(cv.names), hu=hu, sex=sex, height_m=height_m,
                   weight_kg=weight_kg, node_stations=stations, seed=int(seed),
                   organ_scale=scales, bone_parts=parts, bone_part_names=dict(cv.parts))


def _nearest_soft_tissue(cv: _Canvas, xyz: np.ndarray, soft: list[int],
                         search_mm: float = 30.0) -> tuple[float, float, float]:
    """The soft-tissue (fat/body/muscle) voxel centre nearest to ``xyz`` (LPS mm).

    Station centres are anatomical landmarks; for a slim or large patient the nominal point can
    fall into a neighbouring organ, so it is moved to the closest node-bearing tissue.
    """
    box = cv._box(xyz - search_mm, xyz + search_mm)
    if box is None:
        raise InvalidInputError("node station outside the body grid", where="anatomy stations")
    sl, x, y, z = box
    ok = np.isin(cv.lab[sl], soft)
    if not ok.any():
        raise InvalidInputError(f"no soft tissue near node station {xyz}", where="anatomy")
    d2 = (x - xyz[0]) ** 2 + (y - xyz[1]) ** 2 + (z - xyz[2]) ** 2
    d2 = np.where(ok, np.broadcast_to(d2, ok.shape), np.inf)
    k, j, i = np.unravel_index(int(np.argmin(d2)), d2.shape)
    return (float(x[0, 0, i]), float(y[0, j, 0]), float(z[k, 0, 0]))


def organ_volume_report(anatomy: Anatomy) -> dict[str, dict[str, float]]:
    """Voxelised volume vs ICRP-89 reference volume for every organ group present.

    Returns
    -------
    dict
        group -> {"volume_ml", "reference_ml", "ratio"}.
    """
    out: dict[str, dict[str, float]] = {}
    ids = anatomy.ids
    counts = np.bincount(anatomy.labels.array.ravel(), minlength=max(anatomy.names) + 1)
    vv = anatomy.labels.voxel_volume_ml
    for group, structs in ORGAN_GROUPS.items():
        present = [n for n in structs if n in ids]
        if not present:
            continue
        v = float(sum(counts[ids[n]] for n in present)) * vv
        r = reference_volume_ml(group, anatomy.sex)
        out[group] = {"volume_ml": v, "reference_ml": r, "ratio": v / r}
    return out

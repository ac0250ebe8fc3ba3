"""An analytic CT + PET abdomen-to-neck phantom for the CT+PET organ-estimate tests.

LPS mm (+x patient left, +y posterior, +z head), 4-mm voxels for CT and PET (same grid). Every
structure is an analytic ellipsoid/tube, so the tests compare the estimate with the truth:
lungs, heart in mediastinal fat, liver, spleen touching the left kidney, kidneys (hot cortex,
cooler medulla), aorta, spine, a small-bowel loop, a colon frame of faecal density, the urinary
bladder, thyroid lobes beside the trachea, and three lesions placed to tempt the estimate: a
prostate tumour 6 mm below the bladder, a node 2 mm from the bowel loop and a para-aortic node.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from theranostix.core.image import Image

VOXEL_MM = 4.0
FWHM_MM = 5.0


def _ell(X, Y, Z, c, r):
    return ((X - c[0]) / r[0]) ** 2 + ((Y - c[1]) / r[1]) ** 2 + ((Z - c[2]) / r[2]) ** 2 <= 1.0


def _tube(X, Y, Z, pts, r):
    out = np.zeros(X.shape, bool)
    for a, b in zip(pts[:-1], pts[1:]):
        a, b = np.asarray(a, float), np.asarray(b, float)
        d = b - a
        t = ((X - a[0]) * d[0] + (Y - a[1]) * d[1] + (Z - a[2]) * d[2]) / float(d @ d)
        t = np.clip(t, 0.0, 1.0)
        out |= (X - a[0] - t * d[0]) ** 2 + (Y - a[1] - t * d[1]) ** 2 + (Z - a[2] - t * d[2]) ** 2 <= r * r
    return out


@dataclass
class OrganPhantom:
    pet: Image
    ct: Image
    truth: dict[str, np.ndarray]
    lesions: dict[str, np.ndarray]
    liver_suv: float


def build_phantom(*, spleen_suv: float = 6.5, seed: int = 3) -> OrganPhantom:
    x = np.arange(-180.0, 180.0 + 1e-6, VOXEL_MM)
    y = np.arange(-130.0, 130.0 + 1e-6, VOXEL_MM)
    z = np.arange(0.0, 740.0 + 1e-6, VOXEL_MM)
    Z, Y, X = np.meshgrid(z, y, x, indexing="ij")
    hu = np.full(X.shape, -1000.0)
    suv = np.zeros(X.shape)

    def paint(m, h, s):
        hu[m] = h
        suv[m] = s

    trunk = (Z < 650) & ((X / 170.0) ** 2 + (Y / 115.0) ** 2 <= 1.0)
    neck = (Z >= 650) & (Z < 740) & ((X / 60.0) ** 2 + ((Y - 10.0) / 60.0) ** 2 <= 1.0)
    paint(trunk | neck, 45.0, 0.6)
    paint((Z < 650) & ((X / 158.0) ** 2 + (Y / 103.0) ** 2 <= 1.0), -90.0, 0.3)  # fat
    sp = np.hypot(X, Y - 60.0)
    paint((Z < 650) & (sp <= 18.0), 1000.0, 0.5)
    paint((Z < 650) & (sp <= 14.0), 250.0, 1.2)
    T: dict[str, np.ndarray] = {}
    T["lungs"] = (_ell(X, Y, Z, (-85, 0, 540), (55, 75, 95)) | _ell(X, Y, Z, (85, 0, 540), (55, 75, 95)))
    paint(T["lungs"], -850.0, 0.3)
    T["heart"] = _ell(X, Y, Z, (15, -35, 470), (50, 42, 50)) & ~T["lungs"]
    paint(T["heart"], 40.0, 1.8)
    T["aorta"] = (np.hypot(X - 20, Y - 30) <= 11) & (Z >= 150) & (Z < 640) & ~T["lungs"]
    paint(T["aorta"], 40.0, 1.7)
    T["liver"] = _ell(X, Y, Z, (-70, 0, 390), (80, 80, 65)) & ~T["lungs"]
    paint(T["liver"], 60.0, 5.0)
    T["spleen"] = _ell(X, Y, Z, (95, 45, 400), (30, 40, 45)) & ~T["lungs"]
    paint(T["spleen"], 50.0, spleen_suv)
    for side, name in ((1, "kidney_left"), (-1, "kidney_right")):
        k = _ell(X, Y, Z, (75 * side, 55, 300), (28, 28, 55))
        paint(k, 30.0, 30.0)
        paint(_ell(X, Y, Z, (75 * side, 55, 300), (18, 18, 38)), 30.0, 8.0)
        T[name] = k
    T["small_bowel"] = _tube(X, Y, Z, [(-40, -40, 260), (40, -40, 260), (40, -40, 220), (-40, -40, 220),
                                       (-40, -40, 180)], 12.0)
    paint(T["small_bowel"], 25.0, 3.5)
    T["colon"] = _tube(X, Y, Z, [(-110, -10, 160), (-110, -10, 320), (110, -10, 320), (110, -10, 160)], 18.0)
    T["colon"] &= ~T["liver"] & ~T["spleen"]
    paint(T["colon"], -20.0, 1.8)
    T["urinary_bladder"] = _ell(X, Y, Z, (0, -50, 90), (45, 40, 40))
    paint(T["urinary_bladder"], 10.0, 20.0)
    T["thyroid_gland"] = (_ell(X, Y, Z, (18, -30, 665), (9, 9, 20)) | _ell(X, Y, Z, (-18, -30, 665), (9, 9, 20)))
    paint(T["thyroid_gland"], 100.0, 2.7)
    paint((np.hypot(X, Y + 12) <= 8) & (Z >= 630), -1000.0, 0.0)  # trachea
    L = {"prostate_tumour": _ell(X, Y, Z, (0, -40, 34), (9, 9, 9)),
         "node_by_bowel": _ell(X, Y, Z, (60, -40, 240), (6, 6, 6)),
         "para_aortic_node": _ell(X, Y, Z, (-15, 30, 250), (6, 6, 6))}
    paint(L["prostate_tumour"], 40.0, 12.0)
    paint(L["node_by_bowel"], 40.0, 15.0)
    paint(L["para_aortic_node"], 40.0, 12.0)
    rng = np.random.default_rng(seed)
    blur = ndi.gaussian_filter(suv, FWHM_MM / 2.3548 / VOXEL_MM)
    noisy = blur + rng.normal(0.0, 1.0, blur.shape) * 0.08 * np.sqrt(np.maximum(blur, 0.0) * 4.0)
    noisy = np.clip(noisy, 0.0, None)
    ct_arr = hu + rng.normal(0.0, 10.0, hu.shape)
    geo = dict(spacing=(VOXEL_MM,) * 3, origin=(float(x[0]), float(y[0]), float(z[0])))
    pet = Image(noisy.astype(np.float32), **geo, units="SUVbw")
    ct = Image(ct_arr.astype(np.float32), **geo, units="HU")
    return OrganPhantom(pet=pet, ct=ct, truth=T, lesions=L, liver_suv=5.0)

"""Analytic PET/CT phantom shared by the pet_anatomy tests (a uniquely named module, not conftest,
so that `from ... import` does not clash with other test folders' conftest modules).

Geometry in LPS mm (+x patient left, +y posterior, +z head). The CT (2 x 2 x 4 mm) and the PET
(4 x 4 x 4 mm) are on *different* grids, so every CT-to-PET step goes through resampling.
Every structure is defined analytically, so each test can compare with the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from theranostix.core.image import Image

FOR_UID = "1.2.826.0.1.3680043.8.498.1"

# label: (name, HU, SUV)
TISSUES = {
    0: ("air", -1000.0, 0.0),
    1: ("fat", -90.0, 0.3),
    2: ("muscle", 45.0, 0.6),
    3: ("lung", -850.0, 0.2),
    4: ("liver", 60.0, 6.0),
    5: ("spleen", 50.0, 5.0),
    6: ("aorta", 40.0, 1.6),
    7: ("heart", 40.0, 2.0),
    8: ("cortex", 1000.0, 1.0),
    9: ("marrow", 150.0, 1.0),
    10: ("kidney", 30.0, 25.0),
    11: ("bladder", 10.0, 40.0),
    12: ("parotid", 10.0, 12.0),
    13: ("submandibular", 30.0, 8.0),
    14: ("lacrimal", 30.0, 6.0),
    15: ("bowel_gas", -1000.0, 0.0),
    16: ("liver_lesion", 60.0, 20.0),
}
LABEL = {v[0]: k for k, v in TISSUES.items()}

LIVER = dict(c=(-70.0, 0.0, 400.0), r=(85.0, 85.0, 70.0))
LESION = dict(c=(-40.0, -30.0, 420.0), r=(10.0, 10.0, 10.0))
SPLEEN = dict(c=(95.0, 45.0, 420.0), r=(30.0, 40.0, 50.0))
AORTA_XY = (25.0, 30.0)
AORTA_R = 12.0
AORTA_Z = (300.0, 620.0)
SPINE_XY = (0.0, 60.0)
SPINE_R = 18.0


def _ell(X, Y, Z, c, r):
    return ((X - c[0]) / r[0]) ** 2 + ((Y - c[1]) / r[1]) ** 2 + ((Z - c[2]) / r[2]) ** 2 <= 1.0


def phantom_labels(X: np.ndarray, Y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Tissue label at LPS positions (mm)."""
    X, Y, Z = np.broadcast_arrays(X, Y, Z)
    lab = np.zeros(X.shape, dtype=np.uint8)
    trunk = (Z < 640) & ((X / 170.0) ** 2 + (Y / 115.0) ** 2 <= 1.0)
    inner = (Z < 640) & ((X / 158.0) ** 2 + (Y / 103.0) ** 2 <= 1.0)
    neck = (Z >= 640) & (Z < 690) & ((X / 60.0) ** 2 + ((Y - 10) / 60.0) ** 2 <= 1.0)
    head = (Z >= 690) & ((X / 75.0) ** 2 + (Y / 95.0) ** 2 <= 1.0)
    lab[trunk | neck | head] = LABEL["muscle"]
    lab[inner] = LABEL["fat"]
    lab[_ell(X, Y, Z, (-80, 0, 535), (55, 75, 85))] = LABEL["lung"]
    lab[_ell(X, Y, Z, (80, 0, 535), (55, 75, 85))] = LABEL["lung"]
    liver = _ell(X, Y, Z, LIVER["c"], LIVER["r"]) & (lab != LABEL["lung"])
    lab[liver] = LABEL["liver"]
    lab[_ell(X, Y, Z, LESION["c"], LESION["r"])] = LABEL["liver_lesion"]
    lab[_ell(X, Y, Z, SPLEEN["c"], SPLEEN["r"]) & (lab != LABEL["lung"])] = LABEL["spleen"]
    lab[_ell(X, Y, Z, (10, -40, 500), (60, 45, 55))] = LABEL["heart"]
    d_sp = np.hypot(X - SPINE_XY[0], Y - SPINE_XY[1])
    spine_z = (Z >= 100) & (Z < 640)
    lab[spine_z & (d_sp <= SPINE_R)] = LABEL["cortex"]
    lab[spine_z & (d_sp <= SPINE_R - 3)] = LABEL["marrow"]
    d_ao = np.hypot(X - AORTA_XY[0], Y - AORTA_XY[1])
    lab[(Z >= AORTA_Z[0]) & (Z < AORTA_Z[1]) & (d_ao <= AORTA_R)] = LABEL["aorta"]
    for sx in (-1, 1):
        lab[_ell(X, Y, Z, (75 * sx, 55, 300), (28, 28, 55))] = LABEL["kidney"]
        lab[_ell(X, Y, Z, (55 * sx, 20, 740), (15, 22, 25))] = LABEL["parotid"]
        lab[_ell(X, Y, Z, (35 * sx, -35, 700), (10, 10, 10))] = LABEL["submandibular"]
        lab[_ell(X, Y, Z, (30 * sx, -75, 775), (7, 7, 7))] = LABEL["lacrimal"]
    lab[_ell(X, Y, Z, (0, -20, 100), (35, 35, 35))] = LABEL["bladder"]
    lab[_ell(X, Y, Z, (40, -50, 250), (20, 20, 20))] = LABEL["bowel_gas"]
    return lab


def _mesh(shape, spacing, origin):
    nz, ny, nx = shape
    z = origin[2] + spacing[2] * np.arange(nz)
    y = origin[1] + spacing[1] * np.arange(ny)
    x = origin[0] + spacing[0] * np.arange(nx)
    Z, Y, X = np.meshgrid(z.astype(np.float32), y.astype(np.float32), x.astype(np.float32),
                          indexing="ij", sparse=True)
    return X, Y, Z


@dataclass
class Phantom:
    ct: Image
    pet: Image
    ct_labels: np.ndarray
    pet_labels: np.ndarray


def make_phantom(seed: int = 0, with_head: bool = True, for_uid: str | None = FOR_UID) -> Phantom:
    rng = np.random.default_rng(seed)
    nz = 200 if with_head else 160
    ct_shape, ct_sp, ct_or = (nz, 140, 190), (2.0, 2.0, 4.0), (-189.0, -139.0, 2.0)
    pet_shape, pet_sp, pet_or = (nz, 72, 96), (4.0, 4.0, 4.0), (-190.0, -142.0, 0.0)
    X, Y, Z = _mesh(ct_shape, ct_sp, ct_or)
    ct_lab = phantom_labels(X, Y, Z)
    hu_lut = np.array([TISSUES[i][1] for i in range(len(TISSUES))], dtype=np.float32)
    hu = hu_lut[ct_lab] + rng.normal(0.0, 10.0, ct_shape).astype(np.float32)
    X, Y, Z = _mesh(pet_shape, pet_sp, pet_or)
    pet_lab = phantom_labels(X, Y, Z)
    suv_lut = np.array([TISSUES[i][2] for i in range(len(TISSUES))], dtype=np.float32)
    suv = suv_lut[pet_lab]
    sigma_vox = (6.0 / 2.3548) / 4.0
    suv = ndi.gaussian_filter(suv, sigma_vox)
    suv = suv * (1.0 + rng.normal(0.0, 0.05, pet_shape)).astype(np.float32)
    ct = Image(hu.astype(np.float32), ct_sp, ct_or, units="HU", frame_of_reference_uid=for_uid)
    pet = Image(suv.astype(np.float32), pet_sp, pet_or, units="SUVbw", frame_of_reference_uid=for_uid)
    return Phantom(ct=ct, pet=pet, ct_labels=ct_lab, pet_labels=pet_lab)


def world_of_voxels(image: Image, mask: np.ndarray) -> np.ndarray:
    """LPS positions (mm) of the voxels in ``mask`` (N x 3)."""
    kji = np.argwhere(mask)
    return image.index_to_world(kji[:, ::-1].astype(float))

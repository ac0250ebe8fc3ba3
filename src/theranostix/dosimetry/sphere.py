"""Self-dose S values of uniform spheres (lesions, glands), computed from ICRP-107 emissions.

For a sphere of radius ``R`` with activity spread uniformly inside, the absorbed fraction is

    phi(R) = (1/E) * integral_0^{2R} psi(r; R) dC(r)  =  -(1/E) * integral_0^{2R} C(r) psi'(r) dr

where ``C(r)`` is the cumulative point-source energy deposition (:class:`PointKernel`) and
``psi(r; R) = 1 - 3/4 (r/R) + 1/16 (r/R)^3`` (``r <= 2R``) is the sphere's geometric reduction
function: the probability that a point at distance ``r`` from a random point of the sphere is
inside it (Berger 1971, MIRD Pamphlet 7; Loevinger, Budinger & Watson, MIRD Primer 1991). The
self S value is ``S = E_total * phi / m`` with ``m = rho * 4/3 pi R^3``.

Masses between the nodes of a table are interpolated linearly in ``m*S`` against ``ln m``
(:func:`interpolate_s_value`), which is smooth because ``m*S`` tends to the emitted energy for
large spheres (linear interpolation of S on linear axes is off by up to 9 % between nodes).

Composition from CT: :func:`bone_fraction_from_hu` maps a mean HU to a cortical-bone volume
fraction with a two-point linear calibration (soft tissue 40 HU, cortical bone 1500 HU;
named parameters, override for your scanner).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.dosimetry.point_kernels import Medium, PointKernel, mev_per_g_to_gy
from theranostix.physics import DECAY_DATA

#: HU of soft tissue used as the 0 % bone anchor of the CT composition calibration.
SOFT_TISSUE_HU = 40.0
#: HU of ICRU-44 cortical bone (1.92 g/cm^3) used as the 100 % bone anchor.
CORTICAL_BONE_HU = 1500.0


def geometric_reduction_sphere(r: np.ndarray, radius: float) -> np.ndarray:
    """Sphere self-irradiation geometric function psi(r) (dimensionless)."""
    x = np.asarray(r, float) / radius
    return np.where(x < 2.0, 1.0 - 0.75 * x + x**3 / 16.0, 0.0)


def _radial_grid(radius_cm: float, n: int = 6000) -> np.ndarray:
    lin = np.linspace(0.0, 2 * radius_cm, n)
    geo = np.geomspace(min(1e-6, radius_cm * 1e-4), 2 * radius_cm, n // 2)
    return np.unique(np.concatenate([lin, geo]))


def sphere_absorbed_fraction(kernel: PointKernel, radius_cm: float) -> float:
    """Absorbed fraction of the energy ``kernel`` handles, for a sphere of radius ``radius_cm``."""
    if not (radius_cm > 0) or not np.isfinite(radius_cm):
        raise InvalidInputError(f"sphere radius must be positive, got {radius_cm} cm", where="radius")
    r = _radial_grid(radius_cm)
    c = kernel.cumulative_mev(r)
    x = r / radius_cm
    dpsi = np.where(x < 2.0, -0.75 / radius_cm + 3 * r**2 / (16 * radius_cm**3), 0.0)
    total = kernel.total_energy_mev
    return float(-np.trapezoid(c * dpsi, r) / total) if total > 0 else 0.0


class SphereSValue(BaseModel):
    """Self-dose S value of a uniform sphere."""

    model_config = ConfigDict(frozen=True)

    nuclide: str
    mass_g: float
    radius_mm: float
    density_g_cm3: float
    bone_volume_fraction: float
    electron_absorbed_fraction: float
    photon_absorbed_fraction: float
    s_gy_per_bq_s: float = Field(description="S value in Gy/(Bq·s)")
    s_mgy_per_mbq_s: float = Field(description="S value in mGy/(MBq·s)")
    provenance: Provenance


@lru_cache(maxsize=64)
def _kernels(nuclide: str, bone_fraction: float, density: float | None) -> tuple[PointKernel, PointKernel]:
    med = Medium(bone_fraction, density)
    return (
        PointKernel(nuclide, med, include_electrons=True, include_photons=False),
        PointKernel(nuclide, med, include_electrons=False, include_photons=True),
    )


def sphere_s_value(
    nuclide: str, mass_g: float, *, bone_volume_fraction: float = 0.0,
    density_g_cm3: float | None = None,
) -> SphereSValue:
    """Self S value of a uniform sphere of mass ``mass_g`` computed from ICRP-107 emissions.

    Parameters
    ----------
    nuclide
        ICRP-107 nuclide (``"Lu-177"``).
    mass_g
        Sphere mass in g (> 0).
    bone_volume_fraction
        Cortical-bone volume fraction of the soft-tissue/bone mixture (0..1).
    density_g_cm3
        Override the mixture density (g/cm^3).
    """
    if not np.isfinite(mass_g) or mass_g <= 0:
        raise InvalidInputError(f"sphere mass must be positive, got {mass_g} g", where="mass_g")
    ek, pk = _kernels(nuclide, float(bone_volume_fraction), density_g_cm3)
    rho = ek.medium.density
    radius_cm = (3 * mass_g / (4 * np.pi * rho)) ** (1 / 3)
    phi_e = sphere_absorbed_fraction(ek, radius_cm)
    phi_p = sphere_absorbed_fraction(pk, radius_cm) if pk.total_energy_mev > 0 else 0.0
    e_abs = phi_e * ek.total_energy_mev + phi_p * pk.total_energy_mev
    s_gy = float(mev_per_g_to_gy(e_abs / mass_g))
    prov = Provenance(
        parameters={"method": "sphere point-kernel (geometric reduction function)", **ek.describe(),
                    "include_photons": True},
        decay_data=DECAY_DATA,
    )
    return SphereSValue(
        nuclide=ek.nuclide, mass_g=float(mass_g), radius_mm=radius_cm * 10, density_g_cm3=rho,
        bone_volume_fraction=float(bone_volume_fraction), electron_absorbed_fraction=phi_e,
        photon_absorbed_fraction=phi_p, s_gy_per_bq_s=s_gy, s_mgy_per_mbq_s=s_gy * 1e9,
        provenance=prov,
    )


class SphereSTable(BaseModel):
    """Sphere self S values on a mass grid, for fast interpolation (m·S vs ln m)."""

    nuclide: str
    bone_volume_fraction: float
    mass_g: list[float]
    s_gy_per_bq_s: list[float]
    provenance: Provenance

    def interpolate(self, mass_g: float) -> float:
        """S (Gy/(Bq·s)) at ``mass_g`` by linear interpolation of m·S against ln m."""
        return interpolate_s_value(self.mass_g, self.s_gy_per_bq_s, mass_g)


def sphere_s_table(
    nuclide: str, masses_g: list[float] | np.ndarray | None = None, *, bone_volume_fraction: float = 0.0
) -> SphereSTable:
    """Compute :class:`SphereSTable` (default grid: 24 masses, 0.01 g to 5 kg, log spaced)."""
    m = np.geomspace(0.01, 5000.0, 24) if masses_g is None else np.asarray(masses_g, float)
    vals = [sphere_s_value(nuclide, float(x), bone_volume_fraction=bone_volume_fraction) for x in m]
    return SphereSTable(
        nuclide=vals[0].nuclide, bone_volume_fraction=bone_volume_fraction, mass_g=[float(x) for x in m],
        s_gy_per_bq_s=[v.s_gy_per_bq_s for v in vals], provenance=vals[0].provenance,
    )


def interpolate_s_value(masses_g: list[float] | np.ndarray, s_values: list[float] | np.ndarray, mass_g: float) -> float:
    """Interpolate a sphere S table at ``mass_g``: linear in m·S against ln m.

    Raises
    ------
    InvalidInputError
        When the table is malformed or ``mass_g`` lies outside it (no extrapolation).
    """
    m = np.asarray(masses_g, float)
    s = np.asarray(s_values, float)
    if m.ndim != 1 or m.shape != s.shape or m.size < 2 or np.any(m <= 0) or np.any(np.diff(m) <= 0):
        raise InvalidInputError(
            "sphere S table needs >= 2 strictly increasing positive masses with one S each",
            where="sphere S table",
        )
    if not (m[0] <= mass_g <= m[-1]):
        raise InvalidInputError(
            f"mass {mass_g} g outside the table range [{m[0]}, {m[-1]}] g", where="mass_g",
            fix="compute the S value directly with sphere_s_value().",
        )
    ms = np.interp(np.log(mass_g), np.log(m), m * s)
    return float(ms / mass_g)


def bone_fraction_from_hu(
    mean_hu: float, *, soft_tissue_hu: float = SOFT_TISSUE_HU, cortical_bone_hu: float = CORTICAL_BONE_HU
) -> float:
    """Cortical-bone volume fraction from a mean CT number (linear between two anchors, clipped)."""
    if not np.isfinite(mean_hu):
        raise InvalidInputError("mean HU is not finite", where="CT")
    return float(np.clip((mean_hu - soft_tissue_hu) / (cortical_bone_hu - soft_tissue_hu), 0.0, 1.0))


def sphere_s_value_for_mask(
    mask: Image, nuclide: str, *, ct: Image | None = None, density_g_cm3: float | None = None,
) -> SphereSValue:
    """Sphere S value for a region: mass from the mask (volume x density), composition from CT.

    Without CT the region is soft tissue (1.03 g/cm^3) and a warning is recorded.
    """
    arr = np.asarray(mask.array) > 0
    n = int(arr.sum())
    if n == 0:
        raise InvalidInputError("the mask is empty", where="mask")
    volume_cm3 = n * mask.voxel_volume_ml
    warn = None
    if ct is not None:
        if not ct.same_grid(mask):
            raise InvalidInputError("CT and mask are not on the same grid", where="ct",
                                    fix="resample the CT to the mask grid first.")
        f = bone_fraction_from_hu(float(np.mean(ct.array[arr])))
    else:
        f = 0.0
        warn = "no CT given: region assumed to be soft tissue (1.03 g/cm^3)"
    rho = density_g_cm3 if density_g_cm3 is not None else Medium(f).density
    res = sphere_s_value(nuclide, volume_cm3 * rho, bone_volume_fraction=f, density_g_cm3=density_g_cm3)
    if warn:
        res.provenance.warn(warn)
    res.provenance.inputs["mask_voxels"] = n
    return res

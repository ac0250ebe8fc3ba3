"""Scanner models of the digital twins: PET, CT and quantitative Lu-177 SPECT.

Every model is a pure function: an :class:`Image` on the (fine) truth grid in, an :class:`Image` on
the scanner grid out. Nothing here reads or writes files.

PET (:func:`simulate_pet`)
--------------------------
1. **Positron range** (nuclide-specific) and **Gaussian PSF** are applied together in Fourier space
   on the truth grid (one real FFT; the field of view is reflect-padded by three PSF widths so
   nothing wraps round). The positron-range kernel is the cusp-shaped 3-D kernel

   ``p(r) = exp(-r/k) / (4 pi k r^2)``  (normalised to 1),

   whose 3-D Fourier transform is exactly ``P(q) = arctan(q k) / (q k)`` with ``q = 2 pi |f|``.
   Its annihilation distance ``r`` is exponentially distributed with mean ``k`` and median
   ``k ln 2``; its Gaussian-equivalent (second-moment) sigma per axis is ``k sqrt(2/3)``.
   ``k`` per nuclide is in :data:`POSITRON_RANGE_K_MM` (see there for the facts used).
   The PSF is ``exp(-2 pi^2 sigma^2 |f|^2)`` with ``sigma = FWHM / 2.3548``.
2. **Voxelisation**: each scanner voxel takes the *average* of the truth voxels it overlaps
   (exact box average with fractional overlaps, applied separably along x, y, z), so a small
   lesion keeps its activity.
3. **Noise**: image-space Gaussian noise, correlated by a Gaussian of ``noise_correlation_voxels``
   (default 1 voxel) and scaled so that its variance equals that of Poisson statistics on an
   effective number of counts per voxel,

   ``N_eff(x) = eta * c(x) * (1 - exp(-lambda T)) / lambda * b+ * V_vox``

   (``c`` = activity concentration in Bq/mL at the scan start, which is also the value of the
   image decay-corrected to the scan start; ``T`` scan duration per bed, ``b+`` positron
   fraction, ``V_vox`` voxel volume in mL). The voxel CoV is ``1 / sqrt(N_eff)``, so noise scales
   as ``1/sqrt(activity * time)``; a longer uptake time lowers ``c`` (an SUV truth is converted with
   the activity decayed to the scan start) and so raises the noise.
   ``eta`` (:data:`PET_EFFECTIVE_COUNT_EFFICIENCY`) lumps sensitivity, attenuation, scatter,
   randoms and reconstruction noise amplification; it is calibrated so that a liver at SUV 5 with
   200 MBq Ga-68, 80 kg, 60 min uptake, 150 s per bed and 4 mm voxels has a voxel CoV of 15 %
   (SIMULATION.md §6.4: clinical liver CoV in a 3 cm VOI 10-15 % (FDG), 15-25 % (Ga-68)).
   Values are not clipped at zero (no positivity bias in cold regions).

CT (:func:`simulate_ct`)
------------------------
True HU averaged onto the CT grid (default 3 mm isotropic for speed), plus white Gaussian noise
(default SD 10 HU, typical of a low-dose attenuation-correction CT in soft tissue), rounded to
integer HU as stored.

SPECT (:func:`simulate_spect`)
------------------------------
Gaussian resolution (default 12 mm FWHM, SIMULATION.md §6.6: 10-15 mm for Lu-177 with medium
energy collimation), voxelisation to 4.8 mm voxels on a 128 x 128 transaxial matrix, then
expected counts per voxel ``N = C * A0[MBq] * (1 - exp(-lambda T)) / lambda`` (``C`` calibration
factor in cps/MBq, ``A0`` activity in the voxel at the acquisition start, ``T`` total acquisition
duration), and Poisson noise. This is the inverse of the reader's
``A = counts / (T C) * 1e6 / V * lambda T / (1 - exp(-lambda T))``.

Not modelled: projection-space physics (attenuation, scatter, randoms, dead time, OSEM
convergence, Gibbs ringing of PSF reconstructions), bed overlap, motion, truncation.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import scipy.fft
from scipy import ndimage

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.physics.radionuclides import emission_summary, normalize_nuclide, radionuclide

__all__ = [
    "POSITRON_RANGE_K_MM",
    "PET_EFFECTIVE_COUNT_EFFICIENCY",
    "FWHM_TO_SIGMA",
    "positron_range_k_mm",
    "scanner_grid",
    "voxelise",
    "blur",
    "pet_noise_counts_per_bqml",
    "simulate_pet",
    "simulate_ct",
    "simulate_spect",
]

FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))

#: Positron-range kernel constant k (mm) of ``exp(-r/k)/r^2`` per nuclide, in soft tissue.
#: Ga-68: ``k = 0.87 mm / ln 2 = 1.26 mm`` from the measured median 68Ga range in tissue-equivalent
#: material, 0.87 mm (IEEE TNS 1995, quoted in SIMULATION.md §6.1), the median of this kernel being
#: ``k ln 2``. Other nuclides scale k by their mean range in water relative to Ga-68 (3.2 mm, the
#: middle of 2.9-3.5 mm; Conti & Eriksson, EJNMMI Phys 2016;3:8, SIMULATION.md §6.1):
#: F-18 0.6 mm -> k = 0.24 mm. Gaussian-equivalent FWHM of the kernel = 2.3548 k sqrt(2/3):
#: Ga-68 2.4 mm, F-18 0.46 mm; at a 5 mm PSF the second-moment FWHM grows to 5.55 mm for Ga-68
#: (5.02 mm for F-18), i.e. Ga-68 adds ~0.5 mm -- at the low end of the "1-2 mm extra" rule of
#: thumb because the cusp kernel's effect is mostly in its tails.
_GA68_K_MM = 0.87 / math.log(2.0)
_MEAN_RANGE_WATER_MM = {"F-18": 0.6, "Ga-68": 3.2, "C-11": 1.2, "N-13": 1.8, "Cu-64": 0.7,
                        "Zr-89": 1.3, "Rb-82": 6.5, "Sc-44": 2.4}
POSITRON_RANGE_K_MM: dict[str, float] = {
    n: _GA68_K_MM * r / _MEAN_RANGE_WATER_MM["Ga-68"] for n, r in _MEAN_RANGE_WATER_MM.items()
}

#: Effective detected (noise-equivalent) counts per emitted positron inside a voxel; calibrated
#: (see module docstring) so the default Ga-68 PSMA liver has a 15 % voxel CoV.
PET_EFFECTIVE_COUNT_EFFICIENCY = 7.4e-4


def positron_range_k_mm(nuclide: str) -> float:
    """Kernel constant k (mm) of the positron-range kernel ``exp(-r/k)/r^2`` for ``nuclide``.

    Raises
    ------
    InvalidInputError
        If the nuclide is not a positron emitter of :data:`POSITRON_RANGE_K_MM`.
    """
    name = normalize_nuclide(nuclide)
    if name not in POSITRON_RANGE_K_MM:
        raise InvalidInputError(
            f"no positron-range data for {name}", where="nuclide",
            fix=f"use one of {sorted(POSITRON_RANGE_K_MM)}",
        )
    return POSITRON_RANGE_K_MM[name]


# --------------------------------------------------------------------------- grids
def _check_identity(image: Image, where: str) -> None:
    if not np.allclose(image.direction, np.eye(3).ravel(), atol=1e-6):
        raise InvalidInputError(
            "the scanner models need an axis-aligned (identity-direction) truth grid",
            where=where, fix="resample the truth onto an axis-aligned grid first",
        )


def scanner_grid(truth: Image, voxel_mm: float | tuple[float, float, float],
                 matrix_xy: int | None = None) -> Image:
    """An empty scanner grid covering the field of view of ``truth`` (same centre).

    Parameters
    ----------
    truth
        Truth-grid image (identity direction).
    voxel_mm
        Scanner voxel size in mm (one number = isotropic, or (x, y, z)).
    matrix_xy
        Optional fixed transaxial matrix (e.g. 128 for SPECT); default: as many voxels as cover
        the truth field of view.

    Returns
    -------
    Image
        A float32 zero image with the scanner geometry.
    """
    vox = np.broadcast_to(np.asarray(voxel_mm, dtype=float), (3,))
    if not np.all(np.isfinite(vox)) or np.any(vox <= 0):
        raise InvalidInputError(f"voxel size must be positive, got {voxel_mm}", where="voxel_mm")
    spacing = np.asarray(truth.spacing)
    extent = spacing * np.asarray(truth.size_ijk)
    n = np.maximum(1, np.round(extent / vox)).astype(int)
    if matrix_xy is not None:
        n[0] = n[1] = int(matrix_xy)
    centre = np.asarray(truth.origin) + spacing * (np.asarray(truth.size_ijk) - 1) / 2.0
    origin = centre - vox * (n - 1) / 2.0
    return Image(array=np.zeros((n[2], n[1], n[0]), dtype=np.float32), spacing=tuple(vox),
                 origin=tuple(origin), units=truth.units,
                 frame_of_reference_uid=truth.frame_of_reference_uid)


def _overlap_matrix(n_in: int, d_in: float, o_in: float, n_out: int, d_out: float,
                    o_out: float) -> np.ndarray:
    """(n_out, n_in) weights: fraction of each output voxel covered by each input voxel."""
    lo_in = o_in - d_in / 2 + d_in * np.arange(n_in)
    lo_out = o_out - d_out / 2 + d_out * np.arange(n_out)
    ov = np.clip(np.minimum(lo_out[:, None] + d_out, lo_in[None, :] + d_in)
                 - np.maximum(lo_out[:, None], lo_in[None, :]), 0.0, None)
    covered = ov.sum(axis=1, keepdims=True)
    return np.divide(ov, covered, out=np.zeros_like(ov), where=covered > 0).astype(np.float32)


def voxelise(image: Image, grid: Image) -> Image:
    """Box-average ``image`` onto ``grid`` (both axis-aligned; exact fractional overlaps).

    Each output voxel is the mean of the input over the part of the output voxel that the input
    field of view covers (output voxels outside it are 0). Applied separably with dense overlap
    matrices (no Python loops over voxels).
    """
    _check_identity(image, "voxelise: image")
    _check_identity(grid, "voxelise: grid")
    arr = np.asarray(image.array, dtype=np.float32)
    if image.same_grid(grid, tol_mm=1e-6):
        return replace(image.with_array(arr.copy()), units=image.units)
    mats = [_overlap_matrix(image.size_ijk[a], image.spacing[a], image.origin[a],
                            grid.size_ijk[a], grid.spacing[a], grid.origin[a]) for a in range(3)]
    nz, ny, nx = arr.shape
    out = (arr.reshape(-1, nx) @ mats[0].T).reshape(nz, ny, -1)          # x (one GEMM)
    nxo = out.shape[2]
    out = (mats[1] @ out.transpose(1, 0, 2).reshape(ny, -1))             # y (one GEMM)
    out = out.reshape(-1, nz, nxo).transpose(1, 0, 2)
    nyo = out.shape[1]
    out = np.ascontiguousarray(out)
    out = (mats[2] @ out.reshape(nz, -1)).reshape(-1, nyo, nxo)           # z (one GEMM)
    return Image(array=np.ascontiguousarray(out, dtype=np.float32), spacing=grid.spacing,
                 origin=grid.origin, direction=grid.direction, units=image.units,
                 frame_of_reference_uid=image.frame_of_reference_uid, metadata=dict(image.metadata))


def blur(image: Image, fwhm_mm: float, positron_k_mm: float = 0.0) -> Image:
    """Convolve with an isotropic Gaussian (FWHM, mm) and optionally the positron-range kernel.

    Done in Fourier space on a reflect-padded array (pad = 3 FWHM + 10 k per side), so the field of
    view edges do not wrap round. ``fwhm_mm = 0`` and ``positron_k_mm = 0`` return a copy.
    """
    if not (np.isfinite(fwhm_mm) and fwhm_mm >= 0):
        raise InvalidInputError(f"FWHM must be >= 0 mm, got {fwhm_mm}", where="fwhm_mm")
    if not (np.isfinite(positron_k_mm) and positron_k_mm >= 0):
        raise InvalidInputError(f"positron-range k must be >= 0 mm, got {positron_k_mm}",
                                where="positron_k_mm")
    arr = np.asarray(image.array, dtype=np.float32)
    if fwhm_mm == 0 and positron_k_mm == 0:
        return image.with_array(arr.copy())
    sp = np.asarray(image.spacing)[::-1]  # (z, y, x)
    pad = [int(min(n - 1, math.ceil((3 * fwhm_mm + 10 * positron_k_mm) / s)))
           for n, s in zip(arr.shape, sp)]
    padded = np.pad(arr, [(p, p) for p in pad], mode="reflect") if any(pad) else arr
    shape = [scipy.fft.next_fast_len(n, real=True) for n in padded.shape]
    spec = scipy.fft.rfftn(padded, s=shape, workers=-1)
    sigma = fwhm_mm * FWHM_TO_SIGMA
    freqs = []
    for ax, (n, s) in enumerate(zip(shape, sp)):
        f = (scipy.fft.rfftfreq(n, d=s) if ax == 2 else scipy.fft.fftfreq(n, d=s)).astype(np.float32)
        sh = [1, 1, 1]
        sh[ax] = f.size
        freqs.append(f.reshape(sh))
    for f in freqs:  # the Gaussian is separable: three cheap broadcast products
        spec *= np.exp(np.float32(-2.0 * math.pi ** 2 * sigma ** 2) * f ** 2)
    if positron_k_mm > 0:
        x = np.sqrt(freqs[0] ** 2 + freqs[1] ** 2 + freqs[2] ** 2)
        x *= np.float32(2.0 * math.pi * positron_k_mm)
        x[0, 0, 0] = 1.0  # avoid 0/0; the DC term is set to exactly 1 below
        pr = np.arctan(x)
        pr /= x
        pr[0, 0, 0] = 1.0
        spec *= pr
    out = scipy.fft.irfftn(spec, s=shape, workers=-1)
    sl = tuple(slice(p, p + n) for p, n in zip(pad, arr.shape))
    return image.with_array(np.ascontiguousarray(out[sl], dtype=np.float32))


def _correlated_unit_noise(shape: tuple[int, ...], corr_voxels: float,
                           rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise with unit variance per voxel, correlated by a Gaussian of ``corr_voxels``."""
    white = rng.standard_normal(shape, dtype=np.float32)
    if corr_voxels <= 0:
        return white
    sm = ndimage.gaussian_filter(white, corr_voxels, mode="reflect")
    delta = np.zeros((int(8 * corr_voxels) * 2 + 1,) * 3, dtype=np.float64)
    c = delta.shape[0] // 2
    delta[c, c, c] = 1.0
    k = ndimage.gaussian_filter(delta, corr_voxels, mode="constant")
    return sm / np.float32(math.sqrt(float((k ** 2).sum())))


# --------------------------------------------------------------------------- PET
def pet_noise_counts_per_bqml(nuclide: str, duration_s_per_bed: float, voxel_volume_ml: float,
                              efficiency: float = PET_EFFECTIVE_COUNT_EFFICIENCY) -> float:
    """Effective counts per voxel per Bq/mL present at the scan start (see module docstring).

    ``CoV_voxel(c) = 1 / sqrt(c * pet_noise_counts_per_bqml(...))``.
    """
    nuc = radionuclide(nuclide)
    lam = nuc.decay_constant_per_s
    T = duration_s_per_bed
    integral = (1.0 - math.exp(-lam * T)) / lam
    beta_plus = emission_summary(nuc.name).positron_yield
    return efficiency * integral * beta_plus * voxel_volume_ml


def _check_positive(value: float, name: str, allow_zero: bool = False) -> None:
    ok = np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise InvalidInputError(f"{name} must be {'>= 0' if allow_zero else 'positive'}, got {value}",
                                where=name)


def simulate_pet(
    suv_or_bqml: Image,
    nuclide: str,
    fwhm_mm: float = 5.0,
    voxel_mm: float | tuple[float, float, float] = 4.0,
    activity_mbq: float = 200.0,
    uptake_min: float = 60.0,
    duration_s_per_bed: float = 150.0,
    seed: int = 0,
    *,
    weight_kg: float | None = None,
    noise: bool = True,
    positron_range: bool = True,
    noise_correlation_voxels: float = 1.0,
    efficiency: float = PET_EFFECTIVE_COUNT_EFFICIENCY,
) -> Image:
    """Simulate a reconstructed PET image (Bq/mL, decay-corrected to the scan start).

    Parameters
    ----------
    suv_or_bqml
        True uptake on the truth grid: units ``"SUVbw"`` (then ``weight_kg`` is needed) or
        ``"Bq/mL"`` (decay-corrected to the scan start).
    nuclide
        Positron emitter, e.g. ``"Ga-68"`` or ``"F-18"``.
    fwhm_mm
        Gaussian PSF FWHM of the reconstructed image (mm); default 5 mm (EARL2-like).
    voxel_mm
        Scanner voxel size (mm); default 4 mm.
    activity_mbq
        Injected activity (MBq) at injection.
    uptake_min
        Injection-to-scan-start time (min); the image is decay-corrected to the scan start.
    duration_s_per_bed
        Acquisition time per bed position (s).
    seed
        Seed of the noise.
    weight_kg
        Body weight (kg) for SUVbw -> Bq/mL.
    noise
        ``False`` gives the noise-free (blurred, voxelised) image.
    positron_range
        ``False`` disables the positron-range kernel (PSF only).
    noise_correlation_voxels
        Gaussian sigma (in scanner voxels) of the noise correlation.
    efficiency
        Effective count efficiency ``eta`` (see module docstring).

    Returns
    -------
    Image
        float32 Bq/mL on the scanner grid; ``metadata`` holds the simulation parameters.
    """
    _check_identity(suv_or_bqml, "simulate_pet: truth")
    for v, n in ((activity_mbq, "activity_mbq"), (duration_s_per_bed, "duration_s_per_bed"),
                 (efficiency, "efficiency")):
        _check_positive(v, n)
    _check_positive(uptake_min, "uptake_min", allow_zero=True)
    _check_positive(noise_correlation_voxels, "noise_correlation_voxels", allow_zero=True)
    nuc = radionuclide(nuclide)
    k_mm = positron_range_k_mm(nuc.name) if positron_range else 0.0
    if suv_or_bqml.units == "SUVbw":
        if weight_kg is None or not weight_kg > 0:
            raise InvalidInputError("an SUVbw truth needs the patient weight", where="weight_kg",
                                    fix="pass weight_kg (kg)")
        ref_bq = activity_mbq * 1e6 * nuc.decay_factor(uptake_min / 60.0)
        truth = suv_or_bqml.with_array(np.asarray(suv_or_bqml.array, np.float32)
                                       * np.float32(ref_bq / (weight_kg * 1000.0)), units="Bq/mL")
    elif suv_or_bqml.units == "Bq/mL":
        truth = suv_or_bqml
    else:
        raise InvalidInputError(f"PET truth must be in SUVbw or Bq/mL, got {suv_or_bqml.units!r}",
                                where="suv_or_bqml.units")
    blurred = blur(truth, fwhm_mm, k_mm)
    img = voxelise(blurred, scanner_grid(truth, voxel_mm))
    params = dict(modality="PT", nuclide=nuc.name, fwhm_mm=fwhm_mm, voxel_mm=list(img.spacing),
                  activity_mbq=activity_mbq, uptake_min=uptake_min,
                  duration_s_per_bed=duration_s_per_bed, positron_k_mm=k_mm, noise=noise,
                  seed=seed, noise_correlation_voxels=noise_correlation_voxels,
                  efficiency=efficiency)
    if noise:
        g = pet_noise_counts_per_bqml(nuc.name, duration_s_per_bed, img.voxel_volume_ml,
                                      efficiency)
        mean = img.array
        sd = np.sqrt(np.clip(mean, 0.0, None) / np.float32(g))
        rng = np.random.default_rng(seed)
        arr = mean + sd * _correlated_unit_noise(mean.shape, noise_correlation_voxels, rng)
        img = img.with_array(arr.astype(np.float32))
    return replace(img, units="Bq/mL", metadata={**truth.metadata, "simulation": params})


# --------------------------------------------------------------------------- CT
def simulate_ct(hu: Image, seed: int = 0, voxel_mm: float | tuple[float, float, float] = 3.0,
                noise_sd_hu: float = 10.0) -> Image:
    """Simulate a CT (HU) on a CT grid: box average of the true HU, white noise, integer HU.

    Parameters
    ----------
    hu
        True CT numbers (HU) on the truth grid.
    seed
        Seed of the noise.
    voxel_mm
        CT voxel size (mm); default 3 mm isotropic (a coarse grid, chosen for speed; clinical
        attenuation CTs are 0.8-1.5 mm in plane and 2-5 mm slices).
    noise_sd_hu
        Standard deviation of the noise (HU).
    """
    _check_identity(hu, "simulate_ct: truth")
    _check_positive(noise_sd_hu, "noise_sd_hu", allow_zero=True)
    img = voxelise(hu, scanner_grid(hu, voxel_mm))
    arr = img.array
    if noise_sd_hu > 0:
        rng = np.random.default_rng(seed)
        arr = arr + np.float32(noise_sd_hu) * rng.standard_normal(arr.shape, dtype=np.float32)
    arr = np.clip(np.round(arr), -1024, 3071).astype(np.float32)
    return replace(img.with_array(arr), units="HU",
                   metadata={**hu.metadata, "simulation": dict(modality="CT", seed=seed,
                                                                noise_sd_hu=noise_sd_hu,
                                                                voxel_mm=list(img.spacing))})


# --------------------------------------------------------------------------- SPECT
def simulate_spect(
    activity_bqml: Image,
    nuclide: str = "Lu-177",
    fwhm_mm: float = 12.0,
    voxel_mm: float = 4.8,
    matrix_xy: int = 128,
    calibration_cps_per_mbq: float = 9.0,
    frame_duration_s: float = 1200.0,
    seed: int = 0,
    *,
    noise: bool = True,
) -> Image:
    """Simulate a reconstructed quantitative SPECT in counts per voxel.

    Parameters
    ----------
    activity_bqml
        True activity concentration (Bq/mL) at the acquisition start, on the truth grid.
    nuclide
        Imaged nuclide (decay during the acquisition).
    fwhm_mm
        Reconstructed resolution FWHM (mm); default 12 mm (SIMULATION.md §6.6: 10-15 mm).
    voxel_mm, matrix_xy
        Voxel size (mm) and transaxial matrix; default 4.8 mm and 128 (SIMULATION.md §6.6).
    calibration_cps_per_mbq
        System sensitivity C (cps/MBq). Default 9 cps/MBq is an assumed value of the right order
        for Lu-177 208 keV with medium-energy collimators, not a measured one: set your own.
    frame_duration_s
        Total acquisition duration T (s) (e.g. 60 views x 20 s = 1200 s).
    seed
        Seed of the Poisson noise.
    noise
        ``False`` returns the expected counts (float) without Poisson noise.

    Returns
    -------
    Image
        float32 counts per voxel, units ``"counts"``; ``metadata["simulation"]`` holds C and T.
    """
    _check_identity(activity_bqml, "simulate_spect: truth")
    if activity_bqml.units != "Bq/mL":
        raise InvalidInputError(f"SPECT truth must be in Bq/mL, got {activity_bqml.units!r}",
                                where="activity_bqml.units")
    for v, n in ((calibration_cps_per_mbq, "calibration_cps_per_mbq"),
                 (frame_duration_s, "frame_duration_s"), (voxel_mm, "voxel_mm")):
        _check_positive(v, n)
    if int(matrix_xy) < 8:
        raise InvalidInputError(f"matrix must be >= 8, got {matrix_xy}", where="matrix_xy")
    nuc = radionuclide(nuclide)
    blurred = blur(activity_bqml, fwhm_mm, 0.0)
    img = voxelise(blurred, scanner_grid(activity_bqml, voxel_mm, matrix_xy=int(matrix_xy)))
    lam = nuc.decay_constant_per_s
    integral_s = (1.0 - math.exp(-lam * frame_duration_s)) / lam
    expected = np.clip(img.array, 0.0, None) * np.float32(
        img.voxel_volume_ml * 1e-6 * calibration_cps_per_mbq * integral_s)
    if noise:
        rng = np.random.default_rng(seed)
        counts = rng.poisson(expected.astype(np.float64)).astype(np.float32)
    else:
        counts = expected.astype(np.float32)
    params = dict(modality="NM", nuclide=nuc.name, fwhm_mm=fwhm_mm, voxel_mm=voxel_mm,
                  matrix_xy=int(matrix_xy), calibration_cps_per_mbq=calibration_cps_per_mbq,
                  frame_duration_s=frame_duration_s, seed=seed, noise=noise)
    return replace(img.with_array(counts), units="counts",
                   metadata={**activity_bqml.metadata, "simulation": params})

"""Volume of small spheres measured by the PSMA adaptive contour: the former calibration against
the self-consistent one with the sub-voxel peak (docs/pet-lesions.md, "Small lesions").

Analytic phantoms: a uniform sphere of diameter D (contrast C above a background of SUV 1) blurred
by a 5 mm FWHM Gaussian on a 4x finer grid and averaged onto 4 mm voxels, its centre drawn within
+-2 mm (half a voxel) of a voxel centre. Noise-free: 64 sampling phases, mean measured/true volume.
With noise: Gaussian noise smoothed by sigma = 1 voxel, scaled to SD 0.25 x sqrt(value) (a
correlated, Poisson-like texture), 32 realisations, median ratio. Each contour starts from the
hottest voxel near the centre (``refine_adaptive`` with ``secondary_peaks=False``).

Rerun: ``/work/venv/bin/python benchmarks/bench_small_volume.py`` (writes
``docs/benchmarks/small_volume.md``; about 3 min).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from theranostix.core.image import Image
from theranostix.pet.profiles import AdaptiveRefinement
from theranostix.pet import segmentation
from theranostix.pet.segmentation import refine_adaptive

VOXEL_MM, SUPERSAMPLE, N = 4.0, 4, 24
SIGMA_MM = 5.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))
DIAMETERS_MM = (8.0, 10.0, 12.0, 15.0, 20.0)
METHODS = {
    "former (sphere, hottest voxel)": AdaptiveRefinement(calibration="sphere", secondary_peaks=False),
    "psma-adaptive (sphere_consistent, sub-voxel peak)": AdaptiveRefinement(
        calibration="sphere_consistent", subvoxel_peak=True, secondary_peaks=False),
    # the size gate of the sub-voxel peak (SUBVOXEL_PEAK_MAX_DIAMETER_FWHM) switched off: why it exists
    "the same, sub-voxel peak on every focus (no size gate)": AdaptiveRefinement(
        calibration="sphere_consistent", subvoxel_peak=True, secondary_peaks=False),
}
NO_GATE = "the same, sub-voxel peak on every focus (no size gate)"
DOC = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "small_volume.md"


def phantom(d_mm: float, contrast: float, offset_mm: np.ndarray, noise_sd: float,
            rng: np.random.Generator) -> np.ndarray:
    """Blurred sphere on 4 mm voxels (SUV; background 1)."""
    m = N * SUPERSAMPLE
    c = (np.arange(m) + 0.5) * VOXEL_MM / SUPERSAMPLE
    z, y, x = np.meshgrid(c, c, c, indexing="ij")
    ctr = N * VOXEL_MM / 2.0 + offset_mm
    ball = ((z - ctr[0]) ** 2 + (y - ctr[1]) ** 2 + (x - ctr[2]) ** 2 <= (d_mm / 2.0) ** 2).astype(float)
    fine = 1.0 + contrast * ndimage.gaussian_filter(ball, SIGMA_MM / (VOXEL_MM / SUPERSAMPLE))
    a = fine.reshape(N, SUPERSAMPLE, N, SUPERSAMPLE, N, SUPERSAMPLE).mean(axis=(1, 3, 5))
    if noise_sd:
        w = ndimage.gaussian_filter(rng.normal(size=a.shape), 1.0)
        a = a + w / w.std() * noise_sd * np.sqrt(a)
    return a


def measured_ratio(a: np.ndarray, d_mm: float, r: AdaptiveRefinement) -> float:
    """Measured / true volume of the contour grown from the hottest voxel of the central 2^3 block."""
    seed = np.zeros(a.shape, bool)
    h = N // 2
    block = a[h - 1:h + 1, h - 1:h + 1, h - 1:h + 1]
    k = np.unravel_index(int(np.argmax(block)), block.shape)
    seed[h - 1 + k[0], h - 1 + k[1], h - 1 + k[2]] = True
    img = Image(a.astype(np.float32), (VOXEL_MM,) * 3, units="SUVbw")
    v = refine_adaptive(img, seed, r).sum() * VOXEL_MM**3 / 1000.0
    return float(v / (np.pi / 6.0 * d_mm**3 / 1000.0))


def run() -> list[str]:
    lines = ["| case | method | " + " | ".join(f"{d:g} mm" for d in DIAMETERS_MM) + " |",
             "|---|---|" + "---|" * len(DIAMETERS_MM)]
    for noise_sd, contrast, n_real in ((0.0, 8.0, 64), (0.25, 3.0, 32), (0.25, 8.0, 32)):
        for name, r in METHODS.items():
            rng = np.random.default_rng(2026)  # the same phantoms for every method
            gate = segmentation.SUBVOXEL_PEAK_MAX_DIAMETER_FWHM
            if name == NO_GATE:
                segmentation.SUBVOXEL_PEAK_MAX_DIAMETER_FWHM = float("inf")
            cells = []
            for d in DIAMETERS_MM:
                ratios = [measured_ratio(phantom(d, contrast, rng.uniform(-2.0, 2.0, 3), noise_sd, rng), d, r)
                          for _ in range(n_real)]
                cells.append(f"{(np.mean if noise_sd == 0 else np.median)(ratios):.2f}")
            segmentation.SUBVOXEL_PEAK_MAX_DIAMETER_FWHM = gate
            case = (f"noise-free, contrast {contrast:g}, mean of {n_real} phases" if noise_sd == 0 else
                    f"noise SD {noise_sd:g}, contrast {contrast:g}, median of {n_real}")
            lines.append(f"| {case} | {name} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    t0 = time.perf_counter()
    table = run()
    text = "\n".join(["# Small-sphere volumes: measured / true volume", "",
                      (__doc__ or "").split("\n\n")[1].replace("\n", " "), "",
                      *table, "",
                      f"Run {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
                      f"{time.perf_counter() - t0:.0f} s.", ""])
    tmp = DOC.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.replace(DOC)
    print(text)


if __name__ == "__main__":
    main()

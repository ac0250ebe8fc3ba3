"""Benchmark: dose-voxel-kernel convolution (theranostix KernelConvolver) vs scipy baselines.

Run: ``python benchmarks/bench_dosimetry_kernels.py [--repeats 5] [--out table.md]``

For 128^3 and 256^3 grids and 11^3 / 21^3 Lu-177 kernels (4 mm voxels) it times, in the same run:

* ``KernelConvolver`` (real FFT, zero padding to next_fast_len; kernel spectrum planned once and
  reused, as for several timepoints or cycles; the one-off planning time is reported too), in
  double and single precision,
* ``fft_convolve`` (plan + convolve, single use, double precision),
* ``scipy.signal.fftconvolve(mode="same")``,
* ``scipy.ndimage.convolve(mode="constant")`` (direct). Direct convolution of a whole grid is
  timed only when it is estimated below ``--full-direct-limit-s``; otherwise a slab of 8 output
  slices (plus the kernel margin) is timed and the time extrapolated linearly in the number of
  slices (marked "extrapolated").

The machine is shared, so the methods are timed round-robin (one call of each per round) and the
median over rounds is reported. scipy.fft runs single-threaded for every FFT method.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import scipy
from scipy import ndimage, signal

from theranostix.dosimetry.kernels import compute_voxel_kernel
from theranostix.dosimetry.voxel import KernelConvolver, fft_convolve


def _t(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description="DVK convolution benchmark")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--full-direct-limit-s", type=float, default=20.0)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    kernels = {
        11: compute_voxel_kernel("Lu-177", 4.0, half_width=5).values,
        21: compute_voxel_kernel("Lu-177", 4.0, half_width=10).values,
    }
    for n in (128, 256):
        a = rng.random((n, n, n))
        for ks, k in kernels.items():
            h = (ks - 1) // 2
            conv = KernelConvolver(a.shape, k)
            conv32 = KernelConvolver(a.shape, k, single_precision=True)
            sub = a[: 8 + 2 * h]
            methods = {
                "plan": lambda: KernelConvolver(a.shape, k),
                "ours": lambda: conv(a),
                "ours32": lambda: conv32(a),
                "once": lambda: fft_convolve(a, k),
                "sig": lambda: signal.fftconvolve(a, k, mode="same"),
            }
            times: dict[str, list[float]] = {m: [] for m in methods}
            slab: list[float] = []
            for rep in range(args.repeats):
                for name, fn in methods.items():
                    times[name].append(_t(fn))
                if rep < 2:
                    slab.append(_t(lambda: ndimage.convolve(sub, k, mode="constant")))
            med = {m: statistics.median(v) for m, v in times.items()}
            est = statistics.median(slab) / sub.shape[0] * n
            if est < args.full_direct_limit_s:
                direct = statistics.median([_t(lambda: ndimage.convolve(a, k, mode="constant")) for _ in range(2)])
                how = "measured"
            else:
                direct, how = est, f"extrapolated from a {sub.shape[0]}-slice slab"
            ref = signal.fftconvolve(a, k, mode="same")
            err = float(np.max(np.abs(conv(a) - ref)) / np.max(np.abs(ref)))
            err32 = float(np.max(np.abs(conv32(a) - ref)) / np.max(np.abs(ref)))
            r = dict(grid=n, kernel=ks, direct=direct, how=how, err=err, err32=err32, **med)
            rows.append(r)
            print(f"{n}^3 kernel {ks}^3: planned {r['ours']:.3f}s (float32 {r['ours32']:.3f}s; plan {r['plan']:.3f}s), "
                  f"single-use {r['once']:.3f}s, fftconvolve {r['sig']:.3f}s, direct {direct:.2f}s ({how}); "
                  f"direct/planned {direct / r['ours']:.0f}x, planned/fftconvolve {r['ours'] / r['sig']:.2f}, "
                  f"single-use/fftconvolve {r['once'] / r['sig']:.2f}, float32/fftconvolve {r['ours32'] / r['sig']:.2f}; "
                  f"max rel diff {err:.1e} (float32 {err32:.1e})", flush=True)
    if args.out:
        lines = [
            f"Python {platform.python_version()}, numpy {np.__version__}, scipy {scipy.__version__}, "
            f"{platform.machine()}, medians of {args.repeats} round-robin rounds.",
            "",
            "| grid | kernel | planned s | planned float32 s | plan s | single use s | signal.fftconvolve s | "
            "ndimage.convolve s | direct / planned | planned / fftconvolve | single use / fftconvolve | "
            "float32 / fftconvolve |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in rows:
            lines.append(
                f"| {r['grid']}^3 | {r['kernel']}^3 | {r['ours']:.3f} | {r['ours32']:.3f} | {r['plan']:.3f} | "
                f"{r['once']:.3f} | {r['sig']:.3f} | {r['direct']:.1f} ({r['how']}) | {r['direct'] / r['ours']:.0f}x | "
                f"{r['ours'] / r['sig']:.2f} | {r['once'] / r['sig']:.2f} | {r['ours32'] / r['sig']:.2f} |"
            )
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()

"""Benchmark: read + SUV of a synthetic 300-slice 256x256 PET series vs SimpleITK ImageSeriesReader.

Both read the same files in the same run; each is run ``--repeats`` times alternately and the
medians are compared. Peak memory is measured for theranostix in a fresh subprocess
(tracemalloc peak of all Python and numpy allocations during load_pet) and compared with the float32 volume size.

Run:  python benchmarks/bench_io_read.py [--slices 300] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_series(folder: Path, n_slices: int) -> None:
    from tests.io.pet_factory import write_pet_series

    rng = np.random.default_rng(0)
    vals = rng.gamma(2.0, 5000.0, size=(n_slices, 256, 256)).astype(np.float32)
    write_pet_series(folder, values_bqml=vals, shape=vals.shape, spacing=(2.7, 2.7, 3.0))


def time_theranostix(folder: Path) -> float:
    from theranostix.io.dicom import load_pet

    t = time.perf_counter()
    vol = load_pet(folder)
    assert vol.image.array.dtype == np.float32
    return time.perf_counter() - t


def time_sitk(folder: Path) -> float:
    import SimpleITK as sitk

    t = time.perf_counter()
    r = sitk.ImageSeriesReader()
    r.SetFileNames(r.GetGDCMSeriesFileNames(str(folder)))
    img = r.Execute()
    sitk.GetArrayViewFromImage(img)
    return time.perf_counter() - t


_MEM_SNIPPET = """
import sys, tracemalloc
from theranostix.io.dicom import load_pet
tracemalloc.start()
v = load_pet(sys.argv[1])
cur, peak = tracemalloc.get_traced_memory()
print(peak, v.image.array.nbytes)
"""


def peak_memory(folder: Path) -> tuple[int, int]:
    out = subprocess.run([sys.executable, "-c", _MEM_SNIPPET, str(folder)], capture_output=True, text=True,
                         check=True).stdout.split()
    return int(out[0]), int(out[1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--slices", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "pet"
        make_series(folder, args.slices)
        time_theranostix(folder), time_sitk(folder)  # warm the file cache and imports
        tx, sx = [], []
        for _ in range(args.repeats):
            tx.append(time_theranostix(folder))
            sx.append(time_sitk(folder))
        peak, vol_bytes = peak_memory(folder)
    res = {
        "slices": args.slices, "repeats": args.repeats,
        "theranostix_median_s": statistics.median(tx), "sitk_median_s": statistics.median(sx),
        "time_ratio": statistics.median(tx) / statistics.median(sx),
        "peak_traced_mb": peak / 1e6, "float32_volume_mb": vol_bytes / 1e6,
        "memory_ratio": peak / vol_bytes,
    }
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()

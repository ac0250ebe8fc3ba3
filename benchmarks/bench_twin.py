"""Speed and peak memory of the digital twins (goal: PET/CT twin < 30 s, 5-point SPECT < 30 s, < 4 GB).

Run:  /work/venv/bin/python benchmarks/bench_twin.py [--repeats 3] [--out docs/benchmarks/twin.md]

Each scenario runs in its own Python process (so its peak resident memory, from
``resource.getrusage``, is its own); times are wall-clock medians over ``--repeats`` runs inside
that process, excluding the one-off import of the package (reported separately).

Scenarios
---------
* ``petct``: ``make_twin`` whole-body PET/CT (defaults: PSMA-11, 2 mm truth, 4 mm PET, 3 mm CT).
* ``petct_spect``: the same plus ``--therapy lu177-psma617`` (SPECT/CT at 4, 24, 48, 96, 168 h);
  the SPECT part is this time minus the ``petct`` median.
* ``writer``: the PET DICOM writer (template + per-slice elements) against a baseline measured in
  the same run: building and saving every slice with ``pydicom.Dataset.save_as``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _scenario(name: str, repeats: int) -> dict:
    t_import = time.perf_counter()
    from theranostix.twin.generate import make_twin

    import_s = time.perf_counter() - t_import
    times = []
    extra: dict = {}
    for r in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            if name == "petct":
                t = time.perf_counter()
                res = make_twin(Path(tmp) / "t", seed=7)
                times.append(time.perf_counter() - t)
                extra = {"n_series": res.summary["n_series"],
                         "pet_slices": res.series[0].n_files}
            elif name == "petct_spect":
                t = time.perf_counter()
                res = make_twin(Path(tmp) / "t", seed=7, therapy="lu177-psma617")
                times.append(time.perf_counter() - t)
                extra = {"n_series": res.summary["n_series"]}
            elif name == "writer":
                times.append(_writer_bench(Path(tmp), fast=True))
                extra.setdefault("baseline_s", []).append(_writer_bench(Path(tmp), fast=False))
            else:
                raise SystemExit(f"unknown scenario {name}")
    if "baseline_s" in extra:
        extra["baseline_s"] = statistics.median(extra["baseline_s"])
    return {"scenario": name, "median_s": statistics.median(times), "runs_s": times,
            "import_s": import_s, "peak_rss_mb": _peak_mb(), **extra}


def _writer_bench(tmp: Path, fast: bool) -> float:
    """Write a 250-slice 104x70 PET series; ``fast=False`` is the plain pydicom baseline."""
    from datetime import date, datetime, timedelta

    import numpy as np

    from theranostix.core.image import Image
    from theranostix.twin import export as E

    pet = Image(np.random.default_rng(0).random((250, 70, 104)).astype(np.float32) * 1e4,
                (4.0, 4.0, 4.0), units="Bq/mL")
    pat = E.PatientInfo(patient_id="B", patient_name="B^B", birth_date=date(1960, 1, 1), sex="M",
                        weight_kg=80.0, height_m=1.8)
    inj = datetime(2026, 3, 2, 9)
    st = inj + timedelta(hours=1)
    ctx = E.SeriesContext(patient=pat, study_uid=E.make_uid("b"), study_datetime=st,
                          frame_of_reference_uid=E.make_uid("f"), series_uid=E.make_uid("s"),
                          series_number=1, series_description="bench")
    t = time.perf_counter()
    if fast:
        E.write_pet_series(pet, tmp / "fast", ctx, nuclide="Ga-68", agent="x", activity_mbq=200.0,
                           injection=inj, scan_start=st, duration_s_per_bed=150.0)
    else:
        (tmp / "slow").mkdir()
        for k in range(pet.shape[0]):
            ds = E._base(ctx, E.PET_IMAGE_STORAGE, "PT", E.make_uid("s", k))
            ds.Units = "BQML"
            ds.RescaleSlope = "1"
            ds.RescaleIntercept = "0"
            ds.ImagePositionPatient = [0, 0, 4.0 * k]
            E._pixel_module(ds, 70, 104, signed=True)
            ds.PixelData = pet.array[k].astype("<i2").tobytes()
            ds.save_as(tmp / "slow" / f"{k}.dcm", enforce_file_format=True)
    return time.perf_counter() - t


def _run_child(name: str, repeats: int) -> dict:
    env = dict(os.environ)
    out = subprocess.run([sys.executable, __file__, "--scenario", name, "--repeats", str(repeats)],
                         capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default=None)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="write a Markdown summary here")
    args = ap.parse_args()
    if args.scenario:
        print(json.dumps(_scenario(args.scenario, args.repeats)))
        return
    res = {n: _run_child(n, args.repeats) for n in ("petct", "petct_spect", "writer")}
    spect_s = res["petct_spect"]["median_s"] - res["petct"]["median_s"]
    load = os.getloadavg()
    pc, ps, wr = res["petct"], res["petct_spect"], res["writer"]
    lines = [
        "# Digital twin benchmarks",
        "",
        "Rerun: `/work/venv/bin/python benchmarks/bench_twin.py --repeats 3 --out docs/benchmarks/twin.md`",
        "",
        "Each scenario runs in its own process. Times are wall-clock seconds of `make_twin`",
        "(everything: anatomy, disease, uptake, scanner models, DICOM and truth files), excluding the",
        "package import. \"first run\" includes building the anatomy, which later runs take from the",
        "body side's in-process cache. Peak RSS is the process's peak resident memory",
        "(`resource.getrusage`), imports included.",
        "",
        "| scenario | median (s) | first run (s) | goal (s) | median / goal | peak RSS (MB) |",
        "|---|---|---|---|---|---|",
        f"| whole-body PET/CT twin | {pc['median_s']:.1f} | {pc['runs_s'][0]:.1f} | 30 | "
        f"{pc['median_s'] / 30:.2f} | {pc['peak_rss_mb']:.0f} |",
        f"| PET/CT + 5-timepoint SPECT/CT twin | {ps['median_s']:.1f} | {ps['runs_s'][0]:.1f} | 60 | "
        f"{ps['median_s'] / 60:.2f} | {ps['peak_rss_mb']:.0f} |",
        f"| 5-timepoint SPECT/CT part (difference of medians) | {spect_s:.1f} | "
        f"{ps['runs_s'][0] - pc['runs_s'][0]:.1f} | 30 | {spect_s / 30:.2f} | |",
        "",
        "Writer against a baseline measured in the same run (250-slice 104 x 70 PET series):",
        "",
        "| writer | median (s) | ratio |",
        "|---|---|---|",
        f"| plain pydicom (`Dataset` per slice + `save_as`) | {wr['baseline_s']:.2f} | 1.00 |",
        f"| twin writer (shared elements encoded once) | {wr['median_s']:.2f} | "
        f"{wr['median_s'] / wr['baseline_s']:.2f} |",
    ]
    meta = (f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), "
            f"Python {platform.python_version()}; load average at the end {load[0]:.1f}/{load[1]:.1f}/"
            f"{load[2]:.1f}; repeats {args.repeats}; package import {pc['import_s']:.1f} s "
            f"(not included). Peak memory goal: < 4096 MB.")
    text = "\n".join(lines) + "\n\n" + meta + "\n"
    print(text)
    print(json.dumps(res, indent=2))
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()

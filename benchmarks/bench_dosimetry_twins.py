"""Benchmark: recovered time-integrated activity on Lu-177 therapy twins, and dosimetry speed.

For each twin (5 SPECT/CT timepoints at 4-168 h, [177Lu]Lu-PSMA-617): read the DICOM series,
register the timepoints on CT, build region masks from the twin's true organ/lesion label maps,
fit the TACs and compare the TIA with the twin's exact TIA — for several VOI margins (spill-out).
Reported: the distribution (median, 5th/95th percentile, worst) of the relative TIA error for organs
>= 100 mL (goal within 10 %) and lesions >= 10 mL (goal within 20 %), and the wall time of a
whole-body voxel dosimetry (read + align + fit + DVK dose; goal < 30 s on 2 cores).

Run:  python benchmarks/bench_dosimetry_twins.py [--n 10] [--margins 0,4,8,12]
Twins are cached in benchmarks/_work/ (gitignored).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from theranostix.dosimetry.pipeline import align_timepoints, region_dosimetry
from theranostix.io.nifti import read_nifti
from theranostix.twin.generate import make_twin
from theranostix.workflows.dosimetry_study import DEFAULT_GROUPS, lesion_masks, load_timepoints

WORK = Path(__file__).resolve().parent / "_work"


def twin(seed: int) -> Path:
    out = WORK / f"dosim_twin_{seed}"
    if not (out / "truth" / "truth.json").exists():
        pattern = "disseminated" if seed % 2 else "oligometastatic"
        make_twin(out, tracer="psma-ga68", seed=seed, therapy="lu177-psma617", pattern=pattern)
    return out


def organ_masks_from_truth(root: Path, grid) -> dict[str, np.ndarray]:
    from theranostix.core.resample import resample_to

    lab, meta = read_nifti(root / "truth" / "organs.nii.gz")
    names = {int(k): v for k, v in meta["labels"].items()}
    arr = resample_to(lab, grid, interpolation="nearest").array
    out = {}
    for region, members in DEFAULT_GROUPS.items():
        ids = [k for k, n in names.items() if n in members]
        m = np.isin(arr, ids)
        if m.any():
            out[region] = m
    return out, names


def other_structures(root: Path, grid) -> dict[str, np.ndarray]:
    """Every labelled structure of the twin as its own region (the GTM partition)."""
    from theranostix.core.resample import resample_to

    lab, meta = read_nifti(root / "truth" / "organs.nii.gz")
    arr = resample_to(lab, grid, interpolation="nearest").array
    return {name: arr == int(k) for k, name in meta["labels"].items() if np.any(arr == int(k))}


def truth_tia(truth: dict, region: str, names_in_group: tuple[str, ...]) -> float | None:
    kin = truth["therapy"]["kinetics"]["regions"]
    if region.startswith("lesion_"):
        r = kin.get(region)
        return None if r is None else r["tia_mbq_h"]
    vals = [kin[n]["tia_mbq_h"] for n in names_in_group if n in kin]
    return sum(vals) if vals else None


def run_one(root: Path, margins: list[float], voxel_timing: bool) -> dict:
    truth = json.loads((root / "truth" / "truth.json").read_text())
    t0 = time.perf_counter()
    dirs = sorted((root / "therapy").iterdir())
    spects, cts, admin = load_timepoints(dirs)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    images, _ = align_timepoints([s.image for s in spects], cts)
    t_align = time.perf_counter() - t0
    grid = images[0]
    organs, _ = organ_masks_from_truth(root, grid)
    les_lab, _ = read_nifti(root / "truth" / "lesions.nii.gz")
    lesions = lesion_masks(les_lab, grid)
    times = [s.hours_after_administration for s in spects]
    rows = []
    partition = other_structures(root, grid)
    fwhm = float(truth["therapy"]["timepoints"][0]["spect"]["fwhm_mm"])
    variants = [(f"margin {m:g} mm", m, None) for m in margins] + [(f"GTM {fwhm:g} mm", 0.0, fwhm)]
    for label, margin, psf in variants:
        res, _ = region_dosimetry(images, times, {**organs, **lesions}, administered_mbq=admin.activity_mbq,
                                  lesion_regions=list(lesions), margin_mm=margin, voxel=False,
                                  psf_fwhm_mm=psf, partition=partition if psf else None)
        for r in res.regions:
            true = truth_tia(truth, r.region, DEFAULT_GROUPS.get(r.region, ()))
            if not true:
                continue
            true_vol = (next((les["volume_ml"] for les in truth["lesions"] if f"lesion_{les['lesion_id']}" == r.region), None)
                        if r.kind == "lesion" else r.volume_ml)
            rows.append({"margin_mm": label, "region": r.region, "kind": r.kind, "volume_ml": true_vol,
                         "tia": r.tia_mbq_h, "true_tia": true, "error": (r.tia_mbq_h - true) / true,
                         "method": r.method})
    out = {"twin": root.name, "rows": rows, "read_s": t_read, "align_s": t_align}
    if voxel_timing:
        t0 = time.perf_counter()
        spects, cts, admin = load_timepoints(dirs)
        images, _ = align_timepoints([s.image for s in spects], cts)
        region_dosimetry(images, times, organs, administered_mbq=admin.activity_mbq, margin_mm=margins[0], voxel=True)
        out["whole_body_voxel_s"] = time.perf_counter() - t0
    return out


def summarise(results: list[dict], margins: list) -> dict:
    summary = {}
    labels = sorted({r["margin_mm"] for res in results for r in res["rows"]})
    for margin in labels:
        for kind, vmin, goal in (("organ", 100.0, 0.10), ("lesion", 10.0, 0.20)):
            errs = [r["error"] for res in results for r in res["rows"]
                    if r["margin_mm"] == margin and r["kind"] == kind and (r["volume_ml"] or 0) >= vmin]
            if not errs:
                summary[f"{kind}@{margin}"] = {"n": 0}
                continue
            e = np.asarray(errs)
            summary[f"{kind}@{margin}"] = {
                "n": len(e), "median_pct": 100 * float(np.median(e)), "p5_pct": 100 * float(np.percentile(e, 5)),
                "p95_pct": 100 * float(np.percentile(e, 95)), "worst_abs_pct": 100 * float(np.max(np.abs(e))),
                "within_goal_pct": 100 * float(np.mean(np.abs(e) <= goal)), "goal_pct": 100 * goal}
    return summary


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10)
    ap.add_argument("--first-seed", type=int, default=100)
    ap.add_argument("--margins", default="0,4,8,12")
    args = ap.parse_args()
    margins = [float(m) for m in args.margins.split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    results = []
    for i in range(args.n):
        root = twin(args.first_seed + i)
        results.append(run_one(root, margins, voxel_timing=(i < 3)))
        print(f"{root.name}: done", flush=True)
        partial = {"summary": summarise(results, margins), "n_done": len(results), "results": results}
        (WORK / "dosimetry_twins.partial.json").write_text(json.dumps(partial, indent=2))
    summary = summarise(results, margins)
    timings = [r["whole_body_voxel_s"] for r in results if "whole_body_voxel_s" in r]
    out = {"summary": summary, "whole_body_voxel_s_median": statistics.median(timings) if timings else None,
           "whole_body_voxel_s_all": timings, "results": results}
    (WORK / "dosimetry_twins.json").write_text(json.dumps(out, indent=2))
    print(json.dumps({"summary": summary, "whole_body_voxel_s": timings}, indent=2))


if __name__ == "__main__":
    main()

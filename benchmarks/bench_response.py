"""Benchmark: response assessment on digital-twin pairs (baseline + follow-up with known response).

For each twin (``make_twin(..., followup_cycles=1|2)``, cached in ``benchmarks/_work/response/``):

1. baseline and follow-up PET/CT are read from the DICOM the twin wrote and analysed with
   :func:`theranostix.pet.pipeline.analyze_study` (``--truth-lesions``: lesion lists built from
   the truth label maps on the PET grid instead; registration and tracking stay real);
2. :func:`theranostix.response.pipeline.assess_response` registers the CTs, tracks lesions and
   scores RECIP 1.0 / PERCIST 1.0 / PPP;
3. the TRUE categories come from the twin's truth (true total tumour volumes, true new lesions,
   true SUV of the hottest lesion and true liver SUV), through the same criteria functions;
4. lesion matching is checked against the truth label maps: every measured lesion is given the
   truth lesion id it mostly overlaps; a tracking event is correct when it links the measured
   lesions of the same truth lesion (or reports new / disappeared when the truth lesion is new /
   gone). Only truth lesions >= 6 mm (diameter at baseline, and at follow-up when present) count.

Run: ``/work/venv/bin/python benchmarks/bench_response.py [--n 20] [--truth-lesions]``.
Writes ``docs/benchmarks/response.md``. Per-pair results are cached as JSON next to the twins;
``--fresh`` recomputes them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work" / "response"
DOC = ROOT / "docs" / "benchmarks" / "response.md"

#: (seed, cycles) chosen so the twin's automatic response class covers CR/PR/SD/PD
#: (the class is drawn from the seed, twin/followup.py).
PAIRS = [(200, 1), (202, 2), (206, 1), (213, 1), (215, 2),            # SD
         (201, 1), (203, 2), (204, 1), (205, 1), (208, 2), (209, 1),  # PR
         (212, 1), (214, 1), (218, 2), (219, 2), (222, 1), (225, 2),  # PD
         (207, 2), (235, 1), (271, 1)]                                # CR
PATTERNS = ("nodal", "oligometastatic", "disseminated")
MIN_DIAMETER_MM = 6.0
#: Working grid of the CT registration (mm); register_followup's default is 4 mm. Overridden by
#: --reg-spacing (the analyze_study run used the default 4 mm).
REG_SPACING_MM = 4.0


def twin_dir(seed: int, cycles: int, pattern: str) -> Path:
    from theranostix.twin.generate import make_twin

    d = WORK / f"twin_{seed}_{cycles}_{pattern}"
    if not (d / "truth" / "truth.json").is_file():
        make_twin(d, tracer="psma-ga68", seed=seed, pattern=pattern, followup_cycles=cycles)
    return d


def truth_analysis(pet, ct, truth_labels, truth_lesions, tracer):
    """A stand-in AnalysisResult from truth label maps (measured on the simulated PET)."""
    from theranostix.core.image import Image
    from theranostix.core.resample import resample_to
    from theranostix.pet.metrics import lesion_table
    from theranostix.pet.pipeline import AnalysisResult
    from theranostix.pet.reference_regions import find_reference_regions

    lab = resample_to(truth_labels, pet.image, interpolation="nearest")
    arr = np.rint(lab.array).astype(np.int32)
    sites = {int(le["lesion_id"]): le.get("station") or le.get("kind") or "unassigned" for le in truth_lesions}
    ids = [i for i in np.unique(arr) if i > 0]
    table = lesion_table(pet.image, arr, sites={i: sites.get(int(i), "unassigned") for i in ids})
    from theranostix.pet.reference_regions import PetCtAnatomy

    regions = find_reference_regions(pet.image, anatomy=PetCtAnatomy.build(pet.image, ct))
    refs = {}
    for name in ("liver", "blood_pool"):
        r = regions.get(name)
        st = r.statistics
        refs[name] = {"found": r.found, "mean": st.mean if st else None, "sd": st.sd if st else None}
    uptake = (pet.reference_time - pet.administration.datetime).total_seconds() / 60.0
    pat = pet.patient
    return AnalysisResult(tracer=tracer, suv_kind="bw", reference_time=pet.reference_time,
                          uptake_time_min=uptake, patient={"sex": pat.sex, "weight_kg": pat.weight_kg,
                                                           "height_m": pat.height_m},
                          reference_regions=refs, lesions=table, burden=table.burden, scores={},
                          eligibility={}, provenance=table.provenance,
                          labels=Image(arr, spacing=pet.image.spacing, origin=pet.image.origin,
                                       direction=pet.image.direction, units="label"),
                          suv=pet.image, ct=ct)


def majority_truth_ids(analysis, truth_labels) -> dict[int, int]:
    """Measured lesion id -> truth lesion id it overlaps most (0 = none)."""
    from theranostix.core.resample import resample_to

    t = np.rint(resample_to(truth_labels, analysis.labels, interpolation="nearest").array).astype(np.int64)
    m = np.rint(analysis.labels.array).astype(np.int64)
    out = {}
    for les in analysis.lesions.lesions:
        vals = t[m == les.lesion_id]
        vals = vals[vals > 0]
        out[int(les.lesion_id)] = int(np.bincount(vals).argmax()) if vals.size else 0
    return out


def true_categories(truth: dict) -> dict:
    from theranostix.core.body_size import lbm_janmahasatian_kg
    from theranostix.response.criteria import PercistScan, percist, recip

    fu = truth["followup"]
    resp = fu["response"]
    pat = truth["patient"]
    f = lbm_janmahasatian_kg(pat["weight_kg"], pat["height_m"] * 100.0, pat["sex"]) / pat["weight_kg"]
    n_new = len(resp["new_lesions"])
    out = {"class": resp["response_class"], "n_new": n_new,
           "tv_before": resp["total_volume_before_ml"], "tv_after": resp["total_volume_after_ml"]}
    out["recip"] = recip(resp["total_volume_before_ml"], resp["total_volume_after_ml"], n_new).category
    liver_b = truth["organ_suv_mean"]["liver"]
    liver_f = fu["organ_suv_mean"]["liver"]
    bp_f = fu["organ_suv_mean"].get("blood", fu["organ_suv_mean"].get("blood_pool"))
    ma = resp["max_suv_after"]
    sb = PercistScan(sul_peak=resp["max_suv_before"] * f, liver_sul_mean=liver_b * f, liver_sul_sd=0.0,
                     uptake_min=truth["tracer"]["uptake_time_min"])
    sf = PercistScan(sul_peak=(ma * f) if ma > 0 else None, liver_sul_mean=liver_f * f, liver_sul_sd=0.0,
                     blood_pool_sul_mean=None if bp_f is None else bp_f * f,
                     uptake_min=truth["tracer"]["uptake_time_min"])
    out["percist"] = percist(sb, sf, n_new).category
    return out


def run_pair(seed: int, cycles: int, pattern: str, truth_lesions_mode: bool) -> dict:
    from theranostix.io.dicom import load_ct, load_pet
    from theranostix.io.nifti import read_nifti
    from theranostix.response.pipeline import assess_response

    d = twin_dir(seed, cycles, pattern)
    truth = json.loads((d / "truth" / "truth.json").read_text())
    t_b, _ = read_nifti(d / "truth" / "lesions.nii.gz")
    t_f, _ = read_nifti(d / "truth" / "followup_lesions.nii.gz")
    t0 = time.perf_counter()
    analyses = []
    for tp, tl, tlist in (("baseline", t_b, truth["lesions"]), ("followup", t_f, truth["followup"]["lesions"])):
        pet = load_pet(d / tp / "pet")
        ct = load_ct(d / tp / "ct")
        if truth_lesions_mode:
            analyses.append(truth_analysis(pet, ct, tl, tlist, "psma-ga68"))
        else:
            from theranostix.io.nifti import write_nifti
            from theranostix.pet.pipeline import AnalysisResult, analyze_study
            cache = d / f"analysis_{tp}"
            if (cache / "analysis.json").is_file():  # cached analyze_study output
                a = AnalysisResult.model_validate_json((cache / "analysis.json").read_text())
                a.labels, _ = read_nifti(cache / "labels.nii.gz")
                a.suv = pet.image
            else:
                a = analyze_study(pet, ct, tracer="psma-ga68")
                cache.mkdir(exist_ok=True)
                write_nifti(a.labels, cache / "labels.nii.gz", sidecar={"kind": "lesion labels"})
                (cache / "analysis.json").write_text(a.model_dump_json())
            a.ct = ct
            analyses.append(a)
    t_an = time.perf_counter() - t0
    t1 = time.perf_counter()
    res = assess_response(analyses[0], [analyses[1]], criteria=("recip", "percist", "ppp"),
                          on_registration_failure="flag",
                          registration_options={"working_spacing_mm": REG_SPACING_MM})
    t_as = time.perf_counter() - t1
    fa = res.followups[0]
    truth_cat = true_categories(truth)

    # lesion matching vs truth
    bmap = majority_truth_ids(analyses[0], t_b)
    fmap = majority_truth_ids(analyses[1], t_f)
    diam_b = {int(le["lesion_id"]): le["diameter_mm"] for le in truth["lesions"]}
    diam_f = {int(le["lesion_id"]): le["diameter_mm"] for le in truth["followup"]["lesions"]}
    new_true = {int(le["lesion_id"]) for le in truth["followup"]["response"]["new_lesions"]}
    by_bt: dict[int, list[int]] = {}
    by_ft: dict[int, list[int]] = {}
    for k, v in bmap.items():
        by_bt.setdefault(v, []).append(k)
    for k, v in fmap.items():
        by_ft.setdefault(v, []).append(k)
    events_b = {m.baseline_id: m for m in fa.tracking.matches if m.baseline_id is not None}
    events_f = {m.followup_id: m for m in fa.tracking.matches if m.followup_id is not None}
    n_eval = n_ok = 0
    details = []
    for tid in sorted(set(diam_b) | set(diam_f)):
        big = (diam_b.get(tid, 0) >= MIN_DIAMETER_MM or tid not in diam_b) and \
              (diam_f.get(tid, 0) >= MIN_DIAMETER_MM or tid not in diam_f)
        if not big:
            continue
        mb, mf = by_bt.get(tid, []), by_ft.get(tid, [])
        if tid in diam_b and tid in diam_f and diam_f[tid] > 0:
            if not mb or not mf:
                continue  # not detected at one timepoint: a detection issue, not a matching one
            ok = any(events_b[b].status == "matched" and fmap.get(events_b[b].followup_id) == tid for b in mb)
            kind = "persisting"
        elif tid in new_true:
            if not mf:
                continue
            ok = any(events_f[f].status == "new" for f in mf)
            kind = "new"
        elif tid in diam_b:
            if not mb:
                continue
            ok = all(events_b[b].status == "disappeared" or fmap.get(events_b[b].followup_id, -1) == 0
                     for b in mb) and not mf
            kind = "disappeared"
        else:
            continue
        n_eval += 1
        n_ok += bool(ok)
        details.append({"truth_id": tid, "kind": kind, "ok": bool(ok)})
    p = fa.criteria["percist"]
    return {"seed": seed, "cycles": cycles, "pattern": pattern, "mode": "truth-lesions" if truth_lesions_mode else "analyze_study",
            "true": truth_cat,
            "measured": {"recip": fa.category("recip"), "percist": p.category,
                         "percist_if_comparable": p.values.get("category_if_comparable"),
                         "ppp": fa.category("ppp"), "n_new": fa.n_new_lesions,
                         "tv_before": fa.values["baseline_tv_ml"], "tv_after": fa.values["followup_tv_ml"],
                         "flags": fa.flags},
            "registration": fa.registration.model_dump(),
            "matching": {"evaluated": n_eval, "correct": n_ok, "details": details},
            "seconds": {"analysis": round(t_an, 1), "assess": round(t_as, 1)}}


def confusion(rows: list[dict], key: str, cats: list[str], measured_key: str | None = None) -> str:
    mk = measured_key or key
    cats = cats + sorted({r["true"][key] for r in rows} - set(cats))
    meas_cats = cats + sorted({r["measured"][mk] for r in rows} - set(cats))
    c = Counter((r["true"][key], r["measured"][mk]) for r in rows)
    lines = ["| true \\ measured | " + " | ".join(meas_cats) + " |",
             "|---|" + "---|" * len(meas_cats)]
    for t in cats:
        lines.append(f"| {t} | " + " | ".join(str(c.get((t, m), 0)) for m in meas_cats) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=len(PAIRS))
    ap.add_argument("--truth-lesions", action="store_true",
                    help="lesion lists from truth label maps instead of analyze_study")
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--report-only", action="store_true",
                    help="only aggregate the pairs already cached (no new twins or analyses)")
    ap.add_argument("--existing-only", action="store_true", help="skip pairs whose twin is not made yet")
    ap.add_argument("--reg-spacing", type=float, default=4.0, help="registration working grid (mm)")
    ap.add_argument("--new-lesion-sensitivity", action="store_true",
                    help="compare new-lesion settings on the cached analyze_study pairs")
    args = ap.parse_args()
    if args.new_lesion_sensitivity:
        new_lesion_sensitivity()
        write_doc(0.0)
        return
    global REG_SPACING_MM
    REG_SPACING_MM = args.reg_spacing
    WORK.mkdir(parents=True, exist_ok=True)
    mode = "truth" if args.truth_lesions else "analyze"
    rows = []
    t_start = time.perf_counter()
    for i, (seed, cycles) in enumerate(PAIRS[: args.n]):
        pattern = PATTERNS[i % len(PATTERNS)]
        cache = WORK / f"pair_{seed}_{cycles}_{pattern}_{mode}.json"
        if cache.is_file() and not args.fresh:
            row = json.loads(cache.read_text())
        elif args.report_only or (args.existing_only and not (
                WORK / f"twin_{seed}_{cycles}_{pattern}" / "truth" / "truth.json").is_file()):
            continue
        else:
            try:
                row = run_pair(seed, cycles, pattern, args.truth_lesions)
            except Exception as exc:  # a failing pair is reported, not hidden
                row = {"seed": seed, "cycles": cycles, "pattern": pattern, "error": repr(exc)[:300]}
                print(f"pair {seed}/{cycles}: ERROR {exc!r}", file=sys.stderr, flush=True)
            cache.write_text(json.dumps(row, indent=1, default=str))
        rows.append(row)
        if "error" not in row:
            print(f"[{i + 1}/{args.n}] seed {seed} c{cycles} {pattern}: true {row['true']['class']} "
                  f"RECIP {row['true']['recip']}/{row['measured']['recip']} PERCIST "
                  f"{row['true']['percist']}/{row['measured']['percist']} match "
                  f"{row['matching']['correct']}/{row['matching']['evaluated']}", flush=True)
    write_doc(time.perf_counter() - t_start)


NOTES = [
    "## Reading the numbers (observations from the 2026-11-23 run; re-check after changes)",
    "",
    "- **Run A is limited by lesion detection, not by the response code.** `analyze_study` reported "
    "total tumour volumes 10-500x the true ones (e.g. 138.6 vs 15.4 mL): large physiological "
    "regions (sites `other_pelvic`, `retroperitoneal`, `mediastinal`: bowel, bladder surroundings, "
    "heart/blood) are segmented as lesions. The true TTV change is then diluted, so every pair "
    "comes out RECIP SD. Registration was fine in every pair (body CT NCC 0.999) and tracking "
    "matched 96.6 % of the detected true lesions.",
    "- **Run B isolates the response code** (true lesion masks on the PET grid): lesion matching "
    "100 %, RECIP 17/20. The three misses: one PR at the boundary (true -35 %, voxelised "
    "-29 % on the 4 mm grid) and two PD pairs whose true new lesions (6-8 mm) were not counted as "
    "new: their measured SUVmax (2.6-3.9, partial volume) was below the follow-up liver SUVmean or "
    "within 0.6x of the baseline uptake at the site -- the default new-lesion checks "
    "(`new_lesion_min_uptake='liver'`, `new_lesion_baseline_fraction=0.6`, docs/response.md) trade "
    "these for the spurious new detections they remove in run A (see the sensitivity table: without "
    "the checks all 14 pairs without a true new lesion get spurious ones; with the defaults none do, "
    "at the cost of 3 of 6 PD pairs whose small new lesions are missed).",
    "- **PERCIST falls short in both runs** for three reasons, none a calculation error: (1) the "
    "automatic liver reference differed by up to 22 % / 0.69 SUL between two scans whose true liver "
    "SUV is identical (PERCIST's 0.3-SUL limit is tight for a PSMA liver of ~3.5 SUL), so the "
    "pairs are flagged NE as the criterion requires; (2) small lesions' measured SULpeak is "
    "partial-volume diluted below the measurability threshold (1.5 x liver + 2 SD) where the true "
    "SUV is above it (all CR pairs: true CMR, measured NE); (3) when lesions shrink, the measured "
    "SULpeak falls more than the true SUV (size effect), e.g. true SMD measured PMR. PERCIST is "
    "defined for FDG; these twins are PSMA.",
    "",
]


NEW_LESION_SETTINGS = {
    "default (liver, look-back 0.6)": {},
    "blood pool, look-back 0.6": {"new_lesion_min_uptake": "blood_pool"},
    "liver, no look-back": {"new_lesion_baseline_fraction": None},
    "blood pool, look-back 0.8": {"new_lesion_min_uptake": "blood_pool", "new_lesion_baseline_fraction": 0.8},
    "no checks": {"new_lesion_min_uptake": "none", "new_lesion_baseline_fraction": None},
}


def new_lesion_sensitivity() -> None:
    """New-lesion counts of the cached analyze_study pairs under several new-lesion settings
    (no registration: the twins' baseline and follow-up share one frame, NCC 0.999 in run A)."""
    from theranostix.io.dicom import load_pet
    from theranostix.io.nifti import read_nifti
    from theranostix.pet.pipeline import AnalysisResult
    from theranostix.response.pipeline import assess_response

    tot = {k: [0, 0, 0, 0] for k in NEW_LESION_SETTINGS}  # exact, spurious (true 0), missed (true > 0), pairs
    for i, (seed, cyc) in enumerate(PAIRS):
        d = WORK / f"twin_{seed}_{cyc}_{PATTERNS[i % len(PATTERNS)]}"
        if not (d / "analysis_followup" / "analysis.json").is_file():
            continue
        t = json.loads((d / "truth" / "truth.json").read_text())
        n_true = len(t["followup"]["response"]["new_lesions"])
        an = []
        for tp in ("baseline", "followup"):
            a = AnalysisResult.model_validate_json((d / f"analysis_{tp}" / "analysis.json").read_text())
            a.labels, _ = read_nifti(d / f"analysis_{tp}" / "labels.nii.gz")
            if tp == "baseline":
                a.suv = load_pet(d / "baseline" / "pet").image
            an.append(a)
        for k, kw in NEW_LESION_SETTINGS.items():
            n = assess_response(an[0], [an[1]], register=False, criteria=["recip"], **kw).followups[0].n_new_lesions
            tot[k][0] += n == n_true
            tot[k][1] += n > 0 and n_true == 0
            tot[k][2] += n == 0 and n_true > 0
            tot[k][3] += 1
    lines = ["| new-lesion setting | new-lesion count exact | spurious new lesions in pairs without any | "
             "PD pairs with none found |", "|---|---|---|---|"]
    for k, (ex, sp, mi, n) in tot.items():
        lines.append(f"| {k} | {ex}/{n} | {sp} | {mi} |")
    (WORK / "new_lesion_sensitivity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def cached_rows(mode: str) -> list[dict]:
    rows = []
    for i, (seed, cycles) in enumerate(PAIRS):
        cache = WORK / f"pair_{seed}_{cycles}_{PATTERNS[i % len(PATTERNS)]}_{mode}.json"
        if cache.is_file():
            rows.append(json.loads(cache.read_text()))
    return rows


def write_doc(seconds: float) -> None:
    lines = ["# Benchmark: response assessment on digital-twin pairs", "",
             "Two runs on the same twin pairs: (A) fully automatic -- lesion lists from "
             "`pet.pipeline.analyze_study`; (B) lesion lists from the truth label maps, to separate the "
             "response code (registration, tracking, criteria) from lesion detection. Both use the real "
             "registration, tracking and criteria code.", ""]
    for mode, title in (("analyze", "A. Fully automatic (analyze_study)"),
                        ("truth", "B. Truth lesion lists, real registration and tracking")):
        rows = cached_rows(mode)
        if rows:
            lines += [f"## {title}", ""] + section_lines(rows, mode)
    sens = WORK / "new_lesion_sensitivity.md"
    if sens.is_file():
        lines += ["## New-lesion checks: sensitivity (run A analyses, `--new-lesion-sensitivity`)", "",
                  sens.read_text(), ""]
    lines += NOTES + [f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs, load "
              f"average {os.getloadavg()[0]:.1f}), Python {platform.python_version()}. Per-pair "
              "times are in the tables (analysis s = reading DICOM + analysis; assess s = registration, "
              "tracking, criteria); wall-clock under a load average of 4-8 from other jobs.", ""]
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text("\n".join(lines))
    print(f"wrote {DOC}")


def section_lines(rows: list[dict], mode: str) -> list[str]:
    ok = [r for r in rows if "error" not in r]
    err = [r for r in rows if "error" in r]
    n = len(ok)
    agree_r = sum(r["true"]["recip"] == r["measured"]["recip"] for r in ok)
    agree_p = sum(r["true"]["percist"] == r["measured"]["percist"] for r in ok)
    agree_p2 = sum(r["true"]["percist"] == (r["measured"]["percist_if_comparable"] or r["measured"]["percist"]) for r in ok)
    m_eval = sum(r["matching"]["evaluated"] for r in ok)
    m_ok = sum(r["matching"]["correct"] for r in ok)
    pct = lambda a, b: f"{100.0 * a / b:.1f} %" if b else "n/a"  # noqa: E731
    lines = [
        "Rerun: `/work/venv/bin/python benchmarks/bench_response.py"
        + (" --truth-lesions --reg-spacing 8" if mode == "truth" else "") + " --fresh` (twins and "
        "analyses are cached in benchmarks/_work/response/; the first run makes 20 twins, ~1 h on 2 cores)",
        "",
        ("Lesion lists: **from the truth label maps** (resampled to the PET grid, metrics measured on the "
         "simulated PET); registration, tracking and criteria are the real code."
         if mode == "truth" else
         "Lesion lists: `pet.pipeline.analyze_study` on the DICOM PET/CT the twin wrote (fully automatic)."),
        "",
        f"Pairs: {len(PAIRS)} planned, {len(rows)} run, {n} assessed, {len(err)} failed. Tracer [68Ga]Ga-PSMA-11 twins "
        f"(patterns {', '.join(PATTERNS)}), follow-up after 1 or 2 cycles. True response classes: "
        + ", ".join(f"{k} {v}" for k, v in sorted(Counter(r['true']['class'] for r in ok).items())) + ".",
        "",
        "| measure | result | goal |",
        "|---|---|---|",
        f"| RECIP 1.0 category agreement | {agree_r}/{n} = {pct(agree_r, n)} | >= 95 % |",
        f"| PERCIST 1.0 category agreement (NE counted as disagreement) | {agree_p}/{n} = {pct(agree_p, n)} | >= 95 % |",
        f"| PERCIST 1.0 agreement of the category the numbers give (ignoring comparability flags) | {agree_p2}/{n} = {pct(agree_p2, n)} | |",
        f"| lesion matching accuracy, truth lesions >= 6 mm detected at the timepoints concerned | {m_ok}/{m_eval} = {pct(m_ok, m_eval)} | >= 95 % |",
        "",
        "True categories: RECIP from the true total tumour volumes and the true number of new lesions; "
        "PERCIST from the true SUV of the hottest lesion and the true liver SUV (SD 0) converted to SUL "
        "with the same LBM (Janmahasatian), via the same `recip()` / `percist()` functions.",
        "",
        "### RECIP 1.0 confusion table",
        "",
        confusion(ok, "recip", ["CR", "PR", "SD", "PD"]),
        "",
        "### PERCIST 1.0 confusion table",
        "",
        confusion(ok, "percist", ["CMR", "PMR", "SMD", "PMD"]),
        "",
        "### Per pair",
        "",
        "| seed | cycles | pattern | true class | TV true (mL) | TV measured (mL) | new true/measured | RECIP true/measured | PERCIST true/measured | PPP | NCC after | matching | analysis s | assess s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ok:
        t, m = r["true"], r["measured"]
        ncc = r["registration"].get("ncc_after")
        lines.append(
            f"| {r['seed']} | {r['cycles']} | {r['pattern']} | {t['class']} | {t['tv_before']:.1f} -> {t['tv_after']:.1f} | "
            f"{m['tv_before']:.1f} -> {m['tv_after']:.1f} | {t['n_new']}/{m['n_new']} | {t['recip']}/{m['recip']} | "
            f"{t['percist']}/{m['percist']} | {m['ppp']} | {'-' if ncc is None else f'{ncc:.3f}'} | "
            f"{r['matching']['correct']}/{r['matching']['evaluated']} | {r['seconds']['analysis']} | {r['seconds']['assess']} |")
    for r in err:
        lines.append(f"| {r['seed']} | {r['cycles']} | {r['pattern']} | ERROR: {r['error']} |")
    lines.append("")
    return lines


if __name__ == "__main__":
    main()

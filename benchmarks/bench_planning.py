"""Validation of the dose prediction and re-planning on therapy twins (script, not a unit test).

Run: ``python benchmarks/bench_planning.py [N_TWINS]`` (about 10 s per twin).

For each twin (seeded anatomy + disease, [68Ga]Ga-PSMA-11 true SUVbw map at 1 h, true
[177Lu]Lu-PSMA-617 kinetics from ``theranostix.twin``):

1. diagnostic uptake from the true SUV map and the anatomy masks (``compute_diagnostic_uptake``);
2. predicted dose per GBq (``predict_therapy_doses``);
3. true dose per GBq = true TIA per GBq x the same S model at the true region mass
   (so the comparison isolates the prediction of uptake and kinetics);
4. a simulated cycle-1 post-therapy measurement = true dose x log-normal noise (CV 15 %),
   Bayesian update (``replan``) and the distance to truth before and after.

Reports bias (mean log error as a percentage), spread (SD of the log error) and Spearman rank
correlation per region class, and the fraction of twins whose re-planned prediction is closer to
the truth than the initial one. Limitations: no PET noise, resolution or segmentation error here
(true SUV map, true masks); the twin's kinetics generator is an independent model of the same
literature ranges, not patient data.
"""

from __future__ import annotations

import math
import sys
from datetime import datetime

import numpy as np
from scipy.stats import spearmanr

from theranostix.core.patient import Administration
from theranostix.planning.prediction import dose_per_tia, predict_therapy_doses
from theranostix.planning.replanning import (
    CycleDosimetry,
    RegionMeasurement,
    log_sd_from_cv,
    replan,
)
from theranostix.planning.uptake import compute_diagnostic_uptake
from theranostix.core.provenance import Provenance

PATTERNS = ("nodal", "oligometastatic", "disseminated", "localized")
GROUPS = {"kidneys": ("kidney_left_cortex", "kidney_left_medulla", "kidney_right_cortex",
                      "kidney_right_medulla"),
          "salivary_glands": ("parotid_left", "parotid_right", "submandibular_left",
                              "submandibular_right")}
MEASUREMENT_CV = 0.15


def one_twin(seed: int) -> dict:
    from theranostix.twin.truth import build_anatomy, build_disease, therapy_kinetics, tracer_suv_map

    sex = "M"  # prostate cancer: male twins
    anat = build_anatomy(sex, seed=seed, spacing_mm=4.0)
    dis = build_disease(anat, PATTERNS[seed % len(PATTERNS)], seed=seed)
    suv, organ_suv = tracer_suv_map(anat, dis, "psma-ga68", seed=seed)
    truth = therapy_kinetics(anat, dis, organ_suv, "lu177-psma617", seed=seed)
    masks = {n: anat.mask(n) for n in (*GROUPS["kidneys"], *GROUPS["salivary_glands"], "liver",
                                       "spleen", "blood_pool", "lacrimal_left", "lacrimal_right")}
    admin = Administration(agent="psma-ga68", radionuclide="Ga-68", activity_mbq=150.0,
                           datetime=datetime(2026, 1, 1, 9, 0))
    up = compute_diagnostic_uptake(suv, admin, masks, lesion_labels=dis.labels.array,
                                   scan_time_h=1.0, patient_weight_kg=anat.weight_kg,
                                   sex="male" if sex == "M" else "female", hematocrit=0.42,
                                   diagnostic_agent="psma-ga68")
    pred = predict_therapy_doses(up, "lu177-psma617", n_samples=1000, seed=seed)
    per_gbq = 1000.0 / truth.administered_mbq
    true: dict[str, float] = {}
    for region in ("kidneys", "salivary_glands"):
        tia = sum(truth.regions[n].tia_mbq_h for n in GROUPS[region]) * per_gbq
        mass = sum(truth.regions[n].volume_ml for n in GROUPS[region])
        dpt, _ = dose_per_tia(region, "organ", mass, "Lu-177", up.sex, Provenance())
        true[region] = tia * dpt
    for les in pred.lesions:
        key = les.region
        if key not in truth.regions:
            continue
        r = truth.regions[key]
        dpt, _ = dose_per_tia(key, "lesion", r.volume_ml, "Lu-177", up.sex, Provenance())
        true[key] = r.tia_mbq_h * per_gbq * dpt
    rng = np.random.default_rng(1000 + seed)
    msd = log_sd_from_cv(MEASUREMENT_CV)
    meas = [RegionMeasurement(region=k, dose_gy_per_gbq=v * math.exp(msd * rng.standard_normal()),
                              relative_uncertainty=MEASUREMENT_CV) for k, v in true.items()]
    rp = replan(pred, [CycleDosimetry(cycle=1, administered_gbq=7.4, regions=meas)])
    rows = {}
    for k, v in true.items():
        rows[k] = (pred.region(k).dose_gy_per_gbq.median, rp.posterior.region(k).dose_gy_per_gbq.median, v)
    return rows


def main(n: int = 20) -> None:
    results = []
    for seed in range(n):
        results.append(one_twin(seed))
        print(f"twin {seed}: " + ", ".join(f"{k} pred {p:.3g} post {q:.3g} true {t:.3g}"
                                           for k, (p, q, t) in results[-1].items()
                                           if not k.startswith("lesion")), flush=True)
    print(f"\n{n} twins, [68Ga]Ga-PSMA-11 -> [177Lu]Lu-PSMA-617")
    print("class            n   bias %   SD(log)  Spearman   post closer %")
    for cls in ("kidneys", "salivary_glands", "lesion"):
        trip = [v for res in results for k, v in res.items()
                if (k == cls or (cls == "lesion" and k.startswith("lesion")))]
        p, q, t = (np.array(x) for x in zip(*trip))
        err = np.log(p / t)
        rho = spearmanr(p, t).statistic
        closer = np.mean(np.abs(np.log(q / t)) < np.abs(err)) * 100
        print(f"{cls:15s} {len(t):3d} {100 * (math.exp(err.mean()) - 1):8.1f} {err.std(ddof=1):8.3f} "
              f"{rho:9.3f} {closer:10.1f}")
    per_twin = []
    for res in results:
        before = np.mean([abs(math.log(p / t)) for p, _q, t in res.values()])
        after = np.mean([abs(math.log(q / t)) for _p, q, t in res.values()])
        per_twin.append(after < before)
    print(f"twins whose re-planned prediction is closer to truth (mean |log error| over measured "
          f"regions): {100 * np.mean(per_twin):.0f} %")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)

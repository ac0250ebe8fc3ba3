"""True Lu-177 therapy kinetics of a twin and its activity map at any time.

Model (per region r: every anatomical structure and every lesion ``lesion_<id>``)

* Diagnostic fraction of injected activity: ``F_r = SUV_r * V_r / (W * 1000)`` (SUVbw, V in mL,
  W in kg, 1 g/mL).
* Therapeutic initial fraction: ``f_r = ratio_class * F_r * exp(sigma * z - sigma^2 / 2)``,
  ``z ~ N(0, 1)``: correlated with the diagnostic uptake (same target), with log-normal scatter
  (sigma 0.2 for organs, 0.4 for lesions). If the fractions sum above 1 they are scaled down.
* Time-activity curve with *effective* rates (biology + Lu-177 decay), t in h:

  - with an uptake phase: ``A(t) = A0 f (exp(-l_e t) - exp(-(l_e + l_u) t))``;
  - with a fast blood component: ``A(t) = A0 f (p exp(-l_f t) + (1 - p) exp(-l_e t))``;
  - otherwise ``A(t) = A0 f exp(-l_e t)``;

  ``l = ln 2 / T`` with the half-lives drawn log-normally within the ranges of
  ``data/therapy_agents.yaml`` (SIMULATION.md 6.6).
* Exact time-integrated activity: ``TIA = A0 * sum_i a_i / l_i`` (MBq h).
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.physics.radionuclides import radionuclide
from theranostix.twin.anatomy import tissue_class
from theranostix.twin.truth import Anatomy, Disease, RegionKinetics, TherapyTruth

LN2 = float(np.log(2.0))


@lru_cache(maxsize=1)
def load_therapy_agents() -> dict[str, dict]:
    """Therapy agent kinetics of ``data/therapy_agents.yaml``."""
    text = resources.files("theranostix.twin").joinpath("data/therapy_agents.yaml").read_text()
    return yaml.safe_load(text)


def get_agent(agent: str) -> dict:
    """One agent's parameters; raises InvalidInputError for an unknown agent."""
    agents = load_therapy_agents()
    key = str(agent).strip().lower()
    if key not in agents:
        raise InvalidInputError(f"unknown therapy agent {agent!r}", where="therapy agent",
                                fix=f"use one of {sorted(agents)}")
    return agents[key]


def _draw_half_life(rng, lo_hi, cap_h: float) -> float:
    lo, hi = (float(v) for v in lo_hi)
    med = np.sqrt(lo * hi)
    sd = np.log(hi / lo) / 4.0
    t = float(med * np.exp(sd * np.clip(rng.standard_normal(), -2.5, 2.5)))
    return min(t, cap_h)


def _rng(seed: int, *tags: str) -> np.random.Generator:
    return np.random.default_rng([int(seed)] + [zlib.crc32(t.encode()) for t in tags])


def region_volumes_ml(anatomy: Anatomy, disease: Disease | None) -> dict[str, float]:
    """Volume (mL) of every structure outside lesions and of every lesion ``lesion_<id>``."""
    vv = anatomy.labels.voxel_volume_ml
    lab = anatomy.labels.array
    n = max(anatomy.names) + 1
    if disease is not None and disease.fraction is not None:
        w = 1.0 - disease.fraction.array.astype(np.float64)
        vol = np.bincount(lab.ravel(), weights=w.ravel(), minlength=n) * vv
    else:
        vol = np.bincount(lab.ravel(), minlength=n) * vv
    out = {name: float(vol[v]) for v, name in anatomy.names.items()}
    if disease is not None:
        for les in disease.lesions:
            out[f"lesion_{les.lesion_id}"] = float(les.volume_ml)
    return out


def therapy_kinetics(anatomy: Anatomy, disease: Disease | None, diag_organ_suv: dict[str, float],
                     agent: str = "lu177-psma617", seed: int = 0,
                     administered_mbq: float = 7400.0) -> TherapyTruth:
    """True per-region kinetics of a Lu-177 therapy.

    Parameters
    ----------
    anatomy, disease
        The twin.
    diag_organ_suv
        True SUVmean per structure of the diagnostic scan (second output of ``tracer_suv_map``);
        lesions ``"lesion_<id>"`` default to ``TrueLesion.suv`` when absent.
    agent
        ``"lu177-psma617"`` or ``"lu177-dotatate"`` (``data/therapy_agents.yaml``).
    seed
        Seed of the scatter and half-life draws.
    administered_mbq
        Administered activity (MBq).

    Raises
    ------
    InvalidInputError
        Unknown agent, non-positive activity, or a structure missing from ``diag_organ_suv``.
    """
    par = get_agent(agent)
    if not (np.isfinite(administered_mbq) and administered_mbq > 0):
        raise InvalidInputError(f"administered_mbq must be > 0, got {administered_mbq}",
                                where="therapy_kinetics(administered_mbq)")
    missing = [n for n in anatomy.names.values() if n not in diag_organ_suv]
    if missing:
        raise InvalidInputError(f"diagnostic SUV missing for {missing[:5]}",
                                where="therapy_kinetics(diag_organ_suv)",
                                fix="pass the dict returned by tracer_suv_map")
    key = str(agent).strip().lower()
    t_phys_h = radionuclide(par["radionuclide"]).half_life_h
    cap = 0.98 * t_phys_h
    classes = par["classes"]
    sig = par["scatter_log_sd"]
    rng = _rng(seed, "therapy", key)
    vols = region_volumes_ml(anatomy, disease)
    weight_g = anatomy.weight_kg * 1000.0

    specs: list[tuple[str, dict, float]] = []  # (region, class params, initial fraction)
    for name in sorted(anatomy.names.values()):
        suv = float(diag_organ_suv[name])
        cls = classes.get(tissue_class(name), classes["default"])
        specs.append((name, cls, suv * vols[name] / weight_g * float(cls["ratio"])))
    if disease is not None:
        for les in disease.lesions:
            suv = float(diag_organ_suv.get(f"lesion_{les.lesion_id}", les.suv))
            region = f"lesion_{les.lesion_id}"
            specs.append((region, classes["lesion"],
                          suv * vols[region] / weight_g * float(classes["lesion"]["ratio"])))

    regions: dict[str, RegionKinetics] = {}
    fractions = {}
    draws = {}
    for region, cls, f0 in specs:
        s = float(sig["lesion"] if region.startswith("lesion_") else sig["organ"])
        fractions[region] = f0 * float(np.exp(s * rng.standard_normal() - s * s / 2))
        t_eff = _draw_half_life(rng, cls["t_eff_h"], cap)
        t_up = _draw_half_life(rng, cls["t_uptake_h"], 1e9) if "t_uptake_h" in cls else None
        fast = None
        if "fast" in cls:
            fast = (float(cls["fast"]["fraction"]), _draw_half_life(rng, cls["fast"]["t_eff_h"], cap))
        draws[region] = (t_eff, t_up, fast)
    total = sum(fractions.values())
    scale = 1.0 / total if total > 1.0 else 1.0
    for region, _, _ in specs:
        f = fractions[region] * scale
        if f <= 0:
            continue
        t_eff, t_up, fast = draws[region]
        le = LN2 / t_eff
        if t_up is not None:
            a, lam = [f, -f], [le, le + LN2 / t_up]
        elif fast is not None:
            p, t_fast = fast
            a, lam = [f * p, f * (1 - p)], [LN2 / t_fast, le]
        else:
            a, lam = [f], [le]
        tia = administered_mbq * float(sum(ai / li for ai, li in zip(a, lam)))
        regions[region] = RegionKinetics(region=region, volume_ml=vols[region], fractions=a,
                                         rates_per_h=lam, tia_mbq_h=tia, effective_half_life_h=t_eff,
                                         uptake_half_life_h=t_up)
    sources = {f"class:{k}": str(v.get("source", "")) for k, v in classes.items()}
    if scale != 1.0:
        sources["normalisation"] = f"initial fractions summed to {total:.3f} > 1: scaled by {scale:.3f}"
    return TherapyTruth(agent=key, radionuclide="Lu-177", administered_mbq=float(administered_mbq),
                        regions=regions, seed=int(seed), sources=sources)


def therapy_activity_map(anatomy: Anatomy, disease: Disease | None, truth: TherapyTruth,
                         time_h: float) -> Image:
    """True activity concentration (Bq/mL) ``time_h`` hours after injection.

    Each structure is uniform over its lesion-free volume; each lesion is uniform and shares voxels
    with its host by its fractional occupancy, so the map integrates to the regions' activities.
    """
    if not (np.isfinite(time_h) and time_h >= 0):
        raise InvalidInputError(f"time_h must be >= 0, got {time_h}",
                                where="therapy_activity_map(time_h)")
    a0 = truth.administered_mbq

    def conc_bqml(region: str) -> float:
        rk = truth.regions.get(region)
        if rk is None or rk.volume_ml <= 0:
            return 0.0
        return float(rk.activity_mbq(time_h, a0)) * 1e6 / rk.volume_ml

    lut = np.zeros(max(anatomy.names) + 1, dtype=np.float64)
    for v, n in anatomy.names.items():
        lut[v] = conc_bqml(n)
    out = lut[anatomy.labels.array]
    if disease is not None and disease.fraction is not None:
        out *= 1.0 - disease.fraction.array
        for les in disease.lesions:
            sl, patch = disease.patches[les.lesion_id]
            out[sl] += patch * conc_bqml(f"lesion_{les.lesion_id}")
    return anatomy.labels.with_array(out.astype(np.float32), units="Bq/mL",
                                     twin="therapy_activity_truth", agent=truth.agent,
                                     radionuclide="Lu-177", time_h=float(time_h))

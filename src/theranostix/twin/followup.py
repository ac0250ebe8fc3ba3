"""The same patient after N therapy cycles: lesions shrink or grow by a response model.

Response model (per patient class, per lesion draw), per cycle:

=====  ===========================  =====================  ==========================
class  volume factor per cycle      SUV factor per cycle   new lesions
=====  ===========================  =====================  ==========================
CR     0 (every lesion disappears)  -                      none
PR     U(0.45, 0.75)                U(0.75, 0.90)          none
SD     U(0.92, 1.08)                U(0.90, 1.10)          none
PD     U(1.25, 1.60)                U(1.00, 1.15)          Poisson(cycles), at least 1
=====  ===========================  =====================  ==========================

After N cycles a lesion's volume is ``V0 * g^N`` (``g`` drawn once per lesion); a lesion whose
diameter falls below ``DISAPPEAR_DIAMETER_MM`` has disappeared. ``response="auto"`` draws the
class with ``AUTO_CLASS_PROBABILITIES`` (an assumption of the order of the PSA-response rates of
the VISION and TheraP trials; not a fit). The model is a test oracle, not a tumour-growth model.
"""

from __future__ import annotations

import zlib

import numpy as np

from theranostix.core.errors import InvalidInputError
from theranostix.twin.disease import _occupied_from, assemble_disease, new_lesion_spec
from theranostix.twin.truth import Anatomy, Disease

RESPONSE_CLASSES = ("CR", "PR", "SD", "PD")
#: Probability of each class when ``response="auto"`` (ASSUMED).
AUTO_CLASS_PROBABILITIES = {"CR": 0.05, "PR": 0.45, "SD": 0.25, "PD": 0.25}
VOLUME_FACTOR_PER_CYCLE = {"PR": (0.45, 0.75), "SD": (0.92, 1.08), "PD": (1.25, 1.60)}
SUV_FACTOR_PER_CYCLE = {"PR": (0.75, 0.90), "SD": (0.90, 1.10), "PD": (1.00, 1.15)}
#: A lesion smaller than this (mm) is considered gone.
DISAPPEAR_DIAMETER_MM = 2.0
#: Growing lesions are capped at this diameter (mm).
MAX_DIAMETER_MM = 60.0
MAX_CYCLES = 12


def _response_rng(seed: int, cycles: int, resp: str) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(cycles), zlib.crc32(b"followup"), zlib.crc32(resp.encode())])


def _draw_class(rng: np.random.Generator) -> str:
    keys = list(AUTO_CLASS_PROBABILITIES)
    return str(rng.choice(keys, p=[AUTO_CLASS_PROBABILITIES[k] for k in keys]))


def auto_response_class(seed: int, cycles: int) -> str:
    """The response class ``followup_disease(..., seed, response="auto")`` draws for ``cycles``.

    Lets a caller (a benchmark choosing pairs by class, ``make_twin --followup``) know the class of
    a seed without building the patient.

    Parameters
    ----------
    seed
        Seed of the response draws (the twin seed).
    cycles
        Number of therapy cycles since baseline (1-12; with 0 no change is simulated).

    Returns
    -------
    str
        One of ``CR``, ``PR``, ``SD``, ``PD``.
    """
    return _draw_class(_response_rng(seed, cycles, "AUTO"))


def followup_disease(anatomy: Anatomy, disease: Disease, cycles: int, seed: int = 0,
                     response: str = "auto") -> tuple[Disease, dict]:
    """Disease of the same patient after ``cycles`` cycles and the true response.

    Parameters
    ----------
    anatomy, disease
        Baseline twin.
    cycles
        Number of therapy cycles since baseline (0-12).
    seed
        Seed of the response draws.
    response
        ``"auto"`` or one of ``CR``, ``PR``, ``SD``, ``PD``.

    Returns
    -------
    (Disease, dict)
        Follow-up disease (same lesion ids for persisting lesions, new ids for new lesions) and the
        truth: response class, per-lesion volume/SUV before and after, new lesions and the change of
        the total tumour volume (%).

    Raises
    ------
    InvalidInputError
        Bad cycles or unknown response class.
    """
    if isinstance(cycles, bool) or not isinstance(cycles, (int, np.integer)) or not (
            0 <= cycles <= MAX_CYCLES):
        raise InvalidInputError(f"cycles must be an integer 0-{MAX_CYCLES}, got {cycles!r}",
                                where="followup_disease(cycles)")
    resp = str(response).strip().upper()
    if resp != "AUTO" and resp not in RESPONSE_CLASSES:
        raise InvalidInputError(f"unknown response class {response!r}",
                                where="followup_disease(response)",
                                fix=f"use 'auto' or one of {list(RESPONSE_CLASSES)}")
    rng = _response_rng(seed, cycles, resp)
    if resp == "AUTO":
        resp = _draw_class(rng)
    tracer = disease.tracer or "psma-ga68"

    specs, per_lesion = [], []
    for les in disease.lesions:
        if cycles == 0:
            g, h = 1.0, 1.0
        elif resp == "CR":
            g, h = 0.0, 0.0
        else:
            g = float(rng.uniform(*VOLUME_FACTOR_PER_CYCLE[resp])) ** cycles
            h = float(rng.uniform(*SUV_FACTOR_PER_CYCLE[resp])) ** cycles
        d_new = les.diameter_mm * g ** (1.0 / 3.0)
        d_new = min(d_new, MAX_DIAMETER_MM)
        gone = d_new < DISAPPEAR_DIAMETER_MM
        specs.append({"lesion_id": les.lesion_id, "kind": les.kind, "station": les.station,
                      "host": les.host, "centre_mm": les.centre_mm,
                      "diameter_mm": 0.0 if gone else d_new, "suv": les.suv * h, "new": les.new})
    _resolve_overlaps(specs)

    n_new = 0
    if resp == "PD" and cycles > 0:
        n_new = max(1, int(rng.poisson(cycles)))
    occupied = _occupied_from(anatomy, [s for s in specs if s["diameter_mm"] > 0])
    kinds_present = {les.kind for les in disease.lesions}
    new_specs = []
    next_id = 1 + max([les.lesion_id for les in disease.lesions] + [0])
    for _ in range(n_new):
        kind = "bone" if ("bone" in kinds_present and rng.random() < 0.5) else "node"
        spec = new_lesion_spec(anatomy, kind, rng, tracer, occupied)
        spec.update({"lesion_id": next_id, "new": True})
        next_id += 1
        new_specs.append(spec)

    fu = assemble_disease(anatomy, specs + new_specs, pattern=f"followup:{resp}", seed=seed,
                          tracer=tracer)
    after = {les.lesion_id: les for les in fu.lesions}
    for les, spec in zip(disease.lesions, specs):
        a = after.get(les.lesion_id)
        v_after = a.volume_ml if a is not None else 0.0
        per_lesion.append({
            "lesion_id": les.lesion_id, "kind": les.kind, "station": les.station,
            "status": "present" if a is not None else "disappeared",
            "diameter_before_mm": les.diameter_mm, "diameter_after_mm": spec["diameter_mm"],
            "volume_before_ml": les.volume_ml, "volume_after_ml": v_after,
            "volume_change_pct": 100.0 * (v_after / les.volume_ml - 1.0) if les.volume_ml else 0.0,
            "suv_before": les.suv, "suv_after": a.suv if a is not None else 0.0})
    new_info = [{"lesion_id": les.lesion_id, "kind": les.kind, "station": les.station,
                 "diameter_mm": les.diameter_mm, "volume_ml": les.volume_ml, "suv": les.suv}
                for les in fu.lesions if les.new and les.lesion_id >= next_id - n_new]
    v0, v1 = disease.total_volume_ml, fu.total_volume_ml
    info = {
        "response_class": resp, "cycles": int(cycles), "seed": int(seed),
        "lesions": per_lesion, "new_lesions": new_info,
        "total_volume_before_ml": v0, "total_volume_after_ml": v1,
        "total_volume_change_pct": 100.0 * (v1 / v0 - 1.0) if v0 > 0 else 0.0,
        "total_suv_volume_before": float(sum(l.suv * l.volume_ml for l in disease.lesions)),
        "total_suv_volume_after": float(sum(l.suv * l.volume_ml for l in fu.lesions)),
        "max_suv_before": max([l.suv for l in disease.lesions], default=0.0),
        "max_suv_after": max([l.suv for l in fu.lesions], default=0.0),
        "model": {"volume_factor_per_cycle": VOLUME_FACTOR_PER_CYCLE,
                  "suv_factor_per_cycle": SUV_FACTOR_PER_CYCLE,
                  "disappear_diameter_mm": DISAPPEAR_DIAMETER_MM,
                  "max_diameter_mm": MAX_DIAMETER_MM},
    }
    return fu, info


def _resolve_overlaps(specs: list[dict], gap_mm: float = 1.0) -> None:
    """Shrink growing neighbours proportionally so that no two spheres overlap."""
    for _ in range(5):
        changed = False
        for i, a in enumerate(specs):
            for b in specs[i + 1:]:
                if a["diameter_mm"] <= 0 or b["diameter_mm"] <= 0:
                    continue
                dist = float(np.linalg.norm(np.subtract(a["centre_mm"], b["centre_mm"])))
                ra, rb = a["diameter_mm"] / 2, b["diameter_mm"] / 2
                if ra + rb > dist - gap_mm:
                    k = max(dist - gap_mm, 0.0) / (ra + rb)
                    a["diameter_mm"] *= k
                    b["diameter_mm"] *= k
                    changed = True
        if not changed:
            return

"""Diagnostic tracer profiles and the true SUV map of a twin.

Profiles live in ``data/tracers.yaml`` (one row per organ / lesion kind, each with its source):
adding a tracer is adding a profile there, not code. Each row gives the population mean and the
between-patient SD of the *true* SUVmean (SUVbw). A patient's organ value is drawn from a
log-normal distribution with that mean and SD (positive, right-skewed as observed uptake is).
"""

from __future__ import annotations

import zlib
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from theranostix.core.errors import InvalidInputError
from theranostix.core.image import Image
from theranostix.physics.radionuclides import normalize_nuclide
from theranostix.twin.anatomy import TISSUE_HU, tissue_class
from theranostix.twin.truth import Anatomy, Disease, TracerProfile

LESION_KINDS = ("prostate", "node", "bone", "liver", "lung")

#: A draw is kept within this many log-normal SDs of the median (no absurd outliers).
MAX_LOG_SD = 2.5


def _parse_profile(key: str, raw: dict) -> TracerProfile:
    where = f"twin/data/tracers.yaml:{key}"
    try:
        organs = {k: (float(v["mean"]), float(v["sd"])) for k, v in raw["organs"].items()}
        lesions = {k: (float(v["mean"]), float(v["sd"])) for k, v in raw["lesions"].items()}
        sources = {f"organ:{k}": str(v["source"]) for k, v in raw["organs"].items()}
        sources.update({f"lesion:{k}": str(v["source"]) for k, v in raw["lesions"].items()})
        sources["uptake_time"] = str(raw["uptake_time_min"]["source"])
        prof = TracerProfile(
            key=key, name=str(raw["name"]), radionuclide=normalize_nuclide(str(raw["radionuclide"])),
            uptake_time_min=float(raw["uptake_time_min"]["value"]), target=str(raw.get("target", "")),
            organs=organs, lesion_suv=lesions, sources=sources, notes=str(raw.get("notes", "")))
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"malformed tracer profile: {exc}", where=where,
                                fix="every organ/lesion row needs mean, sd and source") from exc
    missing = [c for c in TISSUE_HU if c not in prof.organs]
    missing += [f"lesion:{k}" for k in LESION_KINDS if k not in prof.lesion_suv]
    if missing:
        raise InvalidInputError(f"profile lacks rows {missing}", where=where)
    bad = [k for k, (m, sd) in {**prof.organs, **prof.lesion_suv}.items() if m < 0 or sd < 0]
    if bad:
        raise InvalidInputError(f"negative mean/sd in rows {bad}", where=where)
    return prof


@lru_cache(maxsize=1)
def _profiles() -> dict[str, TracerProfile]:
    text = resources.files("theranostix.twin").joinpath("data/tracers.yaml").read_text()
    raw = yaml.safe_load(text)
    return {k: _parse_profile(k, v) for k, v in raw.items()}


def load_tracer_profiles() -> dict[str, TracerProfile]:
    """All tracer profiles keyed by tracer key (``"psma-ga68"``, ``"fdg"`` ...). Copies."""
    return {k: v.model_copy(deep=True) for k, v in _profiles().items()}


def get_profile(tracer: str) -> TracerProfile:
    """The profile of one tracer.

    Raises
    ------
    InvalidInputError
        Unknown tracer key.
    """
    profiles = _profiles()
    key = str(tracer).strip().lower()
    if key not in profiles:
        raise InvalidInputError(f"unknown tracer {tracer!r}", where="tracer",
                                fix=f"use one of {sorted(profiles)}")
    return profiles[key].model_copy(deep=True)


def lognormal_draw(rng: np.random.Generator, mean: float, sd: float) -> float:
    """One draw from the log-normal distribution with arithmetic ``mean`` and ``sd``.

    sigma^2 = ln(1 + (sd/mean)^2), mu = ln(mean) - sigma^2/2; the standard-normal deviate is
    clipped to +-``MAX_LOG_SD``.
    """
    if mean <= 0:
        return 0.0
    if sd <= 0:
        return float(mean)
    s2 = np.log1p((sd / mean) ** 2)
    z = float(np.clip(rng.standard_normal(), -MAX_LOG_SD, MAX_LOG_SD))
    return float(np.exp(np.log(mean) - s2 / 2 + np.sqrt(s2) * z))


def _rng(seed: int, *tags: str) -> np.random.Generator:
    return np.random.default_rng([int(seed)] + [zlib.crc32(t.encode()) for t in tags])


def draw_lesion_suv(tracer: str, kind: str, rng: np.random.Generator) -> float:
    """True lesion SUV of one lesion of ``kind`` for ``tracer`` (log-normal population draw)."""
    prof = get_profile(tracer)
    if kind not in prof.lesion_suv:
        raise InvalidInputError(f"unknown lesion kind {kind!r}", where="lesion kind",
                                fix=f"use one of {sorted(prof.lesion_suv)}")
    m, sd = prof.lesion_suv[kind]
    return lognormal_draw(rng, m, sd)


def organ_suv(anatomy: Anatomy, tracer: str, seed: int = 0) -> dict[str, float]:
    """Per-structure true SUVmean of this patient (left and right share their class's value)."""
    prof = get_profile(tracer)
    rng = _rng(seed, "organs", prof.key)
    by_class: dict[str, float] = {}
    for cls in sorted(prof.organs):  # sorted: draws do not depend on dict order
        by_class[cls] = lognormal_draw(rng, *prof.organs[cls])
    out: dict[str, float] = {}
    for name in anatomy.names.values():
        cls = tissue_class(name)
        if cls not in by_class:
            raise InvalidInputError(f"tracer {prof.key} has no uptake for tissue {cls!r}",
                                    where="twin/data/tracers.yaml", fix=f"add an organs:{cls} row")
        out[name] = by_class[cls]
    return out


def lesion_suv_for_tracer(disease: Disease, tracer: str) -> dict[int, float]:
    """True SUV of every lesion for ``tracer``.

    Lesion uptake is drawn when the disease is built (``TrueLesion.suv``, for ``disease.tracer``).
    For another tracer it is rescaled by the ratio of the two profiles' population means for the
    lesion kind, so a patient's lesions keep their relative avidity.
    """
    prof = get_profile(tracer)
    src = getattr(disease, "tracer", None) or prof.key
    src_prof = get_profile(src)
    out = {}
    for les in disease.lesions:
        ratio = prof.lesion_suv[les.kind][0] / max(src_prof.lesion_suv[les.kind][0], 1e-9)
        out[les.lesion_id] = float(les.suv * (1.0 if src == prof.key else ratio))
    return out


def tracer_suv_map(anatomy: Anatomy, disease: Disease | None, tracer: str,
                   seed: int = 0) -> tuple[Image, dict[str, float]]:
    """True SUVbw map of the diagnostic scan.

    Every structure is uniform at its drawn SUVmean; lesions replace their host tissue by their
    fractional occupancy ``f`` (sub-voxel partial volume): ``SUV = (1 - f) * SUV_host + f * SUV_lesion``.

    Parameters
    ----------
    anatomy, disease
        The twin (``disease`` may be None for a healthy twin).
    tracer
        Key of a profile in ``data/tracers.yaml``.
    seed
        Seed of the between-patient draw of organ uptake.

    Returns
    -------
    (Image, dict)
        float32 map in units ``"SUVbw"`` on the anatomy grid; structure name (and ``"lesion_<id>"``)
        -> true SUVmean used.
    """
    prof = get_profile(tracer)
    used = organ_suv(anatomy, prof.key, seed=seed)
    lut = np.zeros(max(anatomy.names) + 1, dtype=np.float32)
    for v, n in anatomy.names.items():
        lut[v] = used[n]
    suv = lut[anatomy.labels.array]
    if disease is not None and disease.lesions:
        les_suv = lesion_suv_for_tracer(disease, prof.key)
        for les in disease.lesions:
            sl, patch = disease.patches[les.lesion_id]
            sub = suv[sl]
            sub[...] = (1.0 - patch) * sub + patch * np.float32(les_suv[les.lesion_id])
            used[f"lesion_{les.lesion_id}"] = les_suv[les.lesion_id]
    img = anatomy.labels.with_array(suv.astype(np.float32), units="SUVbw", twin="suv_truth",
                                    tracer=prof.key, radionuclide=prof.radionuclide,
                                    uptake_time_min=prof.uptake_time_min)
    return img, used

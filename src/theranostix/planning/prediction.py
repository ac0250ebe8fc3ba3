"""Predicted therapy absorbed doses per GBq from a diagnostic PET (the theranostic swap).

Method (per region r; docs/planning.md has the derivation and the sources)
--------------------------------------------------------------------------
1. Therapy fraction at t = 0 of the uptake/washout curve: ``f_r = R_r x %IA_r(diag) / 100`` with
   the population ratio ``R_r`` (log-normal, median calibrated against the clinical reference dose
   of ``data/population_kinetics.yaml`` or a stated default, log-sd from the same file).
2. Therapy kinetics: ``A_r(t)/A_admin = f_r sum_i w_i (exp(-l_i t) - exp(-l_u t))`` (the uptake
   term only when the region has an uptake phase). Effective half-lives are log-normal with the
   population 5-95 % range of the data file. For another nuclide on the same ligand (Ac-225 on
   PSMA-617) the biological rate is kept and the physical decay swapped:
   ``l_eff(new) = l_eff(old) - l_phys(old) + l_phys(new)``.
3. Time-integrated activity per GBq: ``TIA_r = 1000 MBq x f_r x sum_i w_i (1/l_i - 1/l_u)`` (MBq h).
4. Absorbed dose per GBq ``D_r = TIA_r x S_r`` with
   - organs with a reference S (FACTS.md, OLINDA ICRP-89, Lu-177): the self S value mass-scaled to
     the patient's organ mass by :func:`theranostix.dosimetry.s_values.scale_self_s_value`;
   - lacrimal glands (no phantom organ) and lesions: uniform-sphere self S
     (:func:`theranostix.dosimetry.sphere.sphere_s_value`), lacrimal as two equal glands;
   - Ac-225: local deposition of the chain's alpha and electron energy
     (:func:`theranostix.dosimetry.alpha.alpha_local_dose`, progeny in place), RBE-weighted with
     RBE 5 (reported as Gy RBE-weighted = Sv_RBE5).
   Self-dose only: cross-irradiation between organs is not included.
5. Uncertainty: Monte Carlo over the ratio and half-lives (independent log-normals; ``seed``);
   median and the 5-95 % interval are reported, with the log-sd of the dose samples (used as the
   prior width by :mod:`theranostix.planning.replanning`).
Plausibility: predicted medians outside the clinical ranges of FACTS.md become provenance warnings.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.physics import DECAY_DATA, radionuclide
from theranostix.planning.uptake import DiagnosticUptake, RegionUptake

LN2 = math.log(2.0)
#: z of the 95th percentile of a standard normal: ranges {low, high} are read as 5-95 % intervals.
Z95 = 1.6448536269514722
#: Organs at risk reported by the prediction (order of the tables).
ORGANS_AT_RISK = ("kidneys", "salivary_glands", "lacrimal_glands", "red_marrow", "liver", "spleen")
#: Default number of Monte-Carlo samples.
DEFAULT_SAMPLES = 4000
#: Mass of one lacrimal gland for the calibration reference (g): ~0.78 g per gland (Standring (ed.),
#: Gray's Anatomy 41st ed. 2016; as the twin's anatomy_reference.yaml). Version 1 assumed 0.7 g.
REFERENCE_LACRIMAL_GLAND_MASS_G = 0.78


# ---------------------------------------------------------------------------- data files
@lru_cache(maxsize=1)
def population_data() -> dict[str, Any]:
    """The shipped population kinetics (``planning/data/population_kinetics.yaml``)."""
    text = (resources.files("theranostix.planning") / "data" / "population_kinetics.yaml").read_text()
    return yaml.safe_load(text)


@lru_cache(maxsize=1)
def reference_s_values() -> dict[str, Any]:
    """The shipped Lu-177 organ self S values (``planning/data/reference_s_values.yaml``)."""
    text = (resources.files("theranostix.planning") / "data" / "reference_s_values.yaml").read_text()
    return yaml.safe_load(text)


def available_therapies() -> list[str]:
    """Keys of the therapies with population kinetics."""
    return sorted(population_data()["therapies"])


def resolve_therapy(therapy: str) -> str:
    """Catalogue key of ``therapy`` (key, name or alias) that has population kinetics."""
    therapies = population_data()["therapies"]
    key = therapy.strip().lower()
    if key in therapies:
        return key
    try:
        from theranostix.catalog import find_agent

        key = find_agent(therapy).key
    except Exception:  # noqa: BLE001 - any lookup failure is reported as unknown therapy
        key = None
    if key not in therapies:
        raise InvalidInputError(f"no population kinetics for therapy {therapy!r}", where="therapy",
                                fix=f"choose one of {', '.join(sorted(therapies))}")
    return key  # type: ignore[return-value]


def therapy_spec(therapy: str) -> dict[str, Any]:
    """Population spec of a therapy, with ``regions`` inherited through ``kinetics_from``."""
    key = resolve_therapy(therapy)
    spec = dict(population_data()["therapies"][key])
    spec["key"] = key
    if "kinetics_from" in spec:
        base = population_data()["therapies"][spec["kinetics_from"]]
        spec["regions"] = base["regions"]
        spec["kinetics_nuclide"] = base["kinetics_nuclide"]
    return spec


# ---------------------------------------------------------------------------- log-normal helpers
def lognormal_from_range(low: float, high: float) -> tuple[float, float]:
    """(median, log-sd) of a log-normal whose 5-95 % interval is [low, high]."""
    if not (0 < low <= high and math.isfinite(high)):
        raise InvalidInputError(f"invalid range [{low}, {high}]", where="population data")
    return math.sqrt(low * high), math.log(high / low) / (2.0 * Z95)


def _sample(rng: np.random.Generator, median: float, log_sd: float, n: int) -> np.ndarray:
    return median * np.exp(log_sd * rng.standard_normal(n))


# ---------------------------------------------------------------------------- kinetics
class RegionKineticsSpec(BaseModel):
    """Population kinetics of one region for one nuclide (medians and log-sds)."""

    weights: list[float]
    half_life_medians_h: list[float]
    half_life_log_sds: list[float]
    uptake_half_life_median_h: float | None
    uptake_half_life_log_sd: float


def _kinetics_spec(row: dict[str, Any]) -> RegionKineticsSpec:
    comps = row["components"]
    meds, sds = zip(*(lognormal_from_range(c["effective_half_life_h"]["low"],
                                           c["effective_half_life_h"]["high"]) for c in comps))
    up = row.get("uptake_half_life_h")
    um, us = lognormal_from_range(up["low"], up["high"]) if up else (None, 0.0)
    return RegionKineticsSpec(weights=[float(c["weight"]) for c in comps],
                              half_life_medians_h=list(meds), half_life_log_sds=list(sds),
                              uptake_half_life_median_h=um, uptake_half_life_log_sd=us)


def _swap_rate(rate_per_h: np.ndarray, from_nuclide: str, to_nuclide: str,
               prov: Provenance | None) -> np.ndarray:
    """Effective rate for another nuclide on the same ligand (biological rate kept)."""
    if from_nuclide == to_nuclide:
        return rate_per_h
    lp_from = radionuclide(from_nuclide).decay_constant_per_h
    lp_to = radionuclide(to_nuclide).decay_constant_per_h
    bio = rate_per_h - lp_from
    if np.any(bio < 0) and prov is not None:
        prov.warn(f"effective half-life longer than the physical half-life of {from_nuclide}: "
                  "biological clearance set to 0 for the swap")
    return np.maximum(bio, 0.0) + lp_to


def residence_time_h(weights: np.ndarray, rates_per_h: np.ndarray,
                     uptake_rate_per_h: np.ndarray | None) -> np.ndarray:
    """``sum_i w_i (1/l_i - 1/l_u)`` (h): TIA per unit fraction at t = 0 of the washout curve.

    ``weights``: shape (k,); ``rates_per_h``: shape (k, n) or (k,); ``uptake_rate_per_h``: (n,) or None.
    """
    w = np.asarray(weights, float).reshape(-1, *([1] * (np.ndim(rates_per_h) - 1)))
    lam = np.asarray(rates_per_h, float)
    tau = np.sum(w / lam, axis=0)
    if uptake_rate_per_h is not None:
        lu = np.asarray(uptake_rate_per_h, float)
        if np.any(lu <= lam):
            raise InvalidInputError("uptake rate must exceed every washout rate",
                                    where="population kinetics")
        tau = tau - np.sum(w, axis=0) / lu
    return tau


# ---------------------------------------------------------------------------- dose per TIA
def _organ_s_row(region: str, sex: str) -> dict[str, float] | None:
    organs = reference_s_values()["organs"]
    if region not in organs:
        return None
    return organs[region][sex]


def dose_per_tia(region: str, kind: str, mass_g: float, nuclide: str, sex: str,
                 prov: Provenance, rbe_alpha: float | None = None) -> tuple[float, str]:
    """Absorbed (or RBE-weighted) dose per unit TIA in the region, Gy/(MBq h), and the method."""
    if nuclide == "Ac-225" or rbe_alpha is not None:
        from theranostix.dosimetry.alpha import alpha_local_dose

        res = alpha_local_dose(1.0, mass_g, parent=nuclide, rbe_alpha=rbe_alpha or 5.0)
        for w in res.provenance.warnings:
            prov.warn(f"alpha local deposition: {w}")
        return res.rbe_weighted_dose_gy, "alpha chain local deposition, RBE-weighted"
    row = _organ_s_row(region, sex) if kind != "lesion" else None
    if row is not None:
        if nuclide != reference_s_values()["nuclide"]:
            raise InvalidInputError(f"no reference organ S values for {nuclide}", where="nuclide")
        from theranostix.dosimetry.s_values import scale_self_s_value

        s = scale_self_s_value(row["s_mgy_per_mbq_s"], row["mass_g"], mass_g, nuclide, prov)
        return s * 3.6, f"organ self S (FACTS/OLINDA, {row['mass_g']} g) mass-scaled to {mass_g:.4g} g"
    from theranostix.dosimetry.sphere import sphere_s_value

    if region == "lacrimal_glands":
        s = sphere_s_value(nuclide, mass_g / 2.0).s_mgy_per_mbq_s
        return s * 3.6 / 2.0, "sphere self S, two equal glands"
    s = sphere_s_value(nuclide, mass_g).s_mgy_per_mbq_s
    return s * 3.6, "uniform sphere self S (ICRP-107 point kernels)"


def _reference_mass_g(region: str, sex: str) -> float | None:
    row = _organ_s_row(region, sex)
    if row is not None:
        return float(row["mass_g"])
    if region == "lacrimal_glands":
        return 2 * REFERENCE_LACRIMAL_GLAND_MASS_G
    return None


def calibrated_ratio(therapy: str, region: str, sex: str = "male") -> tuple[float, str]:
    """Median therapy/diagnostic uptake ratio of a region and how it was obtained.

    With a clinical reference dose ``D_ref`` (Gy/GBq) and a typical diagnostic uptake ``p`` (%IA)
    for a reference-mass organ: ``R = D_ref / (S_ref x 1000 x tau_median) / (p / 100)``, so the
    reference patient at median kinetics gets ``D_ref`` exactly. Otherwise the file's default.
    The calibration always uses the therapy the kinetics are written for (``kinetics_from``).
    """
    spec = therapy_spec(therapy)
    base_key = spec.get("kinetics_from", spec["key"])
    base = therapy_spec(base_key)
    row = base["regions"][region]
    if "reference_dose_gy_per_gbq" in row and "typical_diagnostic_percent_ia" in row:
        k = _kinetics_spec(row)
        rates = np.array([LN2 / t for t in k.half_life_medians_h])
        up = LN2 / k.uptake_half_life_median_h if k.uptake_half_life_median_h else None
        tau = float(residence_time_h(np.array(k.weights), rates, None if up is None else np.array(up)))
        mass = _reference_mass_g(region, sex)
        dpt, _ = dose_per_tia(region, "organ", mass, base["nuclide"], sex, Provenance())  # type: ignore[arg-type]
        f = row["reference_dose_gy_per_gbq"]["value"] / (dpt * 1000.0 * tau)
        ratio = f / (row["typical_diagnostic_percent_ia"]["value"] / 100.0)
        how = (f"calibrated to {row['reference_dose_gy_per_gbq']['value']} Gy/GBq "
               f"({row['reference_dose_gy_per_gbq']['source']}) at a typical diagnostic uptake of "
               f"{row['typical_diagnostic_percent_ia']['value']} %IA")
        return float(ratio), how
    if "default_ratio" in row:
        return float(row["default_ratio"]["value"]), row["default_ratio"]["source"]
    if "default_ratio_from" in row:
        src = row["default_ratio_from"]
        ratio, how = calibrated_ratio(base_key, src["region"], sex)
        return ratio, f"{src['source']}; {src['region']}: {how}"
    raise InvalidInputError(f"no ratio for region {region!r}", where="population data")


# ---------------------------------------------------------------------------- results
class Interval(BaseModel):
    """Median and 5-95 % interval of a Monte-Carlo quantity."""

    median: float
    p05: float
    p95: float


class RegionDosePrediction(BaseModel):
    """Predicted therapy kinetics and dose per GBq of one region."""

    region: str
    kind: str
    organ_at_risk: bool
    mass_g: float
    diagnostic_percent_ia: float
    ratio_median: float
    ratio_log_sd: float
    ratio_source: str
    therapy_percent_ia: Interval
    component_weights: list[float]
    effective_half_lives_h: list[float]
    effective_half_life_log_sds: list[float]
    uptake_half_life_h: float | None
    kinetics_terms: list[tuple[float, float]]
    tia_mbq_h_per_gbq: Interval
    dose_gy_per_gbq: Interval
    dose_log_sd: float
    dose_quantity: Literal["absorbed_dose", "rbe_weighted_dose"]
    dose_per_tia_gy_per_mbq_h: float
    dose_method: str


class DosePrediction(BaseModel):
    """Predicted therapy doses per GBq for organs at risk and lesions."""

    therapy: str
    therapy_name: str
    nuclide: str
    n_samples: int
    seed: int
    standard_schedule: dict[str, Any]
    regions: list[RegionDosePrediction]
    provenance: Provenance

    def region(self, name: str) -> RegionDosePrediction:
        """Prediction of region ``name`` (``InvalidInputError`` when absent)."""
        for r in self.regions:
            if r.region == name:
                return r
        raise InvalidInputError(f"no prediction for region {name!r}", where="DosePrediction",
                                fix=f"regions: {[r.region for r in self.regions]}")

    @property
    def organs_at_risk(self) -> list[RegionDosePrediction]:
        """Organ-at-risk predictions."""
        return [r for r in self.regions if r.organ_at_risk]

    @property
    def lesions(self) -> list[RegionDosePrediction]:
        """Lesion predictions."""
        return [r for r in self.regions if r.kind == "lesion"]


def _interval(x: np.ndarray) -> Interval:
    p05, p50, p95 = np.percentile(x, [5, 50, 95])
    return Interval(median=float(p50), p05=float(p05), p95=float(p95))


def _with_salivary(uptake: DiagnosticUptake, prov: Provenance) -> list[RegionUptake]:
    regions = list(uptake.regions)
    names = {r.name for r in regions}
    parts = [r for r in regions if r.name in ("parotid_glands", "submandibular_glands")]
    if "salivary_glands" not in names and parts:
        regions.append(RegionUptake(name="salivary_glands", kind="organ",
                                    percent_ia=sum(p.percent_ia for p in parts),
                                    mass_g=sum(p.mass_g for p in parts)))
        prov.parameters["salivary_glands"] = "sum of " + ", ".join(p.name for p in parts)
    return regions


def predict_therapy_doses(uptake: DiagnosticUptake, therapy: str = "lu177-psma617",
                          n_samples: int = DEFAULT_SAMPLES, seed: int = 0) -> DosePrediction:
    """Predict the therapy's TIA and absorbed dose per GBq from diagnostic uptake.

    Parameters
    ----------
    uptake
        Diagnostic %IA and masses per region (:func:`~theranostix.planning.uptake.compute_diagnostic_uptake`
        or a JSON file).
    therapy
        Therapeutic agent (catalogue key or alias): ``lu177-psma617``, ``lu177-dotatate``,
        ``ac225-psma617``.
    n_samples
        Monte-Carlo samples for the uncertainty (>= 100).
    seed
        Random seed (results are reproducible).

    Returns
    -------
    DosePrediction
        Per region: median and 5-95 % interval of the dose per GBq (Gy/GBq; RBE-weighted Gy for
        alpha emitters), the median kinetics terms and the method. Plausibility warnings against
        FACTS.md clinical ranges are in ``provenance.warnings``.

    Raises
    ------
    InvalidInputError
        Unknown therapy, ``n_samples`` < 100, no region the population data covers.
    """
    if not isinstance(n_samples, int) or n_samples < 100:
        raise InvalidInputError(f"n_samples must be an integer >= 100, got {n_samples!r}",
                                where="n_samples")
    spec = therapy_spec(therapy)
    nuclide = spec["nuclide"]
    kin_nuclide = spec["kinetics_nuclide"]
    rbe = spec.get("rbe_alpha", {}).get("value") if "rbe_alpha" in spec else None
    sex = uptake.sex
    prov = Provenance(
        inputs={"diagnostic_agent": uptake.diagnostic_agent, "uptake_regions": len(uptake.regions)},
        parameters={"therapy": spec["key"], "n_samples": n_samples, "seed": seed,
                    "population_data": "planning/data/population_kinetics.yaml v"
                                       f"{population_data()['version']}",
                    "s_values": reference_s_values()["source"],
                    "model": "ratio x diagnostic %IA; uptake/washout; self-dose only"},
        decay_data=DECAY_DATA,
    )
    if rbe is not None:
        prov.parameters["rbe_alpha"] = rbe
        prov.warn("alpha emitter: progeny assumed to decay in place (no Bi-213 relocation); "
                  "doses are RBE-weighted (RBE 5)")
    if uptake.diagnostic_agent and uptake.diagnostic_agent not in spec.get("diagnostic_agents", []):
        prov.warn(f"diagnostic agent {uptake.diagnostic_agent!r} is not a listed partner of "
                  f"{spec['key']} ({spec.get('diagnostic_agents')}): ratios may not apply")
    prov.warn("self-dose only: cross-irradiation between organs is not included")
    rng = np.random.default_rng(seed)
    out: list[RegionDosePrediction] = []
    for reg in _with_salivary(uptake, prov):
        key = "lesion" if reg.kind == "lesion" else reg.name
        if key not in spec["regions"]:
            if reg.name not in ("parotid_glands", "submandibular_glands"):
                prov.warn(f"no population kinetics for region {reg.name!r} in {spec['key']}: "
                          "not predicted")
            continue
        row = spec["regions"][key]
        k = _kinetics_spec(row)
        ratio_med, ratio_src = calibrated_ratio(spec["key"], key, sex)
        ratio_sd = float(row["ratio_log_sd"]["value"])
        ratio = _sample(rng, ratio_med, ratio_sd, n_samples)
        rates = np.stack([LN2 / _sample(rng, m, s, n_samples)
                          for m, s in zip(k.half_life_medians_h, k.half_life_log_sds)])
        rates = _swap_rate(rates, kin_nuclide, nuclide, prov)
        up = None
        if k.uptake_half_life_median_h is not None:
            up = LN2 / _sample(rng, k.uptake_half_life_median_h, k.uptake_half_life_log_sd, n_samples)
            up = np.maximum(up, rates.max(axis=0) * 1.0001)
        tau = residence_time_h(np.array(k.weights), rates, up)
        frac = ratio * reg.percent_ia / 100.0
        tia = 1000.0 * frac * tau
        dpt, how = dose_per_tia(reg.name, reg.kind, reg.mass_g, nuclide, sex, prov, rbe)
        dose = tia * dpt
        med_rates = _swap_rate(np.array([LN2 / t for t in k.half_life_medians_h]), kin_nuclide,
                               nuclide, None)
        terms = [(w, float(r)) for w, r in zip(k.weights, med_rates)]
        if k.uptake_half_life_median_h is not None:
            terms.append((-float(sum(k.weights)), LN2 / k.uptake_half_life_median_h))
        positive = dose[dose > 0]
        log_sd = float(np.std(np.log(positive))) if positive.size > 1 else 0.0
        out.append(RegionDosePrediction(
            region=reg.name, kind=reg.kind, organ_at_risk=reg.name in ORGANS_AT_RISK,
            mass_g=reg.mass_g, diagnostic_percent_ia=reg.percent_ia, ratio_median=ratio_med,
            ratio_log_sd=ratio_sd, ratio_source=ratio_src, therapy_percent_ia=_interval(frac * 100),
            component_weights=k.weights,
            effective_half_lives_h=[LN2 / r for r in med_rates],
            effective_half_life_log_sds=list(k.half_life_log_sds),
            uptake_half_life_h=k.uptake_half_life_median_h, kinetics_terms=terms,
            tia_mbq_h_per_gbq=_interval(tia), dose_gy_per_gbq=_interval(dose), dose_log_sd=log_sd,
            dose_quantity="rbe_weighted_dose" if rbe is not None else "absorbed_dose",
            dose_per_tia_gy_per_mbq_h=dpt, dose_method=how))
    if not out:
        raise InvalidInputError("none of the uptake regions has population kinetics",
                                where="uptake.regions",
                                fix=f"name regions as {list(spec['regions'])} or lesion kind")
    _plausibility(spec, out, prov)
    order = {n: i for i, n in enumerate(ORGANS_AT_RISK)}
    out.sort(key=lambda r: (r.kind == "lesion", order.get(r.region, 99), r.region))
    return DosePrediction(therapy=spec["key"], therapy_name=spec["name"], nuclide=nuclide,
                          n_samples=n_samples, seed=seed,
                          standard_schedule=dict(spec["standard_schedule"]), regions=out,
                          provenance=prov)


def _plausibility(spec: dict[str, Any], regions: list[RegionDosePrediction], prov: Provenance) -> None:
    bands = spec.get("plausibility_gy_per_gbq", {})
    for r in regions:
        band = bands.get("lesion" if r.kind == "lesion" else r.region)
        if band is None:
            continue
        d = r.dose_gy_per_gbq.median
        if not band["low"] <= d <= band["high"]:
            prov.warn(f"plausibility: predicted {r.region} {d:.4g} Gy/GBq is outside the clinical "
                      f"range [{band['low']}, {band['high']}] Gy/GBq ({band['source']})")

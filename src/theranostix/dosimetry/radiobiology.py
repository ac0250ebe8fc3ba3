"""Radiobiology of radionuclide therapy (linear-quadratic model): BED, EQD2, EUBED, cycles, marrow.

Formulas
--------
BED = D (1 + G D / (alpha/beta)), with the dose-protraction factor G (Lea-Catcheside).
For a dose rate R(t) = sum_i a_i exp(-l_i t) and repair rate mu = ln2 / T_rep:
``G = (2 / D^2) sum_ij a_i a_j / ((l_i + l_j)(l_i + mu))``, ``D = sum_i a_i / l_i``.
It follows from BED = D + (2/(alpha/beta)) int_0^inf R(t) int_0^t R(s) exp(-mu (t-s)) ds dt;
G depends only on the shape of R(t), so the terms of an activity fit can be used directly.
Mono-exponential: ``G = T_rep / (T_rep + T_eff)`` (Dale 1985; Barone et al. 2005).
EQD2 = BED / (1 + 2/(alpha/beta)). Cycles far apart in time add in BED.
EUBED = -ln(mean_v exp(-alpha BED_v)) / alpha (O'Donoghue 1999; Amro et al. 2010).

References
----------
Dale RG. The application of the linear-quadratic dose-effect equation to fractionated and
protracted radiotherapy. Br J Radiol 1985;58:515-528.
Barone R et al. Patient-specific dosimetry in predicting renal toxicity with 90Y-DOTATOC: relevance
of kidney volume and dose rate in finding a dose-effect relationship. J Nucl Med 2005;46:99S-106S.
Wessels BW et al. MIRD Pamphlet No. 20. J Nucl Med 2008;49:1884-1899.
O'Donoghue JA. Implications of nonuniform tumor doses for radioimmunotherapy. J Nucl Med
1999;40:1337-1341. Amro H et al. Methodology to incorporate biologically effective dose and
equivalent uniform dose in patient-specific 3-dimensional dosimetry for non-Hodgkin lymphoma
patients targeted with 131I-tositumomab therapy. J Nucl Med 2010;51:654-659.
Sgouros G. Bone marrow dosimetry for radioimmunotherapy: theoretical considerations. J Nucl Med
1993;34:689-694. Hindorf C et al. EANM Dosimetry Committee guidelines for bone marrow and
whole-body dosimetry. Eur J Nucl Med Mol Imaging 2010;37:1238-1250.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml
from pydantic import BaseModel

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.physics import DECAY_DATA, normalize_nuclide

LN2 = math.log(2.0)


# ---------------------------------------------------------------------------- parameter table
class OrganLimit(BaseModel):
    """A published limit: quantity (BED, EQD2 or absorbed_dose), value in Gy, condition, source."""

    quantity: str
    value_gy: float
    condition: str
    source: str


class OrganRadiobiology(BaseModel):
    """LQ parameters and limits of one organ (``None`` = no citable value; supply your own)."""

    organ: str
    alpha_beta_gy: float | None
    repair_half_time_h: float | None
    alpha_per_gy: float | None
    source: str
    limits: list[OrganLimit]


@lru_cache(maxsize=1)
def radiobiology_table() -> dict[str, OrganRadiobiology]:
    """The organ parameter table shipped in ``dosimetry/data/radiobiology.yaml``."""
    text = (resources.files("theranostix.dosimetry") / "data" / "radiobiology.yaml").read_text()
    raw = yaml.safe_load(text)
    return {name: OrganRadiobiology(organ=name, **row) for name, row in raw["organs"].items()}


def organ_parameters(organ: str) -> OrganRadiobiology:
    """Parameters of one organ (``kidney``, ``red_marrow``, ``salivary_glands``, ``liver``)."""
    table = radiobiology_table()
    key = organ.strip().lower().replace(" ", "_").replace("-", "_")
    key = {"kidneys": "kidney", "marrow": "red_marrow", "bone_marrow": "red_marrow"}.get(key, key)
    if key not in table:
        raise InvalidInputError(f"no radiobiology parameters for organ {organ!r}", where="organ",
                                fix=f"choose one of {', '.join(table)} or give alpha/beta and "
                                    "repair half-time explicitly.")
    return table[key]


# ---------------------------------------------------------------------------- G, BED, EQD2
def _positive(name: str, value: float) -> float:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
        raise InvalidInputError(f"{name} must be a finite number > 0, got {value!r}", where=name)
    return float(value)


def g_factor_mono(effective_half_life_h: float, repair_half_time_h: float) -> float:
    """Dose-protraction factor for a mono-exponential dose rate: T_rep / (T_rep + T_eff)."""
    te = _positive("effective_half_life_h", effective_half_life_h)
    tr = _positive("repair_half_time_h", repair_half_time_h)
    return tr / (tr + te)


def g_factor(amplitudes: Sequence[float], rates_per_h: Sequence[float],
             repair_half_time_h: float) -> float:
    """Dose-protraction factor G of a sum-of-exponentials dose rate (see the module docstring).

    Parameters
    ----------
    amplitudes
        a_i of R(t) = sum_i a_i exp(-l_i t) (any common scale; negative for uptake terms).
    rates_per_h
        l_i in 1/h, all > 0.
    repair_half_time_h
        Sublethal-damage repair half-time T_rep in hours.

    Raises
    ------
    InvalidInputError
        Rates <= 0, mismatched lengths, or a total dose <= 0.
    """
    a = np.asarray(amplitudes, float)
    lam = np.asarray(rates_per_h, float)
    if a.shape != lam.shape or a.ndim != 1 or a.size == 0:
        raise InvalidInputError("amplitudes and rates must be 1-D lists of one length",
                                where="g_factor")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(lam))) or np.any(lam <= 0):
        raise InvalidInputError("every rate must be finite and > 0 (terms are never ignored)",
                                where="g_factor rates_per_h")
    mu = LN2 / _positive("repair_half_time_h", repair_half_time_h)
    d = float(np.sum(a / lam))
    if not d > 0:
        raise InvalidInputError(f"the dose-rate curve integrates to {d} <= 0", where="g_factor")
    s = np.sum(np.outer(a, a) / ((lam[:, None] + lam[None, :]) * (lam[:, None] + mu)))
    return float(2.0 * s / d**2)


def bed(dose_gy, alpha_beta_gy: float, g):
    """BED = D (1 + G D / (alpha/beta)) in Gy; scalars give a float, arrays work elementwise."""
    ab = _positive("alpha_beta_gy", alpha_beta_gy)
    if np.ndim(dose_gy) == 0 and np.ndim(g) == 0:
        return float(dose_gy) * (1.0 + float(g) * float(dose_gy) / ab)
    d = np.asarray(dose_gy, dtype=float)
    return d * (1.0 + np.asarray(g, dtype=float) * d / ab)


def eqd2(bed_gy, alpha_beta_gy: float):
    """EQD2 = BED / (1 + 2/(alpha/beta)) in Gy."""
    return bed_gy / (1.0 + 2.0 / _positive("alpha_beta_gy", alpha_beta_gy))


class LimitCheck(BaseModel):
    """Comparison of a result with one published limit."""

    quantity: str
    limit_gy: float
    value_gy: float
    fraction_of_limit: float
    exceeded: bool
    condition: str
    source: str


class BEDResult(BaseModel):
    """BED and EQD2 for one absorbed dose with its kinetics."""

    dose_gy: float
    alpha_beta_gy: float
    repair_half_time_h: float
    g_factor: float
    bed_gy: float
    eqd2_gy: float
    organ: str | None
    limits: list[LimitCheck]
    provenance: Provenance


def _limit_checks(organ: OrganRadiobiology | None, dose: float, b: float,
                  e: float) -> list[LimitCheck]:
    if organ is None:
        return []
    vals = {"BED": b, "EQD2": e, "absorbed_dose": dose}
    return [LimitCheck(quantity=lim.quantity, limit_gy=lim.value_gy, value_gy=vals[lim.quantity],
                       fraction_of_limit=vals[lim.quantity] / lim.value_gy,
                       exceeded=vals[lim.quantity] > lim.value_gy, condition=lim.condition,
                       source=lim.source) for lim in organ.limits if lim.quantity in vals]


def compute_bed(
    dose_gy: float,
    *,
    effective_half_life_h: float | None = None,
    terms: Sequence[tuple[float, float]] | None = None,
    organ: str | None = None,
    alpha_beta_gy: float | None = None,
    repair_half_time_h: float | None = None,
) -> BEDResult:
    """BED and EQD2 of an absorbed dose delivered with mono- or multi-exponential kinetics.

    Give either ``effective_half_life_h`` (mono-exponential) or ``terms`` ((amplitude, rate 1/h)
    pairs, e.g. ``FitResult.terms``). alpha/beta and T_rep come from the arguments, else from the
    organ table; the organ's limits are checked.

    Raises
    ------
    InvalidInputError
        Missing/invalid parameters, both or neither kinetics given, negative dose.
    """
    if not (math.isfinite(dose_gy) and dose_gy >= 0):
        raise InvalidInputError(f"dose must be finite and >= 0 Gy, got {dose_gy}", where="dose_gy")
    org = organ_parameters(organ) if organ else None
    ab = alpha_beta_gy if alpha_beta_gy is not None else (org.alpha_beta_gy if org else None)
    tr = repair_half_time_h if repair_half_time_h is not None else (
        org.repair_half_time_h if org else None)
    if ab is None or tr is None:
        raise InvalidInputError(
            "alpha/beta and repair half-time are needed", where="compute_bed",
            fix="give alpha_beta_gy and repair_half_time_h, or an organ with tabulated values.")
    if (effective_half_life_h is None) == (terms is None):
        raise InvalidInputError("give exactly one of effective_half_life_h or terms",
                                where="compute_bed")
    if terms is not None:
        g = g_factor([x[0] for x in terms], [x[1] for x in terms], tr)
        kin = {"terms": [list(x) for x in terms]}
    else:
        g = g_factor_mono(effective_half_life_h, tr)  # type: ignore[arg-type]
        kin = {"effective_half_life_h": effective_half_life_h}
    b = bed(float(dose_gy), _positive("alpha_beta_gy", ab), g)
    e = eqd2(b, ab)
    prov = Provenance(parameters={"alpha_beta_gy": ab, "repair_half_time_h": tr, "organ": organ,
                                  "model": "linear-quadratic, Lea-Catcheside G", **kin})
    if org is not None:
        prov.inputs["organ_parameter_source"] = org.source
    return BEDResult(dose_gy=float(dose_gy), alpha_beta_gy=ab, repair_half_time_h=tr, g_factor=g,
                     bed_gy=b, eqd2_gy=e, organ=org.organ if org else None,
                     limits=_limit_checks(org, float(dose_gy), b, e), provenance=prov)


# ---------------------------------------------------------------------------- voxel maps
def bed_map(
    dose_gy: np.ndarray,
    *,
    alpha_beta_gy: float,
    repair_half_time_h: float,
    effective_half_life_h: float | np.ndarray | None = None,
    g: float | np.ndarray | None = None,
) -> np.ndarray:
    """Voxel BED map (Gy) from a dose map and global or per-voxel kinetics.

    Give either ``effective_half_life_h`` (scalar or array of the dose's shape; mono-exponential
    per voxel) or a precomputed ``g`` (scalar or array, e.g. from :func:`g_factor`).

    Raises
    ------
    InvalidInputError
        Shape mismatch, NaN or negative doses, half-lives <= 0.
    """
    d = np.asarray(dose_gy, dtype=float)
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise InvalidInputError("dose map has NaN/inf or negative values", where="bed_map dose_gy")
    tr = _positive("repair_half_time_h", repair_half_time_h)
    if (effective_half_life_h is None) == (g is None):
        raise InvalidInputError("give exactly one of effective_half_life_h or g", where="bed_map")
    if g is None:
        te = np.asarray(effective_half_life_h, dtype=float)
        if te.ndim and te.shape != d.shape:
            raise InvalidInputError(f"half-life map shape {te.shape} != dose shape {d.shape}",
                                    where="bed_map effective_half_life_h")
        if not np.all(np.isfinite(te)) or np.any(te <= 0):
            raise InvalidInputError("effective half-lives must be finite and > 0",
                                    where="bed_map effective_half_life_h")
        gg = tr / (tr + te)
    else:
        gg = np.asarray(g, dtype=float)
        if gg.ndim and gg.shape != d.shape:
            raise InvalidInputError(f"G map shape {gg.shape} != dose shape {d.shape}",
                                    where="bed_map g")
        if not np.all(np.isfinite(gg)) or np.any(gg < 0) or np.any(gg > 1):
            raise InvalidInputError("G must lie in [0, 1]", where="bed_map g")
    return d * (1.0 + gg * d / _positive("alpha_beta_gy", alpha_beta_gy))


def eubed(bed_gy: np.ndarray, alpha_per_gy: float, mask: np.ndarray | None = None) -> float:
    """Equivalent uniform BED: ``-ln(mean_v exp(-alpha BED_v)) / alpha`` (Gy), over ``mask``.

    Computed with a log-sum-exp so that large BEDs do not underflow. Equal to the BED for a
    uniform map, and never above the mean BED (Jensen).
    """
    from scipy.special import logsumexp

    alpha = _positive("alpha_per_gy", alpha_per_gy)
    b = np.asarray(bed_gy, dtype=float)
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != b.shape or m.dtype != bool:
            raise InvalidInputError("mask must be a bool array of the BED map's shape",
                                    where="eubed mask")
        b = b[m]
    b = b.ravel()
    if b.size == 0:
        raise InvalidInputError("no voxels to average", where="eubed")
    if not np.all(np.isfinite(b)):
        raise InvalidInputError("BED map has NaN/inf values", where="eubed")
    return float(-(logsumexp(-alpha * b) - math.log(b.size)) / alpha)


def accumulate_cycles(bed_per_cycle_gy: Sequence[float]) -> float:
    """Total BED (Gy) over treatment cycles far apart in time (full repair between cycles)."""
    vals = [float(v) for v in bed_per_cycle_gy]
    if not vals or any(not math.isfinite(v) or v < 0 for v in vals):
        raise InvalidInputError("give one finite BED >= 0 per cycle", where="accumulate_cycles")
    return float(sum(vals))


# ---------------------------------------------------------------------------- bone marrow
#: Red-marrow extracellular fluid fraction (Sgouros 1993), in RMBLR = 0.19 / (1 - HCT).
RMECFF = 0.19
#: ICRP 89 reference red marrow masses, g.
RED_MARROW_MASS_G = {"male": 1170.0, "female": 900.0}
#: Lu-177 S(red marrow <- red marrow), mGy/(MBq s), OLINDA ICRP-89 phantoms (see FACTS.md).
LU177_S_RM_RM_MGY_PER_MBQ_S = {"male": 1.15e-5, "female": 1.49e-5}


class MarrowDoseResult(BaseModel):
    """Red marrow absorbed dose by the blood-based method."""

    rmblr: float
    red_marrow_mass_g: float
    red_marrow_tia_mbq_h: float
    s_self_mgy_per_mbq_s: float
    self_dose_gy: float
    cross_dose_gy: float | None
    dose_gy: float
    provenance: Provenance


def red_marrow_blood_method(
    blood_tia_mbq_h_per_ml: float,
    *,
    hematocrit: float,
    sex: str = "male",
    nuclide: str = "Lu-177",
    red_marrow_mass_g: float | None = None,
    s_self_mgy_per_mbq_s: float | None = None,
    remainder_tia_mbq_h: float | None = None,
    s_cross_mgy_per_mbq_s: float | None = None,
    rmblr: float | None = None,
) -> MarrowDoseResult:
    """Red-marrow absorbed dose from blood samples (Sgouros 1993; Hindorf et al. 2010).

    ``TIA_RM = TIA_blood per mL x RMBLR x m_RM`` (marrow activity concentration per gram taken
    equal to RMBLR times the blood concentration per mL), with ``RMBLR = 0.19 / (1 - HCT)``.
    ``D = TIA_RM x S(RM<-RM) + TIA_remainder x S(RM<-remainder)``.

    Parameters
    ----------
    blood_tia_mbq_h_per_ml
        Time-integrated activity concentration of whole blood, MBq h/mL.
    hematocrit
        Patient haematocrit, fraction in (0, 1).
    sex
        ``"male"``/``"female"`` for ICRP 89 reference marrow mass and the default Lu-177 S value.
    red_marrow_mass_g
        Patient red marrow mass; the self S value is scaled by m_ref / m (electron-dominated
        self-dose).
    s_self_mgy_per_mbq_s
        S(RM<-RM) for the reference mass, mGy/(MBq s); default only for Lu-177 (OLINDA ICRP-89).
    remainder_tia_mbq_h, s_cross_mgy_per_mbq_s
        TIA of the remainder of the body (total body minus red marrow) and S(RM<-remainder of
        body), mGy/(MBq s). Both or neither; when omitted the cross-dose is not included and a
        warning says so.
    rmblr
        Override of the marrow-to-blood ratio (e.g. 1 for agents binding to marrow cells).
    """
    sx = sex.strip().lower()
    if sx not in RED_MARROW_MASS_G:
        raise InvalidInputError(f"sex must be 'male' or 'female', got {sex!r}", where="sex")
    if not (0 < hematocrit < 1):
        raise InvalidInputError(f"haematocrit must be a fraction in (0, 1), got {hematocrit}",
                                where="hematocrit", fix="e.g. 0.42, not 42.")
    if not (math.isfinite(blood_tia_mbq_h_per_ml) and blood_tia_mbq_h_per_ml >= 0):
        raise InvalidInputError("blood TIA concentration must be finite and >= 0",
                                where="blood_tia_mbq_h_per_ml")
    nuc = normalize_nuclide(nuclide)
    ref_mass = RED_MARROW_MASS_G[sx]
    mass = _positive("red_marrow_mass_g", red_marrow_mass_g) if red_marrow_mass_g else ref_mass
    prov = Provenance(parameters={"method": "blood-based (Sgouros 1993; Hindorf 2010)",
                                  "hematocrit": hematocrit, "sex": sx, "nuclide": nuc,
                                  "reference_red_marrow_mass_g": ref_mass},
                      decay_data=DECAY_DATA)
    if s_self_mgy_per_mbq_s is None:
        if nuc != "Lu-177":
            raise InvalidInputError(f"no default S(RM<-RM) for {nuc}", where="s_self_mgy_per_mbq_s",
                                    fix="give the S value of your phantom (OLINDA/OpenDose).")
        s_ref = LU177_S_RM_RM_MGY_PER_MBQ_S[sx]
        prov.parameters["s_self_source"] = "OLINDA ICRP-89 Lu-177 RM<-RM"
    else:
        s_ref = _positive("s_self_mgy_per_mbq_s", s_self_mgy_per_mbq_s)
    s_self = s_ref * ref_mass / mass
    ratio = RMECFF / (1.0 - hematocrit) if rmblr is None else _positive("rmblr", rmblr)
    prov.parameters["rmblr"] = ratio
    tia_rm = blood_tia_mbq_h_per_ml * ratio * mass
    self_gy = tia_rm * s_self * 3600.0 / 1000.0
    if (remainder_tia_mbq_h is None) != (s_cross_mgy_per_mbq_s is None):
        raise InvalidInputError("give both remainder_tia_mbq_h and s_cross_mgy_per_mbq_s, or "
                                "neither", where="red_marrow_blood_method")
    cross = None
    if remainder_tia_mbq_h is not None:
        if not (math.isfinite(remainder_tia_mbq_h) and remainder_tia_mbq_h >= 0):
            raise InvalidInputError("remainder TIA must be finite and >= 0",
                                    where="remainder_tia_mbq_h")
        cross = remainder_tia_mbq_h * _positive("s_cross_mgy_per_mbq_s",
                                                s_cross_mgy_per_mbq_s) * 3.6  # type: ignore[arg-type]
    else:
        prov.warn("cross-dose from the remainder of the body not included (self-dose only)")
    return MarrowDoseResult(rmblr=ratio, red_marrow_mass_g=mass, red_marrow_tia_mbq_h=tia_rm,
                            s_self_mgy_per_mbq_s=s_self, self_dose_gy=self_gy, cross_dose_gy=cross,
                            dose_gy=self_gy + (cross or 0.0), provenance=prov)

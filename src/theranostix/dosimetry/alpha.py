"""Alpha emitters with progeny (e.g. Ac-225) and RBE-weighted absorbed dose.

Decay chains and branching fractions come from ``radioactivedecay`` (ICRP-107); emitted energies
per decay of each member from ICRP-107 (:func:`theranostix.physics.emission_summary`).

Assumption (stated in every result): by default every progeny decay happens where the parent
decayed ("progeny stay in place"). Integrated to infinity this makes each member's time-integrated
activity equal to the parent's times the chain branching fraction (secular-equilibrium energy per
parent decay). Progeny that escape the source (e.g. Bi-213, 45.6 min, relocating to the kidneys
after recoil release from the chelator) are modelled by a ``retention`` fraction per nuclide: the
fraction of its atoms that stay (its decays and its descendants' decays outside the source are
not counted there).

RBE-weighted dose: ``D_RBE = RBE_alpha D_alpha + D_low-LET``, in Gy (RBE-weighted) — reported
as Sv_RBE by Kratochwil et al. (J Nucl Med 2017;58:1624-1631), who used RBE = 5 for alphas.
Sgouros G et al., MIRD Pamphlet No. 22: radiobiology and dosimetry of alpha-particle emitters for
targeted radionuclide therapy. J Nucl Med 2010;51:311-328 (RBE weighting, recommendation of 5
for deterministic effects).
Alpha recoil energy (~100 keV per alpha) is excluded by default (deposited over ~nm, not counted
in conventional absorbed dose estimates); ``include_recoil=True`` adds it.
"""

from __future__ import annotations

import math

import radioactivedecay as rd
from pydantic import BaseModel

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.core.units import MEV_TO_J
from theranostix.physics import DECAY_DATA, emission_summary, normalize_nuclide

#: Default RBE of alpha particles for deterministic effects (Sgouros et al., MIRD Pamphlet 22).
DEFAULT_RBE_ALPHA = 5.0
#: Decays per MBq h.
DECAYS_PER_MBQ_H = 3.6e9


def chain_branching(parent: str) -> dict[str, float]:
    """Decays of each chain member per decay of the parent (parent = 1), stable members excluded."""
    start = normalize_nuclide(parent)
    out: dict[str, float] = {}

    def walk(name: str, frac: float) -> None:
        nuc = rd.Nuclide(name)
        if math.isinf(nuc.half_life()):
            return
        out[name] = out.get(name, 0.0) + frac
        for child, bf in zip(nuc.progeny(), nuc.branching_fractions()):
            if bf > 0:
                walk(str(child), frac * float(bf))

    walk(start, 1.0)
    return out


class ChainMember(BaseModel):
    """Energy emitted by one chain member, per decay of the parent (MeV)."""

    nuclide: str
    decays_per_parent_decay: float
    retention: float
    alpha_mev: float
    alpha_recoil_mev: float
    electron_mev: float
    photon_mev: float


class ChainEnergy(BaseModel):
    """Energy emitted in the source region per parent decay, summed over the chain (MeV)."""

    parent: str
    members: list[ChainMember]
    alpha_mev: float
    alpha_recoil_mev: float
    electron_mev: float
    photon_mev: float
    provenance: Provenance


def chain_energy_per_decay(parent: str = "Ac-225",
                           retention: dict[str, float] | None = None) -> ChainEnergy:
    """Chain energy per parent decay at secular equilibrium, weighted by ``retention``.

    Parameters
    ----------
    parent
        Parent nuclide.
    retention
        Nuclide -> fraction (0..1) of its atoms that stay in the source region; it applies to that
        nuclide's decays and to all its descendants (a relocated atom's progeny decay elsewhere).
        Default 1 for all (progeny stay in place). ``ChainMember.retention`` reports the resulting
        fraction of each member's decays in the region.
    """
    branching = chain_branching(parent)
    retention = dict(retention or {})
    for k, v in retention.items():
        if normalize_nuclide(k) not in branching:
            raise InvalidInputError(f"{k} is not in the decay chain of {parent}",
                                    where="retention")
        if not 0 <= v <= 1:
            raise InvalidInputError(f"retention of {k} must lie in [0, 1], got {v}",
                                    where="retention")
    ret = {normalize_nuclide(k): float(v) for k, v in retention.items()}
    # decays in the region per parent decay: a member's atoms stay only if it and every ancestor
    # on the path stayed (retention multiplies down the chain)
    in_region: dict[str, float] = {}

    def walk(name: str, frac: float, kept: float) -> None:
        nuc = rd.Nuclide(name)
        if math.isinf(nuc.half_life()):
            return
        kept = kept * ret.get(name, 1.0)
        in_region[name] = in_region.get(name, 0.0) + frac * kept
        for child, bf in zip(nuc.progeny(), nuc.branching_fractions()):
            if bf > 0:
                walk(str(child), frac * float(bf), kept)

    walk(normalize_nuclide(parent), 1.0, 1.0)
    members = []
    for nuc, frac in branching.items():
        s = emission_summary(nuc)
        r = in_region[nuc] / frac if frac > 0 else 1.0
        w = in_region[nuc] / 1000.0
        members.append(ChainMember(nuclide=nuc, decays_per_parent_decay=frac, retention=r,
                                   alpha_mev=s.alpha_kev * w, alpha_recoil_mev=s.alpha_recoil_kev * w,
                                   electron_mev=s.electrons_kev * w, photon_mev=s.photons_kev * w))
    prov = Provenance(parameters={"parent": normalize_nuclide(parent), "retention": ret or "all 1",
                                  "assumption": "secular equilibrium; progeny decay in place unless "
                                                "retention < 1"}, decay_data=DECAY_DATA)
    return ChainEnergy(parent=normalize_nuclide(parent), members=members,
                       alpha_mev=sum(m.alpha_mev for m in members),
                       alpha_recoil_mev=sum(m.alpha_recoil_mev for m in members),
                       electron_mev=sum(m.electron_mev for m in members),
                       photon_mev=sum(m.photon_mev for m in members), provenance=prov)


def cumulative_progeny_decays(parent: str, activity_mbq: float, duration_h: float) -> dict[str, float]:
    """Time-integrated activity (MBq h) of each chain member over ``duration_h`` after a pure parent
    source of ``activity_mbq`` (physical decay only, no biological clearance), from
    ``radioactivedecay.Inventory.cumulative_decays``.
    """
    if not (math.isfinite(activity_mbq) and activity_mbq > 0):
        raise InvalidInputError("activity must be > 0 MBq", where="cumulative_progeny_decays")
    if not (math.isfinite(duration_h) and duration_h > 0):
        raise InvalidInputError("duration must be > 0 h", where="cumulative_progeny_decays")
    inv = rd.Inventory({normalize_nuclide(parent): activity_mbq * 1e6}, "Bq")
    dec = inv.cumulative_decays(duration_h, "h")
    return {str(k): float(v) / DECAYS_PER_MBQ_H for k, v in dec.items()}


def rbe_weighted_dose(alpha_dose_gy: float, low_let_dose_gy: float,
                      rbe_alpha: float = DEFAULT_RBE_ALPHA) -> float:
    """RBE-weighted dose ``RBE_alpha D_alpha + D_low-LET`` in Gy (RBE-weighted; "Sv_RBE")."""
    for name, v in (("alpha_dose_gy", alpha_dose_gy), ("low_let_dose_gy", low_let_dose_gy)):
        if not (math.isfinite(v) and v >= 0):
            raise InvalidInputError(f"{name} must be finite and >= 0, got {v}", where=name)
    if not (math.isfinite(rbe_alpha) and rbe_alpha > 0):
        raise InvalidInputError(f"RBE must be > 0, got {rbe_alpha}", where="rbe_alpha")
    return rbe_alpha * alpha_dose_gy + low_let_dose_gy


class AlphaDoseResult(BaseModel):
    """Local-deposition absorbed dose of an alpha emitter and its progeny."""

    parent: str
    tia_mbq_h: float
    mass_g: float
    alpha_dose_gy: float
    electron_dose_gy: float
    photon_dose_gy: float
    absorbed_dose_gy: float
    rbe_alpha: float
    rbe_weighted_dose_gy: float
    provenance: Provenance


def alpha_local_dose(
    tia_mbq_h: float,
    mass_g: float,
    *,
    parent: str = "Ac-225",
    rbe_alpha: float = DEFAULT_RBE_ALPHA,
    retention: dict[str, float] | None = None,
    include_photons: bool = False,
    include_recoil: bool = False,
) -> AlphaDoseResult:
    """Absorbed and RBE-weighted dose by local deposition of the chain's energy in ``mass_g``.

    ``D = TIA x decays/MBq h x E_per_parent_decay x 1.602e-13 J/MeV / m``. Alphas and electrons are
    absorbed locally; photons escape unless ``include_photons`` (then all photon energy is counted,
    an upper bound). ``tia_mbq_h`` is the parent's time-integrated activity in the region.
    """
    if not (math.isfinite(tia_mbq_h) and tia_mbq_h >= 0):
        raise InvalidInputError("TIA must be finite and >= 0 MBq h", where="tia_mbq_h")
    if not (math.isfinite(mass_g) and mass_g > 0):
        raise InvalidInputError("mass must be > 0 g", where="mass_g")
    ce = chain_energy_per_decay(parent, retention)
    k = tia_mbq_h * DECAYS_PER_MBQ_H * MEV_TO_J / (mass_g / 1000.0)
    d_alpha = k * (ce.alpha_mev + (ce.alpha_recoil_mev if include_recoil else 0.0))
    d_e = k * ce.electron_mev
    d_ph = k * ce.photon_mev if include_photons else 0.0
    prov = ce.provenance.model_copy(deep=True)
    prov.parameters.update({"rbe_alpha": rbe_alpha, "include_photons": include_photons,
                            "include_recoil": include_recoil, "method": "local deposition"})
    if not include_photons:
        prov.warn("photon energy not counted (assumed to escape the region)")
    return AlphaDoseResult(parent=ce.parent, tia_mbq_h=tia_mbq_h, mass_g=mass_g,
                           alpha_dose_gy=d_alpha, electron_dose_gy=d_e, photon_dose_gy=d_ph,
                           absorbed_dose_gy=d_alpha + d_e + d_ph, rbe_alpha=rbe_alpha,
                           rbe_weighted_dose_gy=rbe_weighted_dose(d_alpha, d_e + d_ph, rbe_alpha),
                           provenance=prov)

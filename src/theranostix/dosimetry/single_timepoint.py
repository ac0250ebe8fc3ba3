"""Single-time-point (STP) estimates of the time-integrated activity.

Hänscheid et al. 2018
    ``TIA ~ A(t) * 2 t / ln 2``. For a mono-exponential with effective half-life T this is exact
    when T = t and T = t/2; the ratio to the truth is ``2 x 2^(-x)`` with x = t/T, largest at
    x = 1/ln 2 where it is 2/(e ln 2) = 1.0615 (+6.15 %).
    Hänscheid H, Lapa C, Buck AK, Lassmann M, Werner RA. Dose mapping after endoradiotherapy with
    177Lu-DOTATATE/DOTATOC by a single measurement after 4 days. J Nucl Med 2018;59:75-81.

Madsen et al. 2018
    ``TIA = A(t) exp(lambda t) / lambda`` with a prior effective decay constant
    lambda = ln 2 / T_eff (population value). dTIA/dlambda = 0 at t = 1/lambda = T_eff / ln 2: the
    estimate is least sensitive to an error in the prior when imaging at that time.
    Madsen MT, Menda Y, O'Dorisio TM, O'Dorisio MS. Technical Note: Single time point dose estimate
    for exponential clearance. Med Phys 2018;45:2318-2324.
"""

from __future__ import annotations

import math

from pydantic import BaseModel

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.physics import DECAY_DATA, radionuclide

LN2 = math.log(2.0)
#: Largest overestimate of the Hänscheid formula for mono-exponential kinetics: 2/(e ln2) - 1.
HANSCHEID_MAX_OVERESTIMATE = 2.0 / (math.e * LN2) - 1.0


class SingleTimePointResult(BaseModel):
    """Time-integrated activity from one measurement."""

    method: str
    time_h: float
    activity_mbq: float
    tia_mbq_h: float
    effective_half_life_h: float | None = None
    optimal_time_h: float | None = None
    provenance: Provenance


def _check(activity_mbq: float, time_h: float) -> None:
    if not (math.isfinite(activity_mbq) and activity_mbq >= 0):
        raise InvalidInputError(f"activity must be finite and >= 0, got {activity_mbq}",
                                where="single-time-point activity_mbq")
    if not (math.isfinite(time_h) and time_h > 0):
        raise InvalidInputError(f"time must be finite and > 0 h, got {time_h}",
                                where="single-time-point time_h")


def hanscheid_tia(activity_mbq: float, time_h: float) -> SingleTimePointResult:
    """Hänscheid 2018: ``TIA = A(t) 2t/ln2`` (MBq h). See the module docstring."""
    _check(activity_mbq, time_h)
    prov = Provenance(parameters={"method": "Hänscheid 2018", "formula": "A(t)*2t/ln2"})
    prov.warn("assumes mono-exponential clearance with T_eff between t/2 and 2t (error within "
              f"+{100 * HANSCHEID_MAX_OVERESTIMATE:.2f} % only for mono-exponential kinetics)")
    return SingleTimePointResult(method="hanscheid2018", time_h=time_h, activity_mbq=activity_mbq,
                                 tia_mbq_h=activity_mbq * 2 * time_h / LN2, provenance=prov)


def madsen_tia(activity_mbq: float, time_h: float, effective_half_life_h: float,
               nuclide: str | None = None) -> SingleTimePointResult:
    """Madsen 2018: ``TIA = A(t) exp(lambda t)/lambda``, lambda = ln2 / prior T_eff (MBq h).

    Parameters
    ----------
    effective_half_life_h
        Prior (population) effective half-life in hours.
    nuclide
        When given, a prior longer than the physical half-life is refused.
    """
    _check(activity_mbq, time_h)
    if not (math.isfinite(effective_half_life_h) and effective_half_life_h > 0):
        raise InvalidInputError(f"effective half-life must be > 0 h, got {effective_half_life_h}",
                                where="madsen_tia effective_half_life_h")
    prov = Provenance(parameters={"method": "Madsen 2018", "prior_effective_half_life_h":
                                  effective_half_life_h, "nuclide": nuclide})
    if nuclide is not None:
        prov.decay_data = DECAY_DATA
        t_phys = radionuclide(nuclide).half_life_h
        if effective_half_life_h > t_phys * (1 + 1e-9):
            raise InvalidInputError(
                f"prior effective half-life {effective_half_life_h} h exceeds the physical "
                f"half-life of {nuclide} ({t_phys:.2f} h)", where="madsen_tia",
                fix="an effective half-life cannot exceed the physical one.")
    lam = LN2 / effective_half_life_h
    return SingleTimePointResult(
        method="madsen2018", time_h=time_h, activity_mbq=activity_mbq,
        tia_mbq_h=activity_mbq * math.exp(lam * time_h) / lam,
        effective_half_life_h=effective_half_life_h, optimal_time_h=1.0 / lam, provenance=prov)

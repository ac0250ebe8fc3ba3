"""RECIP 1.0: response from PSMA-PET total tumour volume and new lesions.

Gafita et al., JNM 2022;63:1651 (definition, NCI Thesaurus C204131; CRITERIA.md §3.2, exact
thresholds [M]):

* CR: no PSMA-ligand uptake at follow-up (TTV = 0, no new lesions).
* PR: TTV falls by >= 30 %, no new lesions.
* PD: TTV rises by >= 20 % **and** new lesions appear.
* SD: everything else.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.pet.scores import CriterionResult, Reason, check_comparator, check_value, fmt, meets


def recip(
    baseline_tv_ml: float,
    followup_tv_ml: float,
    new_lesions: int = 0,
    *,
    pr_decrease_fraction: float = 0.30,
    pd_increase_fraction: float = 0.20,
    pr_boundary: Literal[">=", ">"] = ">=",
    pd_boundary: Literal[">=", ">"] = ">=",
) -> CriterionResult:
    """RECIP 1.0 category from PSMA total tumour volume (PSMA-VOL / TTV) and new lesions.

    Parameters
    ----------
    baseline_tv_ml, followup_tv_ml
        Whole-body PSMA-positive tumour volume (mL) at baseline and follow-up.
    new_lesions
        Number of new PSMA-positive lesions at follow-up (visual).
    pr_decrease_fraction, pd_increase_fraction
        0.30 and 0.20 [M] (Gafita 2022).
    pr_boundary, pd_boundary
        ``">="`` (default, "at least 30 % / 20 %" in Gafita 2022) or ``">"``.

    Returns
    -------
    CriterionResult
        ``category`` CR / PR / SD / PD; reasons ``RECIP.volume_change``, ``RECIP.new_lesions``,
        ``RECIP.CR``, ``RECIP.PR``, ``RECIP.PD``; ``values["tv_change_fraction"]``.

    Raises
    ------
    InvalidInputError
        Negative volumes or lesion count, zero baseline volume (relative change undefined),
        follow-up volume 0 with new lesions (contradictory).
    """
    b = check_value(baseline_tv_ml, "baseline_tv_ml", positive=True,
                    fix="RECIP needs PSMA-positive disease at baseline (TTV > 0 mL)")
    f = check_value(followup_tv_ml, "followup_tv_ml")
    if new_lesions is None or int(new_lesions) != new_lesions or new_lesions < 0:
        raise InvalidInputError(f"new_lesions {new_lesions!r} is not a count >= 0", where="new_lesions")
    n_new = int(new_lesions)
    if f == 0 and n_new > 0:
        raise InvalidInputError("follow-up TTV is 0 mL but new lesions are reported",
                                where="followup_tv_ml/new_lesions",
                                fix="include the new lesions in the follow-up TTV")
    pr_op = check_comparator(pr_boundary, "pr_boundary")
    pd_op = check_comparator(pd_boundary, "pd_boundary")
    check_value(pr_decrease_fraction, "pr_decrease_fraction", positive=True)
    check_value(pd_increase_fraction, "pd_increase_fraction", positive=True)
    change = (f - b) / b
    prov = Provenance(parameters={"pr_decrease_fraction": pr_decrease_fraction,
                                  "pd_increase_fraction": pd_increase_fraction,
                                  "pr_boundary": pr_boundary, "pd_boundary": pd_boundary})
    reasons = [
        Reason(rule="RECIP.volume_change",
               text=f"TTV {fmt(b)} mL -> {fmt(f)} mL: change {change * 100:+.1f} %", met=True,
               values={"baseline_tv_ml": b, "followup_tv_ml": f, "tv_change_fraction": change}),
        Reason(rule="RECIP.new_lesions", text=f"{n_new} new PSMA-positive lesion(s)",
               met=n_new > 0, values={"new_lesions": n_new}),
    ]
    cr = f == 0 and n_new == 0
    reasons.append(Reason(rule="RECIP.CR",
                          text=("No PSMA uptake at follow-up (TTV 0, no new lesions)" if cr
                                else "Residual PSMA uptake or new lesions: not CR"),
                          met=cr, values={"followup_tv_ml": f, "new_lesions": n_new},
                          thresholds={"followup_tv_ml": 0}))
    dec = meets(-change, pr_op, pr_decrease_fraction)
    pr = dec and n_new == 0 and not cr
    reasons.append(Reason(
        rule="RECIP.PR",
        text=(f"TTV change {change * 100:+.1f} % {'meets' if dec else 'does not meet'} "
              f"a fall {pr_boundary} {pr_decrease_fraction * 100:g} %"
              + ("" if n_new == 0 else f"; {n_new} new lesion(s) exclude PR")),
        met=pr, values={"tv_decrease_fraction": -change, "new_lesions": n_new},
        thresholds={"pr_decrease_fraction": pr_decrease_fraction, "comparator": pr_boundary},
        option=f"pr_boundary={pr_boundary}"))
    inc = meets(change, pd_op, pd_increase_fraction)
    pd = inc and n_new > 0
    reasons.append(Reason(
        rule="RECIP.PD",
        text=(f"TTV change {change * 100:+.1f} % {'meets' if inc else 'does not meet'} "
              f"{pd_boundary} +{pd_increase_fraction * 100:g} %; "
              f"{'with' if n_new else 'without'} new lesions"
              + ("" if pd else " -> PD requires both")),
        met=pd, values={"tv_change_fraction": change, "new_lesions": n_new},
        thresholds={"pd_increase_fraction": pd_increase_fraction, "comparator": pd_boundary},
        option=f"pd_boundary={pd_boundary}"))
    cat = "CR" if cr else "PR" if pr else "PD" if pd else "SD"
    return CriterionResult(criterion="RECIP 1.0", category=cat, reasons=reasons, provenance=prov,
                           values={"tv_change_fraction": change, "new_lesions": n_new})


def recip_single_lesion_dependence(
    tracks: Sequence[tuple[float, float, bool]],
    baseline_tv_ml: float,
    followup_tv_ml: float,
    new_lesions: int = 0,
    **options: Any,
) -> list[tuple[int, str]]:
    """The lesions the RECIP 1.0 category rests on: leave each one out and re-categorise.

    A single wrong lesion -- a physiological or noise region taken for disease, a lesion missed
    on one scan -- is the commonest way an automatic PSMA-VOL goes wrong, and on low-volume
    disease one such lesion can move the category. For every tracked lesion (its baseline and
    follow-up volume removed together, and it no longer counts as new) the category is computed
    again; the lesions whose removal changes it are returned so a reader can review them.

    Parameters
    ----------
    tracks
        One ``(baseline_volume_ml, followup_volume_ml, counted_as_new)`` per tracked lesion
        (0 mL on a scan where it is absent).
    baseline_tv_ml, followup_tv_ml, new_lesions
        As for :func:`recip` (the totals the category was computed from).
    **options
        The :func:`recip` options used for the category.

    Returns
    -------
    list of (int, str)
        ``(index into tracks, category without that lesion)`` for every lesion whose removal
        changes the category. A lesion whose removal leaves no baseline volume is skipped (the
        category of disease made of one lesion always rests on it).
    """
    full = recip(baseline_tv_ml, followup_tv_ml, new_lesions, **options).category
    out: list[tuple[int, str]] = []
    for i, (vb, vf, is_new) in enumerate(tracks):
        b = baseline_tv_ml - vb
        if b <= 1e-9:
            continue
        f = max(followup_tv_ml - vf, 0.0)
        n = new_lesions - int(bool(is_new))
        if f <= 1e-9:
            f, n = 0.0, 0  # no follow-up volume left: nothing can be new
        cat = recip(b, f, n, **options).category
        if cat != full:
            out.append((i, cat))
    return out


def single_lesion_flag(category: str, lesions: Sequence[str]) -> str:
    """The review flag of :func:`recip_single_lesion_dependence`'s result: ``lesions`` describe
    each lesion the category rests on and the category without it."""
    return f"the category {category} rests on single lesions -- without {'; '.join(lesions)}; review them"


__all__ = ["recip", "recip_single_lesion_dependence", "single_lesion_flag"]

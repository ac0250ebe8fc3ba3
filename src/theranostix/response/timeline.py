"""A patient's course across therapy cycles: one table and one figure.

Rows are the patient's timepoints: the diagnostic (baseline) PET analysis, each therapy cycle's
:class:`~theranostix.dosimetry.pipeline.DosimetryResult`, and each follow-up PET analysis. Columns:
tumour volume (PSMA-TV / MTV, mL), whole-body SUVmean, lesion count, administered activity,
per-cycle and cumulative organ absorbed doses (Gy), cumulative BED (Gy) where the dosimetry gives
one, and the response category of each criterion at each follow-up (from a
:class:`~theranostix.response.pipeline.ResponseAssessment`).

Cumulative dose is the plain sum of the per-cycle absorbed doses. Cumulative BED is the sum of the
per-cycle BEDs: BED is additive across cycles when sublethal damage is fully repaired between them
(weeks apart), the usual assumption for multi-cycle radioligand therapy (e.g. Sandström et al.,
J Nucl Med 2013;54:33). Timepoints are ordered by date when every row has one, else in the order
baseline, cycles, follow-ups.

Pure: results in, :class:`Timeline` / matplotlib ``Figure`` out (saving is the caller's, e.g.
:func:`theranostix.report.figures.save_figure`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance

__all__ = ["TimelineRow", "Timeline", "build_timeline", "timeline_figure"]


class TimelineRow(BaseModel):
    """One timepoint of the patient's course."""

    label: str
    kind: Literal["diagnostic", "therapy", "followup"]
    time: datetime | None = None
    days_since_baseline: float | None = None
    cycle: int | None = None
    tumour_volume_ml: float | None = None
    suv_mean_whole_body: float | None = None
    n_lesions: int | None = None
    administered_mbq: float | None = None
    organ_dose_gy: dict[str, float] = Field(default_factory=dict)
    cumulative_organ_dose_gy: dict[str, float] = Field(default_factory=dict)
    cumulative_bed_gy: dict[str, float] = Field(default_factory=dict)
    response: dict[str, str] = Field(default_factory=dict)


class Timeline(BaseModel):
    """The rows and the organs followed."""

    rows: list[TimelineRow]
    organs: list[str]
    provenance: Provenance = Field(default_factory=Provenance)


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _pet_row(res: Any, label: str, kind: str) -> TimelineRow:
    burden = getattr(res, "burden", None)
    if burden is None:
        raise InvalidInputError(f"{label}: analysis has no burden", where=label)
    return TimelineRow(label=label, kind=kind, time=getattr(res, "reference_time", None),  # type: ignore[arg-type]
                       tumour_volume_ml=_finite(burden.total_volume_ml),
                       suv_mean_whole_body=_finite(burden.suv_mean_whole_body),
                       n_lesions=int(burden.n_lesions))


def build_timeline(
    baseline: Any,
    *,
    followups: Sequence[Any] = (),
    dosimetry: Sequence[Any] = (),
    cycle_times: Sequence[datetime | None] | None = None,
    assessment: Any | None = None,
    organs: Sequence[str] | None = None,
) -> Timeline:
    """Build the timeline table.

    Parameters
    ----------
    baseline
        Diagnostic PET ``AnalysisResult``.
    followups
        Follow-up ``AnalysisResult`` objects, in time order.
    dosimetry
        ``DosimetryResult`` of each therapy cycle, cycle 1 first.
    cycle_times
        Therapy date/time of each cycle (same length as ``dosimetry``), optional.
    assessment
        ``ResponseAssessment`` of ``followups`` against ``baseline`` (categories per follow-up).
    organs
        Organs whose doses are followed (default: every region of kind ``"organ"``).

    Raises
    ------
    InvalidInputError
        ``cycle_times`` of the wrong length; an assessment with another number of follow-ups.
    """
    prov = Provenance(parameters={"cumulative_bed": "sum of per-cycle BED (full repair between cycles)"})
    if cycle_times is not None and len(cycle_times) != len(dosimetry):
        raise InvalidInputError(f"{len(cycle_times)} cycle times for {len(dosimetry)} dosimetry results",
                                where="cycle_times", fix="give one time per cycle (or none)")
    if assessment is not None and len(assessment.followups) != len(followups):
        raise InvalidInputError(
            f"assessment has {len(assessment.followups)} follow-ups, {len(followups)} analyses given",
            where="assessment", fix="pass the analyses the assessment was made from")
    rows = [_pet_row(baseline, "baseline", "diagnostic")]
    if organs is None:
        names: list[str] = []
        for d in dosimetry:
            for r in d.regions:
                if r.kind == "organ" and r.region not in names:
                    names.append(r.region)
        organs = names
    organs = list(organs)
    for c, d in enumerate(dosimetry, start=1):
        doses = {r.region: float(r.dose_gy) for r in d.regions if r.region in organs}
        beds = {r.region: float(r.bed_gy) for r in d.regions if r.region in organs and r.bed_gy is not None}
        missing = [o for o in organs if o not in doses]
        if missing:
            prov.warn(f"cycle {c}: no dose for {', '.join(missing)} (cumulative dose omits the cycle)")
        rows.append(TimelineRow(label=f"cycle {c}", kind="therapy", cycle=c,
                                time=None if cycle_times is None else cycle_times[c - 1],
                                administered_mbq=_finite(d.administered_mbq), organ_dose_gy=doses,
                                cumulative_bed_gy=beds))
    for i, fu in enumerate(followups):
        row = _pet_row(fu, f"follow-up {i + 1}", "followup")
        if assessment is not None:
            row.response = {k: v.category for k, v in assessment.followups[i].criteria.items()}
        rows.append(row)
    if all(r.time is not None for r in rows):
        rows = [rows[0]] + sorted(rows[1:], key=lambda r: r.time)  # type: ignore[arg-type, return-value]
    else:
        if len(rows) > 1:
            prov.warn("not every timepoint has a date: order is baseline, cycles, follow-ups")
    t0 = rows[0].time
    cum: dict[str, float] = {}
    cum_bed: dict[str, float] = {}
    for r in rows:
        if t0 is not None and r.time is not None:
            r.days_since_baseline = (r.time - t0).total_seconds() / 86400.0
        if r.kind == "therapy":
            for o, v in r.organ_dose_gy.items():
                cum[o] = cum.get(o, 0.0) + v
            for o, v in r.cumulative_bed_gy.items():  # holds this cycle's BED until here
                cum_bed[o] = cum_bed.get(o, 0.0) + v
        r.cumulative_organ_dose_gy = dict(cum)
        r.cumulative_bed_gy = dict(cum_bed)
    return Timeline(rows=rows, organs=organs, provenance=prov)


def timeline_figure(timeline: Timeline, *, title: str = "") -> Any:
    """Figure of the timeline: tumour volume and lesion count (with response categories),
    whole-body SUVmean, cumulative organ doses. Returns a matplotlib ``Figure``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = timeline.rows
    use_days = all(r.days_since_baseline is not None for r in rows)
    x = [r.days_since_baseline if use_days else i for i, r in enumerate(rows)]
    pet = [(xi, r) for xi, r in zip(x, rows) if r.kind != "therapy"]
    fig, axes = plt.subplots(3, 1, figsize=(7.0, 7.5), sharex=True, dpi=110)
    ax = axes[0]
    px = [p[0] for p in pet]
    ax.plot(px, [p[1].tumour_volume_ml if p[1].tumour_volume_ml is not None else float("nan") for p in pet],
            "o-", color="#d62728", label="tumour volume (mL)")
    ax.set_ylabel("tumour volume (mL)")
    ax2 = ax.twinx()
    ax2.plot(px, [p[1].n_lesions if p[1].n_lesions is not None else float("nan") for p in pet], "s--",
             color="#1f77b4", label="lesion count")
    ax2.set_ylabel("lesions")
    from matplotlib.ticker import MaxNLocator

    ax2.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax2.set_ylim(bottom=0)
    ax.set_ylim(bottom=0)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="lower left")
    for n, (xi, r) in enumerate(pet):
        if r.response:
            txt = "\n".join(f"{k.upper()}: {v}" for k, v in r.response.items())
            last = n == len(pet) - 1
            ax.annotate(txt, (xi, r.tumour_volume_ml or 0.0), textcoords="offset points",
                        xytext=(-8, 6) if last else (6, 6), ha="right" if last else "left", fontsize=7)
    axes[1].plot(px, [p[1].suv_mean_whole_body if p[1].suv_mean_whole_body is not None else float("nan")
                      for p in pet], "o-", color="#2ca02c")
    axes[1].set_ylabel("whole-body SUVmean")
    for o in timeline.organs:
        axes[2].step(x, [r.cumulative_organ_dose_gy.get(o, 0.0) for r in rows], where="post", label=o)
    axes[2].set_ylabel("cumulative dose (Gy)")
    if timeline.organs:
        axes[2].legend(fontsize=7, loc="upper left")
    for ax_ in axes:
        for xi, r in zip(x, rows):
            if r.kind == "therapy":
                ax_.axvline(xi, color="0.8", lw=0.8, zorder=0)
    axes[2].set_xlabel("days since baseline" if use_days else "timepoint")
    if not use_days:
        axes[2].set_xticks(list(range(len(rows))), [r.label for r in rows], rotation=30, fontsize=7)
    axes[0].set_title(title or "patient timeline", fontsize=9)
    fig.tight_layout()
    return fig

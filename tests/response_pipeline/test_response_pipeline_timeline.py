"""Timeline table: cumulative doses and BED, ordering, response categories; the figure."""

from __future__ import annotations

from datetime import datetime

import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.core.provenance import Provenance
from theranostix.dosimetry.pipeline import DosimetryResult, RegionDose
from theranostix.response.pipeline import assess_response
from theranostix.response.timeline import build_timeline, timeline_figure


def _dose(kidney_gy: float, bed: float | None, salivary_gy: float, tumour_gy: float = 10.0) -> DosimetryResult:
    def r(name, kind, d, b=None):
        return RegionDose(region=name, kind=kind, volume_ml=100.0, mass_g=100.0, times_h=[24.0],
                          activities_mbq=[100.0], method="hanscheid", tia_mbq_h=1000.0,
                          s_mgy_per_mbq_s=1e-5, dose_gy=d, dose_gy_per_gbq=d / 7.4, bed_gy=b)
    return DosimetryResult(nuclide="Lu-177", administered_mbq=7400.0, provenance=Provenance(),
                           regions=[r("kidneys", "organ", kidney_gy, bed), r("salivary", "organ", salivary_gy),
                                    r("lesion_1", "lesion", tumour_gy)])


def _course(make):
    b = make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0), make.lesion(2, (100, 0, 0), 5.0, 10.0)])
    f1 = make.analysis([make.lesion(1, (0, 0, 0), 6.0, 14.0), make.lesion(2, (100, 0, 0), 3.0, 8.0)], days=84)
    f2 = make.analysis([make.lesion(1, (0, 0, 0), 3.0, 10.0)], days=126)
    return b, [f1, f2]


def test_table_values(make):
    b, fus = _course(make)
    res = assess_response(b, fus, criteria=["recip"])
    t0 = b.reference_time
    times = [datetime(2026, 1, 19, 9), datetime(2026, 3, 2, 9)]
    tl = build_timeline(b, followups=fus, dosimetry=[_dose(4.0, 4.5, 6.0), _dose(3.0, 3.4, 5.0)],
                        cycle_times=times, assessment=res)
    assert [r.label for r in tl.rows] == ["baseline", "cycle 1", "cycle 2", "follow-up 1", "follow-up 2"]
    assert tl.organs == ["kidneys", "salivary"]  # lesions are not organs
    base, c1, c2, f1, f2 = tl.rows
    assert base.tumour_volume_ml == pytest.approx(15.0) and base.n_lesions == 2
    # whole-body SUVmean = TLA / TV = (0.7*20*10 + 0.7*10*5) / 15
    assert base.suv_mean_whole_body == pytest.approx((140 + 35) / 15)
    assert c1.cumulative_organ_dose_gy == {"kidneys": 4.0, "salivary": 6.0}
    assert c2.cumulative_organ_dose_gy == {"kidneys": 7.0, "salivary": 11.0}
    assert c2.cumulative_bed_gy == pytest.approx({"kidneys": 7.9})
    assert f2.cumulative_organ_dose_gy == {"kidneys": 7.0, "salivary": 11.0}
    assert c1.days_since_baseline == pytest.approx((times[0] - t0).total_seconds() / 86400)
    assert f1.days_since_baseline == pytest.approx(84.0)
    assert f1.response == {"recip": "PR"} and f2.response == {"recip": "PR"}
    assert f2.n_lesions == 1 and f2.tumour_volume_ml == pytest.approx(3.0)
    assert base.response == {} and c1.response == {}


def test_rows_sorted_by_date(make):
    b, fus = _course(make)
    # cycle 2 given after follow-up 1 in time
    tl = build_timeline(b, followups=fus[:1], dosimetry=[_dose(4, None, 6), _dose(3, None, 5)],
                        cycle_times=[datetime(2026, 1, 19), datetime(2026, 4, 1)])
    assert [r.label for r in tl.rows] == ["baseline", "cycle 1", "follow-up 1", "cycle 2"]
    assert tl.rows[2].cumulative_organ_dose_gy["kidneys"] == 4.0
    assert tl.rows[3].cumulative_organ_dose_gy["kidneys"] == 7.0


def test_without_dates_order_is_kept_and_warned(make):
    b, fus = _course(make)
    tl = build_timeline(b, followups=fus, dosimetry=[_dose(4, None, 6)])
    assert [r.kind for r in tl.rows] == ["diagnostic", "therapy", "followup", "followup"]
    assert tl.provenance.warnings


def test_bad_inputs(make):
    b, fus = _course(make)
    with pytest.raises(InvalidInputError):
        build_timeline(b, dosimetry=[_dose(4, None, 6)], cycle_times=[])
    res = assess_response(b, fus, criteria=["recip"])
    with pytest.raises(InvalidInputError):
        build_timeline(b, followups=fus[:1], assessment=res)


def test_figure(make):
    import matplotlib.pyplot as plt

    b, fus = _course(make)
    res = assess_response(b, fus, criteria=["recip", "percist"])
    fig = timeline_figure(build_timeline(b, followups=fus, dosimetry=[_dose(4, 4.5, 6)],
                                         cycle_times=[datetime(2026, 1, 19)], assessment=res))
    assert len(fig.axes) == 4  # 3 panels + twin axis for the lesion count
    plt.close(fig)

"""Hand-made PET analyses (AnalysisResult of pet/pipeline.py) for the response tests."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

import pytest

from theranostix.core.provenance import Provenance
from theranostix.pet.lesions import LesionMetrics, LesionTable
from theranostix.pet.metrics import whole_body_burden

T0 = datetime(2026, 1, 5, 9, 0)
PATIENT = {"sex": "M", "weight_kg": 80.0, "height_m": 1.80}


def _analysis_cls():
    """The real AnalysisResult (pet/pipeline.py, analysis_contract.md)."""
    from theranostix.pet.pipeline import AnalysisResult

    return AnalysisResult


def lesion(lid: int, centre: tuple[float, float, float], volume_ml: float, suv: float,
           site: str = "bone", suv_peak: float | None = None) -> LesionMetrics:
    d = 2.0 * (3.0 * volume_ml * 1000.0 / (4.0 * math.pi)) ** (1 / 3)
    return LesionMetrics(lesion_id=lid, site=site, centroid_lps_mm=centre, max_voxel_lps_mm=centre,
                         suv_max=suv, suv_mean=0.7 * suv, suv_peak_local=suv_peak or 0.8 * suv,
                         suv_peak_global=suv_peak or 0.8 * suv, n_voxels=max(1, int(volume_ml * 15.6)),
                         volume_ml=volume_ml, total_lesion_activity=0.7 * suv * volume_ml,
                         longest_diameter_mm=d, long_axis_axial_mm=d, short_axis_mm=d)


def analysis(lesions: list[LesionMetrics], *, days: float = 0.0, liver=(5.0, 0.5), blood_pool=(1.5, 0.2),
             **kw: Any) -> StandInAnalysis:
    regions = {}
    if liver is not None:
        regions["liver"] = {"found": True, "mean": liver[0], "sd": liver[1], "method": "hand"}
    if blood_pool is not None:
        regions["blood_pool"] = {"found": True, "mean": blood_pool[0], "sd": blood_pool[1], "method": "hand"}
    table = LesionTable(lesions=lesions, burden=whole_body_burden(lesions))
    kw.setdefault("reference_time", T0 + timedelta(days=days))
    kw.setdefault("tracer", "psma-ga68")
    kw.setdefault("suv_kind", "bw")
    kw.setdefault("uptake_time_min", 60.0)
    kw.setdefault("patient", dict(PATIENT))
    return _analysis_cls()(lesions=table, burden=table.burden, reference_regions=regions, scores={},
                           eligibility={}, provenance=Provenance(), **kw)


@pytest.fixture
def make():
    """Factory functions: ``make.lesion(...)``, ``make.analysis(...)``."""

    class _M:
        pass

    m = _M()
    m.lesion = lesion
    m.analysis = analysis
    return m

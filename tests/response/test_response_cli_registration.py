"""`theranostix respond` on analyze folders registers with the CT the folder keeps (ct.nii.gz)
and refuses a mis-registered pair with the reason (exit 2), or flags it on request."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import numpy as np
import pytest

from theranostix.core.image import Image
from theranostix.core.provenance import Provenance
from theranostix.io.analysis_folder import write_analysis
from theranostix.pet.lesions import LesionMetrics, LesionTable
from theranostix.pet.metrics import whole_body_burden

SHIFT = np.array([16.0, 0.0, 20.0])  # patient position change at follow-up (mm, LPS)
T0 = datetime(2026, 1, 5, 9, 0)


def _ct(origin=(0.0, 0.0, 0.0)) -> Image:
    k, j, i = np.mgrid[0:40, 0:36, 0:44].astype(float)
    a = np.full(k.shape, -1000.0, dtype=np.float32)
    body = (((i - 22) / 18) ** 2 + ((j - 18) / 13) ** 2 <= 1) & (k > 2) & (k < 37)
    a[body] = 20.0
    a[body & (((i - 14) / 5) ** 2 + ((j - 15) / 6) ** 2 <= 1) & (k > 18)] = -800.0
    a[(((i - 22) / 3) ** 2 + ((j - 27) / 3) ** 2 <= 1) & body] = 700.0
    a[body & (((i - 30) / 4) ** 2 + ((j - 14) / 4) ** 2 + ((k - 10) / 5) ** 2 <= 1)] = 60.0
    return Image(a, spacing=(4.0, 4.0, 4.0), origin=tuple(origin), units="HU")


def _lesion(lid, centre, vol, suv):
    d = 2.0 * (3.0 * vol * 1000.0 / (4.0 * np.pi)) ** (1 / 3)
    return LesionMetrics(lesion_id=lid, site="bone", centroid_lps_mm=tuple(centre), max_voxel_lps_mm=tuple(centre),
                         suv_max=suv, suv_mean=0.7 * suv, suv_peak_local=0.8 * suv, suv_peak_global=0.8 * suv,
                         n_voxels=max(1, int(vol * 15.6)), volume_ml=vol, total_lesion_activity=0.7 * suv * vol,
                         longest_diameter_mm=d, long_axis_axial_mm=d, short_axis_mm=d)


def _analysis(lesions, ct, days=0.0):
    from theranostix.pet.pipeline import AnalysisResult

    table = LesionTable(lesions=lesions, burden=whole_body_burden(lesions))
    return AnalysisResult(tracer="psma-ga68", suv_kind="bw", reference_time=T0 + timedelta(days=days),
                          uptake_time_min=60.0, patient={"sex": "M", "weight_kg": 80.0, "height_m": 1.8},
                          reference_regions={"liver": {"found": True, "mean": 5.0, "sd": 0.5}},
                          lesions=table, burden=table.burden, scores={}, eligibility={},
                          provenance=Provenance(), ct=ct)


def _folders(tmp_path, fu_ct):
    c1, c2 = np.array([40.0, 60.0, 80.0]), np.array([120.0, 70.0, 60.0])
    b = _analysis([_lesion(1, c1, 1.0, 12.0), _lesion(2, c2, 2.0, 9.0)], _ct())
    f = _analysis([_lesion(1, c1 + SHIFT, 0.8, 10.0), _lesion(2, c2 + SHIFT, 1.5, 8.0)], fu_ct, days=60)
    write_analysis(b, tmp_path / "base")
    write_analysis(f, tmp_path / "fu")
    assert (tmp_path / "fu" / "ct.nii.gz").is_file()
    return tmp_path / "base", tmp_path / "fu"


def test_respond_registers_with_the_folder_ct(tmp_path, cli):
    b, f = _folders(tmp_path, _ct(origin=tuple(SHIFT)))
    code, out, err = cli(["respond", str(b), str(f), "--out", str(tmp_path / "o"), "--json", "--criteria", "recip"])
    assert code == 0, err
    fa = json.loads(out)["assessment"]["followups"][0]
    reg = fa["registration"]
    assert reg["performed"] and reg["accepted"]
    assert np.allclose(reg["translation_mm"], SHIFT, atol=2.0)
    # the 25.6 mm displacement is undone: both lesions matched, none new
    assert fa["tracking"]["n_matched"] == 2 and fa["n_new_lesions"] == 0


def test_respond_refuses_misregistered_pair_with_reason(tmp_path, cli):
    rng = np.random.default_rng(5)
    other = Image(rng.normal(0, 300, (40, 36, 44)).astype(np.float32), spacing=(4.0, 4.0, 4.0),
                  origin=(0.0, 0.0, 0.0), units="HU")
    b, f = _folders(tmp_path, other)
    code, out, err = cli(["respond", str(b), str(f), "--out", str(tmp_path / "o"), "--json"])
    assert code == 2 and "registration" in err and "NCC" in err
    assert not (tmp_path / "o" / "response.json").exists()
    code, out, err = cli(["respond", str(b), str(f), "--out", str(tmp_path / "o2"), "--json",
                          "--flag-registration-failure"])
    assert code == 0, err
    fa = json.loads(out)["assessment"]["followups"][0]
    assert not fa["registration"]["accepted"]
    assert any("registration quality" in x for x in fa["flags"])


@pytest.mark.parametrize("option,value,parameter,bad", [
    ("--new-lesion-uptake", "liver", "new_lesion_min_uptake", "parotid"),
    ("--new-lesion-lookback", "sphere", "new_lesion_lookback", "cube"),
])
def test_respond_new_lesion_options(tmp_path, cli, option, value, parameter, bad):
    b, f = _folders(tmp_path, _ct(origin=tuple(SHIFT)))
    code, out, err = cli(["respond", str(b), str(f), "--out", str(tmp_path / "o"), "--json",
                          "--criteria", "recip", option, value])
    assert code == 0, err
    assert json.loads(out)["assessment"]["provenance"]["parameters"][parameter] == value
    code, out, err = cli(["respond", str(b), str(f), "--out", str(tmp_path / "o2"), "--json", option, bad])
    assert code == 2 and option in err
    assert not (tmp_path / "o2" / "response.json").exists()

"""`theranostix respond` on analyze-output folders: JSON, files written, exit codes."""

from __future__ import annotations

import json

from theranostix.io.analysis_folder import write_analysis


def _folders(make, tmp_path, fu_tracer="psma-ga68"):
    b = make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0), make.lesion(2, (100, 0, 0), 5.0, 10.0)])
    f = make.analysis([make.lesion(1, (1, 0, 0), 4.0, 12.0), make.lesion(2, (100, 2, 0), 2.0, 6.0)],
                      days=60, tracer=fu_tracer)
    write_analysis(b, tmp_path / "base")
    write_analysis(f, tmp_path / "fu")
    return tmp_path / "base", tmp_path / "fu"


def test_respond_json(make, tmp_path, cli):
    b, f = _folders(make, tmp_path)
    out = tmp_path / "out"
    code, stdout, err = cli(["respond", str(b), str(f), "--out", str(out), "--json"])
    assert code == 0, err
    doc = json.loads(stdout)
    fa = doc["assessment"]["followups"][0]
    assert fa["criteria"]["recip"]["category"] == "PR"
    assert fa["criteria"]["percist"]["category"] == "PMR"
    assert fa["criteria"]["ppp"]["category"] == "non-PD"
    assert [r["label"] for r in doc["timeline"]["rows"]] == ["baseline", "follow-up 1"]
    assert json.loads((out / "response.json").read_text())["assessment"]["criteria"] == ["recip", "percist", "ppp"]
    assert (out / "timeline.png").stat().st_size > 1000
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_respond_table_and_criteria_option(make, tmp_path, cli):
    b, f = _folders(make, tmp_path)
    code, stdout, err = cli(["respond", str(b), str(f), "--out", str(tmp_path / "o"), "--criteria", "recip",
                             "--psa-progression"])
    assert code == 0, err
    assert "RECIP" in stdout and "PR" in stdout and "PERCIST" not in stdout


def test_respond_refuses_different_tracer(make, tmp_path, cli):
    b, f = _folders(make, tmp_path, fu_tracer="fdg")
    code, stdout, err = cli(["respond", str(b), str(f), "--out", str(tmp_path / "o"), "--json"])
    assert code == 2 and "tracer" in err
    assert not (tmp_path / "o" / "response.json").exists()


def test_respond_bad_inputs(make, tmp_path, cli):
    b, f = _folders(make, tmp_path)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli(["respond", str(b), str(empty), "--out", str(tmp_path / "o"), "--json"])[0] == 2
    assert cli(["respond", str(b), str(tmp_path / "missing"), "--out", str(tmp_path / "o")])[0] == 2
    assert cli(["respond", str(b), "--out", str(tmp_path / "o")])[0] == 2
    assert cli(["respond", str(b), str(f), "--out", str(tmp_path / "o"), "--criteria", "recist"])[0] == 2
    (tmp_path / "afile").write_text("x")
    assert cli(["respond", str(b), str(f), "--out", str(tmp_path / "afile")])[0] == 2
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "lesions.json").write_text("{not json")
    assert cli(["respond", str(b), str(bad), "--out", str(tmp_path / "o")])[0] == 2


def test_respond_residual_target_option(make, tmp_path, cli):
    import numpy as np

    from theranostix.core.image import Image

    # the follow-up segmented nothing, but its image keeps uptake (SUV 9) at the baseline target
    a = np.ones((50, 50, 50), dtype=np.float32)
    a[24:27, 24:27, 24:27] = 9.0  # voxel (25, 25, 25) = (0, 0, 0) mm
    suv = Image(a, spacing=(4.0, 4.0, 4.0), origin=(-100.0, -100.0, -100.0), units="SUVbw")
    write_analysis(make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0)]), tmp_path / "base")
    write_analysis(make.analysis([], days=60, suv=suv), tmp_path / "fu")
    args = ["respond", str(tmp_path / "base"), str(tmp_path / "fu"), "--criteria", "percist", "--json"]
    code, stdout, err = cli(args + ["--out", str(tmp_path / "o1")])
    assert code == 0, err
    fa = json.loads(stdout)["assessment"]["followups"][0]
    assert fa["criteria"]["percist"]["category"] == "PMR"  # 16 -> 9 SUV at the site
    assert fa["values"]["residual_significance_z"] >= 5.0
    code, stdout, err = cli(args + ["--out", str(tmp_path / "o2"), "--residual-target", "flag"])
    assert code == 0, err
    fa = json.loads(stdout)["assessment"]["followups"][0]
    assert fa["criteria"]["percist"]["category"] == "CMR"
    assert any("review the site" in x for x in fa["flags"])
    code, _, err = cli(args + ["--out", str(tmp_path / "o3"), "--residual-target", "ignore"])
    assert code == 2 and "--residual-target" in err
    assert not (tmp_path / "o3").exists()


def test_respond_recip_volume_option(make, tmp_path, cli):
    # complete response plus a follow-up region below the blood pool (SUVmax 1.2 < 1.5): not
    # PSMA-positive disease, so by default it leaves the follow-up TTV (CR); with every segmented
    # lesion it keeps the TTV above 0 (PR)
    write_analysis(make.analysis([make.lesion(1, (0, 0, 0), 10.0, 20.0)]), tmp_path / "base")
    write_analysis(make.analysis([make.lesion(2, (60, 60, 0), 0.7, 1.2, site="mediastinal")], days=60),
                   tmp_path / "fu")
    args = ["respond", str(tmp_path / "base"), str(tmp_path / "fu"), "--criteria", "recip", "--json"]
    cats = {}
    for mode in ("comparable", "segmented"):
        code, stdout, err = cli(args + ["--out", str(tmp_path / mode), "--recip-volume", mode])
        assert code == 0, err
        cats[mode] = json.loads(stdout)["assessment"]["followups"][0]["criteria"]["recip"]["category"]
    assert cats == {"comparable": "CR", "segmented": "PR"}
    code, _, err = cli(args + ["--out", str(tmp_path / "o3"), "--recip-volume", "all"])
    assert code == 2 and "--recip-volume" in err
    assert not (tmp_path / "o3").exists()

"""End to end: `theranostix demo` makes a twin, reads it back and writes the report."""

from __future__ import annotations

import json

import pytest


@pytest.mark.slow
def test_demo_writes_report_and_recovers_truth(tmp_path, cli):
    code, out, err = cli(["demo", "--out", str(tmp_path / "demo"), "--json"])
    assert code == 0, err
    res = json.loads(out)
    report = tmp_path / "demo" / "report"
    assert (report / "index.html").is_file() and (report / "results.json").is_file()
    assert (report / "mip_truth.png").stat().st_size > 10_000
    results = json.loads((report / "results.json").read_text())
    organs = {o["organ"]: o for o in results["suv"]["organs"]}
    # large, uniform organs read back within a few % of the twin's truth (noise, PSF remain)
    for name in ("liver", "muscle", "lung_left", "heart"):
        assert abs(organs[name]["error_pct"]) < 5.0, (name, organs[name])
    html = (report / "index.html").read_text()
    assert "Quantitative PET" in html and "mip_truth.png" in html
    assert res["report"].endswith("index.html")

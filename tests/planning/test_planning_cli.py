"""``theranostix plan``: JSON output, re-planning, exit codes."""

from __future__ import annotations

import json

import pytest

UPTAKE = {"diagnostic_agent": "psma-ga68", "nuclide": "Ga-68", "scan_time_h": 1.0,
          "patient_weight_kg": 73, "sex": "male",
          "regions": [{"name": "kidneys", "percent_ia": 14.1, "mass_g": 310},
                      {"name": "salivary_glands", "percent_ia": 1.46, "mass_g": 85},
                      {"name": "red_marrow", "percent_ia": 2.0, "mass_g": 1170},
                      {"name": "lesion_1", "kind": "lesion", "percent_ia": 0.1, "mass_g": 3.0}]}


@pytest.fixture
def files(tmp_path):
    up = tmp_path / "uptake.json"
    up.write_text(json.dumps(UPTAKE))
    c1 = tmp_path / "c1.json"
    c1.write_text(json.dumps({"cycle": 1, "administered_gbq": 7.4,
                              "regions": [{"region": "kidneys", "dose_gy": 4.5,
                                           "effective_half_life_h": 42}]}))
    return tmp_path, up, c1


def test_plan_json(cli, files):
    _tmp, up, _c1 = files
    code, out, err = cli(["plan", str(up), "--json", "--samples", "500"])
    assert code == 0, err
    data = json.loads(out)
    kid = next(r for r in data["prediction"]["regions"] if r["region"] == "kidneys")
    assert 0.11 < kid["dose_gy_per_gbq"]["median"] < 0.75
    pres = data["prescription"]
    assert pres["plan"]["cycles"] == 6 and pres["standard"]["activity_per_cycle_gbq"] == 7.4
    assert pres["binding_organ"] in ("kidneys", "red_marrow")
    assert data["replan"] is None


def test_plan_with_prior_dosimetry_and_risk_factors(cli, files):
    _tmp, up, c1 = files
    code, out, err = cli(["plan", str(up), "--json", "--samples", "500", "--prior-dosimetry", str(c1),
                          "--risk-factors", "--cycles", "4"])
    assert code == 0, err
    data = json.loads(out)
    assert data["replan"]["prescription"]["plan"]["cycles"] == 3
    kid = next(o for o in data["prescription"]["organs"] if o["organ"] == "kidneys")
    assert kid["limit_gy"] == 28.0 and kid["delivered_gy"] > 4.5


def test_plan_table_output(cli, files):
    _tmp, up, _c1 = files
    code, out, _err = cli(["plan", str(up), "--samples", "500"])
    assert code == 0 and "binding limit" in out and "Standard" in out


def test_plan_limits_file(cli, files):
    tmp, up, _c1 = files
    good = tmp / "limits.yaml"
    good.write_text("limits:\n  red_marrow: {quantity: absorbed_dose, value_gy: 1.0}\n")
    code, out, err = cli(["plan", str(up), "--json", "--samples", "500", "--limits", str(good)])
    assert code == 0, err
    assert json.loads(out)["prescription"]["binding_organ"] == "red_marrow"
    bad = tmp / "bad.yaml"
    bad.write_text("limits:\n  kidneys: {quantity: BED, value_gy: 40}\n")
    code, _out, err = cli(["plan", str(up), "--limits", str(bad)])
    assert code == 2 and "alpha_beta" in err


@pytest.mark.parametrize("case", ["missing", "negative", "therapy", "dir", "prior", "cycles"])
def test_plan_bad_input_exit_2(cli, files, case):
    tmp, up, c1 = files
    args = ["plan", str(up)]
    if case == "missing":
        args = ["plan", str(tmp / "nope.json")]
    elif case == "negative":
        bad = tmp / "neg.json"
        bad.write_text(json.dumps({"regions": [{"name": "kidneys", "percent_ia": -1, "mass_g": 300}]}))
        args = ["plan", str(bad)]
    elif case == "therapy":
        args += ["--therapy", "lu177-nothing"]
    elif case == "dir":
        args = ["plan", str(tmp)]
    elif case == "prior":
        c1.write_text('{"cycle": 1}')
        args += ["--prior-dosimetry", str(c1)]
    elif case == "cycles":
        args += ["--cycles", "0"]
    code, out, err = cli(args + ["--json"])
    assert code == 2, (out, err)
    assert "error" in err

"""CLI calculator verbs: bed and tia (JSON outputs and exit codes)."""

from __future__ import annotations

import json

import pytest


def test_bed_json_worked_case(cli):
    code, out, err = cli(["bed", "--dose-gy", "20", "--t-eff-h", "40", "--organ", "kidney", "--json"])
    assert code == 0, err
    d = json.loads(out)
    assert d["bed_gy"] == pytest.approx(30.0647, abs=5e-5)
    assert d["eqd2_gy"] == pytest.approx(16.9931, abs=5e-5)
    assert d["g_factor"] == pytest.approx(0.0654206, abs=5e-8)


def test_bed_explicit_parameters_and_table(cli):
    code, out, _ = cli(["bed", "--dose-gy", "20", "--t-eff-h", "40", "--alpha-beta", "2.6",
                        "--t-rep-h", "2.8"])
    assert code == 0 and "30.0647" in out


def test_bed_bad_input_exit_2(cli):
    code, _, err = cli(["bed", "--dose-gy", "-3", "--t-eff-h", "40", "--json"])
    assert code == 2 and "dose" in err
    code, _, err = cli(["bed", "--dose-gy", "3", "--t-eff-h", "40", "--organ", "brain"])
    assert code == 2


def test_tia_json(cli):
    code, out, err = cli(["tia", "--times-h", "4,24,48,96,168", "--activities-mbq",
                          "95,72,52,27,10", "--json"])
    assert code == 0, err
    d = json.loads(out)
    assert d["chosen"]["model"] == "mono"
    assert 7000 < d["chosen"]["tia_mbq_h"] < 7600
    assert d["chosen"]["tia_sd_mbq_h"] > 0
    assert "ICRP-107" in d["chosen"]["provenance"]["decay_data"]
    assert {c["model"] for c in d["candidates"]} == {"mono", "mono_uptake"}


def test_tia_table_output(cli):
    code, out, _ = cli(["tia", "--times-h", "4,24,48,96,168", "--activities-mbq",
                        "95,72,52,27,10", "--model", "mono"])
    assert code == 0 and "chosen model" in out and "AICc" in out


@pytest.mark.parametrize("args", [
    ["--times-h", "4,24,48", "--activities-mbq", "95,72"],
    ["--times-h", "4,24,x", "--activities-mbq", "95,72,3"],
    ["--times-h", "4,24,nan", "--activities-mbq", "95,72,3"],
    ["--times-h", "24,4,48,96,168", "--activities-mbq", "95,72,52,27,10"],
    ["--times-h", "4,24,48", "--activities-mbq", "95,72,50"],
    ["--times-h", "4,24,48,96,168", "--activities-mbq", "95,72,52,27,10", "--model", "quad"],
    ["--times-h", "4,24,48,96,168", "--activities-mbq", "95,72,52,27,10", "--nuclide", "Xx-999"],
])
def test_tia_bad_lists_exit_2(cli, args):
    code, out, err = cli(["tia", *args, "--json"])
    assert code == 2
    assert err.strip() and "Traceback" not in err


def test_tia_rising_curve_no_valid_fit_exit_1(cli):
    code, out, err = cli(["tia", "--times-h", "4,24,48,96,168", "--activities-mbq",
                          "5,20,40,60,80", "--json"])
    assert code == 1 and "no valid fit" in err
    assert json.loads(out)["chosen"] is None

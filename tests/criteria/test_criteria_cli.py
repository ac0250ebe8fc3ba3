"""``theranostix criteria ...``: --json output, tables, exit codes 0 / 2."""

from __future__ import annotations

import json

import pytest


def test_recip_json(cli):
    code, out, err = cli(["criteria", "recip", "--baseline-tv-ml", "100", "--followup-tv-ml", "70", "--json"])
    assert code == 0, err
    data = json.loads(out)
    assert data["category"] == "PR" and data["criterion"] == "RECIP 1.0"
    assert [r["rule"] for r in data["reasons"]][:2] == ["RECIP.volume_change", "RECIP.new_lesions"]
    code, out, _ = cli(["criteria", "recip", "--baseline-tv-ml", "100", "--followup-tv-ml", "120",
                        "--new-lesions", "2", "--json"])
    assert json.loads(out)["category"] == "PD"


def test_recip_lesions_the_category_rests_on(cli):
    base = ["criteria", "recip", "--baseline-tv-ml", "10", "--followup-tv-ml", "14", "--new-lesions", "1"]
    code, out, err = cli(base + ["--lesion", "10:13", "--lesion", "0:1:new", "--json"])
    assert code == 0, err
    data = json.loads(out)
    # +40 % with one new lesion is PD; without the new lesion +30 % and none new: SD
    assert data["category"] == "PD" and data["values"]["single_lesion_dependence"] == [
        {"lesion": 2, "category_without": "SD"}]
    assert "rests on single lesions" in data["flags"][0]
    for bad in (["--lesion", "10:x"], ["--lesion", "5:1:new"], ["--lesion", "11:13"],
                ["--lesion", "0:1:new", "--lesion", "0:1:new"]):
        code, _, err = cli(base + bad)
        assert code == 2 and "--lesion" in err and "Traceback" not in err, bad


def test_recip_table_and_errors(cli):
    code, out, _ = cli(["criteria", "recip", "--baseline-tv-ml", "100", "--followup-tv-ml", "90"])
    assert code == 0 and "RECIP 1.0" in out and "SD" in out
    code, out, err = cli(["criteria", "recip", "--baseline-tv-ml", "-5", "--followup-tv-ml", "90"])
    assert code == 2 and "negative" in err and "Traceback" not in err
    code, _, err = cli(["criteria", "recip", "--baseline-tv-ml", "0", "--followup-tv-ml", "90"])
    assert code == 2



def test_recip_usage_errors_exit_2(cli):
    code, _, err = cli(["criteria", "recip", "--baseline-tv-ml", "abc", "--followup-tv-ml", "90"])
    assert code == 2 and "Traceback" not in err
    code, _, err = cli(["criteria", "recip", "--followup-tv-ml", "90"])
    assert code == 2 and "baseline-tv-ml" in err


PERCIST = ["criteria", "percist", "--baseline-sulpeak", "10", "--followup-sulpeak", "6",
           "--baseline-liver-mean", "2.0", "--baseline-liver-sd", "0.25", "--followup-liver-mean", "2.1"]


def test_percist_json_and_flags(cli):
    code, out, err = cli(PERCIST + ["--baseline-uptake-min", "60", "--followup-uptake-min", "65", "--json"])
    assert code == 0, err
    data = json.loads(out)
    assert data["category"] == "PMR" and data["values"]["comparable"] is True
    code, out, _ = cli(PERCIST + ["--baseline-uptake-min", "60", "--followup-uptake-min", "90", "--json"])
    data = json.loads(out)
    assert code == 0 and data["category"] == "NE" and data["values"]["category_if_comparable"] == "PMR"
    assert any("uptake times" in f for f in data["flags"])
    code, _, err = cli(PERCIST + ["--baseline-uptake-min", "60", "--followup-uptake-min", "90",
                                  "--on-incomparable", "refuse"])
    assert code == 2 and "not comparable" in err
    code, out, _ = cli(PERCIST + ["--new-lesions", "1", "--json"])
    assert json.loads(out)["category"] == "PMD"


def test_percist_missing_reference_exit_2(cli):
    code, _, err = cli(["criteria", "percist", "--baseline-sulpeak", "10", "--followup-sulpeak", "6"])
    assert code == 2 and "liver" in err


def test_ppp_cli(cli):
    code, out, _ = cli(["criteria", "ppp", "--new-distant-lesions", "2", "--json"])
    assert code == 0 and json.loads(out)["category"] == "PD"
    code, out, _ = cli(["criteria", "ppp", "--new-other-lesions", "1", "--json"])
    assert json.loads(out)["category"] == "indeterminate"
    code, out, _ = cli(["criteria", "ppp", "--new-other-lesions", "1", "--clinical-progression", "--json"])
    assert json.loads(out)["category"] == "PD"
    code, out, _ = cli(["criteria", "ppp", "--max-increase-pct", "30", "--no-clinical-progression",
                        "--not-confirmed", "--json"])
    assert json.loads(out)["category"] == "non-PD"
    code, out, _ = cli(["criteria", "ppp", "--max-increase-pct", "30", "--confirmed", "--json"])
    assert json.loads(out)["category"] == "PD"
    code, _, _ = cli(["criteria", "ppp", "--new-distant-lesions", "-1"])
    assert code == 2


def test_deauville_cli(cli):
    code, out, err = cli(["criteria", "deauville", "--lesion-suvmax", "3", "--liver-suvmax", "2.5",
                          "--mediastinum", "1.5", "--json"])
    assert code == 0, err
    assert json.loads(out)["category"] == "4"
    code, out, _ = cli(["criteria", "deauville", "--lesion-suvmax", "3", "--liver-suvmax", "2.5",
                        "--mediastinum", "1.5", "--lesion-suvpeak", "2.6", "--liver-suvmean", "2.0",
                        "--baseline-lesion-suvmax", "12", "--json"])
    data = json.loads(out)
    assert set(data) == {"deauville", "qpet", "lugano"}
    assert data["qpet"]["category"] == "4" and data["lugano"]["category"] == "PMR"
    code, out, _ = cli(["criteria", "deauville", "--lesion-suvmax", "2", "--liver-suvmean", "2.5",
                        "--mediastinum", "1.5"])
    assert code == 0 and "Deauville" in out
    code, _, err = cli(["criteria", "deauville", "--lesion-suvmax", "3", "--mediastinum", "1.5"])
    assert code == 2 and "liver" in err
    code, _, _ = cli(["criteria", "deauville"])
    assert code == 2


def test_mipsma_cli(cli):
    args = ["criteria", "mipsma", "--lesion-suvmax", "7", "--blood-pool", "2", "--liver", "6",
            "--parotid", "15", "--spleen", "9", "--json"]
    code, out, _ = cli(args)
    assert code == 0 and json.loads(out)["category"] == "2"
    code, out, _ = cli(args + ["--tracer", "[18F]PSMA-1007"])
    assert json.loads(out)["category"] == "1"
    code, _, err = cli(["criteria", "mipsma", "--lesion-suvmax", "7", "--blood-pool", "2", "--liver", "6"])
    assert code == 2 and "parotid" in err


def test_promise_cli_options_and_file(cli, tmp_path):
    code, out, err = cli(["criteria", "promise", "--local", "seminal_vesicle", "--node", "obturator_left",
                          "--node", "presacral:2", "--bone", "2", "--organ", "lung", "--json"])
    assert code == 0, err
    assert json.loads(out)["category"] == "miT3b miN2 miM1b(oligo),c"
    f = tmp_path / "lesions.json"
    f.write_text(json.dumps({"prior_prostatectomy": True, "lesions": [
        {"kind": "local"}, {"kind": "lymph_node", "station": "common_iliac_right"},
        {"kind": "lymph_node", "station": "retroperitoneal", "count": 3}]}))
    code, out, _ = cli(["criteria", "promise", "--lesions", str(f), "--json"])
    assert json.loads(out)["category"] == "miTr miN1 miM1a"
    code, out, _ = cli(["criteria", "promise", "--lesions", str(f), "--ajcc-common-iliac", "--version", "v1", "--json"])
    assert json.loads(out)["category"] == "miTr miN0 miM1a"
    code, out, _ = cli(["criteria", "promise", "--node", "obturator_left"])
    assert code == 0 and "miN1" in out


@pytest.mark.parametrize("args,match", [
    (["--node", "knee"], "unknown lymph-node station"),
    (["--node", "presacral:x"], "count"),
    (["--local", "everywhere"], "invalid lesion record"),
    (["--lesions", "/nonexistent/lesions.json"], "not found"),
])
def test_promise_cli_bad_input(cli, args, match):
    code, _, err = cli(["criteria", "promise", *args])
    assert code == 2 and match in err


def test_promise_cli_bad_file(cli, tmp_path):
    f = tmp_path / "bad.json"
    f.write_text("{not json")
    code, _, err = cli(["criteria", "promise", "--lesions", str(f)])
    assert code == 2
    f.write_text(json.dumps({"something": 1}))
    code, _, err = cli(["criteria", "promise", "--lesions", str(f)])
    assert code == 2 and "lesions" in err


def test_krenning_and_primary_cli(cli):
    code, out, _ = cli(["criteria", "krenning", "--lesion-suvmax", "25", "--liver", "10", "--spleen", "20", "--json"])
    assert code == 0 and json.loads(out)["category"] == "4"
    code, out, _ = cli(["criteria", "primary", "--pattern", "focal_pz", "--lesion-suvmax", "12.5", "--json"])
    assert code == 0 and json.loads(out)["category"] == "5"
    code, _, _ = cli(["criteria", "primary", "--pattern", "focal_tz", "--lesion-suvmax", "5"])
    assert code == 2


def test_eligibility_cli(cli, tmp_path):
    f = tmp_path / "psma.json"
    f.write_text(json.dumps([
        {"kind": "bone", "suv_max": 25.0, "lesion_id": "T12"},
        {"kind": "lymph_node", "suv_max": 12.0, "measurable": True, "short_axis_mm": 15},
        {"kind": "visceral", "suv_max": 3.0, "short_axis_mm": 10.0, "lesion_id": "liver met"}]))
    code, out, err = cli(["criteria", "vision", "--lesions", str(f), "--liver", "5", "--json"])
    assert code == 0, err
    data = json.loads(out)
    assert data["category"] == "not_eligible"
    assert "liver met" in [r for r in data["reasons"] if r["rule"] == "VISION.negative_visceral"][0]["text"]
    code, out, _ = cli(["criteria", "therap", "--lesions", str(f), "--no-fdg-discordant", "--json"])
    assert json.loads(out)["category"] == "eligible"
    code, out, _ = cli(["criteria", "therap", "--lesions", str(f), "--json"])
    assert json.loads(out)["category"] == "indeterminate"
    code, out, _ = cli(["criteria", "netter1", "--lesion-suvmax", "12,9.5", "--liver", "10", "--json"])
    assert code == 0 and json.loads(out)["category"] == "eligible"
    code, out, _ = cli(["criteria", "netter1", "--lesion-suvmax", "12,8.9", "--liver", "10", "--json"])
    assert json.loads(out)["category"] == "not_eligible"
    code, _, _ = cli(["criteria", "netter1", "--lesion-suvmax", "12,x", "--liver", "10"])
    assert code == 2
    f.write_text(json.dumps([{"kind": "brain", "suv_max": 3}]))
    code, _, err = cli(["criteria", "vision", "--lesions", str(f), "--liver", "5"])
    assert code == 2 and "invalid lesion record" in err


def test_psma_rads_cli(cli):
    base = ["criteria", "psma-rads", "--tissue", "soft_tissue", "--typical", "--anatomy", "suspicious"]
    code, out, err = cli(base + ["--uptake", "intense", "--json"])
    assert code == 0, err
    assert json.loads(out)["category"] == "5"
    code, out, _ = cli(base + ["--lesion-suvmax", "1.5", "--blood-pool", "2", "--json"])
    assert json.loads(out)["category"] == "3A"
    code, out, _ = cli(["criteria", "psma-rads", "--tissue", "bone", "--typical", "--anatomy", "none",
                        "--uptake", "intense", "--treated", "--version", "2.0", "--json"])
    assert json.loads(out)["category"] == "5T"
    code, _, err = cli(base + ["--uptake", "hot"])
    assert code == 2 and "uptake" in err


def test_percist_cli_zero_followup_means_no_residual(cli):
    args = ["criteria", "percist", "--baseline-sulpeak", "10", "--followup-sulpeak", "0",
            "--baseline-liver-mean", "2.0", "--baseline-liver-sd", "0.25", "--followup-liver-mean", "2.0",
            "--json"]
    code, out, _ = cli(args)
    assert code == 0 and json.loads(out)["category"] == "CMR"


def test_percist_cli_zero_baseline_means_no_baseline_lesion(cli):
    args = ["criteria", "percist", "--baseline-sulpeak", "0", "--followup-sulpeak", "4",
            "--baseline-liver-mean", "2.0", "--baseline-liver-sd", "0.25", "--followup-liver-mean", "2.0", "--json"]
    code, out, err = cli(args + ["--new-lesions", "1"])
    assert code == 0 and json.loads(out)["category"] == "PMD", err
    code, _, err = cli(args)  # no baseline lesion and no new lesion: nothing to decide on
    assert code == 2 and "baseline.sul_peak" in err


def test_percist_cmr_blood_pool_level_options(cli):
    args = ["criteria", "percist", "--baseline-sulpeak", "10", "--followup-sulpeak", "1.8",
            "--baseline-liver-mean", "2.0", "--baseline-liver-sd", "0.25", "--followup-liver-mean", "2.1",
            "--followup-blood-pool-mean", "1.5", "--followup-blood-pool-sd", "0.2", "--json"]
    code, out, err = cli(args)
    assert code == 0 and json.loads(out)["category"] == "PMR", err  # default: 1.8 > the mean 1.5
    code, out, _ = cli(args + ["--cmr-blood-pool-sd", "2"])
    assert code == 0 and json.loads(out)["category"] == "CMR"  # 1.8 <= 1.5 + 2 x 0.2
    code, _, err = cli(args + ["--cmr-blood-pool-sd", "-1"])
    assert code == 2 and "cmr_blood_pool_sd" in err

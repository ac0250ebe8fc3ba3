"""Organ-level S values: OpenDose import, CSV import, mass scaling, dose sum, bad input."""

from __future__ import annotations

import json

import pytest

from theranostix.core.errors import InvalidInputError
from theranostix.dosimetry.s_values import (
    SValueTable,
    electron_self_s_mgy_per_mbq_s,
    organ_absorbed_doses,
    s_values_from_csv,
    s_value_table_from_json,
    s_values_from_opendose,
    scale_self_s_value,
)


def _opendose(reference_dir, sex: str, source_file: str, source: str) -> SValueTable:
    text = (reference_dir / "dosimetry" / "opendose_icrp110" / sex / source_file).read_text()
    return s_values_from_opendose(text, source=source, nuclide="Lu-177", phantom=f"ICRP-110 {sex}")


@pytest.mark.parametrize(
    ("file", "source", "target", "expected"),
    [
        ("lu-177_liver.json", "Liver", "Liver", 1.3713e-5),
        ("lu-177_spleen.json", "Spleen", "Spleen", 1.5967e-4),
        ("lu-177_left_kidney_c+m+p.json", "Left kidney C+M+P", "RKidney + LKidney", 7.7060e-5),
    ],
)
def test_opendose_values(reference_dir, file, source, target, expected):
    table = _opendose(reference_dir, "AM", file, source)
    assert table.get(source, target).s_mgy_per_mbq_s == pytest.approx(expected, rel=1e-6)
    # round trip through the documented JSON format
    again = SValueTable.model_validate_json(table.model_dump_json())
    assert again.get(source, target).s_mgy_per_mbq_s == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("file", "organ"),
    [("lu-177_liver.json", "Liver"), ("lu-177_spleen.json", "Spleen"),
     ("lu-177_left_kidney_c+m+p.json", "Left kidney C+M+P")],
)
def test_self_s_bounds_facts(reference_dir, file, organ):
    """FACTS.md: self S >= electron-only 2.3701e-14/m and at most ~5 % above (100-2000 g)."""
    for sex in ("AM", "AF"):
        e = _opendose(reference_dir, sex, file, organ).get(organ, organ)
        electron_only = 2.3701e-14 / (e.target_mass_g / 1000) * 1e9
        assert electron_self_s_mgy_per_mbq_s("Lu-177", e.target_mass_g) == pytest.approx(electron_only, rel=2e-4)
        assert electron_only <= e.s_mgy_per_mbq_s <= 1.05 * electron_only


def test_mass_scaling_laws():
    s_e_ref = electron_self_s_mgy_per_mbq_s("Lu-177", 1800.0)
    s_p_ref = 0.03 * s_e_ref
    s_ref = s_e_ref + s_p_ref
    # pure electron part scales exactly as 1/m
    assert scale_self_s_value(s_e_ref, 1800.0, 900.0, "Lu-177") == pytest.approx(2 * s_e_ref, rel=1e-12)
    # photon part as m^-2/3
    got = scale_self_s_value(s_ref, 1800.0, 900.0, "Lu-177")
    assert got == pytest.approx(2 * s_e_ref + s_p_ref * 2 ** (2 / 3), rel=1e-12)
    # same mass: unchanged
    assert scale_self_s_value(s_ref, 1800.0, 1800.0, "Lu-177") == pytest.approx(s_ref, rel=1e-12)


def test_scaled_liver_still_within_facts_bounds(reference_dir):
    e = _opendose(reference_dir, "AM", "lu-177_liver.json", "Liver").get("Liver", "Liver")
    for m in (1200.0, 2500.0):
        s = scale_self_s_value(e.s_mgy_per_mbq_s, e.target_mass_g, m, "Lu-177")
        lo = 2.3701e-14 / (m / 1000) * 1e9
        assert lo <= s <= 1.05 * lo


def test_dose_sum_over_sources(reference_dir):
    left = _opendose(reference_dir, "AM", "lu-177_left_kidney_c+m+p.json", "Left kidney C+M+P")
    right = _opendose(reference_dir, "AM", "lu-177_right_kidney_c+m+p.json", "Right kidney C+M+P")
    table = left.merged(right)
    tia = {"Left kidney C+M+P": 1000.0, "Right kidney C+M+P": 500.0}
    res = organ_absorbed_doses(tia, table, targets=["Liver", "RKidney + LKidney"])
    s_l = left.get("Left kidney C+M+P", "RKidney + LKidney").s_mgy_per_mbq_s
    s_r = right.get("Right kidney C+M+P", "RKidney + LKidney").s_mgy_per_mbq_s
    assert res.dose_gy("RKidney + LKidney") == pytest.approx((1000 * s_l + 500 * s_r) * 3600 / 1000, rel=1e-12)
    assert res.provenance.decay_data


def test_csv_import_and_hourly_units():
    text = (
        "# exported from OLINDA\n"
        "source,target,s_mgy_per_mbq_h,target_mass_g\n"
        "Liver,Liver,0.0493668,1800\n"
        "Kidneys,Liver,0.000150,1800\n"
    )
    t = s_values_from_csv(text, nuclide="177Lu", phantom="ICRP-89 AM", citation="OLINDA 2.2 (Stabin 2005)")
    assert t.nuclide == "Lu-177"
    assert t.get("liver", "LIVER").s_mgy_per_mbq_s == pytest.approx(0.0493668 / 3600, rel=1e-12)
    res = organ_absorbed_doses({"Liver": 100.0, "Kidneys": 10.0}, t, patient_masses_g={"Liver": 1500.0})
    d = res.doses[0]
    assert d.mass_scaled and d.s_values_mgy_per_mbq_s["Liver"] > 0.0493668 / 3600


@pytest.mark.parametrize(
    "text",
    [
        "source,target,s,target_mass_g\nLiver,Liver,1e-5,1800\n",  # wrong column name
        "source,target,s_mgy_per_mbq_s,target_mass_g\nLiver,Liver,abc,1800\n",  # not a number
        "source,target,s_mgy_per_mbq_s,target_mass_g\nLiver,Liver,-1e-5,1800\n",  # negative S
        "source,target,s_mgy_per_mbq_s,target_mass_g\nLiver,Liver,1e-5,0\n",  # zero mass
        "source,target,s_mgy_per_mbq_s,target_mass_g\nLiver,Liver,1e-5,1800\nLiver,Liver,1e-5,1800\n",
        "",
    ],
)
def test_bad_csv(text):
    with pytest.raises(InvalidInputError):
        s_values_from_csv(text, nuclide="Lu-177", phantom="x", citation="x")


def test_bad_opendose_and_tia(reference_dir):
    with pytest.raises(InvalidInputError):
        s_values_from_opendose("{not json", source="Liver", nuclide="Lu-177", phantom="AM")
    with pytest.raises(InvalidInputError):
        s_values_from_opendose(json.dumps([["Liver", "1e-5", "1e-9"]]), source="Liver", nuclide="Lu-177", phantom="AM")
    table = _opendose(reference_dir, "AM", "lu-177_liver.json", "Liver")
    with pytest.raises(InvalidInputError):
        organ_absorbed_doses({"Liver": -5.0}, table)
    with pytest.raises(InvalidInputError):
        organ_absorbed_doses({"Spleen": 5.0}, table, targets=["Liver"])
    with pytest.raises(InvalidInputError):
        scale_self_s_value(1e-5, 1800.0, 0.0, "Lu-177")


def test_own_json_format_round_trip_and_errors(reference_dir):
    table = _opendose(reference_dir, "AM", "lu-177_spleen.json", "Spleen")
    again = s_value_table_from_json(table.model_dump_json())
    assert again.get("Spleen", "Spleen").s_mgy_per_mbq_s == pytest.approx(1.5967e-4)
    good = json.loads(table.model_dump_json())
    for broken in (
        {**good, "format": "olinda-v9"},  # wrong table format
        {**good, "citation": ""},  # no source citation
        {**good, "entries": []},
        {k: v for k, v in good.items() if k != "nuclide"},
    ):
        with pytest.raises(InvalidInputError):
            s_value_table_from_json(json.dumps(broken))
    with pytest.raises(InvalidInputError):
        s_value_table_from_json("[1, 2]")

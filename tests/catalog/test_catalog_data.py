"""The packaged catalogue: schema, sources, nuclides, cross-references, DICOM codes, dates."""

from __future__ import annotations

import datetime as dt
import math

import pytest

from theranostix.catalog import load_catalog
from theranostix.physics import emission_summary, normalize_nuclide, radionuclide


@pytest.fixture(scope="module")
def cat():
    return load_catalog()


def test_loads_with_version_and_is_cached(cat):
    assert isinstance(cat.version, str) and cat.version.strip()
    assert load_catalog() is cat


def test_at_least_50_targets_with_hgnc_style_symbols(cat):
    assert len(cat.targets) >= 50
    symbols = {t.symbol for t in cat.targets}
    for required in ("FOLH1", "SSTR2", "FAP", "CXCR4", "GRPR", "CCKBR", "GLP1R", "NTSR1", "CA9",
                     "ERBB2", "TACSTD2", "NECTIN4", "DLL3", "ITGAV", "ITGB3", "PLAUR", "CD274",
                     "MS4A1", "CD38", "CD33", "PTPRC", "SLC6A2", "SLC5A5", "MC1R", "EPHA2", "GPC3",
                     "CEACAM5", "MSLN", "CLDN18", "FOLR1", "SSTR5"):
        assert required in symbols, required


def _sources(cat):
    for kind in ("targets", "agents", "radionuclides", "pairs"):
        for row in cat.rows(kind):
            yield f"{kind}:{getattr(row, 'key', None) or getattr(row, 'id', None) or getattr(row, 'symbol', None) or row.nuclide}", row.source
            for ap in getattr(row, "approvals", ()):
                yield f"{kind}:{row.key}:{ap.product}", ap.source


def test_every_row_and_approval_cites_a_source(cat):
    n = 0
    for label, src in _sources(cat):
        assert src is not None, label
        assert src.citation.strip(), label
        n += 1
    assert n > len(cat.targets) + len(cat.agents)


def test_every_agent_nuclide_is_in_icrp107(cat):
    for a in cat.agents:
        canon = normalize_nuclide(a.radionuclide)
        assert canon == a.radionuclide
        assert radionuclide(canon).half_life_s > 0
        assert emission_summary(canon).total_kev > 0


def test_every_pair_references_existing_agents_and_targets_with_right_roles(cat):
    agents = {a.key: a for a in cat.agents}
    symbols = {t.symbol for t in cat.targets}
    for p in cat.pairs:
        assert p.target in symbols
        for k in p.diagnostic:
            assert agents[k].role == "diagnostic"
        for k in p.therapeutic:
            assert agents[k].role == "therapeutic"
    for a in cat.agents:
        for sym in filter(None, (a.target, *a.secondary_targets)):
            assert sym in symbols, (a.key, sym)


def test_required_pairs_present(cat):
    psma = cat.get_pair("psma")
    assert {"psma-ga68", "psma-dcfpyl"} <= set(psma.diagnostic)
    assert {"lu177-psma617", "ac225-psma617"} <= set(psma.therapeutic)
    sstr = cat.get_pair("sstr")
    assert "dotatate-ga68" in sstr.diagnostic and "lu177-dotatate" in sstr.therapeutic
    targets = {p.target for p in cat.pairs}
    assert {"FAP", "CXCR4", "GRPR", "CA9", "DLL3"} <= targets


def _pydicom_has(scheme: str, value: str, meaning: str, cid: int) -> bool:
    """Independent look-up through the CID table -> keyword -> concept dictionaries."""
    from pydicom.sr._cid_dict import cid_concepts
    from pydicom.sr._concepts_dict import concepts

    for keyword in cid_concepts.get(cid, {}).get(scheme, []):
        entry = concepts[scheme][keyword].get(value)
        if entry is not None and entry[0] == meaning:
            return True
    return False


def test_dicom_codes_exist_in_pydicom_context_groups(cat):
    coded = [r for kind in ("agents", "radionuclides") for r in cat.rows(kind) if r.dicom_code]
    assert len(coded) >= 20
    for r in coded:
        c = r.dicom_code
        assert _pydicom_has(c.scheme, c.value, c.meaning, c.cid), (r, c)


def test_known_dicom_codes_on_key_agents(cat):
    assert cat.find_agent("fdg").dicom_code.value == "35321007"
    assert cat.find_agent("lu177-dotatate").dicom_code.value == "781259000"
    assert cat.find_agent("psma-ga68").dicom_code.value == "C118961"
    assert cat.find_agent("lu177-psma617").dicom_code is None  # pydicom has no code for it


@pytest.mark.parametrize(("agent", "product", "agency", "date"), [
    ("lu177-psma617", "Pluvicto", "FDA", dt.date(2022, 3, 23)),
    ("psma-ga68", "Locametz", "FDA", dt.date(2022, 3, 23)),
    ("psma-ga68", "Ga 68 PSMA-11 (UCLA / UCSF)", "FDA", dt.date(2020, 12, 1)),
    ("psma-dcfpyl", "Pylarify", "FDA", dt.date(2021, 5, 27)),
    ("psma-rhpsma73", "Posluma", "FDA", dt.date(2023, 5, 25)),
    ("lu177-dotatate", "Lutathera", "FDA", dt.date(2018, 1, 26)),
    ("lu177-dotatate", "Lutathera (EU)", "EC/EMA", dt.date(2017, 9, 26)),
    ("dotatate-ga68", "Netspot", "FDA", dt.date(2016, 6, 1)),
    ("dotatoc-ga68", "SomaKit TOC", "EC/EMA", dt.date(2016, 12, 8)),
    ("fluciclovine", "Axumin", "FDA", dt.date(2016, 5, 27)),
    ("ra223-dichloride", "Xofigo", "FDA", dt.date(2013, 5, 15)),
    ("i131-iobenguane", "Azedra", "FDA", dt.date(2018, 7, 30)),
])
def test_verified_approval_dates(cat, agent, product, agency, date):
    a = cat.find_agent(agent)
    ap = next(x for x in a.approvals if x.product == product)
    assert (ap.agency, ap.date) == (agency, date)
    assert ap.source.checked


def test_unverified_dates_are_null_and_say_so(cat):
    unverified = [ap for a in cat.agents for ap in a.approvals if ap.date is None]
    assert unverified
    for ap in unverified:
        assert "unverified" in ap.date_note.lower()
    # Illuccix (FDA) and Detectnet: only the month was confirmed -> no day invented
    assert next(x for x in cat.find_agent("Illuccix").approvals if x.product == "Illuccix").date is None
    assert cat.find_agent("Detectnet").approvals[0].date is None


def test_every_approved_agent_has_an_approval(cat):
    approved = [a for a in cat.agents if a.status == "approved"]
    assert len(approved) >= 15
    for a in approved:
        assert any(ap.status == "approved" for ap in a.approvals)


def test_radionuclide_physics_matches_published_icrp107(cat):
    """Values from ICRP-107 as tabulated in shared/reference/dosimetry/FACTS.md."""
    lu = cat.get_radionuclide("Lu-177")
    assert math.isclose(lu.half_life_h, 159.528, rel_tol=2e-4)
    assert math.isclose(lu.electrons_kev, 147.9, abs_tol=0.1)
    assert math.isclose(lu.photons_kev, 35.1, abs_tol=0.1)
    assert math.isclose(cat.get_radionuclide("Ga-68").half_life_h * 60, 67.71, rel_tol=2e-4)
    assert math.isclose(cat.get_radionuclide("F-18").half_life_h * 60, 109.77, rel_tol=2e-4)
    assert math.isclose(cat.get_radionuclide("Ga-68").positron_yield, 0.889, abs_tol=0.002)
    assert cat.get_radionuclide("Ac-225").alpha_kev > 5000
    assert cat.get_radionuclide("Lu-177").alpha_kev == 0


def test_check_dicom_code_rejects_wrong_cid_and_unknown_value():
    from theranostix.catalog import DicomCode, check_dicom_code, codes_in_cid

    fdg = DicomCode(value="35321007", scheme="SCT", meaning="Fluorodeoxyglucose F^18^", cid=4021)
    assert check_dicom_code(fdg) is None
    assert "CID 18" in check_dicom_code(fdg.model_copy(update={"cid": 18}))
    assert "not in pydicom" in check_dicom_code(fdg.model_copy(update={"value": "99999999999"}))
    cid4021 = codes_in_cid(4021)
    assert fdg in cid4021 and len(cid4021) > 100

"""Agent aliases, search, pairs_for, and the CLI verbs."""

from __future__ import annotations

import json

import pytest

from theranostix.catalog import find_agent, load_catalog, pairs_for, search
from theranostix.core.errors import InvalidInputError


@pytest.mark.parametrize(("name", "key"), [
    ("lu177-psma617", "lu177-psma617"),
    ("Pluvicto", "lu177-psma617"),
    ("[177Lu]Lu-PSMA-617", "lu177-psma617"),
    ("177Lu-PSMA-617", "lu177-psma617"),
    ("psma617-lu177", "lu177-psma617"),
    ("LU177 PSMA617", "lu177-psma617"),
    ("lu177-dotatate", "lu177-dotatate"),
    ("Lutathera", "lu177-dotatate"),
    ("ac225-psma617", "ac225-psma617"),
    ("[225Ac]Ac-PSMA-617", "ac225-psma617"),
    ("psma-ga68", "psma-ga68"),
    ("Locametz", "psma-ga68"),
    ("Illuccix", "psma-ga68"),
    ("[68Ga]Ga-PSMA-11", "psma-ga68"),
    ("psma-dcfpyl", "psma-dcfpyl"),
    ("Pylarify", "psma-dcfpyl"),
    ("psma-1007", "psma-1007"),
    ("fdg", "fdg"),
    ("[18F]FDG", "fdg"),
    ("dotatate-ga68", "dotatate-ga68"),
    ("Netspot", "dotatate-ga68"),
    ("Detectnet", "dotatate-cu64"),
    ("Xofigo", "ra223-dichloride"),
])
def test_find_agent_aliases(name, key):
    assert find_agent(name).key == key


def test_unknown_agent_raises_with_suggestions():
    with pytest.raises(InvalidInputError) as info:
        find_agent("lu177-psma-671")
    assert "lu177-psma617" in str(info.value)


def test_target_aliases():
    cat = load_catalog()
    assert cat.find_target("PSMA").symbol == "FOLH1"
    assert cat.find_target("HER2").symbol == "ERBB2"
    assert cat.find_target("Nectin-4").symbol == "NECTIN4"
    with pytest.raises(InvalidInputError):
        cat.find_target("NOT-A-TARGET")


def test_pairs_for():
    assert {p.id for p in pairs_for("lu177-psma617")} == {"psma", "psma-therap"}
    assert {p.id for p in pairs_for("Netspot")} == {"sstr"}
    assert pairs_for("fdg") == []


def test_search_is_case_and_punctuation_insensitive():
    keys = {(h.kind, h.key) for h in search("psma 617")}
    assert ("agents", "lu177-psma617") in keys and ("agents", "ac225-psma617") in keys
    keys = {(h.kind, h.key) for h in search("nectin")}
    assert ("targets", "NECTIN4") in keys and ("agents", "ga68-n188") in keys
    psma_agents = {h.key for h in search("PSMA") if h.kind == "agents"}
    assert "tc99m-trofolastat" in psma_agents  # found through its target's alias
    assert search("zzzz-no-such-thing") == []
    with pytest.raises(InvalidInputError):
        search("  -- ")


# ------------------------------------------------------------------ CLI
@pytest.mark.parametrize("kind", ["targets", "agents", "pairs", "radionuclides"])
def test_cli_list_json(cli, kind):
    code, out, _ = cli(["catalog", "list", "--kind", kind, "--json"])
    assert code == 0
    data = json.loads(out)
    assert data["catalog_version"] == load_catalog().version
    assert len(data[kind]) == len(load_catalog().rows(kind))


def test_cli_list_all_tables(cli):
    code, out, _ = cli(["catalog", "list"])
    assert code == 0 and "FOLH1" in out and "Lu-177" in out


def test_cli_show_json(cli):
    code, out, _ = cli(["catalog", "show", "Pluvicto", "--json"])
    assert code == 0
    data = json.loads(out)
    assert data["kind"] == "agent" and data["row"]["key"] == "lu177-psma617"
    assert data["row"]["approvals"][0]["date"] == "2022-03-23"
    assert {p["id"] for p in data["pairs"]} == {"psma", "psma-therap"}
    code, out, _ = cli(["catalog", "show", "PSMA", "--json"])
    assert code == 0 and json.loads(out)["row"]["symbol"] == "FOLH1"
    code, out, _ = cli(["catalog", "show", "lu177", "--json"])
    assert code == 0 and json.loads(out)["kind"] == "radionuclide"


def test_cli_show_table(cli):
    code, out, _ = cli(["catalog", "show", "lu177-dotatate"])
    assert code == 0 and "Lutathera" in out and "NETTER-1" in out


def test_cli_show_unknown_exits_2_with_close_matches(cli):
    code, out, err = cli(["catalog", "show", "lu177-psma-671"])
    assert code == 2
    assert "lu177-psma617" in err and "did you mean" in err
    assert out == ""


def test_cli_search_json(cli):
    code, out, _ = cli(["catalog", "search", "grpr", "--json"])
    assert code == 0
    hits = json.loads(out)["hits"]
    assert {"GRPR", "ga68-neob", "lu177-neob"} <= {h["key"] for h in hits}


def test_cli_bad_kind_exits_2(cli):
    code, _, err = cli(["catalog", "list", "--kind", "bogus"])
    assert code == 2 and "--kind" in err

"""Broken catalogue folders must fail at load with the file and the field named."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import pytest

from theranostix.catalog import clear_cache, load_catalog
from theranostix.core.errors import InvalidInputError


@pytest.fixture
def data_copy(tmp_path: Path) -> Path:
    src = Path(str(resources.files("theranostix.catalog") / "data"))
    dst = tmp_path / "data"
    shutil.copytree(src, dst)
    clear_cache()
    yield dst
    clear_cache()


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def _error(folder: Path) -> str:
    with pytest.raises(InvalidInputError) as info:
        load_catalog(folder)
    return str(info.value)


def test_copy_of_packaged_data_loads(data_copy):
    assert len(load_catalog(data_copy).agents) == len(load_catalog().agents)


def test_unknown_radionuclide(data_copy):
    _edit(data_copy / "agents.yaml", "radionuclide: Lu-177", "radionuclide: Lu-999")
    msg = _error(data_copy)
    assert "agents.yaml" in msg and "agents[" in msg and "radionuclide" in msg


def test_missing_source(data_copy):
    _edit(data_copy / "targets.yaml", ", source: vision2021}", "}")
    msg = _error(data_copy)
    assert "targets.yaml" in msg and "targets[0].source" in msg


def test_empty_citation(data_copy):
    _edit(data_copy / "sources.yaml", 'citation: "ICRP Publication 107', 'citation: "" #')
    msg = _error(data_copy)
    assert "sources.yaml" in msg and "icrp107.citation" in msg


def test_unknown_source_key(data_copy):
    _edit(data_copy / "pairs.yaml", "source: vision2021", "source: nowhere2099")
    msg = _error(data_copy)
    assert "pairs.yaml" in msg and "nowhere2099" in msg


def test_yaml_syntax_error_names_file_and_line(data_copy):
    _edit(data_copy / "radionuclides.yaml", "  - nuclide: F-18", "  - nuclide: [F-18")
    msg = _error(data_copy)
    assert "radionuclides.yaml" in msg and "line" in msg


def test_invented_dicom_code(data_copy):
    _edit(data_copy / "agents.yaml", 'meaning: "Dotatate Ga^68^"', 'meaning: "Dotatate Gallium-68"')
    msg = _error(data_copy)
    assert "agents.yaml" in msg and "dicom_code" in msg


def test_pair_with_unknown_agent(data_copy):
    _edit(data_copy / "pairs.yaml", "therapeutic: [lu177-fap2286]", "therapeutic: [lu177-fapi99]")
    msg = _error(data_copy)
    assert "pairs[" in msg and "lu177-fapi99" in msg


def test_pair_with_wrong_role(data_copy):
    _edit(data_copy / "pairs.yaml", "therapeutic: [lu177-fap2286]", "therapeutic: [ga68-fapi46]")
    assert "diagnostic" in _error(data_copy)


def test_approval_without_date_or_unverified_note(data_copy):
    _edit(data_copy / "agents.yaml",
          'date_note: "unverified day: FDA approval in December 2021 per BioWorld (2021-12)", ', "")
    msg = _error(data_copy)
    assert "agents.yaml" in msg and "approvals" in msg and "unverified" in msg


def test_role_modality_mismatch(data_copy):
    _edit(data_copy / "agents.yaml", "    role: therapeutic\n    modality: therapy-beta\n",
          "    role: therapeutic\n    modality: PET\n")
    assert "does not fit modality" in _error(data_copy)


def test_agent_with_unknown_target(data_copy):
    _edit(data_copy / "agents.yaml", "target: FAP,", "target: FAPX,")
    assert "FAPX" in _error(data_copy)


def test_derived_physics_refused_in_data(data_copy):
    _edit(data_copy / "radionuclides.yaml", "  - nuclide: F-18\n", "  - nuclide: F-18\n    half_life_h: 2.0\n")
    msg = _error(data_copy)
    assert "radionuclides.yaml" in msg and "half_life_h" in msg


def test_unknown_field_refused(data_copy):
    _edit(data_copy / "targets.yaml", "{symbol: FOLH1,", "{symbol: FOLH1, colour: red,")
    msg = _error(data_copy)
    assert "targets[0].colour" in msg


def test_missing_file_and_missing_folder(data_copy, tmp_path):
    (data_copy / "pairs.yaml").unlink()
    assert "pairs.yaml" in _error(data_copy)
    assert "not found" in _error(tmp_path / "nope")


def test_cli_with_broken_data_exits_2(cli, data_copy):
    _edit(data_copy / "agents.yaml", "radionuclide: Lu-177", "radionuclide: Lu-999")
    code, out, err = cli(["catalog", "list", "--data", str(data_copy), "--json"])
    assert code == 2 and "agents.yaml" in err and out == ""

"""Catalogue of theranostic targets, agents, radionuclides and theranostic pairs.

Versioned, schema-validated data with a source for every row (``catalog/data/*.yaml``)::

    from theranostix.catalog import load_catalog, find_agent
    cat = load_catalog()
    agent = find_agent("Pluvicto")            # -> [177Lu]Lu-PSMA-617, key "lu177-psma617"
    cat.pairs_for("psma-ga68")               # pairs in which [68Ga]Ga-PSMA-11 takes part
"""

from __future__ import annotations

from pathlib import Path

from theranostix.catalog.dicom_codes import check_dicom_code, codes_in_cid
from theranostix.catalog.loader import catalog_version, clear_cache, load_catalog
from theranostix.catalog.model import Catalog, SearchHit, compact
from theranostix.catalog.schema import (
    Agent,
    Approval,
    DicomCode,
    RadionuclideEntry,
    Source,
    Target,
    TheranosticPair,
)


def find_agent(name_or_alias: str, path: str | Path | None = None) -> Agent:
    """Agent by key, name, alias or product name (``"lu177-psma617"``, ``"Pluvicto"``,
    ``"[177Lu]Lu-PSMA-617"``, ``"psma-ga68"``); raises ``InvalidInputError`` with suggestions."""
    return load_catalog(path).find_agent(name_or_alias)


def search(text: str, path: str | Path | None = None) -> list[SearchHit]:
    """Catalogue rows whose names, ligand, target, class or indications contain ``text``."""
    return load_catalog(path).search(text)


def pairs_for(agent: str | Agent, path: str | Path | None = None) -> list[TheranosticPair]:
    """Theranostic pairs in which the agent takes part."""
    return load_catalog(path).pairs_for(agent)


__all__ = [
    "Agent",
    "Approval",
    "Catalog",
    "DicomCode",
    "RadionuclideEntry",
    "SearchHit",
    "Source",
    "Target",
    "TheranosticPair",
    "catalog_version",
    "check_dicom_code",
    "clear_cache",
    "codes_in_cid",
    "compact",
    "find_agent",
    "load_catalog",
    "pairs_for",
    "search",
]

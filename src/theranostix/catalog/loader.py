"""Load and validate the catalogue data files (YAML) into a :class:`Catalog`.

The packaged files live in ``theranostix/catalog/data/`` and are read with
:mod:`importlib.resources`; a folder with the same file names can be given instead (to test a
local edit before contributing it). Loading validates every row (pydantic), every DICOM code
(against pydicom's dictionaries) and every cross-reference, and is cached per folder.

Files: ``meta.yaml`` (version), ``sources.yaml`` (shared citations by key), ``targets.yaml``,
``radionuclides.yaml``, ``agents.yaml``, ``pairs.yaml``. A row's ``source`` (and an approval's)
is either a mapping (:class:`~theranostix.catalog.schema.Source`) or the key of an entry of
``sources.yaml``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from importlib.abc import Traversable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from theranostix.catalog.dicom_codes import check_dicom_code
from theranostix.catalog.model import Catalog
from theranostix.catalog.schema import Agent, RadionuclideEntry, Source, Target, TheranosticPair
from theranostix.core.errors import InvalidInputError

FILES = {
    "targets": ("targets.yaml", Target),
    "radionuclides": ("radionuclides.yaml", RadionuclideEntry),
    "agents": ("agents.yaml", Agent),
    "pairs": ("pairs.yaml", TheranosticPair),
}
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available (~10x faster)
_DERIVED = ("half_life_h", "electrons_kev", "photons_kev", "alpha_kev", "positron_yield")


def _packaged_dir() -> Traversable:
    return resources.files("theranostix.catalog") / "data"


def _read_yaml(folder: Traversable | Path, name: str) -> Any:
    f = folder / name
    if not f.is_file():
        raise InvalidInputError("catalogue file is missing", where=str(f),
                                fix=f"provide {name} (see docs/catalog.md)")
    try:
        return yaml.load(f.read_text(encoding="utf-8"), Loader=_SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise InvalidInputError(f"not valid YAML{line}: {getattr(exc, 'problem', exc)}",
                                where=str(f)) from exc


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _resolve_sources(obj: Any, sources: dict[str, Source], where: str, path: str) -> Any:
    """Replace ``source: <key>`` strings by the shared :class:`Source` mappings."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            sub = f"{path}.{k}" if path else str(k)
            if k == "source" and isinstance(v, str):
                if v not in sources:
                    raise InvalidInputError(f"{sub}: unknown source key {v!r}", where=where,
                                            fix="add it to sources.yaml or write the source inline")
                out[k] = sources[v].model_dump()
            else:
                out[k] = _resolve_sources(v, sources, where, sub)
        return out
    if isinstance(obj, list):
        return [_resolve_sources(v, sources, where, f"{path}[{i}]") for i, v in enumerate(obj)]
    return obj


def _validate_rows(raw: Any, kind: str, model: type[BaseModel], where: str,
                   sources: dict[str, Source]) -> list[BaseModel]:
    if not isinstance(raw, dict) or not isinstance(raw.get(kind), list):
        raise InvalidInputError(f"expected a top-level mapping with a list under {kind!r}",
                                where=where)
    rows = []
    for i, item in enumerate(raw[kind]):
        if not isinstance(item, dict):
            raise InvalidInputError(f"{kind}[{i}]: expected a mapping", where=where)
        if kind == "radionuclides":
            for d in _DERIVED:
                if d in item:
                    raise InvalidInputError(f"{kind}[{i}].{d}: derived from ICRP-107, do not write it",
                                            where=where, fix=f"remove {d}")
        item = _resolve_sources(item, sources, where, f"{kind}[{i}]")
        try:
            row = model.model_validate(item)
        except ValidationError as exc:
            err = exc.errors()[0]
            field = _loc((kind, i, *err["loc"]))
            raise InvalidInputError(f"{field}: {err['msg'].removeprefix('Value error, ')}", where=where,
                                    fix=f"see docs/catalog.md for the {model.__name__} schema"
                                    ) from exc
        code = getattr(row, "dicom_code", None)
        if code is not None:
            problem = check_dicom_code(code)
            if problem:
                raise InvalidInputError(f"{kind}[{i}].dicom_code: {problem}", where=where,
                                        fix="copy value, scheme and meaning exactly from pydicom")
        rows.append(row)
    return rows


def _load(folder: Traversable | Path) -> Catalog:
    meta = _read_yaml(folder, "meta.yaml")
    meta_where = str(folder / "meta.yaml")
    if not isinstance(meta, dict) or not isinstance(meta.get("version"), str):
        raise InvalidInputError("version: missing or not a string", where=meta_where)
    raw_sources = _read_yaml(folder, "sources.yaml")
    src_where = str(folder / "sources.yaml")
    if not isinstance(raw_sources, dict) or not isinstance(raw_sources.get("sources"), dict):
        raise InvalidInputError("expected a mapping under 'sources'", where=src_where)
    sources: dict[str, Source] = {}
    for key, value in raw_sources["sources"].items():
        try:
            sources[str(key)] = Source.model_validate(value)
        except ValidationError as exc:
            err = exc.errors()[0]
            raise InvalidInputError(f"{_loc(('sources', key, *err['loc']))}: {err['msg']}",
                                    where=src_where) from exc
    parts: dict[str, list[BaseModel]] = {}
    for kind, (name, model) in FILES.items():
        parts[kind] = _validate_rows(_read_yaml(folder, name), kind, model, str(folder / name),
                                     sources)
    try:
        return Catalog(version=meta["version"], **parts)
    except ValidationError as exc:
        msg = exc.errors()[0]["msg"].removeprefix("Value error, ")
        kind = msg.split("[", 1)[0].split(":", 1)[0].strip()
        where = folder / FILES[kind][0] if kind in FILES else folder
        raise InvalidInputError(f"cross-reference error: {msg}", where=str(where)) from exc


@lru_cache(maxsize=8)
def _load_cached(key: str) -> Catalog:
    folder: Traversable | Path = _packaged_dir() if key == "" else Path(key)
    return _load(folder)


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load (once, then from cache) the validated catalogue.

    Parameters
    ----------
    path
        A folder holding ``meta.yaml``, ``sources.yaml``, ``targets.yaml``,
        ``radionuclides.yaml``, ``agents.yaml`` and ``pairs.yaml``; ``None`` loads the data
        shipped with theranostix.

    Raises
    ------
    InvalidInputError
        Naming the file and the field (e.g. ``agents[3].radionuclide``) of the first problem.
    """
    if path is None:
        return _load_cached("")
    folder = Path(path).expanduser().resolve()
    if not folder.is_dir():
        raise InvalidInputError("catalogue folder not found", where=str(folder),
                                fix="give a folder containing the catalogue YAML files")
    return _load_cached(str(folder))


def clear_cache() -> None:
    """Forget loaded catalogues (e.g. after editing a data folder in a session)."""
    _load_cached.cache_clear()


def catalog_version() -> str:
    """Version string of the packaged catalogue data."""
    return load_catalog().version

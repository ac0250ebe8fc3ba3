"""The loaded catalogue: rows, cross-reference checks and look-ups (agent aliases, search)."""

from __future__ import annotations

import difflib
import re
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from theranostix.catalog.schema import Agent, RadionuclideEntry, Target, TheranosticPair
from theranostix.core.errors import InvalidInputError

Kind = Literal["targets", "agents", "pairs", "radionuclides"]


def compact(text: str) -> str:
    """Normalise a name for look-up: lower case, only letters and digits.

    ``"[177Lu]Lu-PSMA-617"``, ``"177lu-lu-psma617"`` and ``"177Lu Lu PSMA 617"`` all compact to
    ``"177lulupsma617"``.
    """
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _nuclide_parts(nuclide: str) -> tuple[str, str]:
    sym, mass = nuclide.split("-", 1)
    return sym.lower(), mass.lower()


def agent_name_variants(agent: Agent) -> set[str]:
    """Compact spellings under which an agent can be found.

    Its key, name, aliases, product names of its approvals, and the usual ways of writing a
    nuclide with a ligand: ``lu177-psma617``, ``177lu-psma617``, ``psma617-lu177``,
    ``[177Lu]Lu-PSMA-617``, ``177Lu-PSMA-617``.
    """
    sym, mass = _nuclide_parts(agent.radionuclide)
    lig = compact(agent.ligand)
    names = {agent.key, agent.name, *agent.aliases, *(a.product for a in agent.approvals)}
    names |= {f"{sym}{mass}{lig}", f"{mass}{sym}{lig}", f"{lig}{sym}{mass}", f"{lig}{mass}{sym}",
              f"{mass}{sym}{sym}{lig}"}
    return {compact(n) for n in names if compact(n)}


class SearchHit(BaseModel):
    """One catalogue row matching a search."""

    model_config = ConfigDict(frozen=True)

    kind: Kind
    key: str
    label: str
    matched: str


class Catalog(BaseModel):
    """Targets, agents, radionuclides and theranostic pairs, cross-checked.

    Build it with :func:`theranostix.catalog.load_catalog`; the constructor checks that every
    agent's target and nuclide, and every pair's agents and target, exist, that pair roles fit
    (diagnostic agents on the left, therapeutic on the right) and that no alias names two agents.
    """

    model_config = ConfigDict(frozen=True)

    version: str
    targets: tuple[Target, ...]
    agents: tuple[Agent, ...]
    radionuclides: tuple[RadionuclideEntry, ...]
    pairs: tuple[TheranosticPair, ...]

    @model_validator(mode="after")
    def _cross_references(self) -> Catalog:
        symbols = [t.symbol for t in self.targets]
        _no_duplicates(symbols, "targets", "symbol")
        _no_duplicates([a.key for a in self.agents], "agents", "key")
        _no_duplicates([n.nuclide for n in self.radionuclides], "radionuclides", "nuclide")
        _no_duplicates([p.id for p in self.pairs], "pairs", "id")
        known_targets = set(symbols)
        known_nuclides = {n.nuclide for n in self.radionuclides}
        for i, a in enumerate(self.agents):
            for sym in filter(None, (a.target, *a.secondary_targets)):
                if sym not in known_targets:
                    raise ValueError(f"agents[{i}] ({a.key}).target: unknown target symbol {sym!r}")
            if a.radionuclide not in known_nuclides:
                raise ValueError(f"agents[{i}] ({a.key}).radionuclide: {a.radionuclide} is not "
                                 "listed in radionuclides")
        by_key = {a.key: a for a in self.agents}
        for i, p in enumerate(self.pairs):
            if p.target not in known_targets:
                raise ValueError(f"pairs[{i}] ({p.id}).target: unknown target symbol {p.target!r}")
            for side, role in (("diagnostic", "diagnostic"), ("therapeutic", "therapeutic")):
                for k in getattr(p, side):
                    if k not in by_key:
                        raise ValueError(f"pairs[{i}] ({p.id}).{side}: unknown agent key {k!r}")
                    if by_key[k].role != role:
                        raise ValueError(f"pairs[{i}] ({p.id}).{side}: {k!r} is {by_key[k].role}")
        seen: dict[str, str] = {}
        for a in self.agents:
            for v in agent_name_variants(a):
                if seen.get(v, a.key) != a.key:
                    raise ValueError(f"agents: name {v!r} would name both {seen[v]!r} and {a.key!r}")
                seen[v] = a.key
        return self

    # -- look-ups -------------------------------------------------------------------------
    @cached_property
    def _agent_index(self) -> dict[str, Agent]:
        return {v: a for a in self.agents for v in agent_name_variants(a)}

    @cached_property
    def _target_index(self) -> dict[str, Target]:
        return {compact(n): t for t in self.targets for n in (t.symbol, t.name, *t.aliases)}

    def all_names(self) -> list[str]:
        """Every key, name and alias of every row (for suggestions)."""
        out = [a.key for a in self.agents] + [a.name for a in self.agents]
        out += [x for a in self.agents for x in a.aliases]
        out += [t.symbol for t in self.targets] + [x for t in self.targets for x in t.aliases]
        out += [n.nuclide for n in self.radionuclides] + [p.id for p in self.pairs]
        return out

    def suggestions(self, name: str, n: int = 5) -> list[str]:
        """Close matches of ``name`` among all names (difflib)."""
        names = self.all_names()
        by_compact = {compact(x): x for x in names}
        close = difflib.get_close_matches(compact(name), list(by_compact), n=n, cutoff=0.6)
        return [by_compact[c] for c in close]

    def _unknown(self, what: str, name: str) -> InvalidInputError:
        close = self.suggestions(name)
        hint = f"did you mean: {', '.join(close)}?" if close else "run 'theranostix catalog list'."
        return InvalidInputError(f"no {what} named {name!r} in the catalogue", where="catalog",
                                 fix=hint)

    def get_agent(self, name_or_alias: str) -> Agent | None:
        """The agent with this key, name, alias or product name, or ``None``."""
        return self._agent_index.get(compact(name_or_alias))

    def find_agent(self, name_or_alias: str) -> Agent:
        """The agent with this key, name, alias or product name.

        Raises
        ------
        InvalidInputError
            If no agent has that name (the message lists close matches).
        """
        agent = self.get_agent(name_or_alias)
        if agent is None:
            raise self._unknown("agent", name_or_alias)
        return agent

    def get_target(self, symbol_or_alias: str) -> Target | None:
        """The target with this gene symbol, name or alias (e.g. ``"PSMA"``), or ``None``."""
        return self._target_index.get(compact(symbol_or_alias))

    def find_target(self, symbol_or_alias: str) -> Target:
        """Like :meth:`get_target`, raising :class:`InvalidInputError` with suggestions."""
        t = self.get_target(symbol_or_alias)
        if t is None:
            raise self._unknown("target", symbol_or_alias)
        return t

    def get_radionuclide(self, name: str) -> RadionuclideEntry | None:
        """The catalogue entry of a nuclide (any spelling ``normalize_nuclide`` accepts)."""
        from theranostix.physics import normalize_nuclide

        try:
            canon = normalize_nuclide(name)
        except InvalidInputError:
            return None
        return next((n for n in self.radionuclides if n.nuclide == canon), None)

    def get_pair(self, pair_id: str) -> TheranosticPair | None:
        """The pair with this id, or ``None``."""
        return next((p for p in self.pairs if compact(p.id) == compact(pair_id)), None)

    def pairs_for(self, agent: str | Agent) -> list[TheranosticPair]:
        """Theranostic pairs in which the agent (name, alias or object) takes part."""
        a = agent if isinstance(agent, Agent) else self.find_agent(agent)
        return [p for p in self.pairs if a.key in p.diagnostic or a.key in p.therapeutic]

    def agents_for_target(self, symbol: str) -> list[Agent]:
        """Agents whose primary or secondary target is ``symbol`` (or its alias)."""
        t = self.find_target(symbol)
        return [a for a in self.agents if a.target == t.symbol or t.symbol in a.secondary_targets]

    def search(self, text: str) -> list[SearchHit]:
        """Rows whose names, aliases, ligand, target, class or indications contain ``text``.

        Matching is case-insensitive on words; punctuation is ignored (``"psma 617"`` finds
        ``[177Lu]Lu-PSMA-617``).
        """
        q = compact(text)
        if not q:
            raise InvalidInputError("empty search text", where="catalog search")
        hits: list[SearchHit] = []

        def first_match(fields: dict[str, list[str]]) -> str | None:
            for field, values in fields.items():
                if any(q in compact(v) for v in values if v):
                    return field
            return None

        for t in self.targets:
            m = first_match({"symbol": [t.symbol], "alias": [t.name, *t.aliases],
                             "class": [t.target_class], "indication": list(t.indications)})
            if m:
                hits.append(SearchHit(kind="targets", key=t.symbol, label=t.name, matched=m))
        target_names = {t.symbol: [t.symbol, *t.aliases] for t in self.targets}
        for a in self.agents:
            tnames = [n for sym in filter(None, (a.target, *a.secondary_targets))
                      for n in target_names.get(sym, [sym])]
            m = first_match({"name": [a.key, a.name, *a.aliases,
                                      *(ap.product for ap in a.approvals)],
                             "ligand": [a.ligand], "target": tnames,
                             "radionuclide": [a.radionuclide], "mechanism": [a.mechanism or ""]})
            if m:
                hits.append(SearchHit(kind="agents", key=a.key, label=a.name, matched=m))
        for n in self.radionuclides:
            m = first_match({"nuclide": [n.nuclide], "production": [n.production]})
            if m:
                hits.append(SearchHit(kind="radionuclides", key=n.nuclide, label=n.nuclide, matched=m))
        for p in self.pairs:
            m = first_match({"id": [p.id], "target": [p.target],
                             "agents": [*p.diagnostic, *p.therapeutic]})
            if m:
                hits.append(SearchHit(kind="pairs", key=p.id, label=p.id, matched=m))
        return hits

    def rows(self, kind: Kind) -> tuple[BaseModel, ...]:
        """All rows of one kind."""
        return getattr(self, kind)


def _no_duplicates(values: list[str], kind: str, field: str) -> None:
    seen: set[str] = set()
    for i, v in enumerate(values):
        if v in seen:
            raise ValueError(f"{kind}[{i}].{field}: duplicate {v!r}")
        seen.add(v)

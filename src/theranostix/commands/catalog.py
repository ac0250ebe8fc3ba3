"""``theranostix catalog list|show|search``: the catalogue of targets, agents, nuclides and pairs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from theranostix.commands._common import JsonOption, console, print_json
from theranostix.core.errors import InvalidInputError

KINDS = ("targets", "agents", "pairs", "radionuclides")

DataOption = typer.Option(None, "--data", help="Catalogue folder to use instead of the packaged data.")


def _catalog(data: Path | None):
    from theranostix.catalog import load_catalog

    return load_catalog(data)


def _approval_text(agent: Any) -> str:
    parts = []
    for a in agent.approvals:
        when = a.date.isoformat() if a.date else "date unverified"
        parts.append(f"{a.product} ({a.agency} {when})")
    return "; ".join(parts) or "-"


def _table(kind: str, rows: Any) -> Table:
    t = Table(title=kind)
    if kind == "targets":
        for c in ("symbol", "name", "aliases", "class", "indications"):
            t.add_column(c)
        for r in rows:
            t.add_row(r.symbol, r.name, ", ".join(r.aliases), r.target_class, "; ".join(r.indications))
    elif kind == "agents":
        for c in ("key", "name", "nuclide", "target", "modality", "status", "products"):
            t.add_column(c)
        for r in rows:
            t.add_row(r.key, r.name, r.radionuclide, r.target or "-", r.modality, r.status,
                      ", ".join(dict.fromkeys(a.product for a in r.approvals)) or "-")
    elif kind == "radionuclides":
        for c in ("nuclide", "half-life (h)", "roles", "electrons keV", "photons keV",
                  "alpha keV", "production"):
            t.add_column(c)
        for r in rows:
            t.add_row(r.nuclide, f"{r.half_life_h:.4g}", ", ".join(r.roles), f"{r.electrons_kev:.4g}",
                      f"{r.photons_kev:.4g}", f"{r.alpha_kev:.4g}", r.production)
    else:
        for c in ("id", "target", "diagnostic", "therapeutic", "evidence"):
            t.add_column(c)
        for r in rows:
            t.add_row(r.id, r.target, ", ".join(r.diagnostic), ", ".join(r.therapeutic), r.evidence)
    return t


def _show(cat: Any, name: str) -> tuple[str, Any, dict[str, Any]]:
    """Resolve NAME to (kind, row, related rows); agents first, then targets, nuclides, pairs."""
    agent = cat.get_agent(name)
    if agent is not None:
        return "agent", agent, {"pairs": cat.pairs_for(agent)}
    target = cat.get_target(name)
    if target is not None:
        return "target", target, {"agents": cat.agents_for_target(target.symbol),
                                  "pairs": [p for p in cat.pairs if p.target == target.symbol]}
    nuclide = cat.get_radionuclide(name)
    if nuclide is not None:
        return "radionuclide", nuclide, {"agents": [a for a in cat.agents
                                                    if a.radionuclide == nuclide.nuclide]}
    pair = cat.get_pair(name)
    if pair is not None:
        return "pair", pair, {}
    close = cat.suggestions(name)
    raise InvalidInputError(
        f"{name!r} is not an agent, target, radionuclide or pair in the catalogue",
        where="catalog show",
        fix=(f"did you mean: {', '.join(close)}?" if close
             else "run 'theranostix catalog search TEXT' or 'theranostix catalog list'."),
    )


def register(app: typer.Typer) -> None:
    catalog_app = typer.Typer(
        help="Catalogue of theranostic targets, agents, radionuclides and pairs (with sources).",
        no_args_is_help=True,
    )
    app.add_typer(catalog_app, name="catalog")

    @catalog_app.command("list")
    def list_cmd(
        kind: str = typer.Option(None, "--kind", help="targets, agents, pairs or radionuclides (default: all)."),
        data: Path = DataOption,
        json_out: bool = JsonOption,
    ) -> None:
        """List catalogue rows of one kind (or all kinds)."""
        if kind is not None and kind not in KINDS:
            raise InvalidInputError(f"unknown kind {kind!r}", where="--kind",
                                    fix="use targets, agents, pairs or radionuclides.")
        cat = _catalog(data)
        kinds = (kind,) if kind else KINDS
        if json_out:
            print_json({"catalog_version": cat.version, **{k: list(cat.rows(k)) for k in kinds}})
            return
        for k in kinds:
            console.print(_table(k, cat.rows(k)))
        console.print(f"catalogue version {cat.version}")

    @catalog_app.command("show")
    def show_cmd(
        name: str = typer.Argument(..., help="Agent (key, name, alias, brand), target, nuclide or pair id."),
        data: Path = DataOption,
        json_out: bool = JsonOption,
    ) -> None:
        """Show one row with its sources, approvals and related rows."""
        cat = _catalog(data)
        kind, row, related = _show(cat, name)
        if json_out:
            print_json({"catalog_version": cat.version, "kind": kind, "row": row, **related})
            return
        t = Table(title=f"{kind}: {name}", show_header=False)
        t.add_column("field")
        t.add_column("value")
        for field, value in row.model_dump(mode="json").items():
            if value in (None, [], ()):
                continue
            if field == "approvals":
                value = _approval_text(row)
            elif field == "source":
                value = value["citation"] + (f" doi:{value['doi']}" if value.get("doi") else "") + (
                    f" {value['url']}" if value.get("url") else "")
            elif isinstance(value, dict):
                value = ", ".join(f"{k}={v}" for k, v in value.items())
            elif isinstance(value, list):
                value = ", ".join(map(str, value))
            t.add_row(field, str(value))
        for rel, rows in related.items():
            t.add_row(f"related {rel}", ", ".join(getattr(r, "key", None) or getattr(r, "id", "")
                                                   for r in rows) or "-")
        console.print(t)

    @catalog_app.command("search")
    def search_cmd(
        text: str = typer.Argument(..., help="Text to look for (names, aliases, ligand, target, indication)."),
        data: Path = DataOption,
        json_out: bool = JsonOption,
    ) -> None:
        """Search every kind of row; punctuation and case are ignored."""
        cat = _catalog(data)
        hits = cat.search(text)
        if json_out:
            print_json({"catalog_version": cat.version, "query": text, "hits": hits})
            return
        t = Table(title=f"{len(hits)} matches for {text!r}")
        for c in ("kind", "key", "label", "matched"):
            t.add_column(c)
        for h in hits:
            t.add_row(h.kind, h.key, h.label, h.matched)
        console.print(t)

"""HTML reports rendered with jinja2 from plain result dictionaries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from theranostix.io.atomic import write_text_atomic


def _env() -> Environment:
    env = Environment(loader=PackageLoader("theranostix.report", "templates"),
                      autoescape=select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = lambda v, d=3: ("–" if v is None else (f"{v:.{d}g}" if isinstance(v, float) else v))
    return env


def render_report(context: dict[str, Any], template: str = "demo.html") -> str:
    """Render a report template with ``context``."""
    return _env().get_template(template).render(**context)


def write_report(path: str | Path, context: dict[str, Any], template: str = "demo.html") -> Path:
    """Render and write an HTML report atomically."""
    return write_text_atomic(path, render_report(context, template))

"""Shared helpers of the CLI verbs: JSON output, error handling, atomic writes."""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

import typer
from pydantic import ValidationError
from rich.console import Console

from theranostix.core.errors import InvalidInputError, TheranostixError
from theranostix.io.atomic import (  # noqa: F401  (re-exported for the verbs)
    atomic_dir,
    atomic_path,
    to_jsonable,
    write_json_atomic,
    write_text_atomic,
)

console = Console(stderr=False)
err_console = Console(stderr=True)


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2) + "\n")


def parse_float_list(text: str, option: str) -> list[float]:
    """Parse a comma-separated list of numbers given to ``option``."""
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError as exc:
        raise InvalidInputError(
            f"{text!r} is not a comma-separated list of numbers", where=option,
            fix="write e.g. 4,24,48,96,168",
        ) from exc
    if not values:
        raise InvalidInputError("empty list", where=option)
    return values


def run_app(app: typer.Typer, args: list[str] | None = None) -> int:
    """Run the typer app and map exceptions to the exit-code contract (0/1/2)."""
    try:
        app(args=args, standalone_mode=False)
    except InvalidInputError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
        return 2
    except ValidationError as exc:  # pydantic: a value of the wrong type or out of range
        first = exc.errors()[0] if exc.errors() else {}
        loc = ".".join(str(x) for x in first.get("loc", ()))
        err_console.print(f"[bold red]error:[/] {exc.title}{' ' + loc if loc else ''}: {first.get('msg', exc)}",
                          highlight=False, soft_wrap=True)
        return 2
    except TheranostixError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 1
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except Exception as exc:  # click usage errors and real bugs
        for click in _click_modules():
            if isinstance(exc, click.exceptions.ClickException):  # usage errors, bad option values
                exc.show()
                return 2
        traceback.print_exc()
        err_console.print(f"[bold red]internal error:[/] {exc!r}")
        return 1
    return 0


JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")


def _click_modules() -> list:
    """The click package typer uses (typer >= 0.29 vendors it as ``typer._click``), and plain click."""
    mods = []
    for name in ("typer._click", "click"):
        try:
            mods.append(__import__(name, fromlist=["exceptions"]))
        except ImportError:
            continue
    return mods

"""Shared helpers of the CLI verbs: JSON output, error handling, atomic writes."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import typer
from pydantic import BaseModel
from rich.console import Console

from theranostix.core.errors import InvalidInputError, TheranostixError

console = Console(stderr=False)
err_console = Console(stderr=True)


def to_jsonable(obj: Any) -> Any:
    """Convert pydantic models, numpy values, paths and datetimes to JSON-compatible values."""
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer, np.bool_)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (datetime, date)):
        return obj.isoformat()
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


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
    except TheranostixError as exc:
        err_console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 1
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err_console.print("aborted")
        return 1
    except Exception as exc:  # click usage errors and real bugs
        import click

        if isinstance(exc, click.exceptions.UsageError):
            exc.show()
            return 2
        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return 2
        traceback.print_exc()
        err_console.print(f"[bold red]internal error:[/] {exc!r}")
        return 1
    return 0


@contextmanager
def atomic_path(target: str | Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it into place only on success.

    Nothing half-written is ever left at ``target``: on an exception the temporary file is
    removed and ``target`` keeps its previous content (or stays absent).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix or "".join(target.suffixes),
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(target: str | Path, text: str) -> Path:
    """Write text to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)
    return Path(target)


def write_json_atomic(target: str | Path, obj: Any) -> Path:
    """Write JSON to ``target`` atomically."""
    return write_text_atomic(target, json.dumps(to_jsonable(obj), indent=2) + "\n")


JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON on stdout.")

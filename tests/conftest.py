"""Shared fixtures: the reference-data folder (skip with a reason when absent) and CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = Path(os.environ.get("THERANOSTIX_REFERENCE", ROOT.parent / "shared" / "reference"))


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """``../shared/reference`` (or $THERANOSTIX_REFERENCE); skips the test when absent."""
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data folder not found at {REFERENCE} (set THERANOSTIX_REFERENCE)")
    return REFERENCE


def run_cli(args: list[str]) -> tuple[int, str, str]:
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    import contextlib
    import io

    from theranostix.cli import app
    from theranostix.commands._common import run_app

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run_app(app, args)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def cli():
    """Callable running ``theranostix ARGS`` in-process: ``code, stdout, stderr = cli([...])``."""
    return run_cli

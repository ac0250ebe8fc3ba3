"""The ``theranostix`` command line: one verb per job, thin.

Each verb lives in a module of :mod:`theranostix.commands` that defines
``register(app: typer.Typer) -> None``; modules are discovered automatically, so adding a verb is
adding one small file. Verbs parse options, call the Python API and print with rich (or JSON with
``--json``). Exit codes: 0 success, 2 invalid input (one clear line, no traceback), 1 internal error.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import typer

from theranostix import commands as _commands

app = typer.Typer(
    name="theranostix",
    help="Precision theranostics: quantitative PET/SPECT, lesions, dosimetry, planning, response.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback(invoke_without_command=True)
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        from theranostix import __version__

        typer.echo(f"theranostix {__version__}")
        raise typer.Exit(0)
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


def _register_all() -> None:
    for mod in sorted(pkgutil.iter_modules(_commands.__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"{_commands.__name__}.{mod.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all()


def main() -> None:
    """Entry point of the ``theranostix`` script with the project's exit-code contract."""
    from theranostix.commands._common import run_app

    sys.exit(run_app(app))


if __name__ == "__main__":  # pragma: no cover
    main()

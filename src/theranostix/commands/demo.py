"""``theranostix demo``: the main job, on a digital twin, no data needed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from theranostix.commands._common import JsonOption, console, print_json


def register(app: typer.Typer) -> None:
    @app.command("demo")
    def demo_cmd(
        out: Path = typer.Option(None, "--out", help="Folder for the twin and the report (default: a new temporary folder)."),
        seed: int = typer.Option(7, "--seed", help="Seed of the digital twin."),
        tracer: str = typer.Option("psma-ga68", "--tracer", help="Diagnostic tracer of the twin."),
        json_out: bool = JsonOption,
    ) -> None:
        """Make a digital twin, run every analysis theranostix has, and write an HTML report."""
        from theranostix.demo import run_demo

        root = out or Path(tempfile.mkdtemp(prefix="theranostix-demo-"))
        if json_out:
            res = run_demo(root, seed=seed, tracer=tracer)
            print_json(res)
            return
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                      console=console, transient=True) as bar:
            task = bar.add_task("starting", total=1)

            def progress(name: str, i: int, n: int) -> None:
                bar.update(task, description=name, completed=i, total=n)

            res = run_demo(root, seed=seed, tracer=tracer, progress=progress)
        for k, v in res["timings_s"].items():
            console.print(f"  {k}: {v:.1f} s")
        console.print(f"[bold green]report:[/] {res['report']}")

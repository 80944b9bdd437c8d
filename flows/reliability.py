"""What `cmtl run` and `cmtl doctor` do around the pipeline: check the services first, tidy what killed
runs left behind, and turn SIGTERM/SIGINT into one line and an exit code (128 + signal)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape

from flows import cleanup, interrupt, preflight
from flows.workspace import tracking_uri


def _say(console, text: str) -> None:
    console.print(text, soft_wrap=True, highlight=False, markup=False)


def check_services(cfg, ws: Path) -> None:
    """UnavailableError (exit 2) when the tracking store or a configured Prefect API does not answer."""
    preflight.check_services(tracking_uri(ws), os.environ.get("PREFECT_API_URL"))


def tidy(cfg, ws: Path, console) -> bool:
    """Close stale runs and remove stale temporary folders, saying what was done; False if nothing."""
    done = cleanup.tidy(cfg, ws)
    for run_id in done["runs"]:
        _say(console, f"closed MLflow run {run_id} as FAILED: its process is gone")
    for folder in done["folders"]:
        _say(console, f"removed {folder}: left by a process that is gone")
    return bool(done["runs"] or done["folders"])


def doctor(cfg, ws: Path, console) -> None:
    check_services(cfg, ws)
    _say(console, f"tracking store {tracking_uri(ws)}: reachable")
    if not tidy(cfg, ws, console):
        _say(console, "nothing left behind by killed runs")


@contextmanager
def on_signal(err):
    """SIGTERM/SIGINT: the pipeline marks its MLflow run KILLED; here one line and exit 128 + signal."""
    def report(message: str, code: int) -> None:
        err.print(f"[bold red]stopped:[/] {escape(message)}", highlight=False)
        raise typer.Exit(code)

    with interrupt.handled(report):
        yield

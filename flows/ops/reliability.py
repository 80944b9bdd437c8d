"""What `cmtl run` and `cmtl doctor` do around the pipeline: check the services first, tidy what killed
runs left behind, and turn SIGTERM/SIGINT into one line and an exit code (128 + signal)."""
from __future__ import annotations

import errno
import logging
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

import typer
from rich.markup import escape

from flows.ops import cleanup, preflight
from flows.runtime import interrupt
from flows.runtime.workspace import checked_config, tracking_uri
from mtl_core.errors import UnavailableError

FULL = (errno.ENOSPC, errno.EDQUOT)


def _say(console, text: str) -> None:
    console.print(text, soft_wrap=True, highlight=False, markup=False)


LOCK = ".cmtl-run.lock"


@contextmanager
def exclusive(config_path: str, command: str = "cmtl run", services: bool = True):
    """One writing command (`cmtl run`, or a single stage) per workspace at a time (two runs raced on
    the temporary Prefect server's database migration and printed tracebacks): an flock on
    <workspace>/.cmtl-run.lock, which the kernel releases when the holder dies, even by kill -9. A second
    one exits 2 naming the holder. Then (services) the tracking store, before anything heavy starts."""
    import fcntl
    import socket
    import time

    from mtl_core.data.paths import make_workspace

    cfg, path = checked_config(config_path)
    ws = make_workspace(path, ())
    path = ws / LOCK
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise UnavailableError(f"workspace {ws} busy: {holder} is running there (lock {path}); wait for "
                                   "it to finish, or give this run another workspace (CMTL_WORKSPACE)") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{command} (pid {os.getpid()} on {socket.gethostname()}, since "
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')})\n")
        fh.flush()
        preflight.check_source(cfg)  # a database source answers, with these credentials
        if services:
            check_services(cfg, ws)
        yield
    finally:
        fh.close()  # releases the lock


def check_services(cfg, ws: Path) -> None:
    """UnavailableError (exit 2) when the tracking store or a configured Prefect API does not answer."""
    preflight.check_services(tracking_uri(ws), os.environ.get("PREFECT_API_URL"))


def tidy(cfg, ws: Path, console) -> bool:
    """Stop orphaned temporary Prefect servers, close stale runs and remove stale temporary folders, saying
    what was done; False if nothing."""
    orphans = stop_orphan_servers(ws, console)
    done = cleanup.tidy(cfg, ws)
    for run_id in done["runs"]:
        _say(console, f"closed MLflow run {run_id} as FAILED: its process is gone")
    for folder in done["folders"]:
        _say(console, f"removed {folder}: left by a process that is gone")
    for folder in done["checkpoints"]:
        _say(console, f"removed checkpoint {folder}: untouched for {cleanup.CHECKPOINT_DAYS} days")
    return orphans or any(done.values())


def stop_orphan_servers(ws: Path, console) -> bool:
    """Stop temporary Prefect servers of this workspace's PREFECT_HOME whose command is gone; say so."""
    from flows.runtime import children

    stopped = children.stop_orphans(Path(os.environ.get("PREFECT_HOME") or ws / "prefect"))
    for pid in stopped:
        _say(console, f"stopped temporary Prefect server pid {pid}: the command that started it is gone")
    return bool(stopped)


def doctor(cfg, ws: Path, console) -> None:
    check_services(cfg, ws)
    _say(console, f"tracking store {tracking_uri(ws)}: reachable")
    if not tidy(cfg, ws, console):
        _say(console, "nothing left behind by killed runs")


def disk_full(exc: BaseException | None) -> bool:
    """An OSError for a full disk or quota, however the library spelled it (pyarrow drops the errno)."""
    while exc is not None:
        if isinstance(exc, OSError) and (exc.errno in FULL or "No space left on device" in str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _where(exc: BaseException, ws: Path) -> Path:
    while exc is not None:
        if isinstance(exc, OSError) and exc.filename:
            return Path(exc.filename)
        exc = exc.__cause__ or exc.__context__
    return ws


def disk_full_message(exc: BaseException, ws: Path, needed: int | None = None) -> str:
    where = _where(exc, ws)
    probe = next((p for p in [where, *where.parents] if p.exists()), ws)
    free = shutil.disk_usage(probe).free
    need = f", {needed / 2**20:,.1f} MiB needed" if needed else ""
    return (f"disk full writing {where} ({free / 2**20:,.1f} MiB free on its filesystem{need}): free space or "
            "set CMTL_WORKSPACE to a larger disk; nothing half-written was kept")


class _NoDiskFullTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and disk_full(record.exc_info[1]):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_disk_full() -> None:
    """A full disk is reported once, as a message; the tasks' log records keep their text only."""
    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for handler in lg.handlers:
            handler.addFilter(_NoDiskFullTraceback())


@contextmanager
def guarded(err, ws: Path):
    """Around the pipeline. SIGTERM/SIGINT: the pipeline marks its MLflow run KILLED; here one line and
    exit 128 + signal. A full disk anywhere: UnavailableError (exit 2) naming the path."""
    def report(message: str, code: int) -> None:
        err.print(f"[bold red]stopped:[/] {escape(message)}", highlight=False, soft_wrap=True)
        raise typer.Exit(code)

    quiet_disk_full()
    try:
        with interrupt.handled(report):
            yield
    except OSError as exc:
        if not disk_full(exc):
            raise
        raise UnavailableError(disk_full_message(exc, ws)) from None

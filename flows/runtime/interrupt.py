"""SIGTERM and SIGINT end a run within seconds: the signal becomes an exception in the main thread, the
open MLflow run is marked KILLED on the way out, and `cmtl` exits 128 + signal with one line."""
from __future__ import annotations

import signal
from contextlib import contextmanager


class Interrupted(BaseException):
    """A termination signal, raised where the main thread is (a BaseException, like KeyboardInterrupt,
    so no `except Exception` swallows it)."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum, _frame):
    raise Interrupted(signum)


def signal_of(exc: BaseException) -> int | None:
    """The signal behind an exception (ours, Prefect's TerminationSignal, Ctrl-C), else None."""
    if isinstance(exc, Interrupted):
        return exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    try:
        from prefect.exceptions import TerminationSignal
    except ImportError:  # pragma: no cover
        return None
    return int(exc.signal) if isinstance(exc, TerminationSignal) else None


def run_status(exc: BaseException | None) -> str:
    """MLflow run status for a run that ended with exc (None: it finished)."""
    if exc is None:
        return "FINISHED"
    return "KILLED" if signal_of(exc) is not None else "FAILED"


def _run_id(exc: BaseException | None) -> str | None:
    """The MLflow run a pipeline marked KILLED (set on the exception; Prefect may re-raise the signal
    as a new exception whose context is the first)."""
    seen = 0
    while exc is not None and seen < 10:
        if getattr(exc, "cmtl_run_id", None):
            return exc.cmtl_run_id
        exc, seen = exc.__context__, seen + 1
    return None


@contextmanager
def handled(report):
    """Inside: SIGTERM raises Interrupted (Prefect's own bridge raises TerminationSignal while a flow
    runs, then re-delivers the signal to this handler). Outside: report(message, exit_code) once."""
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    except BaseException as exc:  # noqa: BLE001 - only signals are handled; the rest re-raised
        signum = signal_of(exc)
        if signum is None:
            raise
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second SIGTERM must not cut the report short
        run_id = _run_id(exc)
        name = signal.Signals(signum).name
        report(f"interrupted by {name}" + (f"; MLflow run {run_id} marked KILLED" if run_id else "")
               + "; nothing half-written was kept", 128 + signum)
    finally:
        signal.signal(signal.SIGTERM, previous)

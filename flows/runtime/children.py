"""Prefect's temporary server dies with the command that started it, even by kill -9.

With no PREFECT_API_URL, Prefect starts `python -m uvicorn ... prefect.server.api.server:create_app` as a
child and stops it at exit (atexit). A SIGKILL skips atexit, and the server (230 MB) lived on as an
orphan. Here the child asks the kernel for SIGKILL when its parent dies (prctl PR_SET_PDEATHSIG, Linux),
set between fork and exec; it exits at once if the parent is already gone. The kernel ties the signal to
the thread that forked, so it is set only when the main thread starts the server (the one Prefect's flow
engine uses); `find_orphans` finds any that escaped (cmtl doctor stops them).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
import types
from pathlib import Path

PR_SET_PDEATHSIG = 1
SERVER_APP = "prefect.server.api.server:create_app"


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:  # pragma: no cover
        return None


def _die_with(parent: int, prctl):
    def preexec() -> None:  # runs in the child between fork and exec: no locks, no allocation-heavy work
        prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)
    return preexec


def bind_temporary_server() -> bool:
    """Make every temporary Prefect server this process starts from its main thread die with it.
    Idempotent; False where the platform has no PR_SET_PDEATHSIG."""
    libc = _libc()
    if libc is None:
        return False
    from prefect.server.api import server

    cls = server.SubprocessASGIServer
    if getattr(cls._run_uvicorn_command, "cmtl_bound", False):
        return True
    original = cls._run_uvicorn_command

    def run_uvicorn_command(self):
        if threading.current_thread() is not threading.main_thread():
            return original(self)
        real = server.subprocess
        preexec = _die_with(os.getpid(), libc.prctl)

        def popen(*args, **kwargs):
            kwargs.setdefault("preexec_fn", preexec)
            return real.Popen(*args, **kwargs)

        # only the server module's own `subprocess.Popen`, only for this call
        server.subprocess = types.SimpleNamespace(**{**vars(real), "Popen": popen})
        try:
            return original(self)
        finally:
            server.subprocess = real

    run_uvicorn_command.cmtl_bound = True
    cls._run_uvicorn_command = run_uvicorn_command
    return True


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def find_orphans(prefect_home: Path) -> list[int]:
    """PIDs of temporary Prefect servers started for this PREFECT_HOME (their environment says so) whose
    starter is gone: adopted by init or a subreaper, their parent is no longer a python process. Linux
    /proc only; processes of other users are not readable and so never listed."""
    found, home = [], str(Path(prefect_home).resolve()).encode()
    for proc in Path("/proc").glob("[0-9]*"):
        cmdline = _read(proc / "cmdline").split(b"\0")
        if SERVER_APP.encode() not in cmdline:
            continue
        env = dict(kv.split(b"=", 1) for kv in _read(proc / "environ").split(b"\0") if b"=" in kv)
        if env.get(b"PREFECT__SERVER_EPHEMERAL") != b"1" or env.get(b"PREFECT_HOME") != home:
            continue
        stat = _read(proc / "stat").rsplit(b")", 1)[-1].split()
        if len(stat) > 2 and stat[0] != b"Z":
            starter = _read(Path(f"/proc/{int(stat[1])}/cmdline"))  # a python process, while it lives
            if int(stat[1]) == 1 or not any(word in starter for word in (b"python", b"cmtl")):
                found.append(int(proc.name))
    return found


def stop_orphans(prefect_home: Path) -> list[int]:
    stopped = []
    for pid in find_orphans(prefect_home):
        try:
            os.kill(pid, signal.SIGTERM)
            stopped.append(pid)
        except (ProcessLookupError, PermissionError):
            pass
    return stopped

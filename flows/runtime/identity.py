"""Which process this is, and whether another one still runs: pid, start time from /proc, host. Every
MLflow run and temporary folder is labelled with these, so a later command can tell a dead writer."""
from __future__ import annotations

import os
from pathlib import Path

from mtl_core.data import owner


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def process_start(pid: int) -> float | None:
    """When process pid started (seconds since the epoch, from /proc), or None if unknown or gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        boot = _boot_time()
        return None if boot is None else boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def alive(pid: int) -> bool:
    """Is pid a process that has not exited? An exited one nobody has reaped yet (a zombie, e.g. under
    a container's init) is not."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def running(pid: int, started_by: float | None = None) -> bool:
    """Is pid a live process that was already running at `started_by` (a time it is known to have
    been alive: its recorded start, or when it last wrote)? A pid reused by a newer process is not."""
    if not alive(pid):
        return False
    if started_by is None:
        return True
    start = process_start(pid)
    return start is None or start <= started_by + 1.0


def identity() -> dict[str, str]:
    """Tags naming this process, set on every MLflow run it opens."""
    start = process_start(os.getpid())
    return {"cmtl.pid": str(os.getpid()), "cmtl.host": owner.host(),
            **({"cmtl.process_start": f"{start:.2f}"} if start is not None else {})}

"""Leave nothing half-done: close MLflow runs whose process is gone (FAILED) and remove temporary
folders of writers that are gone. Runs at the start of `cmtl run` and in `cmtl doctor`; only things
recorded by this host are judged, since another machine's processes cannot be seen from here."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from mtl_core.data import owner

# workspace sub-folders where temporary folders named by mtl_core.data.owner.prefix() appear
TEMP_ROOTS = ("lake", "features", "models", "staging")


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


def running(pid: int, started_by: float | None = None) -> bool:
    """Is pid a live process that was already running at `started_by` (a time it is known to have
    been alive: its recorded start, or when it last wrote)? A pid reused by a newer process is not."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if started_by is None:
        return True
    start = process_start(pid)
    return start is None or start <= started_by + 1.0


def identity() -> dict[str, str]:
    """Tags naming this process, set on every MLflow run it opens."""
    start = process_start(os.getpid())
    return {"cmtl.pid": str(os.getpid()), "cmtl.host": owner.host(),
            **({"cmtl.process_start": f"{start:.2f}"} if start is not None else {})}


def stale_folders(ws: Path) -> list[Path]:
    """Temporary folders in the workspace whose writer (on this host) is gone."""
    found = []
    for sub in TEMP_ROOTS:
        root = ws / sub
        if not root.is_dir():
            continue
        for path in root.iterdir():
            who = owner.writer(path.name)
            if who is None or who[1] != owner.host() or who[0] == os.getpid():
                continue
            try:
                touched = path.stat().st_mtime
            except OSError:
                continue
            if not running(who[0], touched):
                found.append(path)
    return found


def remove_stale_folders(ws: Path) -> list[Path]:
    removed = []
    for path in stale_folders(ws):
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        if not path.exists():
            removed.append(path)
    return removed


CHECKPOINT_DAYS = 7  # a checkpoint no run has touched for this long belongs to a config no one reruns


def remove_old_checkpoints(ws: Path, days: float = CHECKPOINT_DAYS) -> list[Path]:
    root, cutoff, removed = ws / "checkpoints", time.time() - days * 86400, []
    if not root.is_dir():
        return removed
    for folder in root.iterdir():
        newest = max((p.stat().st_mtime for p in folder.rglob("*")), default=folder.stat().st_mtime)
        if newest < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _stale(run) -> bool:
    tags = run.data.tags
    if tags.get("cmtl.host") != owner.host() or not tags.get("cmtl.pid", "").isdigit():
        return False
    pid = int(tags["cmtl.pid"])
    if pid == os.getpid():
        return False
    start = tags.get("cmtl.process_start")
    if start is not None and not running(pid):
        return True
    if start is not None:
        now = process_start(pid)
        return now is not None and abs(now - float(start)) > 1.0  # the pid now belongs to another process
    return not running(pid, run.info.start_time / 1000)


def close_stale_runs(cfg, ws: Path) -> list[str]:
    """Mark RUNNING runs of the config's experiment whose process (on this host) is gone as FAILED,
    with a tag saying why; returns their ids."""
    from flows import tracking

    c = tracking.client(cfg, ws)
    exp = c.get_experiment_by_name(cfg.registry.experiment)
    if exp is None:
        return []
    closed = []
    for run in c.search_runs([exp.experiment_id], filter_string="attributes.status = 'RUNNING'",
                             max_results=1000):
        if _stale(run):
            c.set_tag(run.info.run_id, "cmtl.closed_by",
                      f"cleanup: process {run.data.tags['cmtl.pid']} on {owner.host()} is gone")
            c.set_terminated(run.info.run_id, "FAILED")
            closed.append(run.info.run_id)
    return closed


def tidy(cfg, ws: Path) -> dict[str, list]:
    """{"runs": closed run ids, "folders": removed temporary folders, "checkpoints": removed old ones}."""
    return {"runs": close_stale_runs(cfg, ws), "folders": [str(p) for p in remove_stale_folders(ws)],
            "checkpoints": [str(p) for p in remove_old_checkpoints(ws)]}

"""Leave nothing half-done: close MLflow runs whose process is gone (FAILED) and remove temporary
folders of writers that are gone. Runs at the start of `cmtl run` and in `cmtl doctor`; only things
recorded by this host are judged, since another machine's processes cannot be seen from here."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from flows.runtime.identity import process_start, running
from mtl_core.data import owner

# workspace sub-folders where temporary folders named by mtl_core.data.owner.prefix() appear
TEMP_ROOTS = ("lake", "features", "models", "staging")


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


def _stale(tags: dict[str, str], started_ms: int) -> bool:
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
    return not running(pid, started_ms / 1000)


def close_stale_runs(cfg, ws: Path) -> list[str]:
    """Mark RUNNING runs of the config's experiment whose process (on this host) is gone as FAILED,
    with a tag saying why; returns their ids."""
    from flows import tracking  # mlflow loads only when runs are looked at

    closed = []
    for run_id, tags, started_ms in tracking.running_runs(cfg, ws):
        if _stale(tags, started_ms):
            tracking.set_run_tag(cfg, ws, run_id, "cmtl.closed_by",
                                 f"cleanup: process {tags['cmtl.pid']} on {owner.host()} is gone")
            tracking.end_run(cfg, ws, run_id, "FAILED")
            closed.append(run_id)
    return closed


def tidy(cfg, ws: Path) -> dict[str, list]:
    """{"runs": closed run ids, "folders": removed temporary folders, "checkpoints": removed old ones}."""
    return {"runs": close_stale_runs(cfg, ws), "folders": [str(p) for p in remove_stale_folders(ws)],
            "checkpoints": [str(p) for p in remove_old_checkpoints(ws)]}

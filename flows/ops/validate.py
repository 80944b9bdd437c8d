"""`cmtl validate`: the config, its paths and the source's data contracts, checked in seconds.

Imports neither prefect nor mlflow (a test checks), so nothing starts a server: `cmtl run` calls it
before its temporary Prefect server, and a typo costs the time it takes to read the table, not a
server start. Raises CmtlError (exit 2 in the CLI) on the first problem; returns counts otherwise.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from flows.runtime.workspace import check_schemes, checked_config
from mtl_core.config import Config
from mtl_core.errors import ConfigError


def check_workspace(ws: Path) -> None:
    """The workspace is a folder, or can become one: no file, loop or unwritable folder on its path."""
    probe = ws
    try:
        while not probe.exists():
            if probe.is_symlink():
                raise ConfigError(f"workspace {ws}: {probe} is a broken or looping symbolic link")
            probe = probe.parent
    except OSError as exc:
        raise ConfigError(f"workspace {ws}: unusable path ({exc.strerror or exc})") from None
    if not probe.is_dir():
        raise ConfigError(f"workspace {ws}: {probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"workspace {ws}: folder {probe} is not writable")


def check_config(config_path: str | Path) -> tuple[Config, Path]:
    """What can be checked without reading data or importing torch (flows/runtime/workspace.py), and
    that the workspace path can become a folder. Returns the config and the workspace path."""
    cfg, ws = checked_config(config_path)
    check_workspace(ws)
    return cfg, ws


def validate(config_path: str | Path, data: bool = True) -> dict:
    """check_config, then (data=True) every data rule of ingest on the source, writing nothing but a
    temporary staging copy of a file source (in the workspace when it exists). Returns the config, the
    workspace, the counts of mtl_core.sources.check and the seconds it took."""
    from mtl_core.sources.check import check_source

    start = time.perf_counter()
    cfg, ws = check_config(config_path)
    counts = None
    if data:
        counts = check_source(cfg, ws / "staging" if ws.is_dir() else None)
    check_schemes(cfg)
    return {"config": cfg, "workspace": ws, "counts": counts, "seconds": time.perf_counter() - start}


# `cmtl run` reads a file source this large (MB, all its files) once more before ingest; beyond, ingest's
# own checks (the same rules, partition by partition) find a data error
PRE_RUN_MAX_MB = float(os.environ.get("CMTL_VALIDATE_MAX_MB", 256))


def _size_mb(path: Path) -> float:
    try:
        if path.is_file():
            return path.stat().st_size / 2**20
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20
    except OSError:
        return 0.0  # unreadable: the source's own check says so


def before_run(config_path: str | Path) -> dict:
    """What `cmtl run` checks before it starts Prefect: the config and paths always; the data of a file
    source up to PRE_RUN_MAX_MB (a synthetic source is generated valid, and ingest checks it anyway)."""
    cfg, _ = check_config(config_path)
    path = getattr(cfg.source, "path", None)
    data = (cfg.source.kind != "synthetic" and path is not None and ":" not in path
            and _size_mb(Path(path).expanduser()) <= PRE_RUN_MAX_MB)
    return validate(config_path, data=data)


def describe(result: dict) -> str:
    """The short summary `cmtl validate` prints."""
    cfg, counts = result["config"], result["counts"]
    lines = [f"config {cfg.name}: source '{cfg.source.kind}', {len(cfg.outcomes)} outcomes "
             f"({', '.join(cfg.outcomes)}), workspace {result['workspace']}"]
    if counts:
        rows = ", ".join(f"{name} {n:,}" for name, n in counts["rows"].items())
        parts = f"{counts['partitions']} partition{'s' * (counts['partitions'] != 1)}"
        lines.append(f"data: every contract met ({parts}; rows: {rows})")
        if counts["rejected"]:
            lines.append("quarantine would set aside: " + ", ".join(
                f"{name} {n:,}" for name, n in counts["rejected"].items()))
    lines.append(f"checked in {result['seconds']:.1f} s")
    return "\n".join(lines)

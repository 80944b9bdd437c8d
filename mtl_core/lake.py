"""Parquet storage with content-addressed, atomically written snapshots and a JSON manifest.

A snapshot folder appears complete or not at all: it is written under a temporary name and renamed.
Writing the same content twice reuses the existing folder, so re-ingesting unchanged input is free.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

MANIFEST = "manifest.json"


def table_hash(df: pd.DataFrame) -> str:
    """Content hash of a frame (values, column names and dtypes; not the index)."""
    h = hashlib.sha256()
    h.update(json.dumps([[c, str(t)] for c, t in df.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def snapshot_id(hashes: dict[str, str], salt: str = "") -> str:
    return hashlib.sha256((salt + json.dumps(hashes, sort_keys=True)).encode()).hexdigest()[:16]


def write_snapshot(tables: dict[str, pd.DataFrame], root: Path, salt: str = "",
                   extra: dict | None = None) -> tuple[Path, bool]:
    """Write tables to root/<content id>/NAME.parquet with a manifest; returns (path, reused)."""
    hashes = {name: table_hash(df) for name, df in tables.items()}
    sid = snapshot_id(hashes, salt)
    final = Path(root) / sid
    if (final / MANIFEST).is_file():
        os.utime(final / MANIFEST)  # mark as the latest snapshot in use
        return final, True
    Path(root).mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{sid}-", dir=root))
    try:
        for name, df in tables.items():
            df.to_parquet(tmp / f"{name}.parquet", index=False)
        manifest = {
            "id": sid,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "tables": {n: {"rows": int(len(df)), "columns": list(map(str, df.columns)),
                           "sha256": hashes[n]} for n, df in tables.items()},
            **(extra or {}),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        try:
            os.rename(tmp, final)
        except OSError:  # another writer finished the same content first: theirs is identical
            if not (final / MANIFEST).is_file():
                raise
            shutil.rmtree(tmp, ignore_errors=True)
            return final, True
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final, False


def read_manifest(path: Path) -> dict:
    return json.loads((Path(path) / MANIFEST).read_text())


def read_tables(path: Path, names: list[str] | None = None) -> dict[str, pd.DataFrame]:
    manifest = read_manifest(path)
    names = names or list(manifest["tables"])
    return {n: pd.read_parquet(Path(path) / f"{n}.parquet") for n in names}


def latest(root: Path) -> Path | None:
    """The most recently written complete snapshot under root, if any."""
    done = [p for p in Path(root).glob("*/" + MANIFEST)]
    return max(done, key=lambda p: p.stat().st_mtime).parent if done else None

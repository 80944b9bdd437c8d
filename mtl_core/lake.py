"""Parquet storage with content-addressed, atomically written snapshots and a JSON manifest.

A snapshot folder appears complete or not at all: it is written under a temporary name and renamed.
Writing the same content twice reuses the existing folder, so re-ingesting unchanged input is free.
Large data is written and read partition by partition (one Parquet row group or more per partition,
recorded in the manifest), so memory holds one partition at a time.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtl_core.errors import DataError

MANIFEST = "manifest.json"


def table_hash(df: pd.DataFrame) -> str:
    """Content hash of a frame (values, column names and dtypes; not the index)."""
    h = hashlib.sha256()
    h.update(json.dumps([[c, str(t)] for c, t in df.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
    return h.hexdigest()


def snapshot_id(hashes: dict[str, str], salt: str = "") -> str:
    return hashlib.sha256((salt + json.dumps(hashes, sort_keys=True)).encode()).hexdigest()[:16]


def _file_hash(content: pd.DataFrame | str) -> str:
    return table_hash(content) if isinstance(content, pd.DataFrame) else hashlib.sha256(
        content.encode()).hexdigest()


def _content_id(table_hashes: dict[str, str], files: dict | None, salt: str) -> tuple[str, dict[str, str]]:
    """(snapshot id, hash per extra file): the id covers the tables and the extra files alike."""
    file_hashes = {rel: _file_hash(content) for rel, content in (files or {}).items()}
    return snapshot_id({**table_hashes, **{f"file:{k}": v for k, v in file_hashes.items()}}, salt), file_hashes


class _TableFile:
    """One table of a snapshot being written: a Parquet file that grows by a row group (or more) per
    partition, and a content hash that grows with it (equal to table_hash of all partitions stacked)."""

    def __init__(self, path: Path, name: str, first: pd.DataFrame):
        self.name, self.rows = name, []
        self.dtypes = [[str(c), str(t)] for c, t in first.dtypes.items()]
        self.hash = hashlib.sha256(json.dumps([[c, str(t)] for c, t in first.dtypes.items()]).encode())
        self.schema = pa.Schema.from_pandas(first, preserve_index=False)
        self.writer = pq.ParquetWriter(path, self.schema)

    def write(self, df: pd.DataFrame) -> None:
        if [[str(c), str(t)] for c, t in df.dtypes.items()] != self.dtypes:
            raise ValueError(f"table '{self.name}': partition {len(self.rows) + 1} has columns/dtypes "
                             f"{df.dtypes.to_dict()}, unlike the first partition's {self.dtypes}")
        self.hash.update(pd.util.hash_pandas_object(df, index=False).to_numpy().tobytes())
        self.writer.write_table(pa.Table.from_pandas(df, schema=self.schema, preserve_index=False))
        self.rows.append(int(len(df)))

    def close(self) -> None:
        self.writer.close()

    def entry(self) -> dict:
        return {"rows": sum(self.rows), "columns": [c for c, _ in self.dtypes],
                "sha256": self.hash.hexdigest(), "partitions": self.rows}


class SnapshotWriter:
    """Writes a snapshot partition by partition, so memory holds one partition, never the whole data.

    Every partition must carry the same tables and columns. Nothing is visible until commit(), which
    names the folder by the content and renames it into place; leaving the `with` block without a
    commit (an error in any partition) removes everything written so far.
    """

    def __init__(self, root: Path, salt: str = "", extra: dict | None = None):
        self.root, self.salt, self.extra = Path(root), salt, extra or {}
        self.tmp: Path | None = None
        self.tables: dict[str, _TableFile] = {}

    def __enter__(self) -> "SnapshotWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.abort()

    def add(self, tables: dict[str, pd.DataFrame]) -> None:
        if self.tmp is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=self.root))
        if self.tables and list(tables) != list(self.tables):
            raise ValueError(f"partition with tables {list(tables)}, unlike the first's {list(self.tables)}")
        for name, df in tables.items():
            if name not in self.tables:
                self.tables[name] = _TableFile(self.tmp / f"{name}.parquet", name, df)
            self.tables[name].write(df)

    def abort(self) -> None:
        for t in self.tables.values():
            t.close()
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def commit(self, files: dict[str, pd.DataFrame | str] | None = None) -> tuple[Path, bool]:
        """(snapshot folder, reused): an existing snapshot of the same content is reused.

        `files` (relative path -> frame, written as Parquet, or text) go in the same folder, in the same
        atomic rename, and count towards the content id; they are not tables (read_tables skips them)."""
        if self.tmp is None:
            raise ValueError("nothing to write: no partition was added")
        for t in self.tables.values():
            t.close()
        entries = {name: t.entry() for name, t in self.tables.items()}
        sid, file_hashes = _content_id({n: e["sha256"] for n, e in entries.items()}, files, self.salt)
        final = self.root / sid
        if (final / MANIFEST).is_file():
            os.utime(final / MANIFEST)  # mark as the latest snapshot in use
            self.abort()
            return final, True
        for rel, content in (files or {}).items():
            (self.tmp / rel).parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, pd.DataFrame):
                content.to_parquet(self.tmp / rel, index=False)
            else:
                (self.tmp / rel).write_text(content)
        manifest = {"id": sid, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                    "tables": entries, **({"files": file_hashes} if files else {}), **self.extra}
        (self.tmp / MANIFEST).write_text(json.dumps(manifest, indent=2))
        try:
            os.rename(self.tmp, final)
        except OSError:  # another writer finished the same content first: theirs is identical
            if not (final / MANIFEST).is_file():
                raise
            self.abort()
            return final, True
        self.tmp = None
        return final, False


def write_snapshot(tables: dict[str, pd.DataFrame], root: Path, salt: str = "",
                   extra: dict | None = None, files: dict[str, pd.DataFrame | str] | None = None
                   ) -> tuple[Path, bool]:
    """Write in-memory tables (one partition) to root/<content id>/NAME.parquet with a manifest;
    returns (path, reused). Unchanged content is recognised before anything is written."""
    sid, _ = _content_id({name: table_hash(df) for name, df in tables.items()}, files, salt)
    final = Path(root) / sid
    if (final / MANIFEST).is_file():
        os.utime(final / MANIFEST)  # mark as the latest snapshot in use
        return final, True
    with SnapshotWriter(root, salt, extra) as writer:
        writer.add(tables)
        return writer.commit(files)


def read_manifest(path: Path) -> dict:
    return json.loads((Path(path) / MANIFEST).read_text())


def read_tables(path: Path, names: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Whole tables (every partition); for data that fits in memory."""
    manifest = read_manifest(path)
    names = names or list(manifest["tables"])
    return {n: pd.read_parquet(Path(path) / f"{n}.parquet") for n in names}


def iter_partitions(path: Path, names: list[str] | None = None) -> Iterator[dict[str, pd.DataFrame]]:
    """The snapshot one partition at a time, each a dict of its tables, in the order written.

    A snapshot written before partitions existed is one partition."""
    manifest = read_manifest(path)
    names = names or list(manifest["tables"])
    counts = {n: manifest["tables"][n].get("partitions") for n in names}
    if any(c is None for c in counts.values()):
        yield read_tables(path, names)
        return
    files = {n: pq.ParquetFile(Path(path) / f"{n}.parquet") for n in names}
    groups = {n: _row_groups(files[n], counts[n], n) for n in names}
    for i in range(len(counts[names[0]])):
        yield {n: files[n].read_row_groups(groups[n][i]).to_pandas() if groups[n][i]
               else files[n].schema_arrow.empty_table().to_pandas() for n in names}


def _row_groups(file: pq.ParquetFile, counts: list[int], name: str) -> list[list[int]]:
    """Row-group indices of each partition (a partition is written as whole row groups)."""
    sizes = [file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups)]
    out, g = [], 0
    for want in counts:
        got, idx = 0, []
        while got < want and g < len(sizes):
            idx.append(g)
            got, g = got + sizes[g], g + 1
        if got != want:
            raise DataError(f"table '{name}': its Parquet row groups do not match the manifest's partitions")
        out.append(idx)
    return out


def latest(root: Path) -> Path | None:
    """The most recently written complete snapshot under root, if any."""
    done = [p for p in Path(root).glob("*/" + MANIFEST)]
    return max(done, key=lambda p: p.stat().st_mtime).parent if done else None

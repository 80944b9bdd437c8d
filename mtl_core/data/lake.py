"""Parquet storage with content-addressed, atomically written snapshots and a JSON manifest.

A snapshot folder appears complete or not at all: it is written under a temporary name and renamed.
Writing the same content twice reuses the existing folder, so re-ingesting unchanged input is free.
Large data is written and read partition by partition: each table is a folder `<table>.parquet/` of
part files, one per partition of whole patients, listed in the manifest. A part can be written by any
process that sees the temporary folder (write_part), so partitions can be staged on a cluster and
committed by the one process that owns the snapshot.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtl_core.data import owner
from mtl_core.errors import DataError

MANIFEST = "manifest.json"


def _dtypes(df: pd.DataFrame) -> list[list[str]]:
    return [[str(c), str(t)] for c, t in df.dtypes.items()]


def part_hash(df: pd.DataFrame) -> str:
    """Content hash of one partition of a table: values, column names and dtypes (not the index).

    Fixed-width columns hash their raw bytes (fast: this runs over every event row); others through
    pandas' stable per-row hash."""
    h = hashlib.sha256(json.dumps(_dtypes(df)).encode())
    for _, col in df.items():
        if col.dtype.kind in "biufcmM" and isinstance(col.dtype, np.dtype):
            h.update(np.ascontiguousarray(col.to_numpy()).view(np.uint8).data)
        else:
            h.update(pd.util.hash_pandas_object(col, index=False).to_numpy().tobytes())
    return h.hexdigest()


def _table_digest(dtypes: list, part_hashes: list[str]) -> str:
    """A table's hash from its dtypes and its parts' hashes, in order (empty parts hash to '')."""
    return hashlib.sha256(json.dumps([dtypes, part_hashes]).encode()).hexdigest()


def table_hash(df: pd.DataFrame) -> str:
    """Content hash of a frame stored as one partition (values, column names and dtypes; not the index)."""
    return _table_digest(_dtypes(df), [part_hash(df)])


def snapshot_id(hashes: dict[str, str], salt: str = "") -> str:
    return hashlib.sha256((salt + json.dumps(hashes, sort_keys=True)).encode()).hexdigest()[:16]


def _file_hash(content: pd.DataFrame | str) -> str:
    return table_hash(content) if isinstance(content, pd.DataFrame) else hashlib.sha256(
        content.encode()).hexdigest()


def _content_id(table_hashes: dict[str, str], files: dict | None, salt: str) -> tuple[str, dict[str, str]]:
    """(snapshot id, hash per extra file): the id covers the tables and the extra files alike."""
    file_hashes = {rel: _file_hash(content) for rel, content in (files or {}).items()}
    return snapshot_id({**table_hashes, **{f"file:{k}": v for k, v in file_hashes.items()}}, salt), file_hashes


def part_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def write_part(folder: Path, index: int, tables: dict[str, pd.DataFrame]) -> dict[str, dict]:
    """Write one partition's tables as folder/<table>.parquet/part-<index>.parquet (safe to call from a
    worker process); returns per table its rows, dtypes and hash, for SnapshotWriter.record."""
    out = {}
    for name, df in tables.items():
        target = Path(folder) / f"{name}.parquet"
        target.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pandas(df, preserve_index=False), target / part_name(index))
        out[name] = {"rows": int(len(df)), "dtypes": _dtypes(df), "sha256": part_hash(df) if len(df) else ""}
    return out


class SnapshotWriter:
    """Writes a snapshot partition by partition, so memory holds one partition, never the whole data.

    add(tables) writes the next partition here; or write_part(writer.folder, i, tables) elsewhere and
    record(i, info) here, in any order. Every partition must carry the same tables, and each table the
    same columns and dtypes (empty parts excepted). Nothing is visible until commit(), which names the
    folder by the content and renames it into place; leaving the `with` block without a commit (an error
    in any partition) removes everything written so far.
    """

    def __init__(self, root: Path, salt: str = "", extra: dict | None = None):
        self.root, self.salt, self.extra = Path(root), salt, extra or {}
        self.tmp: Path | None = None
        self.parts: dict[int, dict[str, dict]] = {}

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.abort()

    @property
    def folder(self) -> Path:
        """The temporary folder parts are written to (created on first use)."""
        if self.tmp is None:
            self.root.mkdir(parents=True, exist_ok=True)
            self.tmp = Path(tempfile.mkdtemp(prefix=owner.prefix(".partial"), dir=self.root))
        return self.tmp

    def add(self, tables: dict[str, pd.DataFrame]) -> None:
        index = len(self.parts)
        self.record(index, write_part(self.folder, index, tables))

    def record(self, index: int, info: dict[str, dict]) -> None:
        first = self.parts[min(self.parts)] if self.parts else None
        if first is not None and list(info) != list(first):
            raise ValueError(f"partition with tables {list(info)}, unlike the first's {list(first)}")
        for name, x in info.items():  # fail early; commit checks again whatever order parts came in
            seen = next((p[name]["dtypes"] for p in self.parts.values() if p[name]["rows"]), None)
            if x["rows"] and seen is not None and x["dtypes"] != seen:
                raise ValueError(f"table '{name}': partition {index + 1} has columns/dtypes {x['dtypes']}, "
                                 f"unlike the first partition's {seen}")
        self.parts[index] = info

    def abort(self) -> None:
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def _entries(self) -> dict[str, dict]:
        order = sorted(self.parts)
        entries = {}
        for name in self.parts[order[0]]:
            infos = [self.parts[i][name] for i in order]
            full = [x for x in infos if x["rows"]] or infos[:1]
            dtypes = full[0]["dtypes"]
            for k, x in zip(order, infos):
                if x["rows"] and x["dtypes"] != dtypes:
                    raise ValueError(f"table '{name}': partition {k + 1} has columns/dtypes {x['dtypes']}, "
                                     f"unlike the first partition's {dtypes}")
            self._conform_empty_parts(name, order, infos, dtypes)
            entries[name] = {"rows": sum(x["rows"] for x in infos), "columns": [c for c, _ in dtypes],
                             "sha256": _table_digest(dtypes, [x["sha256"] for x in infos]),
                             "partitions": [x["rows"] for x in infos],
                             "parts": [part_name(k) for k in order]}
        return entries

    def _conform_empty_parts(self, name: str, order: list[int], infos: list[dict], dtypes: list) -> None:
        """An empty part may have come out with other dtypes (nothing to infer them from): rewrite it with
        the table's schema, so every part reads back alike."""
        folder = self.folder / f"{name}.parquet"
        full = next((k for k, x in zip(order, infos) if x["rows"]), None)
        if full is None:
            return
        schema = pq.read_schema(folder / part_name(full))
        for k, x in zip(order, infos):
            if not x["rows"] and x["dtypes"] != dtypes:
                pq.write_table(schema.empty_table(), folder / part_name(k))

    def commit(self, files: dict[str, pd.DataFrame | str] | None = None) -> tuple[Path, bool]:
        """(snapshot folder, reused): an existing snapshot of the same content is reused.

        `files` (relative path -> frame, written as Parquet, or text) go in the same folder, in the same
        atomic rename, and count towards the content id; they are not tables (read_tables skips them)."""
        if not self.parts:
            raise ValueError("nothing to write: no partition was added")
        entries = self._entries()
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
        manifest = {"id": sid, "created": datetime.now(UTC).isoformat(timespec="seconds"),
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
    """Write in-memory tables (one partition) to root/<content id>/ with a manifest; returns
    (path, reused). Unchanged content is recognised before anything is written."""
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


def _part_files(path: Path, name: str, entry: dict) -> list[Path] | None:
    """The table's part files in order, or None for a single-file table (snapshots before parts)."""
    folder = Path(path) / f"{name}.parquet"
    if not folder.is_dir():
        return None
    parts = entry.get("parts") or [part_name(i) for i in range(len(entry.get("partitions", [1])))]
    return [folder / p for p in parts]


def table_files(path: Path, name: str) -> list[Path]:
    """The Parquet files holding table `name` of a snapshot, in order (part files, or the one file)."""
    files = _part_files(path, name, read_manifest(path)["tables"][name])
    return files if files is not None else [Path(path) / f"{name}.parquet"]


def _read(files: list[Path], columns: list[str] | None = None) -> pd.DataFrame:
    tables = [pq.read_table(f, columns=columns) for f in files]
    full = [t for t in tables if t.num_rows] or tables[:1]
    return pa.concat_tables(full).to_pandas() if len(full) > 1 else full[0].to_pandas()


def read_tables(path: Path, names: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Whole tables (every partition); for data that fits in memory."""
    manifest = read_manifest(path)
    names = names or list(manifest["tables"])
    out = {}
    for n in names:
        files = _part_files(path, n, manifest["tables"][n])
        out[n] = _read(files) if files is not None else pd.read_parquet(Path(path) / f"{n}.parquet")
    return out


def n_partitions(path: Path) -> int:
    tables = read_manifest(path)["tables"]
    return len(next(iter(tables.values())).get("partitions", [1]))


def read_partition(path: Path, index: int, names: list[str] | None = None) -> dict[str, pd.DataFrame]:
    """Partition `index` of a snapshot (position in the manifest), each table as a frame."""
    manifest = read_manifest(path)
    names = names or list(manifest["tables"])
    out = {}
    for n in names:
        entry = manifest["tables"][n]
        files = _part_files(path, n, entry)
        if files is None:  # a single-file table: partition = row groups, or the whole file
            out[n] = _read_row_groups(Path(path) / f"{n}.parquet", entry, index, n)
        else:
            out[n] = _read([files[index]])
    return out


def iter_partitions(path: Path, names: list[str] | None = None) -> Iterator[dict[str, pd.DataFrame]]:
    """The snapshot one partition at a time, each a dict of its tables, in the order written."""
    for i in range(n_partitions(path)):
        yield read_partition(path, i, names)


def _read_row_groups(file: Path, entry: dict, index: int, name: str) -> pd.DataFrame:
    """Partition `index` of a table written as one file (row groups per partition, or one partition)."""
    if "partitions" not in entry:
        return pd.read_parquet(file)
    pf = pq.ParquetFile(file)
    sizes = [pf.metadata.row_group(i).num_rows for i in range(pf.metadata.num_row_groups)]
    bounds = np.cumsum([0] + entry["partitions"])
    starts = np.cumsum([0] + sizes)
    groups = [g for g in range(len(sizes)) if bounds[index] <= starts[g] < bounds[index + 1]]
    if sum(sizes[g] for g in groups) != entry["partitions"][index]:
        raise DataError(f"table '{name}': its Parquet row groups do not match the manifest's partitions")
    return pf.read_row_groups(groups).to_pandas() if groups else pf.schema_arrow.empty_table().to_pandas()


def latest(root: Path) -> Path | None:
    """The most recently written complete snapshot under root, if any."""
    done = [p for p in Path(root).glob("*/" + MANIFEST)]
    return max(done, key=lambda p: p.stat().st_mtime).parent if done else None

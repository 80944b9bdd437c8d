"""A subject-bucketed Parquet copy of source files, so a source too big for memory is read a few patients at a time.

Input files are streamed once (a .csv.gz cannot be split) into shards by subject range: shard k holds
the rows of subjects in [bounds[k], bounds[k + 1]) of every table. Partitions are runs of consecutive
shards holding about `partition_rows` rows in all, so each holds whole patients, and reading one
reads only its shards. The staging folder lives in the workspace and is removed when the read is done;
the input files are only read.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

FLUSH_ROWS = 4_000_000        # rows buffered before they are written out, shard by shard
MAX_SHARDS = 512


def shard_bounds(subjects: np.ndarray, k: int) -> np.ndarray:
    """First subject id of each of k shards: equal numbers of (sorted, distinct) subjects per shard."""
    ids = np.unique(np.asarray(subjects, dtype=np.int64))
    if ids.size == 0:
        return np.zeros(1, np.int64)
    k = max(1, min(k, ids.size))
    return ids[(np.arange(k) * ids.size) // k]


def shard_of(keys: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Shard index of each key (keys below the first bound go to shard 0)."""
    return np.maximum(np.searchsorted(bounds, keys, side="right") - 1, 0).astype(np.int32)


class ShardWriter:
    """Writes typed batches of one input file into folder/shard-<k>.parquet, by the shard of `key`."""

    def __init__(self, folder: Path, key: str, bounds: np.ndarray, flush_rows: int = FLUSH_ROWS):
        self.folder, self.key, self.bounds, self.flush_rows = Path(folder), key, bounds, flush_rows
        self.buffer: list[pa.Table] = []
        self.buffered = 0
        self.writers: dict[int, pq.ParquetWriter] = {}
        self.counts = np.zeros(len(bounds), np.int64)

    def add(self, batch: pa.Table) -> None:
        if batch.num_rows:
            self.buffer.append(batch)
            self.buffered += batch.num_rows
        if self.buffered >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        table = pa.concat_tables(self.buffer)
        self.buffer, self.buffered = [], 0
        shard = shard_of(table.column(self.key).to_numpy(), self.bounds).astype(np.int16 if len(
            self.bounds) < 2**15 else np.int32)
        order = np.argsort(shard, kind="stable")  # keeps each shard's rows in file order
        table, shard = table.take(order), shard[order]
        starts = np.searchsorted(shard, np.arange(len(self.bounds) + 1))
        for k in np.flatnonzero(np.diff(starts)):
            part = table.slice(starts[k], starts[k + 1] - starts[k])
            if k not in self.writers:
                self.folder.mkdir(parents=True, exist_ok=True)
                self.writers[k] = pq.ParquetWriter(self.folder / f"shard-{k:05d}.parquet", part.schema)
            self.writers[k].write_table(part)
            self.counts[k] += part.num_rows

    def close(self) -> np.ndarray:
        self.flush()
        for w in self.writers.values():
            w.close()
        return self.counts

    def reset(self) -> None:
        """Forget everything written (the file is being read again from the start)."""
        for w in self.writers.values():
            w.close()
        shutil.rmtree(self.folder, ignore_errors=True)
        self.__init__(self.folder, self.key, self.bounds, self.flush_rows)


@dataclass
class Stage:
    """The staged copy: root/<table>/<input>/shard-<k>.parquet, rows per shard, and the partition plan."""
    root: Path
    bounds: np.ndarray
    inputs: dict[str, list[str]] = field(default_factory=dict)   # table -> its inputs, in order
    counts: dict[str, np.ndarray] = field(default_factory=dict)  # table -> rows per shard
    schemas: dict[str, pa.Schema] = field(default_factory=dict)  # table -> its typed schema

    def writer(self, table: str, name: str, key: str) -> ShardWriter:
        """A writer for one input (file, query) of `table`, sharded by column `key`; hand it to finish()."""
        return ShardWriter(self.root / table / name, key, self.bounds)

    def add(self, table: str, name: str, counts: np.ndarray, schema: pa.Schema) -> None:
        """Record an input written elsewhere (e.g. by a worker) into root/<table>/<name>/, in input order;
        the slices of one input (<name>/slice-<j>/) are added under its name, in slice order."""
        if name not in self.inputs.get(table, []):
            self.inputs.setdefault(table, []).append(name)
        self.counts[table] = self.counts.get(table, 0) + counts
        self.schemas.setdefault(table, schema)

    def finish(self, table: str, name: str, writer: ShardWriter, schema: pa.Schema) -> None:
        self.add(table, name, writer.close(), schema)

    def plan(self, partition_rows: int) -> list[tuple[int, int]]:
        """Runs of consecutive shards [lo, hi) of about partition_rows rows (all tables), at least one each."""
        rows = sum(self.counts.values()) if self.counts else np.zeros(len(self.bounds), np.int64)
        runs, lo, total = [], 0, 0
        for k, n in enumerate(np.asarray(rows)):
            if k > lo and total + n > partition_rows:
                runs.append((lo, k))
                lo, total = k, 0
            total += int(n)
        runs.append((lo, len(self.bounds)))
        return runs

    def read(self, table: str, lo: int, hi: int) -> pa.Table:
        """Every row of `table` in shards [lo, hi): input by input, shard by shard, each in file order (a
        sliced input's shard: slice by slice, i.e. in the order of one read)."""
        parts = [pq.read_table(path) for name in self.inputs.get(table, []) for k in range(lo, hi)
                 for path in self._files(self.root / table / name, f"shard-{k:05d}.parquet")]
        parts = [p.select(self.schemas[table].names) for p in parts]
        if not parts:
            return self.schemas[table].empty_table()
        return pa.concat_tables(parts, promote_options="permissive") if len(parts) > 1 else parts[0]

    @staticmethod
    def _files(folder: Path, shard: str) -> list[Path]:
        if (folder / shard).is_file():
            return [folder / shard]
        return sorted(folder.glob(f"slice-*/{shard}"))

    def summary(self) -> str:
        return json.dumps({t: int(c.sum()) for t, c in self.counts.items()})


class StagedPartitions:
    """A staged source as partitions: read(i) types shards runs[i] of every table as pandas frames and
    hands them to `assemble` (the source's own last step, e.g. sorting events). Picklable: a worker
    that sees the staging folder can read any partition."""

    def __init__(self, stage: Stage, runs: list[tuple[int, int]], specs: dict[str, dict],
                 assemble=None):
        self.stage, self.runs, self.specs, self.assemble = stage, runs, specs, assemble

    def __len__(self) -> int:
        return len(self.runs)

    def read(self, i: int) -> dict:
        from mtl_core.sources.scan import to_frame

        lo, hi = self.runs[i]
        tables = {t: to_frame(self.stage.read(t, lo, hi), self.specs[t]) for t in self.stage.inputs}
        return self.assemble(tables) if self.assemble else tables


SHARDS_PER_PARTITION = 8      # shards are this much finer than partitions, so sizes come out even


def estimate_rows(path: Path) -> int:
    """Rough row count of an input file before reading it: exact for Parquet, else from the length of
    the first lines (decompressed, for .csv.gz) and the file's size. Only sizes the shards."""
    import gzip
    import zlib

    from mtl_core.sources import files

    kind = files.kind_of(path)
    size = path.stat().st_size
    try:
        if kind == ".parquet":
            return pq.ParquetFile(path).metadata.num_rows
        with open(path, "rb") as fh:
            head = fh.read(1 << 20)
        text, ratio = head, 1.0
        if kind == ".csv.gz":
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            text = d.decompress(head, 8 << 20)
            ratio = len(text) / max(len(head) - len(d.unconsumed_tail), 1)
        lines = max(text.count(b"\n"), 1)
        return int(size * ratio / (len(text) / lines)) if text else 0
    except (OSError, zlib.error, gzip.BadGzipFile, EOFError, pa.ArrowException):
        return 0  # unreadable: the reader says so, with a proper message, when it gets there


def n_shards(rows: int, patients: int, partition_rows: int) -> int:
    return int(min(MAX_SHARDS, max(patients, 1), max(1, -(-SHARDS_PER_PARTITION * rows // partition_rows))))

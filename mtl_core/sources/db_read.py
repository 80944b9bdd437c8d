"""Read tables of a database schema as typed Arrow batches: only the asked columns, matched case-insensitively.

stage() copies tables into the staging shards. With a pool of several workers (the Dask engine) each big
table is read in slices of its pages, one connection per slice, all in the snapshot the first session
exported: the slices, in order, are the rows of one sequential scan, so the shards (and the snapshot)
are the same as from a single read.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from mtl_core.errors import DataError, all_of
from mtl_core.sources import database, scan
from mtl_core.sources.database import quote
from mtl_core.sources.staging import ShardWriter, Stage

SLICE_PAGES = 4096           # 32 MiB of 8 KiB pages: a smaller table is read in one go (env CMTL_SLICE_PAGES)
SLICES_PER_WORKER = 2         # slices of a big table per worker, so a slow one does not hold the rest

# column kind (files.TYPES) -> PostgreSQL type categories it reads: N numeric, S string, D date/time
ACCEPTS = {"int": "NS", "float": "NS", "time": "DS", "str": "SN"}
EXPECTED = {"int": "an integer (or text holding one)", "float": "a number (or text holding one)",
            "time": "a date or timestamp (or ISO 8601 text)", "str": "text"}
INTEGERS = ("smallint", "integer", "bigint")


def _expression(column: str, kind: str, typ: str, category: str) -> str:
    """The column as selected: NUMERIC arrives as text from the driver, so numbers are cast on the
    server (float8 for a float; text for an integer, whose converter then checks it is whole)."""
    q = quote(column)
    if typ.startswith("numeric") and kind == "float":
        return f"CAST({q} AS DOUBLE PRECISION)"
    if (typ.startswith("numeric") and kind == "int") or (kind == "str" and category != "S"):
        return f"CAST({q} AS VARCHAR)"
    return q


class Tables:
    """The tables of one schema on a database server (opened once per read; see database.Postgres)."""

    def __init__(self, con: database.Postgres, schema: str, kind: str):
        self.con, self.schema, self.kind = con, schema, kind
        self.catalog = con.columns(schema)
        if not self.catalog and schema not in con.schemas():
            shown = ", ".join(con.schemas()[:12]) or "none this role can see"
            raise DataError(f"{kind} source {con.shown}: schema '{schema}' not found (schemas there: {shown})")

    def has(self, table: str) -> bool:
        return table in self.catalog

    def header(self, table: str) -> dict[str, str]:
        """Lower-case column name -> the name as the table spells it."""
        return {c: info[1] for c, info in self.catalog[table].items()}

    def name(self, table: str) -> str:
        return f"{quote(self.schema)}.{quote(next(iter(self.catalog[table].values()))[0])}"

    def where(self, table: str, canonical: str | None = None) -> str:
        """How messages name the table: its canonical name (when it has another) and where it lives."""
        return f"table '{canonical or table}' ({self.schema}.{table})"

    def missing(self, table: str) -> DataError:
        return DataError(f"{self.kind} source {self.con.shown}: required table '{table}' not found in schema "
                         f"'{self.schema}'")

    def check(self, specs: dict[str, dict[str, tuple[str, bool]]]) -> None:
        """Before anything is read: each spec column's type and the role's right to read it, every
        problem of every table at once (types and grants only: no value is looked at)."""
        checks = []
        for table, spec in specs.items():
            for col, (kind, _) in spec.items():
                _, spelt, typ, category, granted = self.catalog[table][col]
                checks.append(lambda t=table, c=col, k=kind, ty=typ, cat=category, g=granted:
                              self._check_column(t, c, k, ty, cat, g))
        all_of(checks)

    def _check_column(self, table: str, col: str, kind: str, typ: str, category: str, granted: bool) -> None:
        where = f"{self.kind} source {self.con.shown}: {self.where(table)}: column '{col}'"
        if category not in ACCEPTS[kind] or (kind == "str" and category == "N" and typ not in INTEGERS):
            raise DataError(f"{where}: type {typ} is refused by the contract (expected {EXPECTED[kind]})")
        if not granted:
            raise DataError(f"{where}: permission denied: this role may not SELECT it; grant SELECT on "
                            f"{self.schema}.{table} (or on the column)")

    def select(self, table: str, spec: dict[str, tuple[str, bool]], drop_missing: str | None = None,
               pages: tuple[int, int | None] | None = None) -> str:
        cols = self.catalog[table]
        exprs = ", ".join(f"{_expression(cols[c][1], kind, cols[c][2], cols[c][3])} AS {quote(c)}"
                          for c, (kind, _) in spec.items())
        conditions = ([f"{quote(cols[drop_missing][1])} IS NOT NULL"] if drop_missing else []) + \
            ([self.con.page_range(*pages)] if pages is not None else [])
        return f"SELECT {exprs} FROM {self.name(table)}" + (f" WHERE {' AND '.join(conditions)}" if conditions else "")

    def batches(self, table: str, spec: dict[str, tuple[str, bool]], drop_missing: str | None = None,
                canonical: str | None = None, pages: tuple[int, int | None] | None = None) -> Iterator[pa.Table]:
        """Typed batches of the table's spec columns (lower-case named), in the table's stored order (of
        the pages [lo, hi) only, when given)."""
        self.check({table: spec})
        where = self.where(table, canonical)
        for batch in self.con.stream(self.select(table, spec, drop_missing, pages), f"reading {where}"):
            yield scan.typed(pa.Table.from_batches([batch]), spec, where)

    def slices(self, table: str, n: int) -> list[tuple[int, int | None] | None]:
        """Up to n page ranges covering the table, in order (the last open-ended), of at least SLICE_PAGES
        each; [None] (the whole table in one read) for one slice or an engine that cannot slice."""
        pages = self.con.pages(self.schema, next(iter(self.catalog[table].values()))[0]) \
            if hasattr(self.con, "pages") else None
        k = min(n, (pages or 0) // max(1, int(os.environ.get("CMTL_SLICE_PAGES", SLICE_PAGES))))
        if k <= 1:
            return [None]
        starts = [pages * j // k for j in range(k)]
        return [(lo, starts[j + 1] if j + 1 < k else None) for j, lo in enumerate(starts)]

    def rows(self, table: str) -> int:
        return int(self.con.rows(f"SELECT count(*) FROM {self.name(table)}")[0][0])

    def fingerprint(self, table: str, spec: dict[str, tuple[str, bool]]) -> list:
        """What tells a changed table from an unchanged one without reading it: the row count, the
        largest value of each id and time column read, and the server's change counters."""
        cols = self.catalog[table]
        keys = [c for c, (kind, _) in spec.items() if kind in ("int", "time")]
        aggs = ", ".join(["count(*)"] + [f"CAST(max({quote(cols[c][1])}) AS VARCHAR)" for c in keys])
        found = self.con.rows(f"SELECT {aggs} FROM {self.name(table)}")[0]
        return [str(v) for v in found] + self.con.change_counters(self.schema, next(iter(cols.values()))[0])


@dataclass
class Read:
    """One table to stage: its canonical name, the name in the database, its schema, the columns, the
    column whose missing values drop a row, the staging input name and the shard key."""
    table: str
    name: str
    tables: Tables
    spec: dict[str, tuple[str, bool]]
    drop_missing: str | None
    stem: str
    key: str


class InTurn:
    """The default pool: each call in this process, one after another. An engine's pool has the same
    two members (flows/ingest.py runs the calls as tasks on Dask workers)."""
    workers = 1

    def map(self, fn: Callable, calls: Iterable[dict]) -> Iterator:
        return (fn(**kwargs) for kwargs in calls)


def stage_slice(url: str, snapshot: str, schema: str, kind: str, table: str, canonical: str,
                spec: dict, drop_missing: str | None, pages, folder: str, key: str, bounds: np.ndarray) -> np.ndarray:
    """Read one slice of a table, in the exported snapshot, into folder/shard-<k>.parquet; rows per shard."""
    con = database.connect(url, snapshot=snapshot)
    try:
        writer = ShardWriter(Path(folder), key, bounds)
        for batch in Tables(con, schema, kind).batches(table, spec, drop_missing, canonical, pages):
            writer.add(batch)
        return writer.close()
    finally:
        con.close()


def stage(con: database.Postgres, url: str, stage_: Stage, reads: list[Read], pool=None,
          progress: Callable[[int, int], None] | None = None) -> None:
    """Copy every read into the staging shards, its slices through `pool` (InTurn by default), in the
    consistent snapshot of `con`'s transaction (which stays open until every slice is read)."""
    pool = pool or InTurn()
    snapshot = con.export_snapshot()
    calls, inputs = [], []
    for r in reads:
        # one worker: each table in one read (slices read in turn would only add sessions)
        pieces = r.tables.slices(r.name, pool.workers * SLICES_PER_WORKER if pool.workers > 1 else 1)
        for j, pages in enumerate(pieces):
            folder = stage_.root / r.table / r.stem / ("" if len(pieces) == 1 else f"slice-{j:04d}")
            calls.append({"url": url, "snapshot": snapshot, "schema": r.tables.schema, "kind": r.tables.kind,
                          "table": r.name, "canonical": r.table, "spec": r.spec, "drop_missing": r.drop_missing,
                          "pages": pages, "folder": str(folder), "key": r.key,
                          "bounds": stage_.bounds})
            inputs.append((r.table, r.stem, scan.typed_schema(r.spec, list(r.spec))))
    for i, ((table, name, schema), counts) in enumerate(zip(inputs, pool.map(stage_slice, calls)), 1):
        stage_.add(table, name, counts, schema)
        if progress:
            progress(i, len(calls))

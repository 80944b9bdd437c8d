"""Source `mimic_iv` from a database in mimic-code's layout (mimiciv_hosp.*, mimiciv_icu.*), staged as the files are.

Each table is read once, in one REPEATABLE READ transaction (all tables as of one moment), its needed
columns only, into the same subject-range shards as a file export; an export loaded into the database
in file order therefore gives the very snapshot its files give. mimic-code indexes no table by subject,
so one sequential scan per table is the cheap read: a range query per partition would scan each
table once per partition. On the Dask engine the scan is cut into slices of pages, read by the
workers in parallel in the same snapshot (db_read.stage).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from mtl_core.config import Config
from mtl_core.errors import DataError, all_of
from mtl_core.sources import database, db_read
from mtl_core.sources import staging as staging_mod
from mtl_core.sources.db_read import Tables
from mtl_core.sources.mimic_iv import FILES, OPTIONAL, _assemble
from mtl_core.sources.staging import StagedPartitions


def _fail(exc: Exception) -> None:
    raise exc


def _schemas(con: database.Postgres, src) -> dict[str, Tables | None]:
    """hosp and icu schemas; icu may be absent (chartevents is optional) unless it was named."""
    out: dict[str, Tables | None] = {"hosp": Tables(con, src.hosp_schema, "mimic_iv")}
    try:
        out["icu"] = Tables(con, src.icu_schema, "mimic_iv")
    except DataError:
        if "icu_schema" in src.model_fields_set:
            raise
        out["icu"] = None
    return out


def _found(con: database.Postgres, src, files: tuple) -> list[tuple[str, str, Tables, dict]]:
    """(canonical table, database table, its schema, spec) of each table there is; DataError naming
    every missing table and column at once."""

    schemas, out, checks = _schemas(con, src), [], []
    for table, stem, columns, required in files:
        module, name = stem.split("/")
        tables = schemas[module]
        if tables is None or not tables.has(name):
            if required:
                checks.append(lambda t=tables or schemas["hosp"], n=name: _fail(t.missing(n)))
            continue
        header = tables.header(name)
        missing = [c for c in columns if c not in header and c not in OPTIONAL]
        if missing:
            where = f"mimic_iv source {con.shown}: {tables.where(name, table)}"
            checks.append(lambda w=where, m=missing: _fail(DataError(f"{w}: required column(s) {m} are missing")))
            continue
        out.append((table, name, tables, {c: kind for c, kind in columns.items() if c in header}))
    all_of(checks)
    all_of([lambda t=t, n=n, s=s: t.check({n: s}) for _, n, t, s in out])  # types and grants, all at once
    return out


def open_partitions(cfg: Config, staging: Path, progress: Callable[[int, int], None] | None = None,
                    pool=None) -> StagedPartitions:
    """mimic-code's tables at source.path as partitions of whole patients (see the module docstring);
    `pool` (db_read.InTurn by default) reads the slices of big tables, in parallel on an engine's workers."""

    con = database.connect(cfg.source.path)
    try:
        found = _found(con, cfg.source, FILES)
        _, name, patients, _ = next(f for f in found if f[0] == "patients")
        ids = [b.column("subject_id").to_numpy() for b in patients.batches(
            name, {"subject_id": ("int", False)}, canonical="patients")]
        ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        rows = sum(tables.rows(name) for _, name, tables, _ in found)  # exact, as a Parquet file's count
        stage = staging_mod.Stage(Path(staging), staging_mod.shard_bounds(
            ids, staging_mod.n_shards(rows, len(ids), cfg.ingest.partition_rows)))
        # staging names as the files'; labs drawn outside a hospital stay belong to no admission
        reads = [db_read.Read(table, name, tables, spec, "hadm_id" if table == "events" else None,
                              f"{'icu' if name == 'chartevents' else 'hosp'}_{name}", "subject_id")
                 for table, name, tables, spec in found]
        db_read.stage(con, cfg.source.path, stage, reads, pool, progress)
    finally:
        con.close()
    specs = {table: spec for table, _, _, spec in found}

    return StagedPartitions(stage, stage.plan(cfg.ingest.partition_rows), specs, _assemble)

"""Flow `ingest`: source -> validated, content-addressed Parquet snapshot in the workspace lake."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.runtime import policy
from flows.runtime.engine import engine
from flows.runtime.workspace import prepare
from mtl_core.config import Config
from mtl_core.data import lake, owner
from mtl_core.data.partitions import KeyCheck, Sequential, in_partition, keys_of
from mtl_core.data.quarantine import Rejects, combine
from mtl_core.errors import DataError
from mtl_core.sources import (
    add_summaries,
    check_not_empty,
    check_summary,
    db_snapshot,
    ingest_tables,
    open_partitions,
    summary,
    unique_keys,
)


@task(name="Fingerprint the database (row counts, largest ids and times, change counters)",
      cache_policy=NO_CACHE, **policy.DATA)
def database_unchanged(cfg: Config, ws: Path, reread: bool = False) -> tuple[dict | None, str | None]:
    """(fingerprint of a database source, the snapshot it gave last time if the same): None, None for
    files. An unchanged database is then not read again (mtl_core/sources/db_snapshot.py), unless reread."""
    fp = db_snapshot.fingerprint(cfg)
    reused = None if reread else db_snapshot.reuse(ws / "lake", fp)
    if fp is not None and reread:
        get_run_logger().info("Reading the database again as asked (fingerprint %s)", db_snapshot.key(fp))
    if reused is not None:
        get_run_logger().info("Database unchanged (fingerprint %s): reused lake snapshot %s without reading it",
                              db_snapshot.key(fp), reused.name)
    return fp, None if reused is None else str(reused)


@task(name="Read a slice of a database table into the staging area", cache_policy=NO_CACHE, **policy.DATA)
def read_slice(fn, kwargs: dict):
    return fn(**kwargs)


class OnEngine:
    """A pool (db_read.InTurn's members) whose calls are tasks on the engine's workers, in parallel."""

    def __init__(self, eng):
        self.eng, self.workers = eng, eng.workers

    def map(self, fn, calls):
        return self.eng.run(read_slice, ({"fn": fn, "kwargs": kwargs} for kwargs in calls))


@task(name="Read source (stream files into the staging area)", cache_policy=NO_CACHE, **policy.DATA)
def stage_source(cfg: Config, folder: str, pool=None):
    """The source as partitions of whole patients; a file source is streamed into `folder` first (a
    database's big tables in slices, on the engine's workers when it has several)."""
    logger = get_run_logger()
    parts = open_partitions(cfg, Path(folder), progress=lambda done, total: logger.info(
        "Read %d of %d inputs of source '%s'", done, total, cfg.source.kind), pool=pool)
    if not isinstance(parts, Sequential):
        logger.info("Source '%s' in %d partition(s) of whole patients", cfg.source.kind, len(parts))
    return parts


@task(name="Validate and stage partition", cache_policy=NO_CACHE, **policy.DATA)
def ingest_partition(cfg: Config, folder: str, index: int, parts=None, tables: dict | None = None,
                     total: int | None = None) -> dict:
    """Validate one partition (read here, from `parts`, or given) and write it into the snapshot's
    temporary folder; returns what the flow needs to commit: part info, keys, counts, rejects."""
    try:
        tables = parts.read(index) if tables is None else tables
        clean, rejects = ingest_tables(tables, cfg, check_share=False)
    except DataError as exc:
        raise in_partition(exc, index, total) from None
    info = lake.write_part(Path(folder), index, clean)
    get_run_logger().info("Partition %d%s: %s", index + 1, f" of {total}" if total else "",
                          ", ".join(f"{n} {len(df):,}" for n, df in clean.items()))
    return {"index": index, "info": info, "keys": keys_of(clean, unique_keys(cfg)),
            "rows_in": {n: len(df) for n, df in tables.items()}, "summary": summary(clean, cfg),
            "rejects": rejects}


@task(name="Check and report quarantined rows", cache_policy=NO_CACHE, **policy.DATA)
def quarantine_files(cfg: Config, parts: list[Rejects]) -> dict | None:
    """The quarantine files for the snapshot (None in strict mode); DataError over the share limit."""
    if not parts:
        return None
    rejects, limit = combine(parts), cfg.ingest.max_rejected_share
    counts = ", ".join(f"{n} {len(rejects.rejected[n]):,} of {rejects.rows[n]:,} ({rejects.share(n):.2%})"
                       for n in rejects.rows)
    logger = get_run_logger()
    log = logger.warning if any(len(q) for q in rejects.rejected.values()) else logger.info
    log("Quarantine: rejected rows per table (limit %.2f%%): %s", 100 * limit, counts)
    rejects.check(limit)
    return rejects.files(limit)


@task(name="Write lake snapshot", cache_policy=NO_CACHE, **policy.DATA)
def write_snapshot(cfg: Config, snapshot: lake.SnapshotWriter, keys: KeyCheck, summaries: list[dict],
                   files: dict | None = None) -> str:
    keys.check()  # no patient or admission in two partitions
    check_summary(summaries, cfg)  # e.g. no table without rows at all
    path, reused = snapshot.commit(files)
    get_run_logger().info("%s lake snapshot %s", "Reused" if reused else "Wrote", path)
    if files:
        get_run_logger().info("Quarantine report: %s", path / "rejects.md")
    return str(path)


def _calls(cfg: Config, folder: str, parts):
    """Keyword arguments of each partition's task: an index into `parts`, or (a loader that can only be
    read in order) the tables themselves, read here one by one."""
    if isinstance(parts, Sequential):
        for i, tables in enumerate(parts.iterator):
            yield {"cfg": cfg, "folder": folder, "index": i, "tables": tables}
        return
    for i in range(len(parts)):
        yield {"cfg": cfg, "folder": folder, "index": i, "parts": parts, "total": len(parts)}


@flow(name="ingest", log_prints=True)
def ingest(config_path: str, reread: bool = False) -> str:
    """Read the configured source, validate every table, write a lake snapshot; returns its path.

    Nothing is written unless every partition passes its contracts (in quarantine mode: once rejected
    rows, within `ingest.max_rejected_share`, are set aside into the snapshot's quarantine/). Partitions
    are validated and staged by the configured engine (in this process, or on Dask workers). An
    unchanged database (by its fingerprint) is not read again unless `reread`; reread, it gives the same
    content-addressed snapshot.
    """
    cfg, ws = prepare(config_path)
    kind = cfg.source.kind
    fp, reused = database_unchanged(cfg, ws, reread)
    if reused is not None:
        return reused
    (ws / "staging").mkdir(parents=True, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=owner.prefix(kind), dir=ws / "staging")
    try:
        with engine(cfg) as eng:
            # several workers: staged by the flow itself, whose slice tasks go to them (a task submitting
            # tasks would hand them its own context, the engine included, which does not pickle)
            parts = stage_source(cfg, staging) if eng.workers == 1 else stage_source.fn(cfg, staging, OnEngine(eng))
            if hasattr(parts, "prepare"):
                parts.prepare()  # e.g. calibrate the synthetic generator once, before copies go to workers
            keys, summaries, rejects, rows_in = KeyCheck(), [], [], {}
            with lake.SnapshotWriter(ws / "lake", salt=kind, extra={"source_kind": kind}) as snapshot:
                for result in eng.run(ingest_partition, _calls(cfg, str(snapshot.folder), parts)):
                    snapshot.record(result["index"], result["info"])
                    keys.merge(result["keys"])
                    summaries.append(result["summary"])
                    rows_in = add_summaries(rows_in, result["rows_in"])
                    rejects += [result["rejects"]] if result["rejects"] is not None else []
                check_not_empty(rows_in, cfg)  # a table-wide defect: before any quarantine verdict
                path = write_snapshot(cfg, snapshot, keys, summaries, quarantine_files(cfg, rejects))
                db_snapshot.remember(ws / "lake", fp, Path(path))
                return path
    finally:
        shutil.rmtree(staging, ignore_errors=True)

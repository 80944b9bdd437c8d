"""Flow `ingest`: source -> validated, content-addressed Parquet snapshot in the workspace lake."""
from __future__ import annotations

from typing import Iterator

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import policy
from flows.progress import bar
from flows.workspace import prepare
from mtl_core import lake
from mtl_core.partitions import KeyCheck
from mtl_core.quarantine import Rejects, combine
from mtl_core.sources import ingest_tables, iter_source


def read_source(config_path: str) -> Iterator[dict]:
    """The source's partitions, one at a time, so memory holds one partition.

    Deliberately not a (generator) task: Prefect 3.8 then keeps every yielded partition alive once a
    task has consumed it, and memory grows by a partition per partition (1M admissions: 5.4 GiB)."""
    cfg, _ = prepare(config_path)
    logger = get_run_logger()
    yield from iter_source(cfg, progress=lambda done, total: logger.info(
        "Read partition %d of %d of source '%s'", done, total, cfg.source.kind))


@task(name="Validate tables against data contracts", cache_policy=NO_CACHE, **policy.DATA)
def validate_tables(config_path: str, tables: dict) -> tuple[dict, Rejects | None]:
    """(tables to store, what quarantine set aside or None); the rejected share is checked at the end."""
    cfg, _ = prepare(config_path)
    with bar("Validating tables", total=len(tables)) as update:
        return ingest_tables(tables, cfg, progress=lambda done, info: update(done, info=info),
                             check_share=False)


@task(name="Check and report quarantined rows", cache_policy=NO_CACHE, **policy.DATA)
def quarantine_files(config_path: str, parts: list[Rejects]) -> dict | None:
    """The quarantine files for the snapshot (None in strict mode); DataError over the share limit."""
    cfg, _ = prepare(config_path)
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


@task(name="Stage partition in the lake", cache_policy=NO_CACHE, **policy.DATA)
def stage_partition(tables: dict, snapshot: lake.SnapshotWriter, keys: KeyCheck) -> None:
    keys.add(tables)
    snapshot.add(tables)


@task(name="Write lake snapshot", cache_policy=NO_CACHE, **policy.DATA)
def write_snapshot(snapshot: lake.SnapshotWriter, keys: KeyCheck, files: dict | None = None) -> str:
    keys.check()  # no patient or admission in two partitions
    path, reused = snapshot.commit(files)
    get_run_logger().info("%s lake snapshot %s", "Reused" if reused else "Wrote", path)
    if files:
        get_run_logger().info("Quarantine report: %s", path / "rejects.md")
    return str(path)


@flow(name="ingest", log_prints=True)
def ingest(config_path: str) -> str:
    """Read the configured source, validate every table, write a lake snapshot; returns its path.

    Nothing is written unless every table passes its contract (in quarantine mode: once rejected rows,
    within `ingest.max_rejected_share`, are set aside into the snapshot's quarantine/).
    """
    cfg, ws = prepare(config_path)
    kind, keys = cfg.source.kind, KeyCheck()
    with lake.SnapshotWriter(ws / "lake", salt=kind, extra={"source_kind": kind}) as snapshot:
        parts = []
        for tables in read_source(config_path):
            tables, rejects = validate_tables(config_path, tables)
            parts += [rejects] if rejects is not None else []
            stage_partition(tables, snapshot, keys)
        return write_snapshot(snapshot, keys, quarantine_files(config_path, parts))

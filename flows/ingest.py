"""Flow `ingest`: source -> validated, content-addressed Parquet snapshot in the workspace lake."""
from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.progress import bar
from flows.workspace import prepare
from mtl_core import contracts, lake
from mtl_core.sources import load_source


@task(name="Read source tables", cache_policy=NO_CACHE)
def read_source(config_path: str) -> dict:
    cfg, _ = prepare(config_path)
    with bar(f"Reading source '{cfg.source.kind}'", total=1) as update:
        return load_source(cfg, progress=lambda done, total: update(done, total))


@task(name="Validate tables against data contracts", cache_policy=NO_CACHE)
def validate_tables(tables: dict) -> None:
    with bar("Validating tables", total=len(tables)) as update:
        for i, (name, df) in enumerate(tables.items(), 1):
            contracts.validate(df, name)
            update(i, info=f"{name}: {len(df):,} rows")
    contracts.check_references(tables)


@task(name="Write lake snapshot", cache_policy=NO_CACHE)
def write_snapshot(tables: dict, lake_dir: str, kind: str) -> str:
    path, reused = lake.write_snapshot(tables, Path(lake_dir), salt=kind, extra={"source_kind": kind})
    get_run_logger().info("%s lake snapshot %s", "Reused" if reused else "Wrote", path)
    return str(path)


@flow(name="ingest", log_prints=True)
def ingest(config_path: str) -> str:
    """Read the configured source, validate every table, write a lake snapshot; returns its path.

    Nothing is written unless every table passes its contract.
    """
    cfg, ws = prepare(config_path)
    tables = read_source(config_path)
    validate_tables(tables)
    return write_snapshot(tables, str(ws / "lake"), cfg.source.kind)

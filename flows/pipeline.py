"""Flow `pipeline`: ingest -> features -> train -> evaluate -> register and promote, as one MLflow run."""
from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from flows import tracking
from flows.evaluate import evaluate
from flows.features import build_features
from flows.ingest import ingest
from flows.promote import register_and_promote
from flows.train import train
from flows.workspace import prepare


@task(name="Open MLflow run", retries=2, retry_delay_seconds=5)
def open_run(config_path: str, snapshot_dir: str) -> str:
    cfg, ws = prepare(config_path)
    run_id = tracking.start_run(cfg, ws, run_name=f"pipeline-{cfg.name}")
    tracking.client(cfg, ws).set_tag(run_id, "cmtl.lake_snapshot", Path(snapshot_dir).name)
    return run_id


@flow(name="pipeline", log_prints=True)
def pipeline(config_path: str) -> dict:
    """The whole job on one config; returns run id, the evaluation (report, transfer, affinity) and the
    promotion verdict."""
    cfg, ws = prepare(config_path)
    snapshot_dir = ingest(config_path)
    features_dir = build_features(config_path, snapshot_dir)
    run_id = open_run(config_path, snapshot_dir)
    ok = False
    try:
        model_dir = train(config_path, features_dir, run_id)
        evaluation = evaluate(config_path, features_dir, model_dir, run_id)
        verdict = register_and_promote(config_path, model_dir)
        ok = True
    finally:
        tracking.end_run(cfg, ws, run_id, ok)
    return {"run_id": run_id, "model_dir": model_dir, **evaluation, **verdict}

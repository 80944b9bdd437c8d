"""Flow `evaluate`: per-outcome test AUROC of a trained model (and the ceiling, where truth exists)."""
from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows import tracking
from flows.workspace import prepare
from mtl_core import lake
from mtl_core.errors import DataError
from mtl_core.metrics import outcome_report


def latest_model(ws: Path) -> str:
    done = sorted((ws / "models").glob("*/model.json"), key=lambda p: p.stat().st_mtime)
    if not done:
        raise DataError(f"no trained model in {ws / 'models'}: run `cmtl train` first")
    return str(done[-1].parent)


def test_split(features_dir: str, outcomes: list[str]):
    """Test-split features, labels (n, K) and, when the source has one, the truth (n, K) or None."""
    frames = lake.read_tables(Path(features_dir))
    f = frames["features"]
    test = (f["split"] == "test").to_numpy()
    Y = frames["labels"].loc[test, outcomes].to_numpy(float)
    truth = None
    if "truth" in frames and all(o in frames["truth"] for o in outcomes):
        t = frames["truth"].set_index("hadm_id").reindex(f.loc[test, "hadm_id"])
        truth = t[outcomes].to_numpy(float)
    return f.loc[test].reset_index(drop=True), Y, truth


@task(name="Score the test split", cache_policy=NO_CACHE)
def score(features_dir: str, model_dir: str) -> list[dict]:
    est = joblib.load(Path(model_dir) / "estimator.joblib")
    f, Y, truth = test_split(features_dir, est.outcomes_)
    return outcome_report(Y, est.predict_proba(f), est.outcomes_, truth)


@task(name="Log evaluation metrics", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def log_report(config_path: str, run_id: str, report: list[dict]) -> None:
    cfg, ws = prepare(config_path)
    values = {}
    for row in report:
        o = row["outcome"]
        values.update({f"test/auroc/{o}": row["auroc"], f"test/prevalence/{o}": row["prevalence"],
                       f"test/n/{o}": row["n"], f"test/bayes_auroc/{o}": row.get("bayes_auroc")})
    estimable = [r["auroc"] for r in report if r["auroc"] is not None]
    values["test/mean_auroc"] = float(np.mean(estimable)) if estimable else None
    tracking.log_metrics(cfg, ws, run_id, values)


@flow(name="evaluate", log_prints=True)
def evaluate(config_path: str, features_dir: str | None = None, model_dir: str | None = None,
             run_id: str | None = None) -> list[dict]:
    """Score the model's test split; writes metrics.json beside the model and logs to its MLflow run."""
    cfg, ws = prepare(config_path)
    model_dir = model_dir or latest_model(ws)
    meta = json.loads((Path(model_dir) / "model.json").read_text())
    features_dir = features_dir or meta["features_dir"]
    report = score(features_dir, model_dir)
    (Path(model_dir) / "metrics.json").write_text(json.dumps(report, indent=2))
    run_id = run_id or meta.get("run_id")
    if run_id:
        log_report(config_path, run_id, report)
    return report

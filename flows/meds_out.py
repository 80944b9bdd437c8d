"""Task: the test split's predictions in the MEDS prediction schema, one file per outcome beside the model.

They hold subject ids and prediction times, so they stay in the workspace (like `cmtl score` output)
and are never logged to MLflow.
"""
from __future__ import annotations

from pathlib import Path

import joblib
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.runtime import policy
from mtl_core.data import lake
from mtl_core.data.meds_predictions import prediction_tables, write_tables

FOLDER = "meds_predictions"


@task(name="Write test predictions (MEDS schema)", cache_policy=NO_CACHE, **policy.DATA)
def write_test_predictions(features_dir: str, model_dir: str) -> str | None:
    """<model_dir>/meds_predictions/<outcome>.parquet for feature sets that know each row's prediction
    time (MEDS sources); None for the others."""
    frames = lake.read_tables(Path(features_dir), ["features", "labels"])
    f, y = frames["features"], frames["labels"]
    if "prediction_time" not in f:
        return None
    est = joblib.load(Path(model_dir) / "estimator.joblib")
    test = (f["split"] == "test").to_numpy()
    ids, labels = f.loc[test].reset_index(drop=True), y.loc[test].reset_index(drop=True)
    tables = prediction_tables(ids, est.predict_proba(ids), est.outcomes_, labels)
    folder = Path(model_dir) / FOLDER
    write_tables(tables, folder)
    get_run_logger().info("MEDS predictions of the test split (%d rows) in %s", len(ids), folder)
    return str(folder)

"""Each flow through Prefect (one test server per session) on a small synthetic cohort."""
from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from mtl_core import lake
from mtl_core.errors import DataError
from mtl_core.features import ID_COLUMNS


def _features(features_dir: str) -> pd.DataFrame:
    return pd.read_parquet(Path(features_dir) / "features.parquet")


def test_pipeline_registers_champion_then_keeps_history(prefect_server, small_config):
    from flows.pipeline import pipeline

    first = pipeline(str(small_config))
    assert first["promoted"] and first["version"] == "1"
    assert [r["outcome"] for r in first["report"]] == [
        "in_hospital_mortality", "readmission_30d", "prolonged_stay", "aki", "sepsis"]
    for row in first["report"]:
        assert row["n"] > 100
        assert row["auroc"] is not None and row["auroc"] > 0.55, row
        assert row["auroc"] <= row["bayes_auroc"] + 0.08, row  # no leak lifts a model past the ceiling

    second = pipeline(str(small_config))
    assert second["version"] == "2" and second["run_id"] != first["run_id"]
    assert second["compared_to"] == "1"
    assert len(second["reasons"]) == 5  # one line per outcome, promoted or not

    client = mlflow.MlflowClient()
    name = second["model_name"]
    assert {str(v.version) for v in client.search_model_versions(f"name='{name}'")} == {"1", "2"}
    assert str(client.get_model_version_by_alias(name, "challenger").version) == "2"
    champion = str(client.get_model_version_by_alias(name, "champion").version)
    assert champion == ("2" if second["promoted"] else "1")
    tags = client.get_model_version(name, "2").tags
    assert tags["cmtl.verdict"] in {"promoted", "rejected"} and tags["cmtl.compared_to"] == "1"

    run = client.get_run(first["run_id"])
    assert run.info.status == "FINISHED"
    for outcome in ("aki", "sepsis"):
        for metric in ("auroc", "bayes_auroc", "auprc", "brier", "ece", "auroc_ci_low", "calibration_slope",
                       "baseline_auroc/hist_gb", "mtl_minus_best_baseline", "subgroup_auroc/gender:F"):
            assert f"test/{metric}/{outcome}" in run.data.metrics, metric
    assert run.data.params["model.sharing"] == "hard"
    assert "epoch/val_mean_auroc" in run.data.metrics

    feats = _features(json.loads((Path(first["model_dir"]) / "model.json").read_text())["features_dir"])
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    pred = model.predict(feats.drop(columns=ID_COLUMNS).head(50))
    assert list(pred.columns) == [r["outcome"] for r in first["report"]]
    assert pred.shape == (50, 5) and ((pred > 0) & (pred < 1)).all().all()


def test_flows_run_one_by_one(prefect_server, small_config):
    from flows.evaluate import evaluate
    from flows.features import build_features
    from flows.ingest import ingest
    from flows.promote import register_and_promote
    from flows.train import train

    snapshot = ingest(str(small_config))
    again = ingest(str(small_config))
    assert snapshot == again  # unchanged input reuses the snapshot
    manifest = lake.read_manifest(Path(snapshot))
    assert manifest["tables"]["admissions"]["rows"] > 1000 and "sha256" in manifest["tables"]["events"]

    features_dir = build_features(str(small_config))  # latest snapshot by default
    feats = _features(features_dir)
    assert feats.groupby("subject_id")["split"].nunique().max() == 1

    model_dir = train(str(small_config), features_dir)
    result = evaluate(str(small_config), model_dir=model_dir)
    assert len(result["report"]) == 5 and (Path(model_dir) / "metrics.json").is_file()
    transfer = {t["outcome"]: t for t in result["transfer"]}
    assert set(transfer) == set(r["outcome"] for r in result["report"])
    for t in transfer.values():
        assert set(t["baseline_auroc"]) == {"logistic", "hist_gb", "single_task_net"}
        assert t["verdict"] in {"sharing helps", "no clear difference", "negative transfer"}
        assert t["lo"] <= t["delta"] <= t["hi"]
    affinity = np.array(result["affinity"])
    assert affinity.shape == (5, 5) and np.allclose(np.diag(affinity), 1.0)
    for r in result["report"]:
        assert r["auroc_ci_low"] <= r["auroc"] <= r["auroc_ci_high"]
        assert {s["column"] for s in r["subgroups"]} == {"gender", "age_band", "admission_type"}
    verdict = register_and_promote(str(small_config), model_dir)
    assert verdict["promoted"] and verdict["version"] == "1"


def test_ingest_rejects_bad_data_and_writes_nothing(prefect_server, small_config, small_tables,
                                                    monkeypatch):
    from flows.ingest import ingest
    from mtl_core import sources

    _, tables = small_tables
    bad = {k: v.copy() for k, v in tables.items()}
    adm = bad["admissions"]
    adm.loc[adm.index[:4], "dischtime"] = adm.loc[adm.index[:4], "admittime"] - pd.Timedelta(hours=1)
    monkeypatch.setitem(sources.SOURCES, "synthetic", lambda cfg, staging, progress=None: bad)

    with pytest.raises(DataError) as err:
        ingest(str(small_config))
    message = str(err.value)
    assert "admissions" in message and "ordered" in message and "4 rows" in message
    lake_dir = small_config.parent / "workspace" / "lake"
    assert not any(lake_dir.iterdir())  # no snapshot, no temp folder

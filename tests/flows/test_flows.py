"""Each flow through Prefect (one test server per session) on a small synthetic cohort."""
from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from mtl_core.data import lake
from mtl_core.dataset.features import ID_COLUMNS
from mtl_core.errors import DataError


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

    client = mlflow.MlflowClient()
    name = first["model_name"]
    same = pipeline(str(small_config))  # same snapshot, config and code: nothing to retrain
    assert same["unchanged"] and same["same_as"]["version"] == "1" and not same["promoted"]
    assert "nothing changed since v1" in same["reasons"][0]
    assert {str(v.version) for v in client.search_model_versions(f"name='{name}'")} == {"1"}
    noted = client.get_run(same["run_id"])
    assert noted.data.tags["cmtl.result"] == "nothing changed" and not noted.data.metrics  # nothing trained

    second = pipeline(str(small_config), force=True)
    assert second["version"] == "2" and second["run_id"] != first["run_id"]
    assert second["compared_to"] == "1"
    assert len(second["reasons"]) == 6  # the rows compared on, then one line per outcome, promoted or not
    assert second["reasons"][0].startswith("compared with v1 on ")  # same split: every test row unseen by v1
    assert "0 in v1's training split and 0 in its validation split left out" in second["reasons"][0]

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
    for outcome in ("aki", "sepsis"):  # operating point, decision curve and subgroup uncertainty
        for metric in ("test/op/sensitivity", "test/op/sensitivity_ci_low", "test/op/ppv", "test/op/alert_rate",
                       "op/threshold", "test/subgroup_auroc_ci_low/gender:F"):
            assert f"{metric}/{outcome}" in run.data.metrics, metric
    # gaps need 20 cases per group: only the common outcome has them in this small test split
    assert 0 <= run.data.metrics["test/tpr_gap/gender/prolonged_stay"] <= 1
    tags = run.data.tags
    assert tags["cmtl.code.source_digest"] and tags["cmtl.code_version"].startswith("clinical-mtl ")
    assert tags["cmtl.fingerprint.lake_snapshot"] == tags["cmtl.lake_snapshot"]
    assert "data/prevalence/sepsis" in run.data.metrics and "data/rows/admissions" in run.data.metrics
    artifacts = {a.path for folder in (None, "evaluation") for a in client.list_artifacts(first["run_id"], folder)}
    assert {"evaluation/decision_curves.csv", "evaluation/operating_points.json", "comparison.md"} <= artifacts
    assert client.get_run(second["run_id"]).data.tags["cmtl.drift"].startswith(("ok", "warn"))
    assert {a.path for a in client.list_artifacts(second["run_id"], "drift")} == {"drift/drift.json",
                                                                                 "drift/drift.md"}

    feats = _features(json.loads((Path(first["model_dir"]) / "model.json").read_text())["features_dir"])
    model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    pred = model.predict(feats.drop(columns=[c for c in ID_COLUMNS if c in feats]).head(50))
    outcomes = [r["outcome"] for r in first["report"]]
    assert list(pred.columns) == [c for o in outcomes for c in (o, f"{o}_flag")]  # flag beside probability
    assert ((pred[outcomes] > 0) & (pred[outcomes] < 1)).all().all()
    points = {r["outcome"]: r["threshold"] for r in first["operating_points"]}
    for o in outcomes:
        assert pred[f"{o}_flag"].tolist() == (pred[o] >= points[o]).astype(int).tolist()


def test_operating_points_are_chosen_on_validation_never_on_test(prefect_server, small_config):
    """The shipped thresholds are what the rule picks on the validation rows; test rows only score them."""
    import joblib

    from flows.evaluate import evaluate
    from flows.features import build_features
    from flows.ingest import ingest
    from flows.train import train
    from mtl_core.evaluation.operating_points import choose_threshold
    from mtl_core.network.estimator import validation_proba

    features_dir = build_features(str(small_config), ingest(str(small_config)))
    model_dir = Path(train(str(small_config), features_dir))
    shipped = json.loads((model_dir / "operating_points.json").read_text())
    est = joblib.load(model_dir / "estimator.joblib")
    frames = lake.read_tables(Path(features_dir), ["features", "labels"])
    feats, labels = frames["features"], frames["labels"]
    cols = list(est.feature_names_in_)
    for split in ("val", "test"):
        rows = (feats["split"] == split).to_numpy()
        # validation: the model's own held-out probabilities (out-of-fold when cross-fitted)
        P = (validation_proba if split == "val" else lambda m, X: m.predict_proba(X))(est, feats.loc[rows, cols])
        picked = {o: choose_threshold(labels.loc[rows, o].to_numpy(float), P[:, k]).threshold
                  for k, o in enumerate(est.outcomes_)}
        if split == "val":
            assert picked == {o: p["threshold"] for o, p in shipped.items()}
        else:  # a threshold picked on test would differ for most outcomes
            assert sum(picked[o] != shipped[o]["threshold"] for o in picked) >= 3
    result = evaluate(str(small_config), model_dir=str(model_dir))
    assert {r["outcome"]: r["threshold"] for r in result["operating_points"]} == {
        o: p["threshold"] for o, p in shipped.items()}
    assert (model_dir / "decision_curves.csv").is_file() and result["decision_curves"][0]["thresholds"] == 50


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
    monkeypatch.setitem(sources.SOURCES, "synthetic", lambda cfg, staging, progress=None, pool=None: bad)

    with pytest.raises(DataError) as err:
        ingest(str(small_config))
    message = str(err.value)
    assert "admissions" in message and "ordered" in message and "4 rows" in message
    lake_dir = small_config.parent / "workspace" / "lake"
    assert not any(lake_dir.iterdir())  # no snapshot, no temp folder

"""The registered model through the train flow: the stacked ensemble (cross-fitted on a small cohort),
its pyfunc in MLflow, `ensemble: none` as the plain network, and weights blind to test labels."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import joblib
import mlflow
import numpy as np
import pandas as pd

from mtl_core.config import load_config
from mtl_core.data import lake
from mtl_core.dataset.features import ID_COLUMNS, model_columns
from mtl_core.network.estimator import estimator_from_config
from tests.conftest import write_config

SMALL = {"source": {"kind": "synthetic", "n_patients": 900, "seed": 7},
         "train": {"epochs": 8, "patience": 3}, "evaluation": {"n_boot": 50}}


def _config(tmp_path: Path, name: str, **model) -> Path:
    return write_config(tmp_path / f"{name}.yaml", tmp_path / "workspace", **SMALL,
                        model={**model}, registry={"model_name": f"cmtl-test-{name}"})


def _features(cfg_path: Path) -> str:
    from flows.features import build_features
    from flows.ingest import ingest

    return build_features(str(cfg_path), ingest(str(cfg_path)))


def test_crossfitted_ensemble_round_trips_through_mlflow(prefect_server, tmp_path):
    from flows.pipeline import pipeline

    cfg_path = _config(tmp_path, "stacked", folds=3, fitting="auto")  # auto: this small cohort cross-fits
    result = pipeline(str(cfg_path))
    meta = json.loads((Path(result["model_dir"]) / "model.json").read_text())
    assert meta["fitting"]["mode"] == "crossfit" and meta["fitting"]["fits"] == 3
    for weights in meta["weights"].values():
        assert set(weights) == {"mtl", "logistic", "hist_gb", "single_task_net"}
        assert min(weights.values()) >= 0 and abs(sum(weights.values()) - 1) < 1e-9
    run = mlflow.MlflowClient().get_run(result["run_id"])
    assert "test/network_auroc/aki" in run.data.metrics and "test/model_minus_best_baseline/aki" in run.data.metrics
    assert {t["outcome"] for t in result["transfer"]} == set(meta["outcomes"])  # the network vs baselines

    feats = pd.read_parquet(Path(meta["features_dir"]) / "features.parquet").drop(columns=ID_COLUMNS, errors="ignore").head(40)
    served = mlflow.pyfunc.load_model(f"models:/{result['model_name']}@champion").predict(feats)
    local = joblib.load(Path(result["model_dir"]) / "estimator.joblib").predict_proba(feats)
    outcomes = meta["outcomes"]
    assert list(served.columns) == [c for o in outcomes for c in (o, f"{o}_flag")]  # flag beside each probability
    np.testing.assert_allclose(served[outcomes].to_numpy(), local, rtol=1e-6)
    # the thresholds were chosen on the stacked model's own out-of-fold validation probabilities
    points = json.loads((Path(result["model_dir"]) / "operating_points.json").read_text())
    for o in outcomes:
        assert served[f"{o}_flag"].tolist() == (served[o] >= points[o]["threshold"]).astype(int).tolist()


def test_ensemble_none_is_the_plain_network_bit_for_bit(prefect_server, tmp_path):
    from flows.train import train

    cfg_path = _config(tmp_path, "plain", ensemble="none")
    features_dir = _features(cfg_path)
    model_dir = train(str(cfg_path), features_dir)
    saved = joblib.load(Path(model_dir) / "estimator.joblib")

    cfg = load_config(cfg_path)
    frames = lake.read_tables(Path(features_dir), ["features", "labels"])
    f, y = frames["features"], frames["labels"][cfg.outcomes]
    cols = model_columns(f)
    tr, va = (f["split"] == "train").to_numpy(), (f["split"] == "val").to_numpy()
    direct = estimator_from_config(cfg).fit(f.loc[tr, cols], y[tr], f.loc[va, cols], y[va])
    assert type(saved) is type(direct)
    assert np.array_equal(saved.predict_proba(f[cols]), direct.predict_proba(f[cols]))


def test_weights_do_not_depend_on_test_labels(prefect_server, tmp_path):
    from flows.train import train

    cfg_path = _config(tmp_path, "blind", folds=3, fitting="crossfit")
    features_dir = Path(_features(cfg_path))
    flipped = tmp_path / "flipped-features"
    shutil.copytree(features_dir, flipped)
    labels = pd.read_parquet(flipped / "labels.parquet")
    test = (pd.read_parquet(flipped / "features.parquet")["split"] == "test").to_numpy()
    outcomes = load_config(cfg_path).outcomes
    labels.loc[test, outcomes] = 1.0 - labels.loc[test, outcomes]   # every test label wrong
    # the feature set stores each table as part files, one per partition: write the flipped rows back so
    parts = lake.read_manifest(flipped)["tables"]["labels"]
    bounds = np.cumsum([0, *parts["partitions"]])
    for k, name in enumerate(parts["parts"]):
        labels.iloc[bounds[k]:bounds[k + 1]].to_parquet(flipped / "labels.parquet" / name, index=False)

    a = json.loads((Path(train(str(cfg_path), str(features_dir))) / "model.json").read_text())["weights"]
    b = json.loads((Path(train(str(cfg_path), str(flipped))) / "model.json").read_text())["weights"]
    assert a == b

"""Batch scoring through `cmtl score`, and `mlflow models serve` on the champion answering /invocations."""
from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd

from flows.ops import services
from tests.integration.conftest import OUTCOMES, cmtl, cmtl_env, stop, wait_for

MODEL = "clinical-multi-outcome"


def _features(ws: Path) -> pd.DataFrame:
    return pd.read_parquet(next((ws / "features").glob("*/features.parquet")))


def _client(ws: Path) -> mlflow.MlflowClient:
    uri = f"sqlite:///{ws / 'mlflow.db'}"
    return mlflow.MlflowClient(uri, registry_uri=uri)


def _champion(ws: Path):
    """The champion pyfunc, loaded from its storage location (no global tracking URI is set)."""
    client = _client(ws)
    version = client.get_model_version_by_alias(MODEL, "champion").version
    return mlflow.pyfunc.load_model(client.get_model_version_download_uri(MODEL, version))


def test_cmtl_score_writes_one_probability_per_outcome_with_ids(trained_workspace, prefect_server, tmp_path):
    config, ws = trained_workspace
    features = _features(ws).head(40)
    source = tmp_path / "admissions.csv"
    features.drop(columns=["split"]).to_csv(source, index=False)  # a CSV export: counts read back as floats
    client = _client(ws)
    runs_before = len(client.search_runs([e.experiment_id for e in client.search_experiments()]))

    out = tmp_path / "out" / "predictions.parquet"
    result = cmtl(["score", "--config", str(config), "--model", "champion", "--input", str(source),
                   "--output", str(out)], cmtl_env(prefect_server))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "40 predictions" in result.stdout and f"models:/{MODEL}/1" in result.stdout

    pred = pd.read_parquet(out)
    flags = [f"{o}_flag" for o in OUTCOMES]
    assert list(pred.columns) == ["hadm_id", "subject_id", *[c for o in OUTCOMES for c in (o, f"{o}_flag")],
                                  "model_version"]
    assert pred[flags].dtypes.eq("int64").all() and set(pred[flags].to_numpy().ravel()) <= {0, 1}
    drift = (out.parent / "predictions.parquet.drift.md").read_text()  # beside the predictions
    assert "| age |" in drift and "Fewer than 200 new rows" in drift  # 40 rows: listed, not called drift
    assert pred["hadm_id"].tolist() == features["hadm_id"].tolist()
    assert (pred["model_version"] == 1).all()
    P = pred[OUTCOMES].to_numpy()
    assert np.isfinite(P).all() and (P > 0).all() and (P < 1).all()
    assert P.std(axis=0).min() > 0  # the rows get different risks, not one constant
    expected = _champion(ws).predict(features.drop(columns=["hadm_id", "subject_id", "split"]))
    np.testing.assert_allclose(P, expected[OUTCOMES].to_numpy(), rtol=1e-6)
    # Scoring logs nothing to MLflow: identifiers stay in the output file.
    assert len(client.search_runs([e.experiment_id for e in client.search_experiments()])) == runs_before

    by_version = tmp_path / "by_version.csv"
    result = cmtl(["score", "--config", str(config), "--model", "1", "--input", str(source),
                   "--output", str(by_version)], cmtl_env(prefect_server))
    assert result.returncode == 0, result.stderr[-3000:]
    again = pd.read_csv(by_version)
    np.testing.assert_allclose(again[OUTCOMES].to_numpy(), P, rtol=1e-9)

    shifted = tmp_path / "older.csv"  # 400 admissions, every patient 25 years older than in training
    many = _features(ws).head(400).drop(columns=["split"])
    many["age"] = many["age"] + 25
    many.to_csv(shifted, index=False)
    result = cmtl(["score", "--config", str(config), "--input", str(shifted), "--output",
                   str(tmp_path / "older_predictions.csv")], cmtl_env(prefect_server))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "drift:" in result.stdout and "age" in result.stdout.split("drift:")[1]
    report = json.loads((tmp_path / "older_predictions.csv.drift.json").read_text())
    assert report["warn"] and "age" in report["drifted"] and report["n_new"] == 400


def test_cmtl_score_rejects_bad_input_with_exit_2_and_writes_nothing(trained_workspace, prefect_server,
                                                                     tmp_path):
    config, ws = trained_workspace
    env = cmtl_env(prefect_server)
    out = tmp_path / "predictions.csv"
    missing = tmp_path / "missing_columns.parquet"
    _features(ws).head(5).drop(columns=["age", "lactate_max"]).to_parquet(missing)
    result = cmtl(["score", "-c", str(config), "--input", str(missing), "--output", str(out)], env)
    assert result.returncode == 2, result.stderr[-3000:]
    text = " ".join(result.stderr.split())
    assert "2 columns the model needs are missing" in text and "age" in text and "lactate_max" in text
    assert "Traceback" not in result.stderr + result.stdout

    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(missing.read_bytes()[:200])
    result = cmtl(["score", "-c", str(config), "--input", str(truncated), "--output", str(out)], env)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "truncated or corrupt" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr + result.stdout

    broken = tmp_path / "broken.parquet"
    frame = _features(ws).head(5)
    frame.loc[frame.index[:2], "age"] = -4.0
    frame.to_parquet(broken)
    result = cmtl(["score", "-c", str(config), "--input", str(broken), "--output", str(out)], env)
    assert result.returncode == 2
    text = " ".join(result.stderr.split())
    assert "age" in text and "in_range" in text and "2 rows" in text

    result = cmtl(["score", "-c", str(config), "--model", "9", "--input", str(broken), "--output", str(out)],
                  env)
    assert result.returncode == 2 and "no version 9" in result.stderr
    assert not out.exists()


def test_mlflow_models_serve_champion_answers_invocations(trained_workspace, tmp_path):
    config, ws = trained_workspace
    port = services.free_port()
    log = tmp_path / "serve.log"
    env = cmtl_env("", MLFLOW_TRACKING_URI=f"sqlite:///{ws / 'mlflow.db'}")
    argv = [str(Path(sys.executable).parent / "mlflow"), "models", "serve", "-m", f"models:/{MODEL}@champion",
            "--env-manager", "local", "--host", "127.0.0.1", "-p", str(port)]
    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_for(f"http://127.0.0.1:{port}/ping", proc, timeout=240, log=log)
        rows = _features(ws).drop(columns=["hadm_id", "subject_id", "split"]).dropna().head(6)
        body = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            assert r.status == 200
            answer = json.load(r)
        body["params"] = {"explain": 2}  # each outcome's top 2 factors (mtl_core/evaluation/additive.py)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            explained = json.load(r)["predictions"]
    finally:
        stop(proc)
    predictions = answer["predictions"]
    assert len(predictions) == len(rows) == 6
    for p in predictions:
        assert sorted(p) == sorted(OUTCOMES + [f"{o}_flag" for o in OUTCOMES])
        assert all(0 < p[o] < 1 for o in OUTCOMES)
    local = _champion(ws).predict(rows)
    served = pd.DataFrame(predictions)[OUTCOMES].to_numpy()
    np.testing.assert_allclose(served, local[OUTCOMES].to_numpy(), rtol=1e-5)
    for p, e in zip(predictions, explained):
        assert {k: e[k] for k in p} == p  # the same risks, with the factors beside them
        assert sorted(set(e) - set(p)) == sorted(f"{o}_why_{i}" for o in OUTCOMES for i in (1, 2))
        assert all(e[f"{o}_why_1"].endswith(" points") for o in OUTCOMES)

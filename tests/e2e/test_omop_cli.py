"""`cmtl run --config configs/omop_eunomia.yaml` end to end on the Eunomia OMOP CDM database."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from tests.conftest import ROOT

CMTL = str(Path(sys.executable).parent / "cmtl")
CONFIG = ROOT / "configs" / "omop_eunomia.yaml"


def _metrics(ws: Path, prefix: str) -> dict[str, float]:
    with sqlite3.connect(ws / "mlflow.db") as con:
        runs = con.execute("select run_uuid, status from runs").fetchall()
        assert len(runs) == 1 and runs[0][1] == "FINISHED", runs
        rows = con.execute("select key, value from latest_metrics where run_uuid = ? and key like ?",
                           (runs[0][0], f"{prefix}%")).fetchall()
    return {key[len(prefix):]: value for key, value in rows}


def test_eunomia_runs_end_to_end(prefect_server, tmp_path):
    ws = tmp_path / "ws"
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "CMTL_WORKSPACE": str(ws), "COLUMNS": "200"}
    result = subprocess.run([CMTL, "run", "--config", str(CONFIG)], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "Per-outcome test results" in result.stdout

    outcomes = yaml.safe_load(CONFIG.read_text())["outcomes"]
    aurocs = _metrics(ws, "test/auroc/")
    assert sorted(aurocs) == sorted(outcomes)  # every configured outcome, no other
    assert all(0.0 <= a <= 1.0 for a in aurocs.values()), aurocs

    manifest = json.loads(next((ws / "lake").glob("*/manifest.json")).read_text())
    assert manifest["source_kind"] == "omop"
    assert manifest["tables"]["admissions"]["rows"] == 1037
    assert {"conditions", "observation_periods"} <= set(manifest["tables"])
    features_dir = next((ws / "features").glob("*/labels.parquet")).parent
    labels = pd.read_parquet(features_dir / "labels.parquet")
    split = pd.read_parquet(features_dir / "features.parquet", columns=["hadm_id", "split"])
    labels = labels.merge(split, on="hadm_id")
    for outcome in outcomes:  # both classes in every split, or the AUROC above would mean nothing
        classes = labels.dropna(subset=[outcome]).groupby("split")[outcome].nunique()
        assert sorted(classes.index) == ["test", "train", "val"] and (classes == 2).all(), (outcome, classes)
    # outpatient condition history (OMOP's dated conditions before admittime) reaches the features:
    # earlier GI bleeds are the strongest sign of this stay's one
    prior = pd.read_parquet(features_dir / "features.parquet", columns=["prior_gi_hemorrhage"])
    assert 0.05 < prior["prior_gi_hemorrhage"].mean() < 0.95
    assert aurocs["gi_hemorrhage"] > 0.85, aurocs

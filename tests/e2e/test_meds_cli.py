"""`cmtl run` end to end on a MEDS dataset with ACES-style labels; MEDS predictions meds-evaluation reads.

The dataset is written at run time by configs/meds_example.yaml's generate_if_missing, as from a fresh
clone; then `cmtl score --format meds` writes the same schema from a registered model.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import polars as pl
import pytest
import yaml
from meds_evaluation.evaluate import evaluate_binary_classification

from tests.conftest import ROOT
from tests.e2e.test_sources_cli import _cmtl, _only, _test_aurocs

OUTCOMES = ["in_hospital_mortality", "prolonged_stay", "aki", "sepsis"]


def _example_config(tmp: Path) -> Path:
    """configs/meds_example.yaml, shrunk: its own workspace and dataset folder, fewer patients and epochs."""
    cfg = yaml.safe_load((ROOT / "configs" / "meds_example.yaml").read_text())
    cfg["workspace"] = str(tmp / "ws")
    cfg["source"].update(path=str(tmp / "meds" / "dataset"), labels_dir=str(tmp / "meds" / "labels"))
    cfg["source"]["generate_if_missing"]["n_patients"] = 1500
    cfg["outcomes"] = OUTCOMES
    cfg["code_features"]["top_n"] = 120
    cfg["train"].update(epochs=10, patience=4)
    cfg["evaluation"].update(n_boot=100, baselines=["logistic"])
    path = tmp / "meds_example.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _meds_eval_auroc(path: Path) -> float:
    return evaluate_binary_classification(pl.read_parquet(path))["samples_equally_weighted"]["roc_auc_score"]


def test_meds_dataset_runs_end_to_end(prefect_server, tmp_path):
    config = _example_config(tmp_path)
    result = _cmtl(["run", "--config", config], prefect_server)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert (tmp_path / "meds" / "dataset" / "metadata" / "subject_splits.parquet").is_file()

    ws = tmp_path / "ws"
    aurocs = _test_aurocs(ws)
    assert sorted(aurocs) == sorted(OUTCOMES)
    assert all(a > 0.65 for a in aurocs.values()), aurocs

    # the test split's predictions, one MEDS prediction file per outcome, read by meds-evaluation as is
    folder = _only(ws / "models", "*/meds_predictions")
    splits = pd.read_parquet(tmp_path / "meds" / "dataset" / "metadata" / "subject_splits.parquet")
    held_out = set(splits.loc[splits["split"] == "held_out", "subject_id"])
    for o in OUTCOMES:
        preds = pd.read_parquet(folder / f"{o}.parquet")
        assert set(preds["subject_id"]) <= held_out
        labels = pd.read_parquet(tmp_path / "meds" / "labels" / o)
        assert len(preds) == labels["subject_id"].isin(held_out).sum()  # every held-out label, no other
        # the MLflow metric is logged to 4 decimals (flows/pipeline.py), so agreement is to its rounding
        assert _meds_eval_auroc(folder / f"{o}.parquet") == pytest.approx(aurocs[o], abs=5.1e-5)

    # batch scoring in the MEDS schema: the feature set's test rows, with their labels as columns
    features_dir = _only(ws / "features", "*/features.parquet").parent
    f = pd.read_parquet(features_dir / "features.parquet")
    y = pd.read_parquet(features_dir / "labels.parquet")
    rows = f.merge(y, on="hadm_id")
    rows = rows[rows["split"] == "test"]
    rows.to_parquet(tmp_path / "to_score.parquet", index=False)
    scored = _cmtl(["score", "--config", config, "--input", tmp_path / "to_score.parquet",
                    "--output", tmp_path / "scored", "--format", "meds"], prefect_server)
    assert scored.returncode == 0, (scored.stdout + scored.stderr)[-4000:]
    for o in OUTCOMES:
        assert _meds_eval_auroc(tmp_path / "scored" / f"{o}.parquet") == pytest.approx(aurocs[o], abs=5.1e-5)  # the MLflow metric is rounded to 4 decimals

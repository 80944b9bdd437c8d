"""Through Prefect: quarantine-mode ingest feeds features and MLflow only counts; a temporal split by date."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from mtl_core.data import lake
from tests.bad_inputs.fixtures import mimic_config
from tests.bad_inputs.rejects import write_corrupted_mimic
from tests.conftest import write_config


def _artifacts(client, run_id: str, path: str | None = None) -> list[str]:
    out = []
    for f in client.list_artifacts(run_id, path):
        out += _artifacts(client, run_id, f.path) if f.is_dir else [f.path]
    return out


def test_quarantine_ingest_feeds_features_and_only_counts_reach_mlflow(prefect_server, small_tables, tmp_path):
    from flows.features import build_features
    from flows.ingest import ingest
    from flows.pipeline import log_inputs, open_run
    from flows.runtime.workspace import prepare
    from flows.tracking import client

    _, tables = small_tables
    bad = write_corrupted_mimic(tables, tmp_path / "mimic")
    config = str(mimic_config(tmp_path / "c.yaml", tmp_path / "ws", bad.folder,
                              ingest={"mode": "quarantine", "max_rejected_share": 0.02}))
    snapshot = Path(ingest(config))
    q = pd.read_parquet(snapshot / "quarantine" / "admissions.parquet")
    assert set(q["hadm_id"]) == bad.rejected and q["reason"].notna().all()
    report = json.loads((snapshot / "rejects.json").read_text())
    assert report["tables"]["admissions"]["rejected"] == len(q)
    assert (snapshot / "rejects.md").is_file()
    kept = lake.read_tables(snapshot)
    assert not kept["admissions"]["hadm_id"].isin(bad.rejected).any()
    assert not kept["events"]["hadm_id"].isin(bad.rejected | {bad.lost}).any()
    assert ingest(config) == str(snapshot)  # unchanged input: the same snapshot, quarantine and all

    features_dir = build_features(config, str(snapshot))
    feats = pd.read_parquet(Path(features_dir) / "features.parquet")
    assert len(feats) > 1000 and not feats["hadm_id"].isin(bad.rejected).any()

    cfg, ws = prepare(config)
    run_id = open_run.fn(cfg, ws, str(snapshot))
    log_inputs.fn(cfg, ws, run_id, str(snapshot), features_dir)
    c = client(cfg, ws)
    run = c.get_run(run_id)
    assert run.data.metrics["ingest/rejected/admissions"] == len(q)
    assert run.data.metrics["ingest/rejected_share/patients"] == report["tables"]["patients"]["share"]
    assert run.data.params["ingest.mode"] == "quarantine"
    artifacts = _artifacts(c, run_id)
    assert artifacts and not [a for a in artifacts if "quarantine" in a or "rejects" in a]
    assert not [k for k in run.data.params if ("reject" in k or "quarantine" in k) and not k.startswith("ingest.")]
    logged = json.dumps([run.data.params, run.data.tags, artifacts])
    assert not any(str(h) in logged for h in bad.rejected)  # no rejected admission's id in MLflow


def test_features_flow_with_temporal_split_tests_on_later_admissions(prefect_server, tmp_path):
    from flows.features import build_features
    from flows.ingest import ingest

    config = str(write_config(tmp_path / "c.yaml", tmp_path / "ws", split={
        "by": "temporal", "val_from": "2017-07-01", "test_from": "2018-01-01"}))
    snapshot = ingest(config)
    feats = pd.read_parquet(Path(build_features(config, snapshot)) / "features.parquet")
    admit = feats[["hadm_id", "subject_id", "split"]].merge(
        lake.read_tables(Path(snapshot), ["admissions"])["admissions"][["hadm_id", "admittime"]])
    assert len(admit) == len(feats) and feats["hadm_id"].is_unique
    test, val, train = (admit.loc[admit["split"] == s, "admittime"] for s in ("test", "val", "train"))
    assert len(test) > 100 and len(val) > 100 and len(train) > 100
    assert (test >= pd.Timestamp("2018-01-01")).all()
    assert ((val >= pd.Timestamp("2017-07-01")) & (val < pd.Timestamp("2018-01-01"))).all()
    assert (train < pd.Timestamp("2017-07-01")).all()
    spans = admit.groupby("subject_id")["split"].nunique()
    assert (spans > 1).any()  # admission-level split: some patients have admissions on both sides

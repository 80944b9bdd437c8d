"""`cmtl run` end to end on real-data source kinds: a MIMIC-IV-layout export and one flat table."""
from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pandas.testing as pdt

from mtl_core.data.contracts import outcome_definitions
from mtl_core.dataset.features import build_dataset
from tests.bad_inputs.fixtures import OUTCOMES, flat_frame, mimic_config, tabular_config, write_mimic_dir

CMTL = str(Path(sys.executable).parent / "cmtl")
# small and quick: the point is the path from raw files to logged metrics, not model quality
FAST = {"train": {"epochs": 10, "patience": 4},
        "evaluation": {"n_boot": 100, "baselines": ["logistic"]}}


def _cmtl(args: list, api_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_API_URL": api_url, "COLUMNS": "200"}
    return subprocess.run([CMTL, *map(str, args)], capture_output=True, text=True, env=env, timeout=900)


def _test_aurocs(ws: Path) -> dict[str, float]:
    """test/auroc/<outcome> of the workspace's only MLflow run, read straight from its SQLite store."""
    with sqlite3.connect(ws / "mlflow.db") as con:
        runs = con.execute("select run_uuid, status from runs").fetchall()
        assert len(runs) == 1 and runs[0][1] == "FINISHED", runs
        rows = con.execute("select key, value from latest_metrics where run_uuid = ? "
                           "and key like 'test/auroc/%'", (runs[0][0],)).fetchall()
    return {key.split("/", 2)[2]: value for key, value in rows}


def _only(folder: Path, pattern: str) -> Path:
    found = list(folder.glob(pattern))
    assert len(found) == 1, found
    return found[0]


def test_mimic_iv_export_runs_end_to_end(prefect_server, small_tables, tmp_path):
    cfg, tables = small_tables
    export = write_mimic_dir(tables, tmp_path / "mimic")
    config = mimic_config(tmp_path / "mimic.yaml", tmp_path / "ws", export, **FAST)
    result = _cmtl(["run", "--config", config], prefect_server)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "v1 is now champion" in result.stdout

    ws = tmp_path / "ws"
    aurocs = _test_aurocs(ws)
    assert sorted(aurocs) == sorted(OUTCOMES)
    assert all(a > 0.6 for a in aurocs.values()), aurocs
    manifest = json.loads(_only(ws / "lake", "*/manifest.json").read_text())
    assert manifest["source_kind"] == "mimic_iv"
    assert set(manifest["tables"]) == {"patients", "admissions", "events", "diagnoses"}
    # the export holds the synthetic cohort, so the features are exactly the synthetic ones
    features = pd.read_parquet(_only(ws / "features", "*/features.parquet"))
    expected, _ = build_dataset(tables, cfg, outcome_definitions())
    pdt.assert_frame_equal(features, expected)

    # a feature set for another source kind is refused rather than built from the wrong snapshot
    flat = tmp_path / "flat.csv"
    flat_frame(tables, cfg).to_csv(flat, index=False)
    other = tabular_config(tmp_path / "tabular.yaml", ws, flat)
    refused = _cmtl(["features", "--config", other], prefect_server)
    assert refused.returncode == 2
    assert "holds a 'mimic_iv' source" in " ".join(refused.stderr.split())
    assert "Traceback" not in refused.stdout + refused.stderr


def test_tabular_file_runs_end_to_end(prefect_server, small_tables, tmp_path):
    cfg, tables = small_tables
    # outcome names of the file's own choosing: labels are columns, no definition in outcomes.yaml
    renamed = {"aki": "kidney_injury_48h", "sepsis": "septic"}
    outcomes = [renamed.get(o, o) for o in OUTCOMES]
    flat = flat_frame(tables, cfg).rename(columns=renamed)
    table = tmp_path / "cohort.csv.gz"
    flat.to_csv(table, index=False)
    config = tabular_config(tmp_path / "tabular.yaml", tmp_path / "ws", table, outcomes=outcomes, **FAST)
    result = _cmtl(["run", "--config", config], prefect_server)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert "v1 is now champion" in result.stdout

    ws = tmp_path / "ws"
    aurocs = _test_aurocs(ws)
    assert sorted(aurocs) == sorted(outcomes)
    assert all(a > 0.6 for a in aurocs.values()), aurocs
    features = pd.read_parquet(_only(ws / "features", "*/features.parquet"))
    labels = pd.read_parquet(_only(ws / "features", "*/labels.parquet"))
    assert features["hadm_id"].tolist() == flat["stay_id"].tolist()
    assert (features.groupby("subject_id")["split"].nunique() == 1).all()
    assert list(labels.columns) == ["hadm_id", *outcomes]
    model = json.loads(_only(ws / "models", "*/model.json").read_text())
    assert not {"stay_id", "patient", "mrn", *outcomes} & set(model["feature_columns"])
    assert "mrn" not in pd.read_parquet(_only(ws / "lake", "*/tabular.parquet")).columns
    card = _only(ws / "models", "*/model_card.md").read_text()
    assert "feature columns of the `tabular` source file" in card and "mrn" not in card
    # flat-table wording: no admissions-at-24-h or coded-diagnosis text, and an undescribed label says so
    assert "each row (prediction unit) of the site's flat table" in card
    assert "adult hospital admissions" not in card and "coded diagnoses" not in card
    assert "not described: give it a `description`" in card
    assert "Predictors and their missing share in the training split" in card and "## Operating points" in card

    # batch scoring of the site's own table keeps its id and group columns, so predictions join by key
    flat.to_csv(tmp_path / "to_score.csv", index=False)
    scored = _cmtl(["score", "--config", config, "--input", tmp_path / "to_score.csv", "--output",
                    tmp_path / "pred.csv"], prefect_server)
    assert scored.returncode == 0, (scored.stdout + scored.stderr)[-4000:]
    pred = pd.read_csv(tmp_path / "pred.csv")
    assert list(pred.columns[:2]) == ["stay_id", "patient"] and "mrn" not in pred
    assert pred["stay_id"].tolist() == flat["stay_id"].tolist() and pred["patient"].equals(flat["patient"])
    assert set(outcomes) < set(pred.columns)


def test_cmtl_export_writes_a_mimic_iv_export_that_ingests_back(prefect_server, small_config, tmp_path):
    """`cmtl export` writes the config's cohort in the MIMIC-IV layout (Parquet here) with its truth; reading
    it back in partitions gives the generated cohort's features, truth carried beside them."""
    import yaml

    from mtl_core.config import load_config
    from mtl_core.sources.synthetic import generate

    out = tmp_path / "export"
    written = _cmtl(["export", "--config", small_config, "--layout", "mimic_iv", "--format", "parquet",
                     "--out", out], prefect_server)
    assert written.returncode == 0, written.stderr[-3000:]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.parquet")) == [
        "hosp/admissions.parquet", "hosp/diagnoses_icd.parquet", "hosp/labevents.parquet",
        "hosp/patients.parquet", "icu/chartevents.parquet", "truth.parquet"]
    again = _cmtl(["export", "--config", small_config, "--layout", "mimic_iv", "--out", out], prefect_server)
    assert again.returncode == 2 and "exists" in again.stderr
    raw = yaml.safe_load(small_config.read_text())
    raw["source"] = {"kind": "mimic_iv", "path": str(out)}
    raw["ingest"] = {"partition_rows": 25_000}   # several partitions
    config = tmp_path / "mimic.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    for step in ("ingest", "features"):
        result = _cmtl([step, "--config", config], prefect_server)
        assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    cfg = load_config(small_config)
    tables = generate(cfg.source, cfg.cohort.observation_hours)
    expected, _ = build_dataset(tables, cfg, outcome_definitions())
    ws = Path(raw["workspace"])
    fs = _only(ws / "features", "*/manifest.json").parent
    assert len(json.loads((fs / "manifest.json").read_text())["tables"]["features"]["partitions"]) >= 3
    features = pd.read_parquet(fs / "features.parquet").sort_values("hadm_id").reset_index(drop=True)
    pdt.assert_frame_equal(features, expected.sort_values("hadm_id").reset_index(drop=True))
    truth = pd.read_parquet(fs / "truth.parquet")
    assert truth["hadm_id"].tolist() == pd.read_parquet(fs / "features.parquet")["hadm_id"].tolist()

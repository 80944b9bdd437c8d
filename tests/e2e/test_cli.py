"""The CLI end to end, as a data engineer runs it, on a small cohort; then the registry is checked."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd

from tests.conftest import write_config

CMTL = str(Path(sys.executable).parent / "cmtl")


def _cmtl(args: list[str], api_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_API_URL": api_url, "COLUMNS": "120"}
    return subprocess.run([CMTL, *args], capture_output=True, text=True, env=env, timeout=600)


def test_cmtl_run_twice_registers_and_keeps_versions(prefect_server, small_config):
    first = _cmtl(["run", "--config", str(small_config)], prefect_server)
    assert first.returncode == 0, first.stderr[-3000:]
    out = first.stdout
    for word in ("outcome", "prev.", "test AUROC", "ceiling 0.", "sepsis", "v1 is now champion",
                 "mlflow", "ui", "prefect", "server start"):
        assert word in out, word

    for word in ("Alert threshold", "sensitivity", "PPV", "net benefit", "max_f1"):
        assert word in out, word

    same = _cmtl(["run", "--config", str(small_config)], prefect_server)
    assert same.returncode == 0, same.stderr[-3000:]
    assert "nothing changed since v1 (champion)" in same.stdout and "v2" not in same.stdout

    second = _cmtl(["run", "--config", str(small_config), "--force"], prefect_server)
    assert second.returncode == 0, second.stderr[-3000:]
    assert "v2" in second.stdout

    ws = small_config.parent / "workspace"
    uri = f"sqlite:///{ws / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    versions = client.search_model_versions("name='clinical-multi-outcome'")
    assert sorted(str(v.version) for v in versions) == ["1", "2"]
    model = mlflow.pyfunc.load_model("models:/clinical-multi-outcome@champion")
    features = pd.read_parquet(next((ws / "features").glob("*/features.parquet")))
    pred = model.predict(features.drop(columns=["hadm_id", "subject_id", "split"]).head(20))
    assert pred.shape[1] >= 5 and pred.notna().all().all()
    # Version 1 stays loadable whatever the verdict on version 2.
    assert mlflow.pyfunc.load_model("models:/clinical-multi-outcome/1").predict(
        features.drop(columns=["hadm_id", "subject_id", "split"]).head(3)).shape == (3, 10)

    report = small_config.parent / "compare.md"
    compared = _cmtl(["compare", "1", "2", "--config", str(small_config), "--output", str(report)], prefect_server)
    assert compared.returncode == 0, compared.stderr[-3000:]
    text = report.read_text()
    assert text.startswith("# What changed: v1 -> v2") and "What changed: v1 -> v2" in compared.stdout
    assert "## Config differences\n\nNone." in text  # --force: same config, snapshot and code
    rows = [line for line in text.splitlines() if line.startswith("| sepsis |")]
    assert len(rows) == 1 and rows[0].count("(") == 2  # AUROC and Brier differences, each with a paired CI
    assert "prevalence: sepsis" in text and "clinical-mtl 0.1.0" in text
    missing = _cmtl(["compare", "1", "7", "--config", str(small_config)], prefect_server)
    assert missing.returncode == 2 and "no version 7" in missing.stderr


def test_cli_bad_config_exits_2_without_traceback(tmp_path, prefect_server):
    cfg = write_config(tmp_path / "bad.yaml", tmp_path / "ws", outcomes=["in_hospital_mortality", "nope"])
    result = _cmtl(["run", "--config", str(cfg)], prefect_server)
    assert result.returncode == 2
    assert "outcome 'nope' is not defined" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout

    missing = _cmtl(["ingest", "--config", str(tmp_path / "absent.yaml")], prefect_server)
    assert missing.returncode == 2 and "config file not found" in missing.stderr

    typo = write_config(tmp_path / "typo.yaml", tmp_path / "ws", train={"epochz": 3})
    result = _cmtl(["train", "--config", str(typo)], prefect_server)
    assert result.returncode == 2 and "train.epochz" in result.stderr


BROKEN_SOURCE = """
import sys, pandas as pd
from pathlib import Path
from mtl_core import sources
folder = Path(sys.argv.pop(1))
tables = {p.stem: pd.read_parquet(p) for p in folder.glob("*.parquet")}
sources.SOURCES["synthetic"] = lambda cfg, staging, progress=None, pool=None: tables
from flows.cli import main
main()
"""


def test_cli_contract_violation_exits_2_and_writes_nothing(prefect_server, small_config, small_tables,
                                                           tmp_path):
    _, tables = small_tables
    raw = tmp_path / "raw"
    raw.mkdir()
    for name, df in tables.items():
        df = df.copy()
        if name == "patients":
            df.loc[df.index[:3], "anchor_age"] = -5
        df.to_parquet(raw / f"{name}.parquet")
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-c", BROKEN_SOURCE, str(raw), "ingest", "--config",
                             str(small_config)], capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 2, result.stderr[-3000:]
    text = " ".join(result.stderr.split())
    assert "patients" in text and "anchor_age" in text and "in_range" in text and "3 rows" in text
    assert text.count("in_range") == 1  # once: the CLI's error line, not Prefect's copies of it
    assert "Traceback" not in result.stderr + result.stdout
    assert not any((small_config.parent / "workspace" / "lake").iterdir())

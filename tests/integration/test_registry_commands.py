"""Registry-only commands from the shell with no PREFECT_API_URL: they work as before and start no
temporary Prefect server (no `Starting temporary server`, no uvicorn child)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pandas as pd

from tests.integration.conftest import cmtl

NO_SERVER = "temporary server"


def _env() -> dict:
    env = {**os.environ, "COLUMNS": "160",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    for key in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "CMTL_WORKSPACE",
                "CMTL_TEMPORARY_PREFECT"):
        env.pop(key, None)
    return env


def test_score_compare_dry_run_and_rollback_start_no_prefect_server(trained_workspace, tmp_path):
    config, ws = trained_workspace
    features = pd.read_parquet(next((ws / "features").glob("*/features.parquet")))
    source = tmp_path / "rows.csv"
    features.drop(columns=["split"]).head(200).to_csv(source, index=False)
    out = tmp_path / "predictions.csv"

    scored = cmtl(["score", "--config", str(config), "--input", str(source), "--output", str(out)], _env())
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert len(pd.read_csv(out)) == 200 and "wrote 200 predictions" in scored.stdout

    compared = cmtl(["compare", "champion", "champion", "--config", str(config)], _env())
    assert compared.returncode == 0, compared.stderr[-3000:]
    assert "What changed" in compared.stdout

    dry = cmtl(["promote", "--config", str(config), "--dry-run"], _env())
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert "dry run:" in dry.stdout and "nothing was registered" in dry.stdout

    back = cmtl(["rollback", "--config", str(config)], _env())  # one champion: nothing to go back to
    assert back.returncode == 2 and "Traceback" not in back.stderr, back.stderr[-3000:]
    assert "error:" in back.stderr

    for done in (scored, compared, dry, back):
        assert NO_SERVER not in done.stdout + done.stderr, (done.args, (done.stdout + done.stderr)[-2000:])

"""`cmtl monitor` refuses bad input with one line and exit code 2, before any work: a date that is not one,
a workspace with no champion."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_config

ROOT = Path(__file__).resolve().parents[2]


def _monitor(args: list[str], api_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_API_URL": api_url, "COLUMNS": "120", "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "flows.cli", "monitor", *args], capture_output=True, text=True,
                          env=env, timeout=600, cwd=ROOT)


@pytest.mark.e2e
def test_bad_dates_and_a_missing_champion_exit_2_without_traceback(prefect_server, tmp_path):
    config = write_config(tmp_path / "config.yaml", tmp_path / "workspace", source={"n_patients": 300})
    for flag, value in (("--after", "2021-13-45"), ("--as-of", "yesterday-ish")):
        done = _monitor(["--config", str(config), flag, value], prefect_server)
        assert done.returncode == 2, done.stderr[-2000:]
        assert f"'{value}' is not a date-time" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "workspace" / "lake").exists() or not any((tmp_path / "workspace" / "lake").iterdir())
    done = _monitor(["--config", str(config)], prefect_server)
    assert done.returncode == 2 and "has no alias 'champion'" in done.stderr, done.stderr[-2000:]
    assert "Traceback" not in done.stderr

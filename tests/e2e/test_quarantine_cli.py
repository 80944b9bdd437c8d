"""`cmtl ingest` in quarantine mode on a MIMIC-IV-layout export with bad rows: within the limit the bad rows
land in the snapshot's quarantine/ with a report; over it, exit 2 and nothing in the lake."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from mtl_core.data import lake
from tests.bad_inputs.fixtures import mimic_config
from tests.bad_inputs.rejects import write_corrupted_mimic

CMTL = str(Path(sys.executable).parent / "cmtl")


def _cmtl(args: list, api_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_API_URL": api_url, "COLUMNS": "200"}
    return subprocess.run([CMTL, *map(str, args)], capture_output=True, text=True, env=env, timeout=600)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_cli_quarantines_bad_rows_and_stops_over_the_limit(prefect_server, small_tables, tmp_path):
    _, tables = small_tables
    bad = write_corrupted_mimic(tables, tmp_path / "mimic")
    raw = _hashes(bad.folder)
    ok = mimic_config(tmp_path / "ok.yaml", tmp_path / "ws", bad.folder,
                      ingest={"mode": "quarantine", "max_rejected_share": 0.02})
    result = _cmtl(["ingest", "--config", ok], prefect_server)
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    assert "Quarantine: rejected rows per table" in out and "admissions 4 of" in out

    snapshot = lake.latest(tmp_path / "ws" / "lake")
    q = pd.read_parquet(snapshot / "quarantine" / "admissions.parquet")
    assert set(q["hadm_id"]) == bad.rejected
    assert {"table: ordered(earlier=admittime, later=dischtime)", "hadm_id: field_uniqueness",
            "subject_id: references a rejected patient"} == set(q["reason"])
    events = pd.read_parquet(snapshot / "quarantine" / "events.parquet")
    assert set(events["hadm_id"]) == bad.rejected | {bad.lost, 999_999_999}
    report = json.loads((snapshot / "rejects.json").read_text())
    assert report["tables"]["admissions"]["rejected"] == len(q)
    assert report["tables"]["patients"]["checks"] == [
        {"column": "anchor_age", "check": "in_range(0, 120)", "rows": 1,
         "share": round(1 / report["tables"]["patients"]["rows"], 6)}]
    assert "| admissions | hadm_id | field_uniqueness | 2 |" in (snapshot / "rejects.md").read_text()
    assert not lake.read_tables(snapshot, ["admissions"])["admissions"]["hadm_id"].isin(bad.rejected).any()

    strict = mimic_config(tmp_path / "low.yaml", tmp_path / "ws-low", bad.folder,
                          ingest={"mode": "quarantine", "max_rejected_share": 0.001})
    refused = _cmtl(["ingest", "--config", strict], prefect_server)
    msg = " ".join((refused.stdout + refused.stderr).split())
    assert refused.returncode == 2, msg[-4000:]
    assert "table 'admissions': 4 of" in msg and "above ingest.max_rejected_share 0.10%" in msg
    assert "Traceback" not in msg
    assert list((tmp_path / "ws-low" / "lake").iterdir()) == []  # no snapshot, no temporary folder
    assert _hashes(bad.folder) == raw  # the input is never modified

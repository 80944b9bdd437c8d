"""A fresh MLflow store opened by many first commands at once is created and migrated exactly once.

Each process is a real `cmtl doctor`: the path every command takes into the store before any work
(the services probe, then the tidy-up that reads the experiment's RUNNING runs), the one that crashed a
first `cmtl run` with `duplicate column name: step`. Before the creation lock, 6 to 7 of 8 such
processes died with a migration traceback on SQLite and on PostgreSQL.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import DEFAULT_CONFIG

CMTL = str(Path(sys.executable).parent / "cmtl")
N = 8


def _env(workspace: Path, store: str | None) -> dict:
    env = {**os.environ, "CMTL_WORKSPACE": str(workspace), "COLUMNS": "160",
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "PREFECT_API_URL"):
        env.pop(key, None)
    if store:
        env["MLFLOW_TRACKING_URI"] = store
    return env


def _first_opens(tmp_path: Path, store: str | None, shared_workspace: bool) -> list[subprocess.CompletedProcess]:
    procs = []
    for k in range(N):
        ws = tmp_path / ("ws" if shared_workspace else f"ws{k}")
        procs.append(subprocess.Popen([CMTL, "doctor", "--config", str(DEFAULT_CONFIG)], env=_env(ws, store),
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    return [subprocess.CompletedProcess(p.args, p.wait(600), p.communicate()[0]) for p in procs]


def _assert_clean(done: list[subprocess.CompletedProcess]) -> None:
    bad = [d.stdout[-2500:] for d in done if d.returncode != 0 or "Traceback" in d.stdout or "Error" in d.stdout]
    assert bad == [], f"{len(bad)} of {N} first opens failed; the first:\n{bad[0] if bad else ''}"
    assert all("reachable" in d.stdout for d in done)


def test_eight_first_commands_on_a_fresh_sqlite_workspace(tmp_path):
    done = _first_opens(tmp_path, None, shared_workspace=True)
    _assert_clean(done)
    import sqlite3

    with sqlite3.connect(tmp_path / "ws" / "mlflow.db") as con:
        assert con.execute("select count(*) from alembic_version").fetchone() == (1,)
        assert "step" in {row[1] for row in con.execute("pragma table_info(metrics)")}


def test_eight_first_commands_on_a_fresh_postgres_store(tmp_path, postgres_db):
    """Eight workspaces (eight machines, as far as a file lock is concerned) sharing one new database."""
    _assert_clean(_first_opens(tmp_path, postgres_db, shared_workspace=False))
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres_db, poolclass=sqlalchemy.pool.NullPool)
    with engine.connect() as con:
        assert con.execute(sqlalchemy.text("select count(*) from alembic_version")).scalar() == 1
    engine.dispose()

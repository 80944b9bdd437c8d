"""flows/ops/services.py pieces without the heavy servers: PID bookkeeping, `down` stopping only what was
started, the MLflow store choice (PostgreSQL database created once, SQLite fallback); model references."""
from __future__ import annotations

import subprocess
import sys
import time
import uuid

import psycopg2
import pytest

from flows.ops import services
from flows.tracking import parse_reference
from mtl_core.errors import CmtlError

SLEEPER = [sys.executable, "-c", "import subprocess, time; subprocess.Popen(['sleep', '120']); time.sleep(120)"]


def test_down_stops_exactly_the_recorded_process_groups(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    bystander = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        pid = services.start("worker", SLEEPER, run_dir, env={}, cwd=tmp_path)
        assert (run_dir / "worker.pid").read_text() == str(pid) and services.alive(pid)
        with pytest.raises(CmtlError, match="already running"):
            services.start("worker", SLEEPER, run_dir, env={}, cwd=tmp_path)
        for _ in range(40):  # until the started process has spawned its own child
            child = subprocess.run(["pgrep", "-g", str(pid), "sleep"], capture_output=True, text=True).stdout.split()
            if child:
                break
            time.sleep(0.25)
        assert child, "the started process's own child is in its group"
        assert services.down(tmp_path, timeout=10) == ["worker"]
        assert not services.alive(pid)
        for _ in range(40):  # signals land asynchronously: give a loaded machine a moment
            if not any(services.alive(int(c)) for c in child):
                break
            time.sleep(0.25)
        assert not any(services.alive(int(c)) for c in child)  # its children went with it
        assert bystander.poll() is None  # a process `up` did not start is untouched
        assert services.down(tmp_path) == [] and not (run_dir / "worker.pid").exists()
    finally:
        bystander.kill()
        bystander.wait()


def test_mlflow_store_is_a_postgres_database_created_once_else_sqlite(monkeypatch, tmp_path):
    name = f"cmtl_test_{uuid.uuid4().hex[:10]}"
    monkeypatch.setattr(services, "DATABASE", name)
    admin = psycopg2.connect(f"{services.POSTGRES}/postgres", connect_timeout=5)
    admin.autocommit = True
    try:
        uri = services.mlflow_backend(tmp_path, "auto")
        assert uri == f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"
        assert services.mlflow_backend(tmp_path, "postgres") == uri  # exists now: reused, no error
        with admin.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_database WHERE datname = %s", (name,))
            assert cur.fetchone()[0] == 1
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    assert services.mlflow_backend(tmp_path, "sqlite") == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setattr(services, "POSTGRES", f"postgresql://postgres@127.0.0.1:{services.free_port()}")
    assert services.mlflow_backend(tmp_path, "auto").startswith("sqlite:///")
    with pytest.raises(CmtlError, match="not reachable"):
        services.mlflow_backend(tmp_path, "postgres")


def test_model_reference_takes_aliases_and_versions():
    name = "clinical-multi-outcome"

    def model_reference(name, ref):
        return parse_reference(name, ref, "--model")

    assert model_reference(name, "champion") == ("champion", None)
    assert model_reference(name, "3") == (None, "3")
    assert model_reference(name, "v12") == (None, "12")
    assert model_reference(name, f"models:/{name}@challenger") == ("challenger", None)
    assert model_reference(name, f"models:/{name}/4") == (None, "4")
    with pytest.raises(CmtlError):
        model_reference(name, " ")

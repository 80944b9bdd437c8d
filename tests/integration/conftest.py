"""Integration fixtures: real servers (Prefect, MLflow, PostgreSQL databases) started and stopped per test."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from flows.ops import services
from tests.conftest import write_config

CMTL = str(Path(sys.executable).parent / "cmtl")
OUTCOMES = ["in_hospital_mortality", "readmission_30d", "prolonged_stay", "aki", "sepsis"]


def fast_config(path: Path, workspace: Path, **overrides) -> Path:
    """The small test cohort (1,500 patients) with short training and light evaluation."""
    over = {"train": {"epochs": 8, "patience": 4}, "evaluation": {"n_boot": 100, "baselines": []}}
    for section, values in overrides.items():
        over[section] = {**over.get(section, {}), **values} if isinstance(values, dict) else values
    return write_config(path, workspace, **over)


def cmtl_env(api_url: str, **extra: str) -> dict:
    # the venv's bin first, as for a user who activated it (`mlflow models serve` execs `uvicorn`)
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    env = {**os.environ, "PREFECT_API_URL": api_url, "COLUMNS": "160", "PATH": path, **extra}
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "CMTL_WORKSPACE"):
        if key not in extra:
            env.pop(key, None)
    return env


def cmtl(args: list[str], env: dict, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([CMTL, *args], capture_output=True, text=True, env=env, timeout=timeout)


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 180, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if services.answers(url):
            return
        if proc.poll() is not None:
            break
        time.sleep(1)
    text = log.read_text(errors="replace")[-3000:] if log and log.is_file() else ""
    raise AssertionError(f"{url} did not answer (exit code {proc.poll()}):\n{text}")


def stop(proc: subprocess.Popen) -> None:
    """TERM the process group started for one test, then KILL whatever is left of it."""
    if proc.poll() is None:
        services._signal_group(proc.pid, 15)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
    services._signal_group(proc.pid, 9)
    proc.wait(10)


@pytest.fixture(scope="session")
def trained_workspace(prefect_server, tmp_path_factory):
    """One small pipeline run (SQLite store in its workspace): a registered champion to score and serve."""
    root = tmp_path_factory.mktemp("trained")
    config = fast_config(root / "config.yaml", root / "workspace")
    result = cmtl(["run", "--config", str(config)], cmtl_env(prefect_server))
    assert result.returncode == 0, result.stderr[-3000:]
    return config, root / "workspace"


def _postgres_up() -> bool:
    try:
        import psycopg2

        psycopg2.connect(f"{services.POSTGRES}/postgres", connect_timeout=3).close()
        return True
    except Exception:
        return False


@pytest.fixture
def postgres_db():
    """A fresh PostgreSQL database on 127.0.0.1:5432 for one test, dropped afterwards. The local
    cluster is started if it is down; no PostgreSQL is a failure, not a skip."""
    import psycopg2

    if not _postgres_up() and shutil.which("pg_ctlcluster") and Path("/etc/postgresql").is_dir():
        for version in os.listdir("/etc/postgresql"):
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                           capture_output=True, timeout=60)
    assert _postgres_up(), f"PostgreSQL is not reachable at {services.POSTGRES}"
    name = f"cmtl_test_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(f"{services.POSTGRES}/postgres", connect_timeout=5)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield services.store_uri(name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def mlflow_server_factory(tmp_path):
    """Start `mlflow server` on a free port with the given backend store; stopped after the test."""
    started: list[subprocess.Popen] = []

    def start(store: str) -> str:
        port = services.free_port()
        log = tmp_path / f"mlflow-{port}.log"
        (tmp_path / "mlartifacts").mkdir(exist_ok=True)
        argv = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", store,
                "--artifacts-destination", str(tmp_path / "mlartifacts"), "--serve-artifacts",
                "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
        with open(log, "wb") as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                    env=cmtl_env(""))
        started.append(proc)
        wait_for(f"http://127.0.0.1:{port}/health", proc, log=log)
        return f"http://127.0.0.1:{port}"

    yield start
    for proc in started:
        stop(proc)

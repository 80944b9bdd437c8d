"""Process-level reliability of `cmtl run`: a tracking store that is down, SIGTERM, kill -9 and the
rerun after it. Each test starts a real `cmtl` process group and signals the whole group."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import write_config

CMTL = str(Path(sys.executable).parent / "cmtl")


def _env(api_url: str | None, **extra: str) -> dict:
    env = {**os.environ, "COLUMNS": "160", **extra}
    if api_url:
        env["PREFECT_API_URL"] = api_url
    return env


def _slow_training_config(tmp_path: Path) -> Path:
    """The small cohort, with epochs slow enough (small batches, no early stop) to be caught mid-way.
    n_boot 0 (documented as "no CIs") crashed the transfer report and the results table; the run to the
    end in the kill -9 test shows it works, and saves a whole pipeline run in the suite."""
    return write_config(tmp_path / "config.yaml", tmp_path / "workspace",
                        train={"epochs": 12, "patience": 12, "batch_size": 16},
                        evaluation={"n_boot": 0, "baselines": ["logistic"]})


def _start(config: Path, api_url: str) -> subprocess.Popen:
    return subprocess.Popen([CMTL, "run", "--config", str(config)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=_env(api_url), start_new_session=True)


def _runs(ws: Path) -> list[tuple[str, str]]:
    """(run_uuid, status) of every MLflow run in the workspace store."""
    db = ws / "mlflow.db"
    if not db.is_file():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as con:
            return con.execute("select run_uuid, status from runs").fetchall()
    except sqlite3.Error:
        return []


def _checkpoint_epoch(ws: Path) -> int:
    """The last epoch checkpointed by the running fit (0 before the first)."""
    from flows.runtime.resume import progress_in

    found = [progress_in(p) for p in (ws / "checkpoints").glob("*")] if (ws / "checkpoints").is_dir() else []
    return max((f["epoch"] for f in found if f), default=0)


def _wait_for_epoch(proc: subprocess.Popen, ws: Path, epoch: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while _checkpoint_epoch(ws) < epoch:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "training never reached the epoch"
        time.sleep(0.1)


def test_unreachable_tracking_server_exits_2_within_seconds(tmp_path):
    config = write_config(tmp_path / "config.yaml", tmp_path / "workspace")
    started = time.monotonic()
    result = subprocess.run([CMTL, "run", "--config", str(config)], capture_output=True, text=True,
                            env=_env(None, MLFLOW_TRACKING_URI="http://127.0.0.1:59999"), timeout=120)
    took = time.monotonic() - started
    assert result.returncode == 2, result.stderr[-3000:]
    assert "http://127.0.0.1:59999" in result.stderr and "not reachable" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len(result.stderr.strip().splitlines()) <= 2  # one message (rich may wrap it once)
    assert took < 30, took
    assert not (tmp_path / "workspace" / "lake").exists()  # no data work was done


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_during_training_ends_within_seconds_and_marks_the_run_killed(sig, tmp_path, prefect_server):
    config = _slow_training_config(tmp_path)
    ws = tmp_path / "workspace"
    proc = _start(config, prefect_server)
    try:
        _wait_for_epoch(proc, ws, 2)
        os.killpg(proc.pid, sig)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 128 + sig, err[-3000:]
    assert took < 10, took
    assert "Traceback" not in out + err and f"interrupted by {sig.name}" in err
    runs = _runs(ws)
    assert [s for _, s in runs] == ["KILLED"], runs
    assert runs[0][0] in err
    assert not [p for p in (ws / "models").iterdir()]  # no half-written model folder


def test_kill_9_during_training_then_rerun_closes_the_run_cleans_up_and_resumes(tmp_path, prefect_server):
    config = _slow_training_config(tmp_path)
    ws = tmp_path / "workspace"
    proc = _start(config, prefect_server)
    try:
        _wait_for_epoch(proc, ws, 2)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    killed = _runs(ws)
    assert [s for _, s in killed] == ["RUNNING"], killed  # what kill -9 leaves behind
    assert [p.name for p in (ws / "models").iterdir() if p.name.startswith(".partial~")]
    # a lake snapshot being written when killed is left too: the rerun must remove it
    stale = ws / "lake" / f".partial~{proc.pid}~{_host()}~abcd1234"
    stale.mkdir()

    result = subprocess.run([CMTL, "run", "--config", str(config)], capture_output=True, text=True,
                            env=_env(prefect_server), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"closed MLflow run {killed[0][0]} as FAILED" in result.stdout
    statuses = dict(_runs(ws))
    assert statuses[killed[0][0]] == "FAILED" and "RUNNING" not in statuses.values(), statuses
    leftovers = [p for sub in ("lake", "features", "models", "staging") if (ws / sub).is_dir()
                 for p in (ws / sub).iterdir() if p.name.startswith(".partial")]
    assert not leftovers and not stale.exists()
    models = list((ws / "models").iterdir())
    assert len(models) == 1
    meta = json.loads((models[0] / "model.json").read_text())
    assert meta["resumed"]["from_epoch"] > 1, meta.get("resumed")
    assert not (ws / "checkpoints").exists() or not any((ws / "checkpoints").iterdir())
    # n_boot 0: no CIs, and the gate says it judged point estimates
    report = json.loads((models[0] / "evaluation.json").read_text())["report"]
    assert report and all(r.get("auroc_ci_low") is None and r["auroc"] for r in report)
    assert "point estimate" in result.stdout and "is now champion" in result.stdout
    assert "(no CI)" in result.stdout  # model - best single-task learner, without its bootstrap CI


def test_doctor_closes_stale_runs_and_reports(tmp_path):
    config = write_config(tmp_path / "config.yaml", tmp_path / "workspace")
    ws = tmp_path / "workspace"
    code = f"""
import sys
from flows.runtime.workspace import prepare
from flows import tracking
cfg, ws = prepare({str(config)!r})
print(tracking.start_run(cfg, ws, run_name="will be killed"))
sys.stdout.flush()
import os; os.kill(os.getpid(), 9)
"""
    dead = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    run_id = dead.stdout.strip()
    assert dead.returncode == -9 and dict(_runs(ws)) == {run_id: "RUNNING"}, dead.stderr[-2000:]
    doctor = subprocess.run([CMTL, "doctor", "--config", str(config)], capture_output=True, text=True,
                            env=_env(None), timeout=120)
    assert doctor.returncode == 0, doctor.stderr[-2000:]
    assert f"closed MLflow run {run_id} as FAILED" in doctor.stdout
    assert dict(_runs(ws)) == {run_id: "FAILED"}
    from flows.ops import cleanup
    from flows.runtime.workspace import prepare

    assert cleanup.tidy(*prepare(config)) == {"runs": [], "folders": [], "checkpoints": []}  # nothing twice


def _host() -> str:
    from mtl_core.data.owner import host

    return host()


DISK_FULL = """
import errno, sys
import joblib
from mtl_core.data import lake

where = sys.argv.pop(1)
real_dump, real_part = joblib.dump, lake.write_part

def dump(value, filename, *args, **kwargs):
    if where == "model" and str(filename).endswith("estimator.joblib"):
        raise OSError(errno.ENOSPC, "No space left on device", str(filename))
    return real_dump(value, filename, *args, **kwargs)

def write_part(folder, index, tables):
    if where == "lake":  # as pyarrow says it: no errno, no file name
        raise OSError("Error writing bytes to file. Detail: [errno 28] No space left on device")
    return real_part(folder, index, tables)

joblib.dump, lake.write_part = dump, write_part
from flows.cli import main
main()
"""


def _disk_full_run(tmp_path: Path, where: str, api_url: str) -> tuple[subprocess.CompletedProcess, Path]:
    config = write_config(tmp_path / "config.yaml", tmp_path / "workspace", train={"epochs": 3},
                          evaluation={"n_boot": 20, "baselines": []})
    result = subprocess.run([sys.executable, "-c", DISK_FULL, where, "run", "--config", str(config)],
                            capture_output=True, text=True, env=_env(api_url), timeout=600)
    return result, tmp_path / "workspace"


def test_disk_full_during_ingest_exits_2_naming_the_path_and_leaves_no_partial_snapshot(tmp_path,
                                                                                        prefect_server):
    result, ws = _disk_full_run(tmp_path, "lake", prefect_server)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "disk full writing" in result.stderr and str(ws) in result.stderr and "MiB free" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert not any((ws / "lake").iterdir()) and _runs(ws) == []


def test_disk_full_while_saving_the_model_exits_2_and_leaves_no_model_folder(tmp_path, prefect_server):
    result, ws = _disk_full_run(tmp_path, "model", prefect_server)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "disk full writing" in result.stderr and "estimator.joblib" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert [s for _, s in _runs(ws)] == ["FAILED"]
    assert not any((ws / "models").iterdir())


def test_second_run_on_a_busy_workspace_exits_2_naming_the_holder(tmp_path, prefect_server):
    """Two `cmtl run` at once on one workspace raced on the temporary Prefect server's database
    migration (a traceback); the second now stops at once, naming the first."""
    config = _slow_training_config(tmp_path)
    ws = tmp_path / "workspace"
    first = _start(config, prefect_server)
    try:
        deadline = time.monotonic() + 120
        lock = ws / ".cmtl-run.lock"
        while not (lock.is_file() and f"pid {first.pid} " in lock.read_text()):
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()[1][-3000:]
            time.sleep(0.1)
        second = subprocess.run([CMTL, "run", "--config", str(config)], capture_output=True, text=True,
                                env=_env(prefect_server), timeout=120)
        # a single writing stage takes the same lock: a hand-run ingest or train cannot race the run
        stages = {stage: subprocess.run([CMTL, stage, "--config", str(config)], capture_output=True,
                                        text=True, env=_env(prefect_server), timeout=120)
                  for stage in ("ingest", "train")}
        assert first.poll() is None  # untouched by the others
    finally:
        os.killpg(first.pid, signal.SIGTERM)
        first.communicate(timeout=60)
    for other in (second, *stages.values()):
        assert other.returncode == 2, other.stderr[-3000:]
        assert "busy" in other.stderr and f"cmtl run (pid {first.pid} " in other.stderr
        assert "Traceback" not in other.stderr + other.stdout


"""A `cmtl run` killed with SIGKILL leaves no process behind: its temporary Prefect server (uvicorn) dies
with it, and `cmtl doctor` stops any temporary server of the workspace whose starter is gone."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flows.runtime import children
from tests.conftest import write_config

CMTL = str(Path(sys.executable).parent / "cmtl")


def _procs() -> dict[int, tuple[int, int, str, bytes]]:
    """pid -> (ppid, session, state, cmdline) of every readable process."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_bytes().rsplit(b")", 1)[-1].split()
            found[int(proc.name)] = (int(stat[1]), int(stat[3]), stat[0].decode(), (proc / "cmdline").read_bytes())
        except (OSError, IndexError, ValueError):
            continue
    return found


def _living_in_session(sid: int) -> list[str]:
    return [f"{pid} {cmd[:120]!r}" for pid, (_, s, state, cmd) in _procs().items() if s == sid and state != "Z"]


def _env(**extra: str) -> dict:
    env = {**os.environ, "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
           **extra}
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "PREFECT_API_URL", "CMTL_WORKSPACE"):
        env.pop(key, None)
    return env


def test_kill_9_of_a_run_leaves_no_process_alive(tmp_path):
    config = write_config(tmp_path / "config.yaml", tmp_path / "ws", train={"epochs": 2, "patience": 1},
                          evaluation={"n_boot": 20, "baselines": []})
    log = open(tmp_path / "run.log", "w")
    proc = subprocess.Popen([CMTL, "run", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT,
                            env=_env(PREFECT_HOME=str(tmp_path / "prefect")), start_new_session=True)
    try:
        deadline, server = time.monotonic() + 400, None
        while server is None and time.monotonic() < deadline and proc.poll() is None:
            server = next((pid for pid, (ppid, _, _, cmd) in _procs().items()
                           if ppid == proc.pid and children.SERVER_APP.encode() in cmd), None)
            time.sleep(0.5)
        assert server is not None, f"no temporary server seen; run: {(tmp_path / 'run.log').read_text()[-2000:]}"
        time.sleep(2)  # the run is under way with its server
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        deadline = time.monotonic() + 30
        while _living_in_session(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert _living_in_session(proc.pid) == []
    finally:
        log.close()
        if proc.poll() is None:
            proc.kill()
        for pid, (_, sid, _, _) in _procs().items():  # whatever this test started, should the check fail
            if sid == proc.pid:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass


def test_doctor_stops_an_orphaned_temporary_server_of_its_workspace(tmp_path):
    """A stand-in for a server left by an older cmtl: a sleeping process with the server's command line
    and environment whose parent exited (so init adopted it); another workspace's is left alone."""
    config = write_config(tmp_path / "config.yaml", tmp_path / "ws")
    mine, other = tmp_path / "ws" / "prefect", tmp_path / "elsewhere" / "prefect"
    pids = []
    for home in (mine, other):
        home.mkdir(parents=True)
        env = _env(PREFECT_HOME=str(home), PREFECT__SERVER_EPHEMERAL="1")
        done = subprocess.run(["sh", "-c", f'"{sys.executable}" -c "import time; time.sleep(120)" '
                               f'{children.SERVER_APP} >/dev/null 2>&1 & echo $!'],
                              env=env, capture_output=True, text=True, timeout=30)
        pids.append(int(done.stdout.strip()))
    try:
        time.sleep(1)
        assert children.find_orphans(mine) == [pids[0]]
        result = subprocess.run([CMTL, "doctor", "--config", str(config)], capture_output=True, text=True,
                                env=_env(PREFECT_HOME=str(mine)), timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"stopped temporary Prefect server pid {pids[0]}" in result.stdout
        deadline = time.monotonic() + 10
        while pids[0] in _procs() and _procs()[pids[0]][2] != "Z" and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pids[0] not in _procs() or _procs()[pids[0]][2] == "Z"
        assert pids[1] in _procs()  # another workspace's server is not this doctor's to stop
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

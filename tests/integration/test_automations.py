"""The automations `make up` creates, against a real Prefect server this test starts (and stops, by the PID
it started): a degraded monitoring verdict and a failed flow run each reach the notification webhook."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

from flows.ops import automations, services
from mtl_core.errors import CmtlError

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")


class _Inbox(BaseHTTPRequestHandler):
    received: list[str] = []

    def do_POST(self):  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
        _Inbox.received.append(json.loads(body).get("text", body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-automations")
    port = services.free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONPATH": str(ROOT)}
    env.pop(automations.RETRAIN_ENV, None)  # each test says whether it wants the retraining automation
    log = (home / "server.log").open("w")
    proc = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env=env,
                            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    inbox = HTTPServer(("127.0.0.1", services.free_port()), _Inbox)
    threading.Thread(target=inbox.serve_forever, daemon=True).start()
    try:
        deadline = time.monotonic() + 180
        while not services.answers(f"http://127.0.0.1:{port}/api/health"):
            assert proc.poll() is None and time.monotonic() < deadline, (home / "server.log").read_text()[-2000:]
            time.sleep(1)
        env["CMTL_ALERT_WEBHOOK"] = f"http://127.0.0.1:{inbox.server_port}/alert"
        yield env
    finally:
        inbox.shutdown()
        os.killpg(proc.pid, signal.SIGTERM)  # the group of the server this test started, nothing else
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()


def _python(env: dict, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _wait_for(word: str, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hits = [m for m in _Inbox.received if word in m]
        if hits:
            return hits[0]
        time.sleep(1)
    raise AssertionError(f"no notification with {word!r}; received: {_Inbox.received}")


def test_automations_notify_on_degraded_verdict_and_failed_flow_run(server):
    out = automations.install_against(server, ROOT)
    assert automations.DEGRADED in out and automations.FAILED in out
    assert automations.install_against(server, ROOT) == out  # idempotent: replaced, not duplicated
    listed = json.loads(urllib.request.urlopen(urllib.request.Request(
        server["PREFECT_API_URL"] + "/automations/filter", data=b"{}", method="POST",
        headers={"Content-Type": "application/json"}), timeout=30).read())
    assert sorted(a["name"] for a in listed) == sorted([automations.DEGRADED, automations.FAILED])

    done = _python(server, "from prefect.events import emit_event\n"
                   "emit_event(event='cmtl.monitor.degraded', resource={'prefect.resource.id': "
                   "'cmtl.model.clinical-multi-outcome', 'cmtl.version': '3'}, payload={'degraded': ['sepsis'], "
                   "'watch': [], 'mlflow_run': 'abc', 'reasons': {'sepsis': 'AUROC 0.72: upper bound under 0.78'}})")
    assert done.returncode == 0, done.stderr[-2000:]
    message = _wait_for("degraded")
    assert "cmtl.model.clinical-multi-outcome v3 degraded" in message and "sepsis: AUROC 0.72" in message

    done = _python(server, "from prefect import flow\n@flow(name='planted-failure')\ndef boom():\n"
                   "    raise RuntimeError('planted')\nboom()")
    assert done.returncode != 0 and "planted" in done.stderr
    message = _wait_for("planted-failure")
    assert "Failed" in message


def _api(env: dict, path: str, body: dict | None = None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(env["PREFECT_API_URL"] + path, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    return json.loads(urllib.request.urlopen(req, timeout=30).read())


def test_a_degraded_verdict_runs_the_retraining_deployment_when_switched_on(server):
    """CMTL_RETRAIN_ON_DEGRADED=1: the degraded event creates a flow run of pipeline/nightly-retrain (no worker
    here, so it stays scheduled); switched off again, the automation is gone."""
    env = {**server, "CMTL_PROJECT_DIR": str(ROOT)}
    with pytest.raises(CmtlError, match="deployment pipeline/nightly-retrain is not on the Prefect server"):
        automations.install_against({**env, automations.RETRAIN_ENV: "1"}, ROOT)  # not deployed yet
    for args in (["work-pool", "create", services.POOL, "--type", "process"],
                 ["--no-prompt", "deploy", "--name", "nightly-retrain", "--prefect-file", str(ROOT / "deployment.yaml")]):
        done = subprocess.run([PREFECT, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, (done.stdout + done.stderr)[-2000:]
    deployment = _api(env, "/deployments/name/" + automations.RETRAIN_DEPLOYMENT)

    out = automations.install_against({**env, automations.RETRAIN_ENV: "1"}, ROOT)
    assert automations.RETRAIN in out and automations.DEGRADED in out and automations.FAILED in out
    done = _python(env, "from prefect.events import emit_event\n"
                   "emit_event(event='cmtl.monitor.degraded', resource={'prefect.resource.id': "
                   "'cmtl.model.clinical-multi-outcome', 'cmtl.version': '4'}, payload={'degraded': ['aki'], "
                   "'watch': [], 'mlflow_run': 'def', 'reasons': {'aki': 'AUROC 0.70: upper bound under 0.75'}})")
    assert done.returncode == 0, done.stderr[-2000:]
    deadline, runs = time.monotonic() + 120, []
    while time.monotonic() < deadline and not runs:
        found = _api(env, "/flow_runs/filter", {"flow_runs": {"deployment_id": {"any_": [deployment["id"]]}}})
        runs = [r for r in found if not r["auto_scheduled"]]  # not the cron's own scheduled runs
        time.sleep(1)
    assert len(runs) == 1, runs
    assert (runs[0]["created_by"] or {}).get("type") == "AUTOMATION", runs[0]["created_by"]
    assert runs[0]["created_by"]["display_value"] == automations.RETRAIN
    assert runs[0]["parameters"] == {"config_path": "configs/default.yaml"}  # the deployment's own

    out = automations.install_against(env, ROOT)  # switched off: removed, the other two kept
    assert automations.RETRAIN not in out
    listed = _api(env, "/automations/filter", {})
    assert sorted(a["name"] for a in listed) == sorted([automations.DEGRADED, automations.FAILED])

"""The Prefect UI command `cmtl run` prints works on a port other than 4200: with PREFECT_SERVER_API_PORT
the UI's own settings point it at that port (with `--port` alone they still name 4200)."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

from tests.conftest import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> bytes | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.read()
    except OSError:
        return None


def test_printed_prefect_ui_command_serves_its_ui_on_another_port(tmp_path):
    port = _free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "prefect"), "server", "start", "--host", "127.0.0.1"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and _get(f"http://127.0.0.1:{port}/api/health") is None:
            assert proc.poll() is None, "prefect server exited"
            time.sleep(1)
        settings = json.loads(_get(f"http://127.0.0.1:{port}/ui-settings"))
        assert settings["api_url"] == f"http://127.0.0.1:{port}/api"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)

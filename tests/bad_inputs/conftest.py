"""Fixtures of the bad-input corpus: small good inputs to break, and a warm `cmtl` runner."""
from __future__ import annotations

import json
import os
import select
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.bad_inputs import fixtures
from tests.conftest import ROOT, write_config

CORPUS_PATIENTS = 400  # small: the corpus only needs inputs that are valid apart from the one defect


@pytest.fixture(scope="session")
def good(tmp_path_factory):
    """The MIMIC-IV files and the flat table of a small synthetic cohort, kept in memory."""
    from mtl_core.config import load_config
    from mtl_core.sources.synthetic import generate

    base = tmp_path_factory.mktemp("corpus-good")
    path = write_config(base / "cfg.yaml", base / "unused", source={"n_patients": CORPUS_PATIENTS})
    cfg = load_config(path)
    tables = generate(cfg.source, cfg.cohort.observation_hours)
    return fixtures.Goods(mimic=fixtures.mimic_frames(tables), flat=fixtures.flat_frame(tables, cfg))


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


class Runner:
    """Sends batches of `cmtl` commands to the fork server; each runs in a fresh child process."""

    def __init__(self, proc: subprocess.Popen, log: Path):
        self.proc, self.log = proc, log

    def _reply(self, timeout: float) -> dict:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"no reply from the fork server in {timeout} s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"fork server died: {self.log.read_text()[-3000:]}")
        return json.loads(line)

    def batch(self, commands: list[tuple[list, Path]], parallel: int = 1, timeout: float = 900
              ) -> list[Result]:
        """Run (args, output folder) pairs, `parallel` at a time; stdout/stderr land in the folder."""
        requests = [{"args": [str(a) for a in args], "stdout": str(out / "cmtl.stdout"),
                     "stderr": str(out / "cmtl.stderr")} for args, out in commands]
        self.proc.stdin.write(json.dumps({"batch": requests, "parallel": parallel}) + "\n")
        self.proc.stdin.flush()
        codes = self._reply(timeout)["rc"]
        return [Result(rc, Path(r["stdout"]).read_text(errors="replace"),
                       Path(r["stderr"]).read_text(errors="replace")) for rc, r in zip(codes, requests)]


@pytest.fixture(scope="session")
def cmtl(prefect_server, tmp_path_factory):
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "COLUMNS": "200"}
    log = tmp_path_factory.mktemp("forkserver") / "stderr.txt"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "tests.bad_inputs.forkserver"], cwd=ROOT, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, text=True)
    runner = Runner(proc, log)
    assert runner._reply(timeout=300) == {"ready": True}
    yield runner
    proc.stdin.close()
    proc.wait(timeout=60)

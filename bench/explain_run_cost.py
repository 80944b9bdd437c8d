"""What the run's global explanations cost: `cmtl run` on the default cohort with
evaluation.explanations.enabled true and false, in turn (A B A B ...), each on a fresh workspace.

    .venv/bin/python -m bench.explain_run_cost [--pairs 2]

Each run is a whole `cmtl run` process (ingest, features, training, evaluation, promotion), its own
workspace (CMTL_WORKSPACE) and no PREFECT_API_URL, as `make run` runs it. The median wall time of
each side and the per-pair ratio go to bench/results/explain_run_cost.{json,md}.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import write

ROOT = Path(__file__).resolve().parent.parent


def config(tmp: Path, enabled: bool) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    cfg.setdefault("evaluation", {}).setdefault("explanations", {})["enabled"] = enabled
    path = tmp / f"explanations_{'on' if enabled else 'off'}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def run_once(cfg: Path, workspace: Path) -> float:
    shutil.rmtree(workspace, ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API_URL", "MLFLOW_TRACKING"))}
    env.update(CMTL_WORKSPACE=str(workspace), PREFECT_SERVER_ANALYTICS_ENABLED="false")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "flows.cli", "run", "--config", str(cfg)], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"cmtl run --config {cfg} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=2)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="explain_run_cost_") as tmp:
        tmp = Path(tmp)
        on, off = config(tmp, True), config(tmp, False)
        pairs = []
        for _ in range(a.pairs):
            t_on = run_once(on, tmp / "ws")
            t_off = run_once(off, tmp / "ws")
            pairs.append({"on": t_on, "off": t_off, "ratio": t_on / t_off})
            print(pairs[-1], flush=True)
    med = {k: statistics.median(p[k] for p in pairs) for k in ("on", "off", "ratio")}
    rows = "\n".join(f"| {i + 1} | {p['on']:.0f} s | {p['off']:.0f} s | {p['ratio']:.2f} |" for i, p in enumerate(pairs))
    text = ("`cmtl run --config configs/default.yaml` on a fresh workspace, with the run's global explanations "
            "(evaluation.explanations.enabled: permutation importance with bootstrap intervals, heat map, card "
            "section) on and off, in turn.\n\n| pair | on | off | on / off |\n|---|---|---|---|\n" + rows +
            f"\n\nMedian: on {med['on']:.0f} s, off {med['off']:.0f} s, ratio {med['ratio']:.2f}.")
    write("explain_run_cost", f"python -m bench.explain_run_cost --pairs {a.pairs}", text,
          {"pairs": pairs, "median": med})


if __name__ == "__main__":
    main()

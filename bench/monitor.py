"""`cmtl monitor` on ~100k newly labelled admissions: wall time and peak RSS of the command.

A small champion is trained first (`cmtl run` on the 1,500-patient test cohort, untimed), then a newer
extract adds a later year of new patients (`source.later`, ingested untimed); the timed command is
`cmtl monitor --snapshot <that extract>`: features of the whole extract, scoring, masking, windows,
bootstrap CIs, the MLflow run. Run: `python -m bench.monitor [--later-patients 82000]` (~100k admissions).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from bench.common import ROOT, write

COMMAND = "python -m bench.monitor"


def _config(path: Path, ws: Path, later: dict | None) -> Path:
    cfg = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    cfg.update(workspace=str(ws), name="bench-monitor")
    cfg["registry"]["model_name"] = "bench-monitor"
    cfg["source"]["n_patients"] = 1500
    cfg["train"].update(epochs=12, patience=4)
    cfg["model"]["fitting"] = "holdout"
    cfg["evaluation"].update(n_boot=1000, baselines=["logistic"])
    if later:
        cfg["source"]["later"] = later
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


# a parent of its own for the command, so its peak RSS (the largest process of its tree) is its own
MEASURED = ("import resource, subprocess, sys\nr = subprocess.run(sys.argv[1:]).returncode\n"
            "print('PEAK_RSS_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(r)")


def _cmtl(args: list[str], env: dict) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one cmtl command."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", MEASURED, sys.executable, "-m", "flows.cli", *args], env=env,
                          cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"cmtl {' '.join(args)} failed:\n{(done.stdout + done.stderr)[-4000:]}")
    peak = next(int(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("PEAK_RSS_KB"))
    return seconds, peak / 1024, done.stdout


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--later-patients", type=int, default=82_000)
    args = ap.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "CMTL_WORKSPACE", "PREFECT_API_URL"):
        env.pop(key, None)
    with tempfile.TemporaryDirectory(prefix="cmtl-bench-monitor-") as tmp:
        ws = Path(tmp) / "workspace"
        base = _config(Path(tmp) / "base.yaml", ws, None)
        later = _config(Path(tmp) / "later.yaml", ws, {"n_patients": args.later_patients, "months": 12,
                                                       "outcome_noise": {"sepsis": 1.5}})
        _cmtl(["run", "-c", str(base)], env)
        _cmtl(["ingest", "-c", str(later)], env)
        snapshot = max((ws / "lake").iterdir(), key=lambda p: p.stat().st_mtime)
        seconds, peak_mb, out = _cmtl(["monitor", "-c", str(later), "--snapshot", str(snapshot)], env)
        found = json.loads(next((ws / "mlartifacts").rglob("monitoring.json")).read_text())
    heading = found["heading"]
    rows = {o: v["measures"]["known"] for o, v in found["verdicts"].items()}
    md = (f"| admissions monitored | known in the judged windows, per outcome | wall time | peak RSS |\n"
          f"|---|---|---|---|\n| {heading['rows']:,} | {', '.join(f'{o} {n:,}' for o, n in rows.items())} | "
          f"{seconds:.1f} s | {peak_mb:,.0f} MB |\n\nVerdicts (sepsis has an unmeasured cause in the later year): "
          + "; ".join(f"{o} {v['status']}" for o, v in found["verdicts"].items())
          + "\n\nTimed: the whole `cmtl monitor --snapshot` process (features of the extract, scoring, masking, "
            "windows, bootstrap CIs, the MLflow run); peak RSS of its process tree.\n")
    write("monitor", COMMAND + f" --later-patients {args.later_patients}", md,
          {"rows": heading["rows"], "wall_seconds": seconds, "peak_rss_mb": peak_mb,
           "verdicts": {o: v["status"] for o, v in found["verdicts"].items()}, "output": out[-2000:]})


if __name__ == "__main__":
    main()

"""The whole `cmtl run` at growing size: stage times, peak memory and growth exponents.

    .venv/bin/python -m bench.scale_run [--sizes 10000,100000,1000000]

Each size is the default config on the synthetic source (about 100 events per admission) in a fresh
workspace, run as a user would. Stage times come from Prefect's own log lines (a subflow's first and
last line; a task's time is the gap to the line before it finished): ingest, features, the multi-task
network, the single-task baselines (capped at evaluation.baseline_max_rows rows), stacking and the rest
of training, evaluation, registration. Peak RSS is the whole process tree's.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from bench.common import ROOT, table, write
from bench.scale import ADMISSIONS_PER_PATIENT, CHART_DENSITY, run
from bench.targets import EXPONENT_TARGET, MINUTES_TARGET, RSS_LIMIT_GIB, stage_exponents

LINE = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) \| \w+ +\| ((?:Flow|Task) run '[^']+') - (.*)$", re.M)
SUBFLOWS = {"ingest": "ingest", "features": "build_features", "train": "train", "evaluate": "evaluate",
            "register": "register_and_promote"}
TASKS = {"network": "Fit multi-task network", "baselines": "Fit single-task learners"}


def stage_seconds(log: str) -> dict[str, float]:
    """Seconds per stage from the run's Prefect log lines: (seconds of day, 'Flow run NAME', message)."""
    lines = [(3600 * int(h) + 60 * int(m) + float(s), who, text) for h, m, s, who, text in LINE.findall(log)]
    out = {}
    for stage, flow in SUBFLOWS.items():
        begin, who = next((ts, w) for ts, w, t in lines if f"for flow '{flow}'" in t and "Beginning" in t)
        end = next(ts for ts, w, t in lines if w == who and t.startswith("Finished in state"))
        out[stage] = (end - begin) % 86400
    for key, task in TASKS.items():
        i = next(i for i, (_, w, t) in enumerate(lines) if w.startswith(f"Task run '{task}") and "Finished" in t)
        out[key] = (lines[i][0] - lines[i - 1][0]) % 86400
    out["rest of train"] = out["train"] - out["network"] - out["baselines"]
    return out


def one_size(admissions: int, work: Path, env: dict) -> dict:
    cfg = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    cfg["workspace"] = str(work / "ws")
    cfg["source"].update(n_patients=round(admissions / ADMISSIONS_PER_PATIENT), chart_density=CHART_DENSITY)
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    result = run([str(Path(sys.executable).parent / "cmtl"), "run", "--config", str(path)], env)
    return {"admissions": admissions, "seconds": result["seconds"], "flow_seconds": result["flow_seconds"],
            "peak_rss_gib": result["peak_rss"] / 2**30, "stages": stage_seconds(result["output"]),
            "load_before": result["load_before"], "load_after": result["load_after"]}


def report(rows: list[dict], command: str) -> None:
    stages = list(rows[0]["stages"])
    body = table(["admissions", "wall s", "flow s", *[f"{s} s" for s in stages], "peak RSS GiB", "load before/after"],
                 [[f"{r['admissions']:,}", f"{r['seconds']:.0f}", f"{r['flow_seconds']:.0f}",
                   *[f"{r['stages'][s]:.1f}" for s in stages], f"{r['peak_rss_gib']:.2f}",
                   f"{r['load_before'][0]:.1f} / {r['load_after'][0]:.1f}"] for r in rows])
    notes = ""
    if len(rows) > 1:
        exps = stage_exponents(rows)
        notes += ("\n\nGrowth exponents (slope of log time vs log admissions over these sizes; target < "
                  f"{EXPONENT_TARGET}): " + ", ".join(f"{k} {v:.2f}" for k, v in exps.items()) + ".")
    big = rows[-1]
    notes += (f"\n\nLargest size: {big['seconds'] / 60:.1f} min wall (target < {MINUTES_TARGET} min), peak RSS "
              f"{big['peak_rss_gib']:.2f} GiB (limit {RSS_LIMIT_GIB} GiB). The machine has 2 cores; the load "
              "averages stand beside each row. Baselines are fitted on at most evaluation.baseline_max_rows "
              "labelled rows per outcome (stated in each run and model card).")
    write("scale_run", command, body + notes, {"rows": rows})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="admissions, comma-separated")
    args = ap.parse_args()
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "160"}
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        work = Path(tempfile.mkdtemp(prefix=f"cmtl-run-{size}-"))
        try:
            rows.append(one_size(size, work, env))
            print(rows[-1], flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    report(rows, "python -m bench.scale_run " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()

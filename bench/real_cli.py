"""`cmtl run` end to end on a public real cohort, timed over several runs.

    .venv/bin/python -m bench.real_cli [--cohort nwtco] [--repeats 3]

Each run is the whole pipeline (temporary Prefect server, MLflow store, registry) on the cohort as a
CSV with the default settings, as bench.real_data's `--cli` runs it once. The median wall time is the
figure to read against the two-minute target; the load average is recorded beside each run.
"""
from __future__ import annotations

import argparse
import os
import statistics

from bench.common import table, write
from bench.real_data import cli_time

TARGET_SECONDS = 120


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", default="nwtco")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    runs = []
    for _ in range(args.repeats):
        before = os.getloadavg()[0]
        runs.append({**cli_time(args.cohort), "load_before": before, "load_after": os.getloadavg()[0]})
        print(runs[-1], flush=True)
    if any(r["exit_code"] for r in runs):
        raise SystemExit(f"cmtl run failed: {runs}")
    median = statistics.median(r["seconds"] for r in runs)
    body = table(["run", "seconds", "load before / after"],
                 [[i + 1, f"{r['seconds']:.0f}", f"{r['load_before']:.1f} / {r['load_after']:.1f}"]
                  for i, r in enumerate(runs)])
    body += (f"\n\n`cmtl run` on `{args.cohort}` ({runs[0]['rows']:,} rows, 2 cores): median **{median:.0f} s** "
             f"over {len(runs)} runs (target < {TARGET_SECONDS} s: {'met' if median < TARGET_SECONDS else 'not met'}).")
    write("real_cli", f"python -m bench.real_cli --cohort {args.cohort} --repeats {args.repeats}", body,
          {"cohort": args.cohort, "rows": runs[0]["rows"], "runs": runs, "median_seconds": median,
           "target_seconds": TARGET_SECONDS})


if __name__ == "__main__":
    main()

"""Benchmark 4: wall time of one multi-task model for K outcomes vs K single-task networks of the same
size, trained to the same number of epochs, in one process run."""
from __future__ import annotations

import argparse

import numpy as np

from bench.common import Timer, load, table, write
from mtl_core.network.estimator import estimator_from_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    d = load()
    outcomes = d.cfg.outcomes
    k = len(outcomes)
    # fixed epochs (patience beyond the budget) so both sides do the same amount of work
    make = lambda: estimator_from_config(d.cfg).set_params(epochs=args.epochs, patience=args.epochs + 1)  # noqa: E731
    # warm-up: torch's first calls (allocator, kernels) would otherwise be charged to whoever goes first
    make().set_params(epochs=1).fit(d.X["train"].head(2000), d.Y["train"].head(2000), d.X["val"], d.Y["val"])
    # alternate the two sides and take medians, so drifting load on a shared machine hits both alike
    mtl_runs, single_runs = [], {o: [] for o in outcomes}
    for _ in range(args.repeats):
        with Timer() as t:
            make().fit(d.X["train"], d.Y["train"], d.X["val"], d.Y["val"])
        mtl_runs.append(t.seconds)
        for o in outcomes:
            with Timer() as t:
                make().fit(d.X["train"], d.Y["train"][[o]], d.X["val"], d.Y["val"][[o]])
            single_runs[o].append(t.seconds)
    median = lambda xs: float(np.median(xs))  # noqa: E731
    mtl_seconds = median(mtl_runs)
    singles = {o: median(v) for o, v in single_runs.items()}
    total = sum(singles.values())
    speedup = total / mtl_seconds
    rows = [["multi-task (K heads)", mtl_seconds]] + [[f"single-task: {o}", s] for o, s in singles.items()]
    rows.append([f"all {k} single-task networks", total])
    md = (table(["model", "seconds"], rows)
          + f"\n\nSpeed-up of one multi-task model over {k} single-task networks: **{speedup:.2f}x** "
          f"(target >= 0.8 x K = {0.8 * k:.1f}x; {'met' if speedup >= 0.8 * k else 'NOT met'}). "
          f"{args.epochs} epochs each, {len(d.X['train']):,} training rows, same trunk + head size; "
          f"median of {args.repeats} alternating repeats after a warm-up fit.\n")
    write("cost", f"python -m bench.cost --epochs {args.epochs} --repeats {args.repeats}", md,
          {"mtl_seconds": mtl_seconds, "single_seconds": singles, "speedup": speedup, "k": k,
           "target": 0.8 * k, "epochs": args.epochs, "runs": {"mtl": mtl_runs, "single": single_runs}})


if __name__ == "__main__":
    main()

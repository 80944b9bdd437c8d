"""Benchmark 4: wall time of one multi-task model for K outcomes vs K single-task networks of the same
size, trained to the same number of epochs, in one process run."""
from __future__ import annotations

import argparse

from bench.common import Timer, load, table, write
from mtl_core.estimator import estimator_from_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args()
    d = load()
    outcomes = d.cfg.outcomes
    k = len(outcomes)
    # fixed epochs (patience beyond the budget) so both sides do the same amount of work
    make = lambda: estimator_from_config(d.cfg).set_params(epochs=args.epochs, patience=args.epochs + 1)  # noqa: E731
    with Timer() as mtl:
        make().fit(d.X["train"], d.Y["train"], d.X["val"], d.Y["val"])
    singles = {}
    for o in outcomes:
        with Timer() as t:
            make().fit(d.X["train"], d.Y["train"][[o]], d.X["val"], d.Y["val"][[o]])
        singles[o] = t.seconds
    total = sum(singles.values())
    speedup = total / mtl.seconds
    rows = [["multi-task (K heads)", mtl.seconds]] + [[f"single-task: {o}", s] for o, s in singles.items()]
    rows.append([f"all {k} single-task networks", total])
    md = (table(["model", "seconds"], rows)
          + f"\n\nSpeed-up of one multi-task model over {k} single-task networks: **{speedup:.2f}x** "
          f"(target >= 0.8 x K = {0.8 * k:.1f}x; {'met' if speedup >= 0.8 * k else 'NOT met'}). "
          f"{args.epochs} epochs each, {len(d.X['train']):,} training rows, same trunk + head size.\n")
    write("cost", f"python -m bench.cost --epochs {args.epochs}", md,
          {"mtl_seconds": mtl.seconds, "single_seconds": singles, "speedup": speedup, "k": k,
           "target": 0.8 * k, "epochs": args.epochs})


if __name__ == "__main__":
    main()

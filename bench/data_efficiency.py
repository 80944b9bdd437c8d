"""Benchmark 3: the central claim of multi-task learning. Keep every label of the other outcomes and
only a fraction of one outcome's labels (train and validation); compare that outcome's test AUROC for
the multi-task model, a single-task network of the same size, and HistGradientBoosting."""
from __future__ import annotations

import argparse

import numpy as np

from bench.common import load, table, write
from mtl_core.baselines import fit_baselines
from mtl_core.estimator import estimator_from_config
from mtl_core.metrics import auroc


def thin(Y, outcome: str, fraction: float, seed: int):
    """Copy of Y with only `fraction` of `outcome`'s labels kept (the rest become unlabelled)."""
    Y = Y.copy()
    drop = np.random.default_rng(seed).random(len(Y)) >= fraction
    Y.loc[drop, outcome] = np.nan
    return Y


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outcome", default="aki")
    ap.add_argument("--fractions", default="0.02,0.05,0.10,0.25,1.0")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    d = load()
    o = args.outcome
    k = d.cfg.outcomes.index(o)
    y_test = d.Y["test"][o].to_numpy(float)
    net = d.cfg.model.model_dump() | d.cfg.train.model_dump()
    network_params = {key: net[key] for key in ("hidden", "head_hidden", "dropout", "epochs", "batch_size",
                                                "lr", "weight_decay", "patience", "seed")}
    rows, data = [], []
    for fraction in map(float, args.fractions.split(",")):
        scores = {"mtl": [], "single_task_net": [], "hist_gb": []}
        labelled = []
        for seed in range(args.seeds):
            Ytr, Yva = thin(d.Y["train"], o, fraction, seed), thin(d.Y["val"], o, fraction, 100 + seed)
            labelled.append(int(Ytr[o].notna().sum()))
            mtl = estimator_from_config(d.cfg).fit(d.X["train"], Ytr, d.X["val"], Yva)
            scores["mtl"].append(auroc(y_test, mtl.predict_proba(d.X["test"])[:, k]))
            base = fit_baselines(d.X["train"], Ytr[[o]], d.X["val"], Yva[[o]], d.X["test"], [o],
                                 network_params=network_params, kinds=("single_task_net", "hist_gb"), seed=seed)
            for kind in ("single_task_net", "hist_gb"):
                p = base[kind][o]
                scores[kind].append(auroc(y_test, p) if p is not None else None)
        mean = {kind: float(np.mean([v for v in vals if v is not None])) if any(v is not None for v in vals)
                else None for kind, vals in scores.items()}
        gap = mean["mtl"] - mean["single_task_net"] if mean["single_task_net"] is not None else None
        data.append({"fraction": fraction, "labelled_train": labelled, "auroc": scores, "mean": mean,
                     "mtl_minus_single_task_net": gap})
        rows.append([f"{fraction:.0%}", int(np.mean(labelled)), mean["mtl"], mean["single_task_net"],
                     mean["hist_gb"], gap])
        print(rows[-1], flush=True)
    at5 = next((r for r in data if abs(r["fraction"] - 0.05) < 1e-9), None)
    verdict = ""
    if at5 and at5["mtl_minus_single_task_net"] is not None:
        gap = at5["mtl_minus_single_task_net"]
        verdict = (f"\n\nAt 5% of {o} labels the multi-task model leads the single-task network by "
                   f"{gap:+.3f} AUROC (target >= +0.03: {'met' if gap >= 0.03 else 'NOT met'}).")
    md = (f"Outcome thinned: **{o}** (other outcomes keep all labels). Test AUROC on the full test split, "
          f"mean of {args.seeds} label subsamples.\n\n"
          + table(["labels kept", "labelled train rows", "multi-task", "single-task net", "HistGB",
                   "multi-task - single-task net"], rows) + verdict + "\n")
    write("data_efficiency", f"python -m bench.data_efficiency --outcome {o} --fractions {args.fractions} "
          f"--seeds {args.seeds}", md, {"outcome": o, "results": data})


if __name__ == "__main__":
    main()

"""Benchmark 3: the central claim of multi-task learning. Keep every label of the other outcomes and
only a fraction of one outcome's labels (train and validation); compare that outcome's test AUROC for
the multi-task model, a single-task network of the same size, and HistGradientBoosting."""
from __future__ import annotations

import argparse

import numpy as np

from bench.common import load, table, write
from mtl_core.ensemble.baselines import fit_baselines
from mtl_core.evaluation.metrics import auroc
from mtl_core.network.estimator import estimator_from_config


def thin(Y, outcome: str, fraction: float, seed: int):
    """Copy of Y with only `fraction` of `outcome`'s labels kept (the rest become unlabelled)."""
    Y = Y.copy()
    drop = np.random.default_rng(seed).random(len(Y)) >= fraction
    Y.loc[drop, outcome] = np.nan
    return Y


def auroc_se(a: float, pos: float, neg: float) -> float:
    """Hanley & McNeil (1982) standard error of an AUROC `a` measured on pos positives and neg negatives."""
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    return float(np.sqrt((a * (1 - a) + (pos - 1) * (q1 - a * a) + (neg - 1) * (q2 - a * a)) / (pos * neg)))


def _mean(values):
    kept = [v for v in values if v is not None]
    return float(np.mean(kept)) if kept else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outcome", default="aki")
    ap.add_argument("--fractions", default="0.02,0.05,0.10,0.25,1.0")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--compare-reduction", default="outcome",
                    help="also fit the multi-task model with this train.loss_reduction ('' = skip)")
    args = ap.parse_args()
    d = load()
    o = args.outcome
    k = d.cfg.outcomes.index(o)
    y_test = d.Y["test"][o].to_numpy(float)
    default = estimator_from_config(d.cfg)
    other = args.compare_reduction if args.compare_reduction not in ("", default.loss_reduction) else None
    net = d.cfg.model.model_dump() | d.cfg.train.model_dump()
    network_params = {key: net[key] for key in ("hidden", "head_hidden", "dropout", "epochs", "batch_size",
                                                "lr", "weight_decay", "patience", "seed")}
    rows, data = [], []
    for fraction in map(float, args.fractions.split(",")):
        scores = {"mtl": [], "single_task_net": [], "hist_gb": []} | ({"mtl_other": []} if other else {})
        labelled, val_pos, val_neg = [], [], []
        for seed in range(args.seeds):
            Ytr, Yva = thin(d.Y["train"], o, fraction, seed), thin(d.Y["val"], o, fraction, 100 + seed)
            labelled.append(int(Ytr[o].notna().sum()))
            val_pos.append(int((Yva[o] == 1).sum())), val_neg.append(int((Yva[o] == 0).sum()))
            mtl = estimator_from_config(d.cfg).fit(d.X["train"], Ytr, d.X["val"], Yva)
            scores["mtl"].append(auroc(y_test, mtl.predict_proba(d.X["test"])[:, k]))
            if other:
                alt = estimator_from_config(d.cfg).set_params(loss_reduction=other)
                scores["mtl_other"].append(auroc(y_test, alt.fit(d.X["train"], Ytr, d.X["val"], Yva)
                                                 .predict_proba(d.X["test"])[:, k]))
            base = fit_baselines(d.X["train"], Ytr[[o]], d.X["val"], Yva[[o]], d.X["test"], [o],
                                 network_params=network_params, kinds=("single_task_net", "hist_gb"), seed=seed)
            for kind in ("single_task_net", "hist_gb"):
                p = base[kind][o]
                scores[kind].append(auroc(y_test, p) if p is not None else None)
        mean = {kind: _mean(vals) for kind, vals in scores.items()}
        # paired by label subsample: both models saw the same labels
        gaps = [m - s for m, s in zip(scores["mtl"], scores["single_task_net"]) if s is not None]
        gap, gap_sd = (float(np.mean(gaps)), float(np.std(gaps, ddof=1)) if len(gaps) > 1 else None) \
            if gaps else (None, None)
        val_se = auroc_se(0.75, np.mean(val_pos), np.mean(val_neg)) if min(val_pos) > 0 else None
        sd = float(np.std(scores["mtl"], ddof=1)) if len(scores["mtl"]) > 1 else None
        data.append({"fraction": fraction, "labelled_train": labelled, "val_positives": val_pos,
                     "val_negatives": val_neg, "val_auroc_se_at_0.75": val_se, "auroc": scores, "mean": mean,
                     "mtl_sd": sd, "mtl_minus_single_task_net": gap, "gap_sd": gap_sd, "gaps": gaps})
        row = [f"{fraction:.0%}", int(np.mean(labelled)), f"{np.mean(val_pos):.0f} / {np.mean(val_neg):.0f}",
               val_se, mean["mtl"], sd]
        row += [mean["mtl_other"]] if other else []
        row += [mean["single_task_net"], mean["hist_gb"],
                None if gap is None else f"{gap:+.3f} ± {gap_sd or 0:.3f}"]
        rows.append(row)
        print(rows[-1], flush=True)
    at5 = next((r for r in data if abs(r["fraction"] - 0.05) < 1e-9), None)
    verdict = ""
    if at5 and at5["mtl_minus_single_task_net"] is not None:
        gap = at5["mtl_minus_single_task_net"]
        verdict = (f"\n\nAt 5% of {o} labels the multi-task model leads the single-task network by "
                   f"{gap:+.3f} AUROC (target >= +0.03: {'met' if gap >= 0.03 else 'NOT met'}).")
    header = ["labels kept", "labelled train rows", "val positives / negatives", "SE of val AUROC",
              f"multi-task ({default.loss_reduction})", "sd"]
    header += [f"multi-task ({other})"] if other else []
    header += ["single-task net", "HistGB", "multi-task - single-task net (mean ± sd)"]
    md = (f"Outcome thinned: **{o}** (other outcomes keep all labels; the validation split keeps the same "
          f"fraction of {o} labels, as a user with few labels would have). Test AUROC on the full test split, "
          f"mean of {args.seeds} label subsamples; model seeds fixed. Multi-task columns name "
          "`train.loss_reduction`; the gap column is paired by subsample. SE of val AUROC: Hanley-McNeil "
          f"standard error of an AUROC of 0.75 on that many validation labels, i.e. how noisy anything "
          f"selected on {o}'s validation AUROC is.\n\n" + table(header, rows) + verdict + "\n")
    command = (f"python -m bench.data_efficiency --outcome {o} --fractions {args.fractions} --seeds {args.seeds}"
               f" --compare-reduction '{args.compare_reduction}'")
    write("data_efficiency", command, md, {"outcome": o, "compare_reduction": other, "results": data})


if __name__ == "__main__":
    main()

"""Why benchmark 3 has a ceiling: how much of one outcome's true risk the other outcomes carry.

On the synthetic source the true probabilities are known. The best linear combination of the other
outcomes' true logits bounds what sharing can transfer to the thinned outcome; a linear probe on a trunk
trained without any of its labels shows how much of that bound the network actually reaches.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch
from sklearn.linear_model import LinearRegression, LogisticRegression

from bench.common import load, table, write
from bench.data_efficiency import thin
from mtl_core.evaluation.metrics import auroc
from mtl_core.network.estimator import estimator_from_config

PROBE_C = (0.01, 0.1, 1.0)   # picked on the thinned validation labels, as a user would


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--outcome", default="aki")
    ap.add_argument("--fractions", default="0.02,0.05,0.10")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    d = load()
    o = args.outcome
    k = d.cfg.outcomes.index(o)
    y = d.Y["test"][o].to_numpy(float)
    ok = ~np.isnan(d.truth).any(1) & ~np.isnan(y)
    Z = np.log(d.truth[ok] / (1 - d.truth[ok]))
    others = [j for j in range(Z.shape[1]) if j != k]
    fit = LinearRegression().fit(Z[:, others], Z[:, k])
    bound, ceiling = auroc(y[ok], fit.predict(Z[:, others])), auroc(y[ok], Z[:, k])
    truth_rows = [[d.cfg.outcomes[j], float(np.corrcoef(Z[:, k], Z[:, j])[0, 1]), auroc(y[ok], Z[:, j])]
                  for j in others]
    # trunk trained on the other outcomes only, then logistic regression on its features
    Y0, Yv0 = d.Y["train"].copy(), d.Y["val"].copy()
    Y0[o], Yv0[o] = np.nan, np.nan
    est = estimator_from_config(d.cfg).fit(d.X["train"], Y0, d.X["val"], Yv0)
    with torch.no_grad():
        F = {s: est.network_.trunk(torch.tensor(est._transform(d.X[s]))).numpy() for s in ("train", "val", "test")}
    probe_rows, probe = [], []
    for fraction in map(float, args.fractions.split(",")):
        scores = []
        for seed in range(args.seeds):
            Ytr, Yva = thin(d.Y["train"], o, fraction, seed), thin(d.Y["val"], o, fraction, 100 + seed)
            m, mv = Ytr[o].notna().to_numpy(), Yva[o].notna().to_numpy()
            fits = [LogisticRegression(C=c, max_iter=3000).fit(F["train"][m], Ytr[o][m]) for c in PROBE_C]
            val = [auroc(Yva[o][mv].to_numpy(), f.predict_proba(F["val"][mv])[:, 1]) or 0.0 for f in fits]
            scores.append(auroc(y, fits[int(np.argmax(val))].predict_proba(F["test"])[:, 1]))
        probe.append({"fraction": fraction, "auroc": scores})
        probe_rows.append([f"{fraction:.0%}", float(np.mean(scores)), float(np.std(scores, ddof=1))])
    r2 = float(fit.score(Z[:, others], Z[:, k]))
    md = (f"Outcome: **{o}**, test split. Its true-probability AUROC (the ceiling) is {ceiling:.3f}. The other "
          f"outcomes' true logits explain R^2 = {r2:.2f} of its true logit; their best linear combination ranks "
          f"{o} at AUROC **{bound:.3f}**: what sharing can transfer from the other outcomes' labels. The rest "
          f"({ceiling - bound:.3f} AUROC) is {o}-specific and must come from its own labels, which the "
          "single-task network has too.\n\n"
          + table(["other outcome", f"corr. of true logits with {o}", f"its true logit's AUROC for {o}"],
                  truth_rows)
          + f"\n\nLinear probe: logistic regression (C from {PROBE_C} on the thinned validation labels) on the "
          f"trunk of a multi-task model trained with no {o} labels, fitted on the thinned {o} training labels "
          f"(mean ± sd over {args.seeds} subsamples, same subsamples as bench.data_efficiency):\n\n"
          + table(["labels kept", "probe test AUROC", "sd"], probe_rows) + "\n")
    write("transfer_bound", f"python -m bench.transfer_bound --outcome {o} --fractions {args.fractions} "
          f"--seeds {args.seeds}", md, {"outcome": o, "ceiling": ceiling, "bound": bound, "r2": r2,
                                        "others": truth_rows, "probe": probe})


if __name__ == "__main__":
    main()

"""Would repeated cross-fitting help the small cohorts? A measured answer, judged over cohorts.

    .venv/bin/python -m bench.repeat_crossfit [--cohorts colon,pbc] [--repeats 2] [--vary folds|seeds]

On a cross-fitted cohort the stack learns its weights from one set of out-of-fold predictions, and each
member is a bag of 5 fold models. Repeating the cross-fitting with other fold assignments (R times)
averages R out-of-fold logits per row (steadier weights) and bags 5R fold models (steadier members), at
R times the fit time. Here, per cohort and split seed of bench.peers: cmtl's default fit (`single`),
then R-1 more fits whose folds come from other seeds, the members merged (out-of-fold logits averaged,
fold models pooled) and stacked again by mtl_core's own stack() (`repeated`); `mtl` columns are the
network member alone. Same test rows, same metric code. Result: bench/results/repeat_crossfit.md.

With --vary seeds the folds stay and each repeat changes the training seed instead (the networks'
initialisation and batches, the boosting members' early-stopping rows): R models per fold, so each
row's out-of-fold prediction is itself a bag of R, closer to the bag of 5R that predicts the test rows
(bench/results/repeat_crossfit_seeds.md).
"""
from __future__ import annotations

import argparse
import sys
import time
from unittest import mock

import numpy as np
import pandas as pd

from bench.cohorts import ALL_COHORTS
from bench.common import write
from bench.real_data import cohort_config
from mtl_core.config import Config
from mtl_core.dataset.features import model_columns
from mtl_core.dataset.structure import OutcomeStructure, attach
from mtl_core.ensemble import fitting
from mtl_core.ensemble.members import Member
from mtl_core.ensemble.stacked import stack
from mtl_core.ensemble.stacking import logit
from mtl_core.evaluation.metrics import auroc
from mtl_core.sources import tabular

SMALL = ("colon", "pbc", "mgus", "aids", "nhefs", "rotterdam")  # the cross-fitted cohorts of bench.peers
FOLD_SEED_STEP = 7919


def merged(fits: list[fitting.Fitted]) -> list[Member]:
    """One member per kind fitted in every repeat: mean out-of-fold logit, every fold model."""
    kinds = [m.kind for m in fits[0].members if all(any(x.kind == m.kind for x in f.members) for f in fits)]
    out = []
    for kind in kinds:
        ms = [next(m for m in f.members if m.kind == kind) for f in fits]
        held = 1.0 / (1.0 + np.exp(-np.mean([logit(m.held) for m in ms], axis=0)))
        out.append(Member(kind, ms[0].outcomes, [x for m in ms for x in m.fits], held))
    return out


def run(name: str, seed: int, repeats: int, vary: str = "folds") -> list[dict]:
    cfg = Config.model_validate(cohort_config(name, seed))
    f, labels = tabular.build_dataset({"tabular": ALL_COHORTS[name].load()}, cfg)
    cols, outcomes = model_columns(f), cfg.outcomes
    fits, seconds, plan_folds = [], [], fitting.plan_folds
    for r in range(repeats):
        def shifted(*a, seed: int = 0, _r: int = r, **k):  # the same rule, folds of another seed
            return plan_folds(*a, seed=seed + FOLD_SEED_STEP * _r, **k)

        run_cfg = cfg if vary == "folds" or r == 0 else cfg.model_copy(
            update={"train": cfg.train.model_copy(update={"seed": cfg.train.seed + FOLD_SEED_STEP * r})})
        with mock.patch.object(fitting, "plan_folds", shifted if vary == "folds" else plan_folds):
            start = time.perf_counter()
            fits.append(fitting.fit_model(run_cfg, f, labels))
            seconds.append(time.perf_counter() - start)
    if fits[0].plan.mode != "crossfit":
        raise SystemExit(f"{name}: a holdout cohort; repeated cross-fitting does not apply")
    rows = fitting.split_rows(f)
    tv = rows["train"] | rows["val"]
    members = merged(fits)
    model = attach(stack(members, labels[outcomes][tv], fits[0].plan, index=f.index[tv]),
                   OutcomeStructure.from_config(cfg))
    test = (f["split"] == "test").to_numpy()
    X, Y = f.loc[test, cols], labels.loc[test, outcomes].to_numpy(float)
    P = {"single": fits[0].model.predict_proba(X), "repeated": model.predict_proba(X),
         "mtl_single": fits[0].members[0].predict_proba(X), "mtl_repeated": members[0].predict_proba(X)}
    return [{"cohort": name, "seed": seed, "outcome": o, **{k: auroc(Y[:, j], p[:, j]) for k, p in P.items()},
             "seconds_single": seconds[0], "seconds_repeated": sum(seconds)} for j, o in enumerate(outcomes)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cohorts", default=",".join(SMALL))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--vary", choices=("folds", "seeds"), default="folds")
    args = ap.parse_args()
    df = pd.DataFrame([r for name in args.cohorts.split(",") for s in args.seeds.split(",")
                       for r in run(name, int(s), args.repeats, args.vary)])
    d = df["repeated"] - df["single"]
    by = df.groupby(["cohort", "outcome"], sort=False)[["single", "repeated", "mtl_single", "mtl_repeated"]].mean()
    secs = df.groupby(["cohort", "seed"])[["seconds_single", "seconds_repeated"]].first().sum()
    lines = [f"{len(df)} outcome-seeds, {df['cohort'].nunique()} cross-fitted cohorts, {args.repeats} repeats "
             f"varying the {'fold assignment' if args.vary == 'folds' else 'training seed (same folds)'}; test AUROC.",
             "", f"- repeated - single: mean {d.mean():+.4f}, worst {d.min():+.4f}, best {d.max():+.4f}; "
             f"better on {int((d > 0).sum())} of {len(d)} outcome-seeds",
             f"- network member alone, repeated - single: {(df['mtl_repeated'] - df['mtl_single']).mean():+.4f}",
             f"- fit time summed: {secs['seconds_single']:.0f} s single, {secs['seconds_repeated']:.0f} s repeated", "",
             "| cohort | outcome | single | repeated | repeated - single | mtl single | mtl repeated |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {c} | {o} | {r['single']:.4f} | {r['repeated']:.4f} | {r['repeated'] - r['single']:+.4f} | "
              f"{r['mtl_single']:.4f} | {r['mtl_repeated']:.4f} |" for (c, o), r in by.iterrows()]
    name = "repeat_crossfit" if args.vary == "folds" else "repeat_crossfit_seeds"
    write(name, "python -m bench.repeat_crossfit " + " ".join(sys.argv[1:]), "\n".join(lines),
          {"rows": df.to_dict("records")})


if __name__ == "__main__":
    main()

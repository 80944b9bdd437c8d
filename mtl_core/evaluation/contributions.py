"""Per-patient explanations: the few predictors that raised or lowered one patient's risk, additive in the
model's logit.

Baseline Shapley values (Sundararajan & Najmi 2020, "The many Shapley values for model explanation") of
the registered model's logit per outcome, against one reference patient: the model's input example (the
training split's medians and modes). Along an ordering of the predictors, each predictor in turn takes
the patient's value instead of the reference's; its contribution is the change of the logit at that
step. Averaged over antithetic orderings (each with its reverse), as shap's PermutationExplainer does,
and computed here for a whole batch of patients per model call (the calls' fixed cost dominates at this
model's size). The steps telescope, so for every patient and outcome the contributions add up to
logit(patient) - logit(reference) exactly, whatever the model is: the stacked ensemble, its calibration
and the outcome-structure projection included. An event item's aggregates move together, as in the
global explanations (mtl_core/evaluation/explain.py).

Explanations describe the model, not causes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mtl_core.evaluation.explain import _logit, _representative

BATCH_ROWS = 120_000  # rows per model call


@dataclass
class Contributions:
    values: np.ndarray        # (rows, predictors, outcomes), in logit units
    logit: np.ndarray         # (rows, outcomes): the model's logit of each patient
    reference: np.ndarray     # (outcomes,): its logit of the reference patient
    predictors: list[str]
    rest: np.ndarray | None = None  # (rows, outcomes): the part of logit - reference no predictor carries


def _as_reference(reference: pd.DataFrame, X: pd.DataFrame) -> pd.DataFrame:
    ref = reference[list(X.columns)].iloc[[0]].reset_index(drop=True)
    for c in X.columns:  # the reference in the input's dtypes, so a batch mixes like with like
        if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c]):
            ref[c] = pd.to_numeric(ref[c], errors="coerce").astype(float)
    return ref


def baseline_shapley(predict_proba: Callable[[pd.DataFrame], np.ndarray], X: pd.DataFrame,
                     reference: pd.DataFrame, groups: dict[str, list[str]], orderings: int = 4,
                     seed: int = 0) -> Contributions:
    """Contributions of each predictor group to each row's logit, relative to the reference row."""
    X = X.reset_index(drop=True)
    for c in X.columns:
        if pd.api.types.is_integer_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c]):
            X[c] = X[c].astype(float)
    ref = _as_reference(reference, X)
    names = list(groups)
    G, n = len(names), len(X)
    rng = np.random.default_rng(seed)
    orders: list[np.ndarray] = []
    while len(orders) < max(2, orderings):
        o = rng.permutation(G)
        orders += [o, o[::-1]]  # antithetic pairs: first and last place for every predictor, evenly
    ref_logit = _logit(predict_proba(ref))[0]
    values = np.zeros((n, G, len(ref_logit)))
    logit = np.empty((n, len(ref_logit)))
    per_chunk = max(1, BATCH_ROWS // (G * len(orders)))
    for start in range(0, n, per_chunk):
        part = X.iloc[start:start + per_chunk].reset_index(drop=True)
        m = len(part)
        frames = []
        for o in orders:
            state = pd.concat([ref] * m, ignore_index=True)
            for g in o:  # one frame per step: the first g predictors of the ordering take the patient's values
                for c in groups[names[g]]:
                    state[c] = part[c].to_numpy()
                frames.append(state.copy())
        L = _logit(predict_proba(pd.concat(frames, ignore_index=True))).reshape(len(orders), G, m, -1)
        for i, o in enumerate(orders):
            steps = np.diff(np.concatenate([np.broadcast_to(ref_logit, (1, m, len(ref_logit))), L[i]]), axis=0)
            values[start:start + m][:, o] += steps.transpose(1, 0, 2)
        logit[start:start + m] = L[0, -1]  # every predictor set: the patient itself
    values /= len(orders)
    return Contributions(values, logit, ref_logit, names)


def _describers(X: pd.DataFrame, reference: pd.DataFrame, groups: dict[str, list[str]], names: list[str]):
    """Per predictor, a function row -> its value in words, the column's kind worked out once."""
    out = []
    for name in names:
        col = _representative(X, groups[name]) or groups[name][0]
        values, r = X[col].to_numpy(), reference[col].iloc[0]
        numeric = pd.api.types.is_numeric_dtype(X[col])
        flag = pd.api.types.is_bool_dtype(X[col]) or (numeric and set(pd.unique(X[col].dropna())) <= {0, 1})

        def text(row, col=col, values=values, r=r, numeric=numeric, flag=flag) -> str:
            v = values[row]
            if pd.isna(v):
                return f"{col} not measured"
            if flag:
                return f"{col} {'yes' if v else 'no'}"
            if numeric:
                level = "high" if v > r else "low" if v < r else "typical"
                return f"{col} {v:.3g} ({level}; typical {float(r):.3g})"
            return f"{col} = {v}"
        out.append(text)
    return out


def top_factors(c: Contributions, X: pd.DataFrame, reference: pd.DataFrame, groups: dict[str, list[str]],
                outcomes: list[str], k: int) -> pd.DataFrame:
    """Per outcome, k columns `<outcome>_why_<i>`: the predictors that moved the patient's risk most from
    the reference patient's, in plain words, e.g. "lactate_mean 4.1 (high; typical 1.4): +6.0 points".

    Points share the change in risk (percentage points, patient - reference) in proportion to each
    predictor's logit contribution, so a patient's points add up to that change too."""
    X = X.reset_index(drop=True)
    p, p0 = 1 / (1 + np.exp(-c.logit)), 1 / (1 + np.exp(-c.reference))
    total = c.values.sum(1) + (0 if c.rest is None else c.rest)        # (rows, outcomes)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(np.abs(total) > 1e-9, (p - p0) / total, p * (1 - p))  # points per logit unit
    describe = _describers(X, reference, groups, c.predictors)
    out: dict[str, list[str]] = {}
    for j, outcome in enumerate(outcomes):
        order = np.argsort(-np.abs(c.values[:, :, j]), axis=1)[:, :k]
        cols = [[] for _ in range(k)]
        for row in range(len(X)):
            for i, g in enumerate(order[row]):
                points = 100 * c.values[row, g, j] * scale[row, j]
                cols[i].append(f"{describe[g](row)}: {points:+.1f} points")
        out.update({f"{outcome}_why_{i + 1}": cols[i] for i in range(k)})
    return pd.DataFrame(out)

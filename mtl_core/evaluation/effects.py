"""The shape of each important number predictor's effect: partial dependence of every outcome's risk on
it, on held-out rows, never test rows.

For each outcome, its most important number predictors (permutation importance, interval above zero;
an event item by its mean, or its first aggregate) are set in turn to each point of a grid of quantiles
from the 5th to the 95th percentile on those rows, and the registered model's risks are averaged over the
rows (Friedman's partial dependence, as scikit-learn's `partial_dependence(kind="average")` computes it;
here every predictor's every grid point goes through the model in one call, which costs a tenth of one
call per grid point on the stacked model). A curve describes the model, not a cause.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def representative(X: pd.DataFrame, cols: list[str]) -> str | None:
    """The column whose change gives the direction: the first number that is not a count."""
    numbers = [c for c in cols if pd.api.types.is_numeric_dtype(X[c])]  # flags (bool) too
    plain = [c for c in numbers if not c.endswith("_count")]
    found = plain or numbers
    return found[0] if found else None


def chosen(explanations: dict, X: pd.DataFrame, groups: dict[str, list[str]], per_outcome: int
           ) -> dict[str, list[str]]:
    """Outcome -> the model columns of its top `per_outcome` clearly important number predictors."""
    out: dict[str, list[str]] = {}
    for outcome, rows in explanations["outcomes"].items():
        picked: list[str] = []
        for r in rows:
            clear = (r["lo"] if r.get("lo") is not None else r["loss_increase"]) > 0
            cols = groups.get(r["predictor"], [])
            col = representative(X, cols) if cols else None
            if clear and col is not None and pd.api.types.is_numeric_dtype(X[col]) \
                    and not pd.api.types.is_bool_dtype(X[col]) and X[col].nunique() > 2:
                picked.append(col)
            if len(picked) == per_outcome:
                break
        out[outcome] = picked
    return out


def grid_of(values: pd.Series, points: int) -> np.ndarray:
    """Quantiles from the 5th to the 95th percentile (the distinct values when there are fewer)."""
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)
    distinct = np.unique(v)
    if len(distinct) <= points:
        return distinct
    return np.unique(np.quantile(v, np.linspace(0.05, 0.95, points)))


def effect_shapes(predict_proba, X: pd.DataFrame, outcomes: list[str], explanations: dict,
                  groups: dict[str, list[str]], per_outcome: int = 4, max_rows: int = 300, grid: int = 12,
                  seed: int = 0) -> dict:
    """{"rows", "per_outcome": {outcome: [columns]}, "curves": {column: {"grid": [...], outcome: [risk...]}}}."""
    picks = chosen(explanations, X, groups, per_outcome)
    rows = X if len(X) <= max_rows else X.sample(max_rows, random_state=seed)
    rows = rows.reset_index(drop=True)
    cols = list(dict.fromkeys(c for cs in picks.values() for c in cs))
    grids = {c: grid_of(rows[c], grid) for c in cols}
    frames = []
    for c in cols:
        for value in grids[c]:
            frame = rows.copy()
            frame[c] = value
            frames.append(frame)
    curves = {}
    if frames:
        P = np.asarray(predict_proba(pd.concat(frames, ignore_index=True)), dtype=float)
        at = 0
        for c in cols:
            g = len(grids[c])
            avg = P[at:at + g * len(rows)].reshape(g, len(rows), -1).mean(1)  # (grid, outcomes)
            at += g * len(rows)
            curves[c] = {"grid": [float(v) for v in grids[c]], **{o: [float(v) for v in avg[:, k]]
                                                                   for k, o in enumerate(outcomes)}}
    return {"rows": len(rows), "per_outcome": picks, "curves": curves}

"""Decision curve analysis (Vickers & Elkin 2006): net benefit of acting on a model across threshold
probabilities, against treating everyone and treating no one.

At threshold probability t a clinician is willing to treat (1 - t) / t patients without the outcome
to treat one with it, so a false positive costs t / (1 - t) true positives:
    net benefit(t) = TP / n - FP / n * t / (1 - t)
Treat-none scores 0 everywhere; treat-all scores prevalence - (1 - prevalence) * t / (1 - t). A
model is useful at t only where its net benefit beats both.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def thresholds(start: float, stop: float, step: float) -> np.ndarray:
    """The threshold grid [start, stop] by step (stop included when on the grid), rounded to 1e-6."""
    if not 0 < start < stop < 1 or step <= 0:
        raise ValueError(f"decision curve range must satisfy 0 < start < stop < 1 and step > 0, got "
                         f"{start}, {stop}, {step}")
    return np.round(np.arange(start, stop + step / 2, step), 6)


def net_benefit(y, p, ts) -> np.ndarray:
    """Net benefit of flagging p >= t, for every t in ts, over the labelled rows of y."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    keep = ~np.isnan(y)
    y, p = y[keep], p[keep]
    ts = np.asarray(ts, float)
    n = y.size
    if n == 0:
        return np.full(ts.shape, np.nan)
    flagged = p[None, :] >= ts[:, None]
    tp = (flagged & (y == 1)).sum(axis=1)
    fp = (flagged & (y == 0)).sum(axis=1)
    return tp / n - fp / n * ts / (1 - ts)


def treat_all(y, ts) -> np.ndarray:
    """Net benefit of flagging every patient."""
    y = np.asarray(y, float)
    y = y[~np.isnan(y)]
    ts = np.asarray(ts, float)
    prevalence = y.mean() if y.size else np.nan
    return prevalence - (1 - prevalence) * ts / (1 - ts)


def decision_curve(y, p, ts, baseline: tuple[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per threshold: net benefit of the model, treat-all, treat-none and (given) the best
    single-task baseline, and whether the model beats both defaults there."""
    ts = np.asarray(ts, float)
    table = pd.DataFrame({"threshold": ts, "model": net_benefit(y, p, ts), "treat_all": treat_all(y, ts),
                          "treat_none": np.zeros(ts.size)})
    if baseline is not None:
        table["baseline"] = net_benefit(y, baseline[1], ts)
        table["baseline_name"] = baseline[0]
    table["model_useful"] = table["model"] > np.maximum(table["treat_all"], table["treat_none"])
    return table


def useful_range(table: pd.DataFrame) -> tuple[float, float] | None:
    """(lowest, highest) threshold where the model beats treat-all and treat-none; None if nowhere."""
    useful = table.loc[table["model_useful"], "threshold"]
    return None if useful.empty else (float(useful.min()), float(useful.max()))

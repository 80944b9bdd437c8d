"""Operating points: a threshold per outcome chosen on validation rows, and the test metrics at it.

A patient is flagged when the predicted probability is at or above the threshold. The threshold is
chosen on validation predictions by one of these rules (config `evaluation.operating_points`):

- `max_f1` (the default): the threshold with the highest F1, the balance of sensitivity and PPV.
  It weighs missed cases against the false alarms the team actually sees; Youden's rule ignores
  how rare the outcome is and, for a 5% outcome, typically flags a third of all patients.
- `youden`: highest sensitivity + specificity - 1.
- `sensitivity`: the highest threshold whose sensitivity is at least `target` (fewest alerts that
  still catch that share of cases).
- `specificity`: the lowest threshold whose specificity is at least `target`.
- `ppv`: the lowest threshold whose PPV is at least `target` (most cases caught at that precision).
- `alert_rate`: the lowest threshold that flags at most `target` of patients.

Ties in the criterion go to the higher threshold (fewer alerts). Test rows are only ever scored at
the chosen threshold, never used to choose it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from mtl_core.evaluation.metrics import labelled

RULES = ("max_f1", "youden", "sensitivity", "specificity", "ppv", "alert_rate")
TARGETED = ("sensitivity", "specificity", "ppv", "alert_rate")
METRICS = ("sensitivity", "specificity", "ppv", "npv", "f1", "accuracy", "alert_rate")


@dataclass
class OperatingPoint:
    """The threshold of one outcome, the rule that chose it and the validation metrics at it."""
    outcome: str
    rule: str
    target: float | None
    threshold: float | None            # None: no threshold could be chosen (see reason)
    reason: str | None = None
    validation: dict | None = None     # metric -> value on the validation rows at the threshold

    def to_dict(self) -> dict:
        return asdict(self)


def confusion(y, p, threshold: float) -> tuple[int, int, int, int]:
    """(TP, FP, FN, TN) on labelled rows when flagging p >= threshold."""
    y, p = labelled(y, p)
    flag = p >= threshold
    tp = int((flag & (y == 1)).sum())
    fp = int((flag & (y == 0)).sum())
    fn = int((~flag & (y == 1)).sum())
    return tp, fp, fn, int(y.size) - tp - fp - fn


def rates(tp, fp, fn, tn) -> dict:
    """Every threshold metric from confusion counts (scalars or arrays); a ratio with nothing under it
    is NaN (e.g. PPV when nobody is flagged)."""
    tp, fp, fn, tn = (np.asarray(v, float) for v in (tp, fp, fn, tn))
    n = tp + fp + fn + tn
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"sensitivity": tp / (tp + fn), "specificity": tn / (tn + fp), "ppv": tp / (tp + fp),
                "npv": tn / (tn + fn), "f1": 2 * tp / (2 * tp + fp + fn), "accuracy": (tp + tn) / n,
                "alert_rate": (tp + fp) / n}


def threshold_metrics(y, p, threshold: float) -> dict:
    """Sensitivity, specificity, PPV, NPV, F1, accuracy and alert rate at a threshold (None where a
    ratio is undefined), with the confusion counts."""
    tp, fp, fn, tn = confusion(y, p, threshold)
    out = {k: _num(v) for k, v in rates(tp, fp, fn, tn).items()}
    return {**out, "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def _num(v) -> float | None:
    v = float(v)
    return None if np.isnan(v) else v


def _candidates(y: np.ndarray, p: np.ndarray):
    """Every distinct score as a threshold (descending) and the counts when flagging p >= it."""
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    last = np.r_[ps[1:] != ps[:-1], True]  # the last row of each run of equal scores
    tp = np.cumsum(ys)[last]
    fp = np.cumsum(1 - ys)[last]
    pos, neg = ys.sum(), ys.size - ys.sum()
    return ps[last], tp, fp, pos - tp, neg - fp


def choose_threshold(y, p, rule: str = "max_f1", target: float | None = None,
                     outcome: str = "") -> OperatingPoint:
    """The operating point of one outcome from validation labels y (NaN = unlabelled) and
    probabilities p; threshold None with a reason when both classes are not present or the target
    cannot be met."""
    if rule not in RULES:
        raise ValueError(f"unknown operating point rule {rule!r} (known: {', '.join(RULES)})")
    if rule in TARGETED and (target is None or not 0 < target <= 1):
        raise ValueError(f"operating point rule {rule!r} needs a target in (0, 1], got {target}")
    y, p = labelled(y, p)
    point = OperatingPoint(outcome, rule, target if rule in TARGETED else None, None)
    pos = int(y.sum())
    if y.size == 0 or pos in (0, y.size):
        point.reason = f"not estimable on validation: n={y.size}, positives={pos}"
        return point
    t, tp, fp, fn, tn = _candidates(y, p)
    m = rates(tp, fp, fn, tn)
    i = _pick(rule, target, t, m)
    if i is None:
        point.reason = f"no validation threshold reaches {rule} {target}"
        return point
    point.threshold = float(t[i])
    point.validation = threshold_metrics(y, p, point.threshold)
    return point


def _pick(rule: str, target, t: np.ndarray, m: dict) -> int | None:
    """Index of the chosen threshold among the descending candidates t (metrics m per candidate)."""
    if rule in ("max_f1", "youden"):
        score = m["f1"] if rule == "max_f1" else m["sensitivity"] + m["specificity"] - 1
        return int(np.nanargmax(score))  # first maximum = highest threshold: fewest alerts
    ok = {"sensitivity": m["sensitivity"] >= target - 1e-12,
          "specificity": m["specificity"] >= target - 1e-12,
          "ppv": np.nan_to_num(m["ppv"]) >= target - 1e-12,
          "alert_rate": m["alert_rate"] <= target + 1e-12}[rule]
    hits = np.flatnonzero(ok)
    if hits.size == 0:
        return None
    # sensitivity: highest threshold still meeting it; the others: lowest threshold meeting it
    return int(hits[0]) if rule == "sensitivity" else int(hits[-1])


def bootstrap_metrics(y, p, threshold: float, n_boot: int = 1000, seed: int = 0,
                      level: float = 0.95) -> dict:
    """Percentile CIs of every threshold metric at a fixed threshold, resampling rows with
    replacement: the counts of (TP, FP, FN, TN) in a resample of n rows are multinomial with the
    observed shares, so resamples cost nothing per row. A resample where a ratio is undefined is left
    out of that ratio's interval. metric -> (low, high), (None, None) when nothing is left."""
    tp, fp, fn, tn = confusion(y, p, threshold)
    n = tp + fp + fn + tn
    out = {k: (None, None) for k in METRICS}
    if n == 0 or n_boot <= 0:
        return out
    counts = np.random.default_rng(seed).multinomial(n, np.array([tp, fp, fn, tn]) / n, size=n_boot)
    tail = 100 * (1 - level) / 2
    for k, values in rates(*counts.T).items():
        values = values[~np.isnan(values)]
        if values.size:
            lo, hi = np.percentile(values, [tail, 100 - tail])
            out[k] = (float(lo), float(hi))
    return out


def evaluate_point(y, p, point: OperatingPoint, n_boot: int = 1000, seed: int = 0,
                   level: float = 0.95) -> dict:
    """Test metrics at a validation-chosen operating point, each with `<metric>_ci_low/high`."""
    row = {"outcome": point.outcome, "rule": point.rule, "target": point.target,
           "threshold": point.threshold, "reason": point.reason, "validation": point.validation}
    if point.threshold is None:
        return row
    row.update(threshold_metrics(y, p, point.threshold))
    for k, (lo, hi) in bootstrap_metrics(y, p, point.threshold, n_boot, seed, level).items():
        row[f"{k}_ci_low"], row[f"{k}_ci_high"] = lo, hi
    return row


def with_flags(proba: pd.DataFrame, thresholds: dict[str, float | None]) -> pd.DataFrame:
    """The probability frame with a 0/1 `<outcome>_flag` column right after each outcome that has a
    threshold (flag = probability >= threshold); outcomes without one keep their probability only."""

    columns = {}
    for name in proba.columns:
        columns[name] = proba[name]
        t = thresholds.get(str(name))
        if t is not None:
            columns[f"{name}_flag"] = (proba[name].to_numpy(float) >= t).astype("int64")
    return pd.DataFrame(columns, index=proba.index)

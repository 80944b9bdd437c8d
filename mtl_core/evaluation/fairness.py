"""Subgroups with uncertainty: AUROC with a bootstrap CI, calibration intercept and slope per group, and
the gaps in true- and false-positive rate between groups at the operating point (fairlearn MetricFrame).

Gaps are taken over the groups with at least `min_events` positives (TPR) or negatives (FPR): a rate
from a handful of patients says little, so smaller groups are listed but not in the gap. The CI of a
gap resamples rows within each group (the group sizes stay fixed).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, false_positive_rate, true_positive_rate

from mtl_core.evaluation.bootstrap import fast_auroc_ap, percentile_ci, stratified_bootstrap
from mtl_core.evaluation.metrics import _group_masks, _reason, calibration_slope_intercept, labelled
from mtl_core.evaluation.operating_points import confusion


def subgroup_rows(y, p, groups: pd.DataFrame, threshold: float | None = None, n_boot: int = 1000,
                  seed: int = 0, level: float = 0.95, min_per_class: int = 1) -> list[dict]:
    """Per (column, group): n, positives, AUROC with its stratified bootstrap CI, calibration slope and
    intercept, and (given a threshold) TPR and FPR at it."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    rows = []
    for i, (column, group, mask) in enumerate(_group_masks(groups, len(y))):
        ys, ps = labelled(y[mask], p[mask])
        reason = _reason(ys, min_per_class)
        row = {"column": column, "group": group, "n": int(ys.size), "positives": int(ys.sum()),
               "auroc": None, "auroc_ci_low": None, "auroc_ci_high": None, "calibration_slope": None,
               "calibration_intercept": None, "tpr": None, "fpr": None, "reason": reason}
        if reason is None:
            row["auroc"] = fast_auroc_ap(ys, ps)[0]
            if n_boot > 0:
                aucs, _ = stratified_bootstrap(ys, ps, n_boot, seed + i)
                row["auroc_ci_low"], row["auroc_ci_high"] = percentile_ci(aucs, level)
            row["calibration_slope"], row["calibration_intercept"] = calibration_slope_intercept(ys, ps)
        if threshold is not None and ys.size:
            tp, fp, fn, tn = confusion(ys, ps, threshold)
            row["tpr"] = tp / (tp + fn) if tp + fn else None
            row["fpr"] = fp / (fp + tn) if fp + tn else None
        rows.append(row)
    return rows


def rate_gaps(y, p, groups: pd.DataFrame, threshold: float, min_events: int = 20, n_boot: int = 1000,
              seed: int = 0, level: float = 0.95) -> list[dict]:
    """Per column of groups: the largest difference in TPR and in FPR between its groups at the
    threshold (fairlearn's between-groups difference), with a bootstrap CI and the groups compared."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    keep = ~np.isnan(y)
    out = []
    for column in groups.columns:
        s = groups[column].reset_index(drop=True)[keep].astype("object").fillna("missing").astype(str)
        yk, flag = y[keep].astype(int), (p[keep] >= threshold).astype(int)
        row = {"column": str(column), "threshold": threshold, "min_events": min_events}
        for rate, metric, cls in (("tpr", true_positive_rate, 1), ("fpr", false_positive_rate, 0)):
            counts = pd.Series(yk == cls).groupby(s.to_numpy()).sum()
            eligible = sorted(counts[counts >= min_events].index)
            row[f"{rate}_groups"] = eligible
            row.update({f"{rate}_gap": None, f"{rate}_gap_ci_low": None, f"{rate}_gap_ci_high": None})
            if len(eligible) < 2:
                continue
            m = s.isin(eligible).to_numpy()
            frame = MetricFrame(metrics=metric, y_true=yk[m], y_pred=flag[m], sensitive_features=s[m].to_numpy())
            row[f"{rate}_by_group"] = {str(g): float(v) for g, v in frame.by_group.items()}
            row[f"{rate}_gap"] = float(frame.difference(method="between_groups"))
            if n_boot > 0:
                lo, hi = _gap_ci(yk[m], flag[m], s[m].to_numpy(), cls, n_boot, seed, level)
                row[f"{rate}_gap_ci_low"], row[f"{rate}_gap_ci_high"] = lo, hi
        out.append(row)
    return out


def _gap_ci(y: np.ndarray, flag: np.ndarray, s: np.ndarray, cls: int, n_boot: int, seed: int,
            level: float) -> tuple[float, float]:
    """CI of max - min over groups of the flag rate among rows of class cls (TPR: 1, FPR: 0): within
    each group the flagged count of a resample is binomial with the observed rate."""
    rng = np.random.default_rng(seed)
    rates = []
    for g in np.unique(s):
        m = (s == g) & (y == cls)
        rates.append(rng.binomial(int(m.sum()), flag[m].mean(), size=n_boot) / m.sum())
    r = np.stack(rates, axis=1)
    return percentile_ci(r.max(axis=1) - r.min(axis=1), level)


def shortfalls(y, p, groups: pd.DataFrame, threshold: float | None, min_events: int = 10,
               auroc_drop: float | None = 0.10, sensitivity_drop: float | None = 0.20) -> list[dict]:
    """Subgroups far below the whole test set: AUROC more than auroc_drop below the whole's (groups with
    at least min_events of each class), or sensitivity at the operating point more than sensitivity_drop
    below the whole's (groups with at least min_events positives). Point estimates, no resampling: these
    are warnings a reviewer reads, not a test. One dict per shortfall: column, group, n, positives,
    metric (auroc | sensitivity), value, whole, drop, limit."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    known = ~np.isnan(y)  # the labelled rows (inline: metrics' helper is being renamed on main)
    yl, pl = y[known], p[known]
    whole_auroc = fast_auroc_ap(yl, pl)[0] if _reason(yl, 1) is None else None
    whole_tpr = None
    if threshold is not None and yl.sum() > 0:
        tp, _, fn, _ = confusion(yl, pl, threshold)
        whole_tpr = tp / (tp + fn)
    out = []
    for column, group, mask in _group_masks(groups, len(y)):
        ys, ps = y[mask & known], p[mask & known]
        pos = int(ys.sum())
        row = {"column": column, "group": group, "n": int(ys.size), "positives": pos}
        if auroc_drop is not None and whole_auroc is not None and min(pos, ys.size - pos) >= min_events:
            value = fast_auroc_ap(ys, ps)[0]
            if whole_auroc - value > auroc_drop:
                out.append({**row, "metric": "auroc", "value": value, "whole": whole_auroc,
                            "drop": whole_auroc - value, "limit": auroc_drop})
        if sensitivity_drop is not None and whole_tpr is not None and pos >= min_events:
            tp, _, fn, _ = confusion(ys, ps, threshold)
            value = tp / (tp + fn)
            if whole_tpr - value > sensitivity_drop:
                out.append({**row, "metric": "sensitivity", "value": value, "whole": whole_tpr,
                            "drop": whole_tpr - value, "limit": sensitivity_drop})
    return out

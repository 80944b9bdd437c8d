"""Per-outcome evaluation metrics; an outcome with one class present is 'not estimable', never NaN."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def auroc(y: np.ndarray, p: np.ndarray) -> float | None:
    """AUROC over labelled rows (NaN labels dropped); None when fewer than two classes remain."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    keep = ~np.isnan(y)
    y, p = y[keep], p[keep]
    if y.size == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, p))


def mean_auroc(Y: np.ndarray, P: np.ndarray) -> float:
    """Mean AUROC over the estimable outcomes (NaN when none is estimable)."""
    values = [a for a in (auroc(Y[:, k], P[:, k]) for k in range(Y.shape[1])) if a is not None]
    return float(np.mean(values)) if values else float("nan")


def outcome_report(Y: np.ndarray, P: np.ndarray, outcomes: list[str],
                   truth: np.ndarray | None = None) -> list[dict]:
    """Per outcome: labelled n, positives, prevalence, AUROC and (with truth) the ceiling AUROC."""
    rows = []
    for k, name in enumerate(outcomes):
        y = Y[:, k]
        labelled = ~np.isnan(y)
        n, pos = int(labelled.sum()), int(np.nansum(y))
        row = {"outcome": name, "n": n, "positives": pos,
               "prevalence": pos / n if n else None, "auroc": auroc(y, P[:, k])}
        if truth is not None:
            row["bayes_auroc"] = auroc(y, truth[:, k])
        row["estimable"] = row["auroc"] is not None
        rows.append(row)
    return rows

"""Per-outcome clinical metrics; an outcome it cannot estimate gets None and a reason, never NaN."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import rankdata
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from mtl_core.evaluation.bootstrap import percentile_ci, stratified_bootstrap

CLIP = 1e-6  # predictions are clipped to [CLIP, 1 - CLIP] before taking the logit


def auroc(y: np.ndarray, p: np.ndarray) -> float | None:
    """AUROC over labelled rows (NaN labels dropped); None when fewer than two classes remain."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    keep = ~np.isnan(y)
    y, p = y[keep], p[keep]
    if y.size == 0 or y.min() == y.max():
        return None
    return float(roc_auc_score(y, p))


def rank_auroc(y: np.ndarray, p: np.ndarray) -> float | None:
    """The same number as `auroc`, by the Mann-Whitney rank-sum identity (ties get average ranks): a few
    times faster than scikit-learn's input checks and curve, for the per-epoch early-stopping monitor."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    keep = ~np.isnan(y)
    y, p = y[keep], p[keep]
    n_pos = float(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    return float((rankdata(p)[y == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


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


def auprc(y: np.ndarray, p: np.ndarray) -> float | None:
    """Average precision over labelled rows; None with fewer than two classes. Read it against the
    prevalence, which is what a random ranking scores."""
    y, p = labelled(y, p)
    return None if _reason(y) else float(average_precision_score(y, p))


def brier(y: np.ndarray, p: np.ndarray) -> float | None:
    """Mean squared error of the probabilities over labelled rows; None when no row is labelled."""
    y, p = labelled(y, p)
    return float(brier_score_loss(y, p, pos_label=1)) if y.size else None


def expected_calibration_error(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> float | None:
    """ECE over labelled rows: sum over bins b of (n_b / n) * |mean(y in b) - mean(p in b)|.
    Bins are equal-width on [0, 1]: bin b holds b/M <= p < (b+1)/M, the last one also p = 1;
    empty bins add nothing. None when no row is labelled."""
    y, p = labelled(y, p)
    if y.size == 0:
        return None
    b = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    gap = np.bincount(b, weights=y, minlength=n_bins) - np.bincount(b, weights=p, minlength=n_bins)
    return float(np.abs(gap).sum() / y.size)  # (n_b / n) * |sum_b / n_b| == |sum_b| / n


def calibration_slope_intercept(y: np.ndarray, p: np.ndarray) -> tuple[float | None, float | None]:
    """Logistic recalibration y ~ a + b * logit(p) over labelled rows, returned as (b, a); 1 and 0 when
    calibrated, b < 1 when overconfident. (None, None) with one class or constant predictions."""
    y, p = labelled(y, p)
    if _reason(y) or np.ptp(p) == 0:
        return None, None
    x = np.log(np.clip(p, CLIP, 1 - CLIP) / (1 - np.clip(p, CLIP, 1 - CLIP)))
    # a huge C leaves the fit essentially unpenalised yet finite if the classes separate perfectly
    fit = LogisticRegression(C=1e6, solver="newton-cholesky", max_iter=1000).fit(x[:, None], y)
    return float(fit.coef_[0, 0]), float(fit.intercept_[0])


def age_bands(age, edges=(18, 45, 65, 80)) -> pd.Series:
    """Ordered categorical age bands "<18", "18-44", "45-64", "65-79", "80+" (band [lo, hi) is labelled
    lo-(hi-1), so edges are whole years); a missing age stays missing. Keeps a Series' index."""
    edges = [int(e) for e in edges]
    if not edges or any(hi <= lo for lo, hi in zip(edges, edges[1:])):
        raise ValueError(f"age band edges must be increasing, got {edges}")
    labels = [f"<{edges[0]}"] + [f"{lo}-{hi - 1}" for lo, hi in zip(edges, edges[1:])] + [f"{edges[-1]}+"]
    a = np.asarray(age, float)
    codes = np.where(np.isnan(a), -1, np.searchsorted(edges, a, side="right"))
    return pd.Series(pd.Categorical.from_codes(codes, categories=labels, ordered=True),
                     index=age.index if isinstance(age, pd.Series) else None, name="age_band")


def subgroup_auroc(Y: np.ndarray, P: np.ndarray, outcomes: list[str], groups: pd.DataFrame,
                   min_per_class: int = 1) -> list[dict]:
    """AUROC, n and positives per outcome per (column, value) of groups, whose rows match Y's by
    position. Values keep a categorical's order, else sort; missing values form a "missing" group."""
    Y, P = _check(Y, P, outcomes)
    masks = _group_masks(groups, len(Y))
    return [{"outcome": name, **row} for k, name in enumerate(outcomes)
            for row in _subgroups(Y[:, k], P[:, k], masks, min_per_class)]


def clinical_report(Y: np.ndarray, P: np.ndarray, outcomes: list[str], truth: np.ndarray | None = None,
                    groups: pd.DataFrame | None = None, n_boot: int = 1000, seed: int = 0,
                    ece_bins: int = 10, ci_level: float = 0.95, min_per_class: int = 1) -> list[dict]:
    """One JSON-ready dict per outcome: outcome_report's keys plus reason, AUPRC, Brier, ECE,
    calibration slope/intercept, stratified-bootstrap percentile CIs for AUROC and AUPRC (none when
    n_boot is 0; each outcome draws from its own generator seeded with seed) and, given groups,
    per-subgroup AUROC. An outcome with fewer than min_per_class rows of either class is not
    estimable: its discrimination and calibration-fit values are None and reason says why; Brier,
    ECE and mean_predicted stay wherever a row is labelled."""
    Y, P = _check(Y, P, outcomes)
    masks = None if groups is None else _group_masks(groups, len(Y))
    rows = outcome_report(Y, P, outcomes, truth)
    for k, row in enumerate(rows):
        y, p = labelled(Y[:, k], P[:, k])
        reason = _reason(y, min_per_class)
        if reason:
            row.update({key: None for key in ("auroc", "bayes_auroc") if key in row})
        row.update(estimable=reason is None, reason=reason, **_calibration(y, p, ece_bins, reason is None))
        row.update(_discrimination(y, p, reason is None, n_boot, seed, ci_level))
        if masks is not None:
            row["subgroups"] = _subgroups(Y[:, k], P[:, k], masks, min_per_class)
    return rows


def _discrimination(y, p, estimable: bool, n_boot: int, seed: int, level: float) -> dict:
    """AUPRC and the bootstrap intervals of AUROC and AUPRC (all None when not estimable)."""
    out = dict.fromkeys(["auprc", "auroc_ci_low", "auroc_ci_high", "auprc_ci_low", "auprc_ci_high"])
    out.update(n_boot=max(n_boot, 0) if estimable else 0, ci_level=level)
    if not estimable:
        return out
    out["auprc"] = float(average_precision_score(y, p))
    if n_boot > 0:
        aucs, aps = stratified_bootstrap(y, p, n_boot, seed)
        out["auroc_ci_low"], out["auroc_ci_high"] = percentile_ci(aucs, level)
        out["auprc_ci_low"], out["auprc_ci_high"] = percentile_ci(aps, level)
    return out


def _calibration(y, p, ece_bins: int, estimable: bool) -> dict:
    """Brier, ECE, mean prediction and (when estimable) the logistic recalibration slope and intercept."""
    slope, intercept = calibration_slope_intercept(y, p) if estimable else (None, None)
    return {"brier": brier(y, p), "ece": expected_calibration_error(y, p, ece_bins), "ece_bins": ece_bins,
            "mean_predicted": float(p.mean()) if p.size else None,
            "calibration_slope": slope, "calibration_intercept": intercept}


def _subgroups(y, p, masks: list[tuple[str, str, np.ndarray]], min_per_class: int) -> list[dict]:
    """AUROC with n, positives and a not-estimable reason for each (column, group) mask."""
    rows = []
    for column, group, mask in masks:
        ys, ps = labelled(y[mask], p[mask])
        reason = _reason(ys, min_per_class)
        rows.append({"column": column, "group": group, "n": int(ys.size), "positives": int(ys.sum()),
                     "auroc": None if reason else float(roc_auc_score(ys, ps)), "reason": reason})
    return rows


def _group_masks(groups: pd.DataFrame, n_rows: int) -> list[tuple[str, str, np.ndarray]]:
    """(column, value label, row mask) for every non-empty value of every column of groups."""
    if len(groups) != n_rows:
        raise ValueError(f"groups has {len(groups)} rows but the predictions have {n_rows}")
    masks = []
    for column in groups.columns:
        s = groups[column].reset_index(drop=True)
        missing = s.isna().to_numpy()
        for value in _ordered_values(s):
            masks.append((str(column), str(value), (s == value).to_numpy() & ~missing))
        if missing.any():
            masks.append((str(column), "missing", missing))
    return masks


def _ordered_values(s: pd.Series) -> list:
    """Distinct present values: a categorical's category order, else sorted (as text if mixed types)."""
    if isinstance(s.dtype, pd.CategoricalDtype):
        return [c for c in s.cat.categories if (s == c).any()]
    values = list(s.dropna().unique())
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def labelled(y, *scores) -> tuple[np.ndarray, ...]:
    """Labels and each score (as float arrays) of the rows whose label is not NaN."""
    y = np.asarray(y, float)
    keep = ~np.isnan(y)
    return (y[keep], *(np.asarray(s, float)[keep] for s in scores))


def _reason(y: np.ndarray, min_per_class: int = 1) -> str | None:
    """Why discrimination cannot be estimated on labelled y, or None when it can."""
    n, pos = int(y.size), int(y.sum())
    if n == 0:
        return "not estimable: no labelled rows (n=0)"
    if pos in (0, n):
        return f"not estimable: only one class (n={n}, positives={pos})"
    if min(pos, n - pos) < min_per_class:
        return (f"not estimable: too few rows of a class (n={n}, positives={pos}, "
                f"need {min_per_class} of each)")
    return None


def _check(Y, P, outcomes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Y and P as float matrices of one column per outcome, 0/1 labels and probabilities on labelled rows."""
    Y, P = np.asarray(Y, float), np.asarray(P, float)
    if Y.ndim != 2 or Y.shape != P.shape or Y.shape[1] != len(outcomes):
        raise ValueError(f"labels {Y.shape} and predictions {P.shape} must both be rows x "
                         f"{len(outcomes)} outcomes")
    for k, name in enumerate(outcomes):
        y, p = labelled(Y[:, k], P[:, k])
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"outcome {name!r}: labels must be 0, 1 or NaN")
        if not (np.isfinite(p).all() and ((p >= 0) & (p <= 1)).all()):
            raise ValueError(f"outcome {name!r}: predictions on labelled rows must be probabilities "
                             "in [0, 1]")
    return Y, P

"""One outcome's realised performance on one set of admissions: AUROC, calibration (observed/expected,
slope) and the operating point, each with a CI; None where the rows cannot support a number."""
from __future__ import annotations

import numpy as np
from scipy.stats import norm

from mtl_core.evaluation.bootstrap import fast_auroc_ap, percentile_ci, stratified_bootstrap
from mtl_core.evaluation.metrics import CLIP
from mtl_core.evaluation.operating_points import bootstrap_metrics, threshold_metrics


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, CLIP, 1 - CLIP)
    return np.log(p / (1 - p))


def calibration_slope(y: np.ndarray, p: np.ndarray, level: float) -> tuple[float, float, float] | None:
    """Slope of y ~ a + b * logit(p) by Newton's method, with a Wald interval: (b, low, high). None with
    one class, constant predictions or a fit that does not converge (separated classes)."""
    x = _logit(p)
    if y.min() == y.max() or np.ptp(x) == 0:
        return None
    X = np.column_stack([np.ones_like(x), x])
    beta = np.array([0.0, 1.0])
    for _ in range(50):
        mu = 1 / (1 + np.exp(-(X @ beta)))
        info = X.T @ (X * (mu * (1 - mu))[:, None])
        try:
            step = np.linalg.solve(info, X.T @ (y - mu))
        except np.linalg.LinAlgError:
            return None
        beta = beta + step
        if np.abs(step).max() < 1e-8:
            break
    else:
        return None
    se = float(np.sqrt(np.linalg.inv(info)[1, 1]))
    z = norm.ppf(0.5 + level / 2)
    return float(beta[1]), float(beta[1] - z * se), float(beta[1] + z * se)


def observed_expected(y: np.ndarray, p: np.ndarray, level: float) -> tuple[float, float, float] | None:
    """Observed / expected events with the usual log-scale interval (SE of log O/E ~ 1/sqrt(O))."""
    observed, expected = float(y.sum()), float(p.sum())
    if observed == 0 or expected == 0:
        return None
    ratio, half = observed / expected, norm.ppf(0.5 + level / 2) / np.sqrt(observed)
    return ratio, ratio * float(np.exp(-half)), ratio * float(np.exp(half))


def _binomial(k: int, n: int, level: float) -> tuple[float, float]:
    """Wilson interval of a proportion."""
    z = norm.ppf(0.5 + level / 2)
    phat, denom = k / n, 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * np.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return float(centre - half), float(centre + half)


def measure(y: np.ndarray, p: np.ndarray, flag: np.ndarray | None, n_masked: int, min_events: int,
            n_boot: int, seed: int, level: float) -> dict:
    """Every number of one outcome on these rows: y holds NaN where the outcome is not (yet) known."""
    known = ~np.isnan(y)
    yk, pk = y[known], p[known]
    pos = int(yk.sum())
    row: dict = {"n": int(y.size), "known": int(known.sum()), "masked": int(n_masked), "positives": pos,
                 "prevalence": pos / yk.size if yk.size else None,
                 "expected_rate": float(pk.mean()) if yk.size else None}
    if flag is not None and y.size:
        alerts = int(flag.sum())
        row["alert_rate"] = alerts / y.size
        row["alert_rate_ci_low"], row["alert_rate_ci_high"] = _binomial(alerts, int(y.size), level)
    enough = min(pos, yk.size - pos) >= min_events
    row["judged"] = bool(enough)
    if not enough:
        row["reason"] = f"{pos} known positives and {yk.size - pos} negatives (fewer than {min_events})"
        return row
    row["auroc"] = fast_auroc_ap(yk, pk)[0]
    if n_boot > 0:
        row["auroc_ci_low"], row["auroc_ci_high"] = percentile_ci(stratified_bootstrap(yk, pk, n_boot, seed)[0], level)
    for key, value in (("oe", observed_expected(yk, pk, level)), ("slope", calibration_slope(yk, pk, level))):
        if value is not None:
            row[key], row[f"{key}_ci_low"], row[f"{key}_ci_high"] = value
    if flag is not None:
        fk = flag[known].astype(float)
        found = threshold_metrics(yk, fk, 0.5)
        cis = bootstrap_metrics(yk, fk, 0.5, n_boot, seed, level) if n_boot > 0 else {}
        for k in ("sensitivity", "ppv"):
            row[k] = found[k]
            row[f"{k}_ci_low"], row[f"{k}_ci_high"] = cis.get(k, (None, None))
    return row

"""Does sharing help each outcome? Paired AUROC comparisons (bootstrap, DeLong) and gradient task affinity.

The multi-task model is compared, outcome by outcome, with the best single-task baseline on the same test
rows; a significantly worse outcome is negative transfer. Gradient affinity shows which outcomes pull the
shared trunk in the same direction, which is where a different grouping of tasks would start.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from mtl_core.evaluation.bootstrap import paired_stratified_bootstrap
from mtl_core.evaluation.metrics import auroc, labelled

VERDICTS = ("sharing helps", "no clear difference", "negative transfer", "not estimable")


def _labelled(y, *scores) -> tuple[np.ndarray, ...]:
    y, *rest = labelled(y, *scores)
    return (y.astype(bool), *rest)


def _check_finite(*scores: np.ndarray) -> None:
    if not all(np.isfinite(s).all() for s in scores):
        raise ValueError("predicted probabilities must be finite on every labelled row")


def midranks(S: np.ndarray) -> np.ndarray:
    """1-based ranks along the last axis, ties sharing their average rank; O(n log n) per row."""
    S = np.atleast_2d(S)
    order = np.argsort(S, axis=1, kind="stable")
    s = np.take_along_axis(S, order, axis=1)
    n = s.shape[1]
    pos = np.broadcast_to(np.arange(n), s.shape)
    starts = np.ones(s.shape, dtype=bool)
    starts[:, 1:] = s[:, 1:] != s[:, :-1]          # first element of each run of equal values
    ends = np.ones(s.shape, dtype=bool)
    ends[:, :-1] = starts[:, 1:]                   # last element of each run
    first = np.maximum.accumulate(np.where(starts, pos, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, pos, n - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty(s.shape)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=1)
    return ranks


def _auroc_rows(S: np.ndarray, n_pos: int) -> np.ndarray:
    """AUROC of each row of S, whose first n_pos columns are positives (Mann-Whitney via midranks)."""
    n_neg = S.shape[1] - n_pos
    ranks = midranks(S)  # ties count one half
    return (ranks[:, :n_pos].sum(axis=1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def paired_bootstrap_diff(y, p_a, p_b, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05) -> dict:
    """AUROC(a) - AUROC(b) with a percentile CI from a stratified paired bootstrap.

    Each replicate resamples positives and negatives separately (so every replicate has both classes and
    the prevalence is fixed) and scores both models on the same resampled rows, so the CI reflects the
    correlation between them. NaN labels are dropped. All values None when fewer than two classes.
    """
    y, a, b = _labelled(y, p_a, p_b)
    _check_finite(a, b)
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    if pos.size == 0 or neg.size == 0:
        return {"diff": None, "lo": None, "hi": None}
    order = np.concatenate([pos, neg])
    diff = float(_auroc_rows(a[order][None], pos.size)[0] - _auroc_rows(b[order][None], pos.size)[0])
    if n_boot <= 0:  # evaluation.n_boot 0: the difference without a CI
        return {"diff": diff, "lo": None, "hi": None}
    diffs = paired_stratified_bootstrap(y.astype(float), a, b, n_boot, seed)
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    return {"diff": diff, "lo": float(lo), "hi": float(hi)}


def delong_components(y, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """AUROCs (k,), and structural components V10 (k, m positives) and V01 (k, n negatives).

    Fast DeLong (Sun & Xu 2014): V10[i] = share of negatives below positive i, V01[j] = share of positives
    above negative j (ties one half), both from midranks within each class and in the pooled sample.
    """
    y = np.asarray(y, dtype=bool)
    X, Y = scores[:, y], scores[:, ~y]
    m, n = X.shape[1], Y.shape[1]
    # midranks (ties averaged) by sorting: O(n log n) per model instead of the O(m n) pairwise kernel
    tx, ty = midranks(X), midranks(Y)
    tz = midranks(np.concatenate([X, Y], axis=1))
    aucs = tz[:, :m].sum(axis=1) / (m * n) - (m + 1) / (2 * n)
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return aucs, v10, v01


def delong_test(y, p_a, p_b) -> dict:
    """DeLong's test of AUROC(a) = AUROC(b) for two models scored on the same rows (two-sided).

    Returns diff (AUROC a - b), se, z and p_value; all None when fewer than two classes are labelled.
    A zero standard error gives z = 0, p = 1 when the AUROCs agree, else z = +-inf, p = 0.
    """
    y, a, b = _labelled(y, p_a, p_b)
    _check_finite(a, b)
    m, n = int(y.sum()), int((~y).sum())
    if m < 2 or n < 2:  # the covariance of the components needs two of each
        return {"diff": None, "se": None, "z": None, "p_value": None}
    aucs, v10, v01 = delong_components(y, np.vstack([a, b]))
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    var = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    diff = float(aucs[0] - aucs[1])
    se = math.sqrt(max(var, 0.0))
    if se <= 1e-15:
        z = 0.0 if abs(diff) <= 1e-15 else math.copysign(math.inf, diff)
    else:
        z = diff / se
    return {"diff": diff, "se": se, "z": z, "p_value": math.erfc(abs(z) / math.sqrt(2))}


def verdict(lo: float | None, hi: float | None, margin: float = 0.0) -> str:
    """Reading of a CI for AUROC(MTL) - AUROC(best single-task baseline)."""
    if lo is None or hi is None:
        return "not estimable"
    if hi < -margin:
        return "negative transfer"
    if lo > margin:
        return "sharing helps"
    return "no clear difference"


def transfer_report(y_test: np.ndarray, p_mtl: np.ndarray, baselines: Mapping[str, Mapping[str, np.ndarray | None]],
                    outcomes: Sequence[str], n_boot: int = 1000, seed: int = 0, margin: float = 0.0,
                    reference: Mapping[str, str] | None = None) -> list[dict]:
    """Per outcome: MTL vs its best single-task baseline on the test rows, with a verdict.

    Row keys: outcome, n, positives, mtl_auroc, baseline_auroc ({kind: auroc}), best_baseline,
    best_baseline_auroc, delta (mtl - best), lo, hi (bootstrap CI of delta), p_value (DeLong), verdict.
    The best baseline is picked on the test rows themselves, which flatters the baselines slightly (more
    so with many kinds); pass `reference` ({outcome: kind}, e.g. chosen on validation) to avoid that.
    Each CI is per outcome, not corrected for the number of outcomes. Output is plain JSON types.
    """
    y_test, p_mtl = np.asarray(y_test, dtype=float), np.asarray(p_mtl, dtype=float)
    rows = []
    for k, name in enumerate(outcomes):
        y = y_test[:, k]
        labelled = ~np.isnan(y)
        probs = {kind: per.get(name) for kind, per in baselines.items()}
        base = {kind: None if p is None else auroc(y, p) for kind, p in probs.items()}
        row = {"outcome": name, "n": int(labelled.sum()), "positives": int(np.nansum(y)),
               "mtl_auroc": auroc(y, p_mtl[:, k]), "baseline_auroc": base}
        row.update(_comparison(y, p_mtl[:, k], probs, base, row["mtl_auroc"], n_boot, seed, margin,
                               None if reference is None else reference.get(name)))
        rows.append(row)
    return rows


def _comparison(y, p_mtl, probs, base, mtl_auc, n_boot, seed, margin, chosen) -> dict:
    scored = {kind: a for kind, a in base.items() if a is not None}
    best = chosen if chosen in scored else (max(scored, key=scored.get) if scored else None)
    if mtl_auc is None or best is None:
        return {"best_baseline": best, "best_baseline_auroc": scored.get(best), "delta": None,
                "lo": None, "hi": None, "p_value": None, "verdict": "not estimable"}
    boot = paired_bootstrap_diff(y, p_mtl, probs[best], n_boot=n_boot, seed=seed)
    test = delong_test(y, p_mtl, probs[best])
    return {"best_baseline": best, "best_baseline_auroc": scored[best], "delta": boot["diff"],
            "lo": boot["lo"], "hi": boot["hi"], "p_value": test["p_value"],
            "verdict": verdict(boot["lo"], boot["hi"], margin)}

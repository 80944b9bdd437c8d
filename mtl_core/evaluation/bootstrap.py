"""Vectorised AUROC / average precision and their stratified bootstrap percentile intervals."""
from __future__ import annotations

import numpy as np

# Resamples handled per block: bounds memory to about CHUNK x (distinct scores) counts per array,
# and being a constant it keeps results for a given seed independent of the data size.
CHUNK = 100


def auroc_ap_from_counts(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and average precision per row of (B, K) counts of positives / negatives at K ascending
    distinct scores. A positive beats every negative at a lower score and half of those tied with it
    (Mann-Whitney U); AP = sum over thresholds of recall gain x precision, as sklearn defines it."""
    pos, neg = np.atleast_2d(pos), np.atleast_2d(neg)
    auc, neg_cum = _auroc_counts(pos, neg)
    pos_cum = np.cumsum(pos, axis=1)
    n_pos, n_neg = pos_cum[:, -1:], neg_cum[:, -1:]
    tp = n_pos - pos_cum + pos  # positives scoring >= each threshold
    called = tp + n_neg - neg_cum + neg
    precision = np.divide(tp, called, out=np.zeros(tp.shape), where=pos > 0)
    ap = (pos * precision).sum(axis=1) / n_pos[:, 0]
    return auc, ap


def _auroc_counts(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUROC per row of (B, K) level counts, and the negatives' cumulative counts."""
    neg_cum = np.cumsum(neg, axis=1)
    u = (pos * (2 * neg_cum - neg)).sum(axis=1) / 2  # 2 x below + tied; integers until here: exact
    return u / (pos.sum(axis=1) * neg_cum[:, -1]), neg_cum


def fast_auroc_ap(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Point AUROC and average precision of binary labels y (both classes present) for scores p."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    codes, k = _levels(y, p)
    pos = np.bincount(codes[y == 1], minlength=k)
    neg = np.bincount(codes[y == 0], minlength=k)
    auc, ap = auroc_ap_from_counts(pos, neg)
    return float(auc[0]), float(ap[0])


def stratified_bootstrap(y: np.ndarray, p: np.ndarray, n_boot: int = 1000,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """AUROC and AP on n_boot resamples that draw positives and negatives separately with replacement,
    keeping each class's count, so every resample has both classes."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    codes, k = _levels(y, p)
    pos_codes, neg_codes = codes[y == 1], codes[y == 0]
    rng = np.random.default_rng(seed)
    aucs, aps = np.empty(n_boot), np.empty(n_boot)
    for start in range(0, n_boot, CHUNK):
        b = min(CHUNK, n_boot - start)
        pos = _resampled_counts(rng, pos_codes, b, k)
        neg = _resampled_counts(rng, neg_codes, b, k)
        aucs[start:start + b], aps[start:start + b] = auroc_ap_from_counts(pos, neg)
    return aucs, aps


def paired_stratified_bootstrap(y: np.ndarray, p_a: np.ndarray, p_b: np.ndarray, n_boot: int = 1000,
                                seed: int = 0) -> np.ndarray:
    """AUROC(a) - AUROC(b) on n_boot stratified resamples that score both models on the same drawn rows
    (y 0/1 with both classes present). Each model's scores become counts per score level, so a
    resample costs a gather and a bincount per model, never a sort: O(n) rather than O(n log n)."""
    y = np.asarray(y, float)
    pos_rows, neg_rows = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    levels = [_levels(y, np.asarray(p, float)) for p in (p_a, p_b)]
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    for start in range(0, n_boot, CHUNK):
        b = min(CHUNK, n_boot - start)
        pos = pos_rows[rng.integers(0, pos_rows.size, size=(b, pos_rows.size))]
        neg = neg_rows[rng.integers(0, neg_rows.size, size=(b, neg_rows.size))]
        (auc_a, _), (auc_b, _) = (_auroc_counts(_counts(codes[pos], k), _counts(codes[neg], k))
                                  for codes, k in levels)
        diffs[start:start + b] = auc_a - auc_b
    return diffs


def percentile_ci(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Equal-tailed percentile interval of bootstrap values at the given coverage level."""
    tail = 100 * (1 - level) / 2
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def _levels(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, int]:
    """Ascending score level of each row, and how many levels. Distinct scores carrying no positive
    are merged when adjacent: only where negatives fall between positive scores matters, and fewer
    levels make the per-resample arrays short when positives are rare."""
    distinct, codes = np.unique(p, return_inverse=True)
    has_pos = np.zeros(distinct.size, bool)
    has_pos[codes.ravel()[y == 1]] = True
    starts = has_pos.copy()
    starts[0] = True
    starts[1:] |= has_pos[:-1]  # a level opens a new group if it or the one below has a positive
    merged = np.cumsum(starts) - 1
    return merged[codes.ravel()], int(merged[-1]) + 1


def _resampled_counts(rng: np.random.Generator, codes: np.ndarray, b: int, k: int) -> np.ndarray:
    """(b, k) counts per score level of b resamples (with replacement) of the rows behind codes."""
    return _counts(codes[rng.integers(0, codes.size, size=(b, codes.size))], k)


def _counts(draws: np.ndarray, k: int) -> np.ndarray:
    """(b, k) counts per score level of each row of (b, m) drawn level codes."""
    b = draws.shape[0]
    flat = (draws + k * np.arange(b)[:, None]).ravel()
    return np.bincount(flat, minlength=b * k).reshape(b, k)

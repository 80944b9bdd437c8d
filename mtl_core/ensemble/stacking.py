"""Per-outcome stacking (a super learner): non-negative weights over the members' held-out logits,
summing to one, then one Platt scale and bias on the combined logit.

p_k(x) = sigmoid(b_k + a_k * sum_m w_km * logit(p_km(x))),  w_km >= 0, sum_m w_km = 1, a_k > 0.

Fitted as a logistic regression of the outcome on the members' logits with coefficients c_m >= 0
(c = a * w), which is the super learner's non-negative log-likelihood combiner (van der Laan et al.
2007; SuperLearner's method.NNloglik). Non-negativity keeps the combination interpretable (a weight
is how much of a member the outcome uses) and stops the combiner from exploiting noise with
opposite-signed weights on correlated members; a small ridge term splits weight between near-equal
members instead of picking one at random.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

EPS = 1e-6
RIDGE = 1e-3  # per labelled row, on the coefficients


def logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), EPS, 1 - EPS)
    return np.log(p) - np.log1p(-p)


@dataclass(frozen=True)
class Combiner:
    """One outcome's weights over members (in member order), and the calibration of their mix."""
    weights: tuple[float, ...]
    scale: float
    bias: float

    def combine(self, Z: np.ndarray) -> np.ndarray:
        """Probabilities from member logits Z (n, members)."""
        s = self.bias + self.scale * (Z @ np.asarray(self.weights))
        return 1.0 / (1.0 + np.exp(-s))


def _objective(theta: np.ndarray, Z: np.ndarray, y: np.ndarray, ridge: float):
    c, b = theta[:-1], theta[-1]
    s = Z @ c + b
    loss = np.sum(np.logaddexp(0, s) - y * s) + ridge * np.sum(c ** 2)
    r = 1.0 / (1.0 + np.exp(-s)) - y
    return loss, np.concatenate([Z.T @ r + 2 * ridge * c, [r.sum()]])


def fit_combiner(Z: np.ndarray, y: np.ndarray, fallback: int = 0) -> Combiner:
    """Weights from held-out member logits Z (n, members) and 0/1 labels y (NaN rows ignored).

    When no member carries signal (every coefficient 0) or one class is missing, the `fallback`
    member gets all the weight with an identity calibration, so the result is never a constant.
    """
    Z, y = np.asarray(Z, dtype=float), np.asarray(y, dtype=float)
    keep = ~np.isnan(y)
    Z, y = Z[keep], y[keep]
    m = Z.shape[1]
    alone = tuple(1.0 if i == fallback else 0.0 for i in range(m))
    if y.size == 0 or y.min() == y.max():
        return Combiner(alone, 1.0, 0.0)
    prior = float(np.log(y.mean() / (1 - y.mean())))
    start = np.concatenate([np.full(m, 1.0 / m), [prior]])
    res = minimize(_objective, start, args=(Z, y, RIDGE * y.size), jac=True, method="L-BFGS-B",
                   bounds=[(0.0, None)] * m + [(None, None)])
    c, b = res.x[:-1], float(res.x[-1])
    total = float(c.sum())
    if not np.isfinite(total) or total <= 1e-9:
        return Combiner(alone, 1.0, 0.0)
    return Combiner(tuple(float(v) for v in c / total), total, b)

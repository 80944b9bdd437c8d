"""Per-outcome stacking (a super learner): non-negative weights over the members' held-out logits,
summing to one, then one Platt scale and bias on the combined logit.

p_k(x) = sigmoid(b_k + a_k * sum_m w_km * logit(p_km(x))),  w_km >= 0, sum_m w_km = 1, a_k > 0.

Fitted as a logistic regression of the outcome on the members' logits with coefficients c_m >= 0
(c = a * w), which is the super learner's non-negative log-likelihood combiner (van der Laan et al.
2007; SuperLearner's method.NNloglik). Non-negativity keeps the combination interpretable (a weight
is how much of a member the outcome uses) and stops the combiner from exploiting noise with
opposite-signed weights on correlated members.

With a core member (the multi-task network, member 0 of the stack), the coefficients are pulled toward
that member alone at its own Platt scale, with a fixed total strength CORE_PULL (log-likelihood units):
on a few hundred held-out rows, where members differ by less than the rows' noise, the weights stay
near the shared model; on thousands, the rows outweigh the pull. Without one, a small ridge toward zero
splits weight between near-equal members instead of picking one at random. Over the 12 bench.peers
cohorts x 3 split seeds (bench/results/restack.md, rule `core_total_10` against the ridge alone) the
pull raised the mean test AUROC by 0.0013, 16 outcome-seeds by more than 0.005 and 2 lowered by that
much, and cut the outcome-seeds more than 0.005 below the member the held-out rows pick from 12 to 8.
With bench.meds_tab's three MEDS cohorts added it stays first (0.7698 vs 0.7688), costing 0.0010 on them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

EPS = 1e-6
RIDGE = 1e-3  # per labelled row, on the coefficients (no core member)
CORE_PULL = 10.0  # in all, toward the core member alone


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


def _objective(theta: np.ndarray, Z: np.ndarray, y: np.ndarray, ridge: float,
               target: np.ndarray | None = None):
    """Negative log-likelihood plus ridge * ||c - target||^2 (target 0 when None), and its gradient."""
    c, b = theta[:-1], theta[-1]
    d = c if target is None else c - target
    s = Z @ c + b
    loss = np.sum(np.logaddexp(0, s) - y * s) + ridge * np.sum(d ** 2)
    r = 1.0 / (1.0 + np.exp(-s)) - y
    return loss, np.concatenate([Z.T @ r + 2 * ridge * d, [r.sum()]])


def fit_combiner(Z: np.ndarray, y: np.ndarray, fallback: int = 0, core: int | None = None) -> Combiner:
    """Weights from held-out member logits Z (n, members) and 0/1 labels y (NaN rows ignored); with
    `core`, pulled toward that member alone (CORE_PULL), else ridged toward zero (RIDGE per row).

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
    if core is None:
        start, args = np.concatenate([np.full(m, 1.0 / m), [prior]]), (Z, y, RIDGE * y.size)
    else:
        target = np.zeros(m)
        target[core] = fit_combiner(Z[:, [core]], y).scale  # the core member alone, Platt-scaled
        start, args = np.append(target, prior), (Z, y, CORE_PULL, target)
    res = minimize(_objective, start, args=args, jac=True, method="L-BFGS-B",
                   bounds=[(0.0, None)] * m + [(None, None)])
    c, b = res.x[:-1], float(res.x[-1])
    total = float(c.sum())
    if not np.isfinite(total) or total <= 1e-9:
        return Combiner(alone, 1.0, 0.0)
    return Combiner(tuple(float(v) for v in c / total), total, b)

"""Per-outcome recalibration of logits on the validation split: none, temperature or Platt scaling.

Each returns (scale, bias) per outcome so that p = sigmoid(scale * logit + bias). With scale > 0 the
ranking, hence AUROC, is unchanged; only the probabilities move.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.linear_model import LogisticRegression


def _labelled(z: np.ndarray, y: np.ndarray):
    # not evaluation.metrics.labelled: the logits keep their own dtype here
    keep = ~np.isnan(y)
    return z[keep], y[keep]


def _nll(a: float, b: float, z: np.ndarray, y: np.ndarray) -> float:
    s = a * z + b
    return float(np.mean(np.logaddexp(0, s) - y * s))


def no_calibration(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    return 1.0, 0.0


def temperature(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """One scale per outcome (1 / temperature) minimising validation log loss."""
    z, y = _labelled(z, y)
    if len(np.unique(y)) < 2:
        return 1.0, 0.0
    res = minimize_scalar(lambda log_a: _nll(np.exp(log_a), 0.0, z, y), bounds=(-4, 4), method="bounded")
    return float(np.exp(res.x)), 0.0


def platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Scale and bias per outcome (logistic regression on the logit); also undoes class reweighting."""
    z, y = _labelled(z, y)
    if len(np.unique(y)) < 2:
        return 1.0, 0.0
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(z.reshape(-1, 1), y)
    a, b = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    return (a, b) if a > 0 else (1.0, 0.0)  # a reversed ranking is noise, not a calibration


CALIBRATION: dict[str, Callable[[np.ndarray, np.ndarray], tuple[float, float]]] = {
    "none": no_calibration, "temperature": temperature, "platt": platt}


def fit_calibration(method: str, logits: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pairs = [CALIBRATION[method](logits[:, k], Y[:, k]) for k in range(Y.shape[1])]
    return np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])

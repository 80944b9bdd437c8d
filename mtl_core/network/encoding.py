"""Piecewise-linear encoding of numeric features (Gorishniy et al. 2022, "On Embeddings for Numerical
Features in Tabular Deep Learning"): each value becomes its position within each of a few quantile bins.

Clinical risk is often a threshold or U-shaped function of a lab value or age. A network fed one
standardised number per feature needs several units and many labels to bend that curve; fed the
encoding, even the linear (wide) path is an additive model with a free-form curve per feature, and
the trunk starts from features a tree would split on. Bin edges are training-set quantiles.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class PiecewiseLinear(BaseEstimator, TransformerMixin):
    """x -> [clip((x - e_t) / (e_{t+1} - e_t), 0, 1) for each bin t]; NaN stays NaN in every column."""

    def __init__(self, n_bins: int = 8):
        self.n_bins = n_bins

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=float)
        self.edges_ = []
        for j in range(X.shape[1]):
            col = X[:, j][np.isfinite(X[:, j])]
            edges = np.unique(np.quantile(col, np.linspace(0, 1, self.n_bins + 1))) if col.size else np.array([0.0])
            self.edges_.append(edges)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        X = np.asarray(X, dtype=float)
        parts = []
        for j, edges in enumerate(self.edges_):
            if edges.size < 2:  # a constant column: nothing to bend
                parts.append(np.zeros((len(X), 1)) + np.where(np.isnan(X[:, [j]]), np.nan, 0.0))
                continue
            left, width = edges[:-1], np.diff(edges)
            z = np.clip((X[:, [j]] - left) / width, 0.0, 1.0)
            parts.append(z)
        return np.hstack(parts) if parts else np.empty((len(X), 0))

    def get_feature_names_out(self, input_features=None):
        names = input_features if input_features is not None else [f"x{j}" for j in range(self.n_features_in_)]
        return np.asarray([f"{n}_bin{t}" for n, e in zip(names, self.edges_) for t in range(max(e.size - 1, 1))],
                          dtype=object)

"""MultiOutcomeClassifier: a scikit-learn style estimator around preprocessing + a multi-task network."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from mtl_core.config import Config
from mtl_core.model import SHARING
from mtl_core.train import Callback, TrainSettings, fit_network, predict_logits


def _clip(z: np.ndarray) -> np.ndarray:
    # Standardised lab values can be extreme; clipping keeps one outlier from dominating a batch.
    return np.clip(z, -8.0, 8.0)


def build_preprocessor(X: pd.DataFrame) -> ColumnTransformer:
    """Median imputation with missingness indicators + scaling for numbers, one-hot for categories."""
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    categorical = [c for c in X.columns if c not in numeric]
    num = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)),
                    ("scale", StandardScaler()), ("clip", FunctionTransformer(_clip, feature_names_out="one-to-one"))])
    cat = Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                    ("onehot", OneHotEncoder(handle_unknown="ignore", min_frequency=10,
                                             sparse_output=False))])
    return ColumnTransformer([("num", num, numeric), ("cat", cat, categorical)],
                             sparse_threshold=0.0, verbose_feature_names_out=False)


class MultiOutcomeClassifier(BaseEstimator):
    """Predicts several binary outcomes at once; labels may be missing (NaN) per outcome.

    fit(X, Y) takes a feature DataFrame and a DataFrame of 0/1/NaN labels, one column per outcome;
    predict_proba(X) returns an (n, n_outcomes) array in the order of Y's columns (`outcomes_`).
    """

    def __init__(self, sharing: str = "hard", hidden: tuple[int, ...] = (128, 64), head_hidden: int = 0,
                 dropout: float = 0.1, epochs: int = 60, batch_size: int = 256, lr: float = 1e-3,
                 weight_decay: float = 1e-4, patience: int = 8, validation_fraction: float = 0.15,
                 seed: int = 0):
        self.sharing = sharing
        self.hidden = hidden
        self.head_hidden = head_hidden
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed

    def fit(self, X: pd.DataFrame, Y: pd.DataFrame, X_val: pd.DataFrame | None = None,
            Y_val: pd.DataFrame | None = None, callbacks: list[Callback] = ()) -> "MultiOutcomeClassifier":
        Y = pd.DataFrame(Y)
        if X_val is None:  # carve a validation set for early stopping
            rng = np.random.default_rng(self.seed)
            hold = rng.random(len(X)) < self.validation_fraction
            X, X_val, Y, Y_val = X[~hold], X[hold], Y[~hold], Y[hold]
        self.outcomes_ = [str(c) for c in Y.columns]
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.preprocessor_ = build_preprocessor(X).fit(X)
        torch.manual_seed(self.seed)  # weight initialisation is part of determinism
        Xt, Xv = self._transform(X), self._transform(X_val)
        self.network_ = SHARING[self.sharing](Xt.shape[1], len(self.outcomes_), hidden=tuple(self.hidden),
                                              dropout=self.dropout, head_hidden=self.head_hidden)
        settings = TrainSettings(self.epochs, self.batch_size, self.lr, self.weight_decay, self.patience,
                                 self.seed)
        result = fit_network(self.network_, Xt, Y.to_numpy(float), Xv, pd.DataFrame(Y_val).to_numpy(float),
                             settings, self.outcomes_, callbacks)
        self.history_, self.best_epoch_ = result.history, result.best_epoch
        return self

    def _transform(self, X: pd.DataFrame) -> np.ndarray:
        return self.preprocessor_.transform(X[list(self.feature_names_in_)]).astype(np.float32)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        logits = predict_logits(self.network_, self._transform(X))
        return 1.0 / (1.0 + np.exp(-logits))

    def predict_proba_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(self.predict_proba(X), columns=self.outcomes_, index=X.index)


def estimator_from_config(cfg: Config) -> MultiOutcomeClassifier:
    m, t = cfg.model, cfg.train
    return MultiOutcomeClassifier(sharing=m.sharing, hidden=tuple(m.hidden), head_hidden=m.head_hidden,
                                  dropout=m.dropout, epochs=t.epochs, batch_size=t.batch_size, lr=t.lr,
                                  weight_decay=t.weight_decay, patience=t.patience, seed=t.seed)

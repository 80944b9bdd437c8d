"""MultiOutcomeClassifier: a scikit-learn style estimator around preprocessing + a multi-task network."""
from __future__ import annotations

import inspect

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from mtl_core.config import Config
from mtl_core.config.model import ModelConfig, TrainConfig
from mtl_core.dataset.structure import coherent
from mtl_core.errors import ConfigError
from mtl_core.network.calibration import CALIBRATION, fit_calibration
from mtl_core.network.encoding import PiecewiseLinear
from mtl_core.network.losses import REDUCTIONS
from mtl_core.network.train import MODES, Callback, TrainSettings, fit_network, predict_logits
from mtl_core.sharing import SHARING, WideAndDeep
from mtl_core.weighting import WEIGHTING


def _clip(z: np.ndarray) -> np.ndarray:
    # Standardised lab values can be extreme; clipping keeps one outlier from dominating a batch.
    return np.clip(z, -8.0, 8.0)


NUMERIC_ENCODINGS = ("standard", "ple")
# the estimator's defaults are the config's (mtl_core/config/model.py states them once)
_M = {name: f.default for name, f in ModelConfig.model_fields.items()}
_T = {name: f.default for name, f in TrainConfig.model_fields.items()}
# Rows the preprocessor's statistics (medians, scales, quantile bin edges, category lists) are estimated
# on. Fitting transforms every row in float64 several times over (imputer, scaler, bins, stacking), about
# 8 GiB at 700,000 rows with bin encoding; a seeded sample of 100,000 pins those statistics just as well.
PREPROCESSOR_FIT_ROWS = 100_000


def fit_sample(X: pd.DataFrame, seed: int = 0, max_rows: int | None = None) -> pd.DataFrame:
    """X itself when it has at most max_rows (default PREPROCESSOR_FIT_ROWS) rows, else a seeded
    sample of that many, in X's order."""
    max_rows = PREPROCESSOR_FIT_ROWS if max_rows is None else max_rows
    if len(X) <= max_rows:
        return X
    return X.iloc[np.sort(np.random.default_rng(seed).choice(len(X), size=max_rows, replace=False))]


def build_preprocessor(X: pd.DataFrame, numeric_encoding: str, n_bins: int = 8) -> ColumnTransformer:
    """Median imputation with missingness indicators + scaling for numbers (plus, with "ple", their
    piecewise-linear encoding in quantile bins: mtl_core/network/encoding.py), one-hot for categories."""
    numeric = [c for c in X.columns if pd.api.types.is_numeric_dtype(X[c])]
    categorical = [c for c in X.columns if c not in numeric]
    scaled = Pipeline([("scale", StandardScaler()),
                       ("clip", FunctionTransformer(_clip, feature_names_out="one-to-one"))])
    encode = scaled if numeric_encoding == "standard" else FeatureUnion(
        [("scaled", scaled), ("bins", PiecewiseLinear(n_bins))], verbose_feature_names_out=False)
    num = Pipeline([("impute", SimpleImputer(strategy="median", add_indicator=True)), ("encode", encode)])
    cat = Pipeline([("impute", SimpleImputer(strategy="constant", fill_value="missing")),
                    ("onehot", OneHotEncoder(handle_unknown="ignore", min_frequency=10,
                                             sparse_output=False))])
    return ColumnTransformer([("num", num, numeric), ("cat", cat, categorical)],
                             sparse_threshold=0.0, verbose_feature_names_out=False)


def check_choices(sharing: str, weighting: str, mode: str, calibration: str) -> None:
    """Unknown scheme names fail before any data is touched, listing what exists."""
    for what, name, known in (("model.sharing", sharing, SHARING), ("train.weighting", weighting, WEIGHTING),
                              ("train.mode", mode, MODES), ("train.calibration", calibration, CALIBRATION)):
        if name not in known:
            raise ConfigError(f"{what}: unknown '{name}' (known: {', '.join(known)})")


# arguments the estimator passes itself; the rest of a class's keyword arguments may come from config
SET_BY_ESTIMATOR = {"n_features", "n_outcomes", "n_tasks", "hidden", "dropout", "head_hidden", "head_dropout"}


def check_args(sharing: str, sharing_args: dict | None, weighting: str, weighting_args: dict | None) -> None:
    """model.sharing_args and train.weighting_args must name keyword arguments of the chosen class."""
    for what, cls, args in (("model.sharing_args", SHARING.get(sharing), sharing_args),
                            ("train.weighting_args", WEIGHTING.get(weighting), weighting_args)):
        if not args or cls is None:
            continue
        params = inspect.signature(cls.__init__).parameters
        known = sorted(n for n, p in params.items() if n != "self" and n not in SET_BY_ESTIMATOR
                       and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        unknown = sorted(set(args) - set(known))
        if unknown:
            name = sharing if what.startswith("model") else weighting
            raise ConfigError(f"{what}: {unknown} not accepted by '{name}' ({cls.__name__}; accepts: "
                              f"{', '.join(known) or 'nothing'})")


def _per_outcome(value, outcomes: list[str], default):
    """A scalar, or a dict outcome -> value (missing outcomes get the default), as a list."""
    if isinstance(value, dict):
        return [value.get(o, default) for o in outcomes]
    return [default if value is None else value] * len(outcomes)


class MultiOutcomeClassifier(BaseEstimator):
    """Predicts several binary outcomes at once; labels may be missing (NaN) per outcome.

    fit(X, Y) takes a feature DataFrame and a DataFrame of 0/1/NaN labels, one column per outcome;
    predict_proba(X) returns an (n, n_outcomes) array in the order of Y's columns (`outcomes_`).
    Per-outcome settings (head_dropout, head_weight_decay, pos_weight) take a scalar or a dict keyed
    by outcome; pos_weight="auto" uses sqrt(negatives / positives) of the training labels.
    loss_reduction="batch" weighs every observed label the same (an outcome with few labels sways the
    shared layers little); "outcome" weighs every outcome the same (mtl_core/network/losses.py says why not).
    """

    def __init__(self, sharing: str = _M["sharing"], hidden: tuple[int, ...] = tuple(_M["hidden"]),
                 head_hidden: int = _M["head_hidden"], dropout: float = _M["dropout"],
                 head_dropout=_M["head_dropout"], soft_lambda: float = _M["soft_lambda"],
                 n_experts: int = _M["n_experts"], weighting: str = _T["weighting"], mode: str = _T["mode"],
                 epochs: int = _T["epochs"], batch_size: int = _T["batch_size"], lr: float = _T["lr"],
                 weight_decay: float = _T["weight_decay"], head_weight_decay=None, pos_weight=None,
                 loss_reduction: str = _T["loss_reduction"], calibration: str = _T["calibration"],
                 patience: int = _T["patience"], validation_fraction: float = 0.15, seed: int = _T["seed"],
                 wide: bool = _M["wide"], threads: int = _T["threads"],
                 numeric_encoding: str = _M["numeric_encoding"], selection: str = "mean",
                 sharing_args: dict | None = None, weighting_args: dict | None = None):
        self.sharing = sharing
        self.hidden = hidden
        self.head_hidden = head_hidden
        self.dropout = dropout
        self.head_dropout = head_dropout
        self.soft_lambda = soft_lambda
        self.n_experts = n_experts
        self.weighting = weighting
        self.mode = mode
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.head_weight_decay = head_weight_decay
        self.pos_weight = pos_weight
        self.loss_reduction = loss_reduction
        self.calibration = calibration
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.seed = seed
        self.wide = wide
        self.threads = threads
        self.numeric_encoding = numeric_encoding
        self.selection = selection
        self.sharing_args = sharing_args
        self.weighting_args = weighting_args

    def __setstate__(self, state: dict) -> None:
        # models pickled before sharing_args / weighting_args existed
        state.setdefault("sharing_args", None)
        state.setdefault("weighting_args", None)
        state.setdefault("structure_", None)  # ... and before outcome structures (dataset/structure.py)
        super().__setstate__(state)

    def _network(self, n_features: int) -> torch.nn.Module:
        extra: dict[str, dict] = {"soft": {"soft_lambda": self.soft_lambda}, "mmoe": {"n_experts": self.n_experts}}
        deep = SHARING[self.sharing](n_features, len(self.outcomes_), hidden=tuple(self.hidden),
                                     dropout=self.dropout, head_hidden=self.head_hidden,
                                     head_dropout=_per_outcome(self.head_dropout, self.outcomes_, 0.0),
                                     **{**extra.get(self.sharing, {}), **(self.sharing_args or {})})
        return WideAndDeep(deep, n_features, len(self.outcomes_)) if self.wide else deep

    def _pos_weight(self, Y: np.ndarray) -> list[float] | None:
        if self.pos_weight is None:
            return None
        if self.pos_weight == "auto":
            pos = np.nansum(Y, 0)
            neg = np.sum(~np.isnan(Y), 0) - pos
            return [float(np.sqrt(n / p)) if p > 0 else 1.0 for p, n in zip(pos, neg)]
        return [float(v) for v in _per_outcome(self.pos_weight, self.outcomes_, 1.0)]

    def fit(self, X: pd.DataFrame, Y: pd.DataFrame, X_val: pd.DataFrame | None = None,
            Y_val: pd.DataFrame | None = None, callbacks: list[Callback] = (),
            checkpoint_path: str | None = None, resume: bool = False) -> MultiOutcomeClassifier:
        check_choices(self.sharing, self.weighting, self.mode, self.calibration)
        check_args(self.sharing, self.sharing_args, self.weighting, self.weighting_args)
        if self.loss_reduction not in REDUCTIONS:
            raise ConfigError(f"train.loss_reduction: unknown '{self.loss_reduction}' "
                              f"(known: {', '.join(REDUCTIONS)})")
        if self.numeric_encoding not in NUMERIC_ENCODINGS:
            raise ConfigError(f"model.numeric_encoding: unknown '{self.numeric_encoding}' "
                              f"(known: {', '.join(NUMERIC_ENCODINGS)})")
        Y = pd.DataFrame(Y)
        if X_val is None:  # carve a validation set for early stopping and calibration
            hold = np.random.default_rng(self.seed).random(len(X)) < self.validation_fraction
            X, X_val, Y, Y_val = X[~hold], X[hold], Y[~hold], Y[hold]
        self.outcomes_ = [str(c) for c in Y.columns]
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.preprocessor_ = build_preprocessor(X, self.numeric_encoding).fit(fit_sample(X, self.seed))
        Xt, Xv = self._transform(X), self._transform(X_val)
        Yt, Yv = Y.to_numpy(float), pd.DataFrame(Y_val).to_numpy(float)
        torch.manual_seed(self.seed)  # weight initialisation is part of determinism
        self.network_ = self._network(Xt.shape[1])
        settings = TrainSettings(
            self.epochs, self.batch_size, self.lr, self.weight_decay, self.patience, self.seed,
            weighting=self.weighting, mode=self.mode,
            head_weight_decay=_per_outcome(self.head_weight_decay, self.outcomes_, self.weight_decay),
            pos_weight=self._pos_weight(Yt), loss_reduction=self.loss_reduction,
            checkpoint_path=checkpoint_path, resume=resume, threads=self.threads, selection=self.selection,
            weighting_args=dict(self.weighting_args or {}))
        result = fit_network(self.network_, Xt, Yt, Xv, Yv, settings, self.outcomes_, callbacks)
        self.history_, self.best_epoch_ = result.history, result.best_epoch
        self.outcome_epochs_ = result.outcome_epochs
        self.calibration_scale_, self.calibration_bias_ = fit_calibration(
            self.calibration, predict_logits(self.network_, Xv), Yv)
        return self

    def _transform(self, X: pd.DataFrame, chunk: int = 50_000) -> np.ndarray:
        """Model inputs as float32, transformed in row chunks: the preprocessor works in float64 and
        the bin encoding multiplies the columns, so a million rows at once would need several GiB."""
        X = X[list(self.feature_names_in_)]
        first = self.preprocessor_.transform(X.iloc[:chunk]).astype(np.float32)
        if len(X) <= chunk:
            return first
        out = np.empty((len(X), first.shape[1]), dtype=np.float32)
        out[:chunk] = first
        for start in range(chunk, len(X), chunk):
            out[start:start + chunk] = self.preprocessor_.transform(X.iloc[start:start + chunk])
        return out

    def predict_logits(self, X: pd.DataFrame, calibrated: bool = True) -> np.ndarray:
        z = predict_logits(self.network_, self._transform(X))
        return z * self.calibration_scale_ + self.calibration_bias_ if calibrated else z

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Calibrated probabilities, projected onto the declared outcome structure when one is attached."""
        return coherent(self, 1.0 / (1.0 + np.exp(-self.predict_logits(X))))

    def predict_proba_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(self.predict_proba(X), columns=self.outcomes_, index=X.index)

    @property
    def mtl_(self) -> MultiOutcomeClassifier:
        """The pure multi-task network model; a combined model exposes its own under the same name."""
        return self


def validation_proba(est, X_val: pd.DataFrame) -> np.ndarray:
    """Probabilities on validation rows for choosing thresholds and the like (never on test rows).

    A cross-fitted model saw its validation rows in training; it keeps the ensemble's held-out
    (out-of-fold) probabilities of them in `held_`, indexed like the frame it was fitted on, and
    those are returned instead of in-sample predictions."""
    held = getattr(est, "held_", None)
    if held is not None and len(X_val) and X_val.index.isin(held.index).all():
        return held.loc[X_val.index].to_numpy()
    return est.predict_proba(X_val)


def estimator_from_config(cfg: Config) -> MultiOutcomeClassifier:
    m, t = cfg.model, cfg.train
    over = t.outcome_overrides
    pick = lambda key: {o: getattr(v, key) for o, v in over.items() if getattr(v, key) is not None}  # noqa: E731
    pos = t.pos_weight if t.pos_weight != "none" else None
    if pick("pos_weight"):
        pos = pick("pos_weight")
    return MultiOutcomeClassifier(
        sharing=m.sharing, hidden=tuple(m.hidden), head_hidden=m.head_hidden, dropout=m.dropout,
        head_dropout=pick("head_dropout") or m.head_dropout, soft_lambda=m.soft_lambda,
        n_experts=m.n_experts, weighting=t.weighting, mode=t.mode, epochs=t.epochs,
        batch_size=t.batch_size, lr=t.lr, weight_decay=t.weight_decay,
        head_weight_decay=pick("head_weight_decay") or None, pos_weight=pos,
        loss_reduction=t.loss_reduction, calibration=t.calibration, patience=t.patience, seed=t.seed,
        wide=m.wide, threads=t.threads, numeric_encoding=m.numeric_encoding,
        sharing_args=dict(m.sharing_args) or None, weighting_args=dict(t.weighting_args) or None)

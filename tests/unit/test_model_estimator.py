"""HardSharedMTL and MultiOutcomeClassifier on small data (a few hundred rows, <= 5 epochs)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.metrics import roc_auc_score

from mtl_core.network.estimator import MultiOutcomeClassifier, estimator_from_config
from mtl_core.sharing import SHARING, HardSharedMTL

PARAMS = dict(hidden=(16,), epochs=4, batch_size=32, lr=0.01, seed=3, numeric_encoding="standard")


def _data(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({
        "a": rng.normal(size=n),
        "b": rng.normal(size=n),
        "c": np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),   # missing values
        "ward": rng.choice(["icu", "medical", "surgical"], n),             # categorical strings
        "insurance": rng.choice(["Medicare", "Other"], n),
    })
    z = X["a"].to_numpy()
    Y = pd.DataFrame({
        # deliberately not alphabetical: predict_proba must follow Y's column order
        "zeta": (X["b"] > 0).astype(float),
        "alpha": (rng.random(n) < 1 / (1 + np.exp(-2 * z))).astype(float),
        "mid": ((X["ward"] == "icu") ^ (rng.random(n) < 0.1)).astype(float),
    })
    Y.loc[rng.random(n) < 0.25, "alpha"] = np.nan     # labels missing per outcome
    Y.loc[rng.random(n) < 0.10, "zeta"] = np.nan
    return X, Y


@pytest.fixture(scope="module")
def data():
    return _data()


@pytest.fixture(scope="module")
def fitted(data):
    X, Y = data
    return MultiOutcomeClassifier(**PARAMS).fit(X, Y)


# --- network ------------------------------------------------------------------------------------

@pytest.mark.parametrize("head_hidden", [0, 8])
def test_hard_shared_output_shape_and_gradients(head_hidden):
    torch.manual_seed(0)
    net = HardSharedMTL(n_features=7, n_outcomes=4, hidden=(16, 8), dropout=0.1, head_hidden=head_hidden)
    x = torch.randn(25, 7)
    out = net(x)
    assert out.shape == (25, 4)
    out.sum().backward()
    assert len(net.heads) == 4
    for name, param in net.trunk.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    for k, head in enumerate(net.heads):
        for name, param in head.named_parameters():
            assert param.grad is not None and param.grad.abs().sum() > 0, (k, name)


def test_each_head_only_drives_its_own_output():
    torch.manual_seed(0)
    net = HardSharedMTL(n_features=5, n_outcomes=3, hidden=(8,), dropout=0.0).eval()
    net(torch.randn(10, 5))[:, 1].sum().backward()
    def grad(k):
        return sum(float(p.grad.abs().sum()) for p in net.task_parameters(k) if p.grad is not None)

    assert grad(1) > 0 and grad(0) == 0 and grad(2) == 0
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.trunk.parameters())


def test_sharing_registry_has_hard():
    assert SHARING["hard"] is HardSharedMTL


# --- estimator ----------------------------------------------------------------------------------

def test_fit_returns_self(data):
    X, Y = data
    est = MultiOutcomeClassifier(**{**PARAMS, "epochs": 1})
    assert est.fit(X, Y) is est
    assert est.best_epoch_ >= 1 and len(est.history_) >= 1


def test_predict_proba_shape_order_and_range(fitted, data):
    X, Y = data
    P = fitted.predict_proba(X)
    assert P.shape == (len(X), Y.shape[1])
    assert fitted.outcomes_ == ["zeta", "alpha", "mid"]
    assert np.all(P > 0) and np.all(P < 1)
    frame = fitted.predict_proba_frame(X)
    assert list(frame.columns) == list(Y.columns)
    np.testing.assert_array_equal(frame.to_numpy(), P)
    # column k really is outcome k: each outcome is best ranked by its own column
    for k, name in enumerate(Y.columns):
        keep = Y[name].notna().to_numpy()
        own = roc_auc_score(Y[name][keep], P[keep, k])
        assert own > 0.75, (name, own)
        for j in range(P.shape[1]):
            if j != k:
                assert own > roc_auc_score(Y[name][keep], P[keep, j]), (name, j)


def test_predict_uses_column_names_not_positions(fitted, data):
    X, _ = data
    reordered = X[list(reversed(X.columns))]
    np.testing.assert_array_equal(fitted.predict_proba(reordered), fitted.predict_proba(X))


def test_same_seed_gives_identical_predictions(fitted, data):
    X, Y = data
    again = MultiOutcomeClassifier(**PARAMS).fit(X, Y)
    assert np.array_equal(again.predict_proba(X), fitted.predict_proba(X))


def test_different_seed_gives_different_predictions(fitted, data):
    X, Y = data
    other = MultiOutcomeClassifier(**{**PARAMS, "seed": 4}).fit(X, Y)
    assert not np.array_equal(other.predict_proba(X), fitted.predict_proba(X))


def test_clone_and_get_params(fitted):
    params = fitted.get_params()
    assert params["hidden"] == (16,) and params["seed"] == 3 and params["epochs"] == 4
    copy = clone(fitted)
    assert copy.get_params() == params
    assert not hasattr(copy, "network_")
    copy.set_params(epochs=2, dropout=0.2)
    assert copy.get_params()["epochs"] == 2 and fitted.get_params()["epochs"] == 4


def test_nan_labels_and_explicit_validation_set(data):
    X, Y = data
    Y = Y.copy()
    Y.loc[Y.index[:100], "mid"] = np.nan
    est = MultiOutcomeClassifier(**{**PARAMS, "epochs": 2}).fit(X.iloc[:240], Y.iloc[:240],
                                                                 X.iloc[240:], Y.iloc[240:])
    P = est.predict_proba(X)
    assert np.isfinite(P).all()
    assert all(np.isfinite(h["train_loss"]) for h in est.history_)


def test_categorical_columns_are_one_hot_encoded(fitted, data):
    X, _ = data
    onehot = fitted.preprocessor_.named_transformers_["cat"]["onehot"]
    assert [list(c) for c in onehot.categories_] == [["icu", "medical", "surgical"], ["Medicare", "Other"]]
    # 3 numbers + 1 missingness indicator (for c) + 3 + 2 one-hot columns
    Xt = fitted._transform(X)
    assert Xt.shape == (len(X), 9)
    assert fitted.network_.trunk[0].in_features == 9
    onehot_block = Xt[:, 4:]
    assert set(np.unique(onehot_block)) == {0.0, 1.0}
    np.testing.assert_array_equal(onehot_block.sum(axis=1), 2.0)


def test_unseen_and_missing_category_at_predict_time(fitted, data):
    X, _ = data
    new = X.head(4).copy()
    new["ward"] = ["obstetrics", None, "icu", "never-seen"]
    new.loc[new.index[0], "a"] = np.nan
    P = fitted.predict_proba(new)
    assert P.shape == (4, 3)
    assert np.isfinite(P).all()


def test_estimator_from_config(small_tables):
    cfg, _ = small_tables
    est = estimator_from_config(cfg)
    assert est.hidden == tuple(cfg.model.hidden)
    assert est.epochs == cfg.train.epochs and est.seed == cfg.train.seed
    assert clone(est).get_params() == est.get_params()


def test_loss_reduction_matters_only_when_labels_are_missing(data):
    X, Y = data
    full = Y.fillna(0.0)
    fit = lambda labels, how: MultiOutcomeClassifier(**PARAMS, loss_reduction=how).fit(  # noqa: E731
        X.iloc[:240], labels.iloc[:240], X.iloc[240:], labels.iloc[240:]).predict_proba(X)
    # every label present: per-outcome mean and per-batch mean are the same loss
    np.testing.assert_allclose(fit(full, "batch"), fit(full, "outcome"), rtol=1e-5, atol=1e-6)
    # labels missing: "batch" gives the sparse outcomes less say, so the fits differ
    assert np.abs(fit(Y, "batch") - fit(Y, "outcome")).max() > 1e-4


def test_unknown_loss_reduction_is_a_config_error(data):
    from mtl_core.errors import ConfigError
    X, Y = data
    with pytest.raises(ConfigError, match="loss_reduction.*batch, outcome"):
        MultiOutcomeClassifier(**PARAMS, loss_reduction="sum").fit(X, Y)


def test_estimator_from_config_passes_loss_reduction(small_tables):
    cfg, _ = small_tables
    assert cfg.train.loss_reduction == "batch"
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"loss_reduction": "outcome"})})
    assert estimator_from_config(cfg).loss_reduction == "outcome"


def test_preprocessor_statistics_come_from_a_seeded_sample_of_large_training_sets(data, monkeypatch):
    """Above PREPROCESSOR_FIT_ROWS rows the imputer / scaler / bins are fitted on a seeded sample (memory
    at a million rows); at or below it on every row, as before."""
    import mtl_core.network.estimator as estimator

    X, Y = data
    whole = MultiOutcomeClassifier(**PARAMS).fit(X, Y, X, Y)
    imputer = lambda est: est.preprocessor_.named_transformers_["num"].named_steps["impute"]  # noqa: E731
    assert np.allclose(imputer(whole).statistics_, X[["a", "b", "c"]].median())
    monkeypatch.setattr(estimator, "PREPROCESSOR_FIT_ROWS", 100)
    sample = estimator.fit_sample(X, seed=PARAMS["seed"])
    assert len(sample) == 100 and sample.index.is_monotonic_increasing
    assert sample.equals(estimator.fit_sample(X, seed=PARAMS["seed"]))
    capped = MultiOutcomeClassifier(**PARAMS).fit(X, Y, X, Y)
    assert np.allclose(imputer(capped).statistics_, sample[["a", "b", "c"]].median())
    assert not np.allclose(imputer(capped).statistics_, imputer(whole).statistics_)
    assert capped.predict_proba(X).shape == (len(X), Y.shape[1])

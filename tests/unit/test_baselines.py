"""Single-task baselines: shapes, labelled rows only, unfittable outcomes, the registry, network settings."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import mtl_core.ensemble.baselines as baselines
from mtl_core.ensemble.baselines import BASELINES, fit_baselines
from mtl_core.errors import ConfigError
from mtl_core.evaluation.metrics import auroc
from mtl_core.network.estimator import MultiOutcomeClassifier

NET = dict(hidden=(16,), head_hidden=0, dropout=0.0, epochs=6, batch_size=64, lr=3e-3, weight_decay=0.0,
           patience=3, seed=3)
OUTCOMES = ["separable", "mostly_unlabelled", "one_class"]


def make_split(n: int, seed: int):
    """Numeric + categorical features (with gaps); a linearly separable outcome, a rarely labelled one,
    and one that is always 0."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(5)})
    X["ward"] = rng.choice(["icu", "med", "surg"], n)
    X.loc[rng.random(n) < 0.05, "x4"] = np.nan
    score = X["x0"] + 0.8 * X["x1"] - 0.5 * (X["ward"] == "icu")
    Y = pd.DataFrame({
        "separable": (score > 0.2).astype(float),
        "mostly_unlabelled": (X["x2"] + 0.5 * rng.normal(size=n) > 0.5).astype(float),
        "one_class": np.zeros(n),
    })
    Y.loc[rng.random(n) < 0.85, "mostly_unlabelled"] = np.nan
    return X, Y


@pytest.fixture(scope="module")
def data():
    return {split: make_split(n, seed) for split, n, seed in (("train", 700, 0), ("val", 300, 1),
                                                              ("test", 400, 2))}


@pytest.fixture(scope="module")
def fitted(data):
    (Xtr, Ytr), (Xv, Yv), (Xte, _) = data["train"], data["val"], data["test"]
    log = []
    out = fit_baselines(Xtr, Ytr, Xv, Yv, Xte, OUTCOMES, network_params=NET, seed=0,
                        progress=lambda kind, outcome, info: log.append((kind, outcome, info)))
    return out, log


def test_every_kind_and_outcome_has_test_probabilities_or_none(fitted, data):
    out, _ = fitted
    n_test = len(data["test"][0])
    assert list(out) == ["logistic", "hist_gb", "single_task_net", "lightgbm"]
    for kind, per_outcome in out.items():
        assert list(per_outcome) == OUTCOMES
        assert per_outcome["one_class"] is None, kind
        if kind == "lightgbm":  # no category of 10 levels here (ward has 3): not fitted (tests/unit/test_lgbm.py)
            assert all(p is None for p in per_outcome.values())
            continue
        for name in ("separable", "mostly_unlabelled"):
            p = per_outcome[name]
            assert isinstance(p, np.ndarray) and p.shape == (n_test,), (kind, name)
            assert np.isfinite(p).all() and p.min() >= 0.0 and p.max() <= 1.0


def test_baselines_rank_the_separable_outcome(fitted, data):
    out, _ = fitted
    y = data["test"][1]["separable"].to_numpy()
    assert auroc(y, out["logistic"]["separable"]) > 0.97
    assert auroc(y, out["hist_gb"]["separable"]) > 0.9
    assert auroc(y, out["single_task_net"]["separable"]) > 0.9


def test_mostly_unlabelled_outcome_fits_on_its_labelled_rows(fitted, data):
    out, log = fitted
    Ytr = data["train"][1]
    labelled = int(Ytr["mostly_unlabelled"].notna().sum())
    assert labelled < 0.25 * len(Ytr)
    info = {(k, o): i for k, o, i in log}
    for kind in BASELINES:
        assert info[(kind, "mostly_unlabelled")]["n_train"] == labelled
        assert info[(kind, "mostly_unlabelled")]["fitted"] is (kind != "lightgbm")
        assert info[(kind, "one_class")]["fitted"] is False
    y = data["test"][1]["mostly_unlabelled"].to_numpy()
    assert auroc(y, out["logistic"]["mostly_unlabelled"]) > 0.75


def test_unlabelled_rows_have_no_influence(data):
    """Dropping the unlabelled rows up front (and scrambling their features) changes nothing."""
    (Xtr, Ytr), (Xv, Yv), (Xte, _) = data["train"], data["val"], data["test"]
    keep = Ytr["mostly_unlabelled"].notna().to_numpy()
    scrambled = Xtr.copy()
    scrambled.loc[~keep, "x0"] = 1e3
    kw = dict(network_params=NET, kinds=("logistic", "hist_gb"))
    a = fit_baselines(scrambled, Ytr, Xv, Yv, Xte, ["mostly_unlabelled"], **kw)
    b = fit_baselines(Xtr[keep], Ytr[keep], Xv, Yv, Xte, ["mostly_unlabelled"], **kw)
    for kind in ("logistic", "hist_gb"):
        np.testing.assert_array_equal(a[kind]["mostly_unlabelled"], b[kind]["mostly_unlabelled"])


def test_label_arrays_work_like_frames_and_runs_are_deterministic(data):
    (Xtr, Ytr), (Xv, Yv), (Xte, _) = data["train"], data["val"], data["test"]
    names = ["one_class", "mostly_unlabelled"]   # by position: the array columns follow `outcomes`
    kw = dict(network_params=NET, kinds=("logistic", "single_task_net"), seed=0)
    frames = fit_baselines(Xtr, Ytr, Xv, Yv, Xte, names, **kw)
    arrays = fit_baselines(Xtr, Ytr[names].to_numpy(), Xv, Yv[names].to_numpy(), Xte, names, **kw)
    for kind in kw["kinds"]:
        assert frames[kind]["one_class"] is None and arrays[kind]["one_class"] is None
        np.testing.assert_array_equal(frames[kind]["mostly_unlabelled"], arrays[kind]["mostly_unlabelled"])


def test_single_task_net_uses_the_multitask_settings_and_shared_validation(data, monkeypatch):
    seen = []

    class Recording(MultiOutcomeClassifier):
        def fit(self, X, Y, X_val=None, Y_val=None, callbacks=()):
            seen.append({"params": self.get_params(), "columns": list(Y.columns), "n": len(X),
                         "n_val": None if X_val is None else len(X_val)})
            return super().fit(X, Y, X_val, Y_val, callbacks)

    monkeypatch.setattr(baselines, "MultiOutcomeClassifier", Recording)
    (Xtr, Ytr), (Xv, Yv), (Xte, _) = data["train"], data["val"], data["test"]
    Yv = Yv.copy()
    Yv["mostly_unlabelled"] = 0.0   # validation cannot rank this one: the net carves its own holdout
    out = fit_baselines(Xtr, Ytr, Xv, Yv, Xte, OUTCOMES[:2], network_params=NET,
                        kinds=("single_task_net",), seed=99)
    assert [s["columns"] for s in seen] == [["separable"], ["mostly_unlabelled"]]
    for s in seen:
        assert {k: s["params"][k] for k in NET} == NET          # the seed too: network_params wins
        assert s["params"]["sharing"] == "soft" and s["params"]["soft_lambda"] == 0.0  # nothing shared
    assert seen[0]["n_val"] == len(Xv) and seen[0]["n"] == len(Xtr)
    assert seen[1]["n_val"] is None
    assert out["single_task_net"]["mostly_unlabelled"] is not None
    # each outcome's network is the multi-task trunk's layers with one head, sharing nothing
    net = baselines.fit_single_task_nets(Xtr, Ytr[["separable"]], Xv, Yv[["separable"]], NET)["separable"].model.network_
    body = net.towers[0][0]
    assert [m.out_features for m in body if hasattr(m, "out_features")] == list(NET["hidden"])
    assert len(net.towers) == 1 and not net.shared_parameters()


def test_unknown_kind_is_a_config_error_naming_the_known_ones(data):
    (Xtr, Ytr), (Xv, Yv), (Xte, _) = data["train"], data["val"], data["test"]
    with pytest.raises(ConfigError, match="random_forest.*hist_gb"):
        fit_baselines(Xtr, Ytr, Xv, Yv, Xte, OUTCOMES, network_params=NET, kinds=("logistic", "random_forest"))


def test_rare_outcome_without_enough_positives_for_early_stopping_still_fits(data):
    (Xtr, Ytr), _, (Xte, _) = data["train"], data["val"], data["test"]
    Y = pd.DataFrame({"rare": np.zeros(len(Ytr))})
    Y.loc[Y.index[:3], "rare"] = 1.0   # three positives: too few for a stratified early-stopping holdout
    out = fit_baselines(Xtr, Y, None, None, Xte, ["rare"], network_params=NET, kinds=("logistic", "hist_gb"))
    for kind in ("logistic", "hist_gb"):
        assert out[kind]["rare"].shape == (len(Xte),)


def test_hist_gb_keeps_the_setting_that_ranks_best_on_its_stop_rows(monkeypatch):
    X, Y = make_split(1500, 5)
    y = Y["separable"].to_numpy()
    useless = {"learning_rate": 1e-9, "max_leaf_nodes": 2, "min_samples_leaf": 700, "l2_regularization": 0.0}
    useful = {"learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 20, "l2_regularization": 1.0}
    for grid in ((useless, useful), (useful, useless)):
        monkeypatch.setattr(baselines, "HIST_GB_GRID", grid)
        model = baselines.fit_hist_gb(baselines.Task("separable", X, y, None, None, 0)).model.named_steps["model"]
        assert model.learning_rate == 0.1 and model.n_iter_ > 1
    # too few of a class to early-stop: the first setting, 100 rounds, no split
    few = np.zeros(len(y))
    few[:10] = 1
    monkeypatch.setattr(baselines, "HIST_GB_GRID", (useful, useless))
    model = baselines.fit_hist_gb(baselines.Task("rare", X, few, None, None, 0)).model.named_steps["model"]
    assert model.n_iter_ == 100 and model.min_samples_leaf == 20

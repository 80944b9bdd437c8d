"""The wide path, cross-fitting folds, the per-outcome stacker and the stacked model."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from mtl_core.ensemble.baselines import fit_baselines
from mtl_core.ensemble.folds import SizeRule, group_folds, plan_folds
from mtl_core.ensemble.members import MTL, fit_mtl_member, fit_single_member
from mtl_core.ensemble.stacked import StackedMultiOutcome, stack
from mtl_core.ensemble.stacking import fit_combiner, logit
from mtl_core.evaluation.metrics import auroc
from mtl_core.network.estimator import MultiOutcomeClassifier, validation_proba

FAST = {"hidden": (16,), "epochs": 15, "patience": 4, "batch_size": 128, "seed": 0}


def linear_problem(n: int, k: int = 2, p: int = 20, seed: int = 0):
    """Labels from a logistic model with many weak linear effects: what a logistic regression fits best."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(rng.normal(size=(n, p)), columns=[f"x{i}" for i in range(p)])
    W = rng.normal(scale=0.35, size=(p, k))
    P = 1 / (1 + np.exp(-(X.to_numpy() @ W - 1.0)))
    Y = pd.DataFrame((rng.random((n, k)) < P).astype(float), columns=[f"y{j}" for j in range(k)])
    return X, Y


def test_wide_path_reaches_logistic_regression_on_linear_data():
    X, Y = linear_problem(3000, k=3)
    tr, va, te = slice(0, 2000), slice(2000, 2500), slice(2500, 3000)
    # a one-unit trunk cannot carry three outcomes' different linear scores: only the wide path can
    params = dict(hidden=(1,), epochs=200, patience=20, lr=3e-3, seed=0)
    narrow = MultiOutcomeClassifier(**params, wide=False).fit(X[tr], Y[tr], X[va], Y[va])
    wide = MultiOutcomeClassifier(**params, wide=True).fit(X[tr], Y[tr], X[va], Y[va])
    for k, o in enumerate(Y.columns):
        y = Y[o].to_numpy()
        lr = LogisticRegression(max_iter=2000).fit(X[tr], y[tr]).predict_proba(X[te])[:, 1]
        reference = auroc(y[te], lr)
        assert auroc(y[te], wide.predict_proba(X[te])[:, k]) >= reference - 0.01
        assert auroc(y[te], narrow.predict_proba(X[te])[:, k]) < reference - 0.01  # the test can fail


def test_wide_parameters_belong_to_their_outcome():
    X, Y = linear_problem(200, k=3)
    est = MultiOutcomeClassifier(**FAST, wide=True).fit(X[:150], Y[:150], X[150:], Y[150:])
    net = est.network_
    shared = {id(p) for p in net.shared_parameters()}
    for k in range(3):
        own = {id(p) for p in net.task_parameters(k)}
        assert id(net.wide[k].weight) in own and not own & shared
        assert all(id(net.wide[j].weight) not in own for j in range(3) if j != k)


def test_crossfit_never_puts_a_patient_in_two_folds():
    rng = np.random.default_rng(1)
    patients = rng.integers(0, 400, size=3000)  # several rows (admissions) per patient
    Y = rng.integers(0, 2, size=(3000, 2)).astype(float)
    plan = plan_folds(rng.random(3000) < 0.2, patients, Y, SizeRule(folds=5), seed=3)
    assert plan.mode == "crossfit" and plan.n_fits == 5
    held = [set(patients[rows]) for rows in plan.held_rows]
    for i in range(5):
        for j in range(i + 1, 5):
            assert not held[i] & held[j]
        assert not held[i] & set(patients[plan.fit_rows[i]])       # never trained on and held out
    assert sorted(np.concatenate(plan.held_rows)) == list(range(3000))  # every row held out once
    assert (group_folds(patients, 5, 3) == group_folds(patients, 5, 3)).all()


def test_networks_early_stop_on_stop_rows_never_on_the_rows_a_fold_holds_out(monkeypatch):
    rng = np.random.default_rng(2)
    patients = rng.integers(0, 300, size=1500)
    X, Y = linear_problem(1500, k=2, seed=2)
    plan = plan_folds(np.zeros(1500, bool), patients, Y.to_numpy(), SizeRule(folds=3), mode="crossfit")
    for i in range(plan.n_fits):
        train, stop = plan.stop_split(i)
        assert not set(patients[stop]) & set(patients[train])          # a patient's rows stay together
        assert not set(stop) & set(plan.held_rows[i])                   # not held out ...
        assert sorted(np.concatenate([train, stop])) == sorted(plan.fit_rows[i])  # ... but fit rows
        assert 0.08 < len(stop) / len(plan.fit_rows[i]) < 0.26         # about a sixth
    holdout = plan_folds(np.arange(1500) >= 1200, patients, Y.to_numpy(), mode="holdout")
    assert holdout.stop_rows == () and [len(r) for r in holdout.stop_split(0)] == [1200, 300]
    seen = []  # (training index, early-stopping index) of every network fitted
    fit = MultiOutcomeClassifier.fit

    def spy(self, X_, Y_, X_val=None, Y_val=None, **kw):
        seen.append((set(X_.index), set(X_val.index)))
        return fit(self, X_, Y_, X_val, Y_val, **kw)

    monkeypatch.setattr(MultiOutcomeClassifier, "fit", spy)
    fit_mtl_member(dict(FAST, epochs=2), X, Y, plan)
    fit_single_member("single_task_net", X, Y, plan, dict(FAST, epochs=2))
    assert len(seen) == 2 * plan.n_fits
    for n, (trained, stopped) in enumerate(seen):
        i = n % plan.n_fits
        assert stopped == set(X.index[plan.stop_rows[i]]) and not stopped & trained
        assert not stopped & set(X.index[plan.held_rows[i]])


def test_size_rule_keeps_a_holdout_for_large_validation_splits():
    rng = np.random.default_rng(2)
    n = 20000
    Y = (rng.random((n, 2)) < 0.1).astype(float)
    is_val = rng.random(n) < 0.15
    assert plan_folds(is_val, np.arange(n), Y, SizeRule()).mode == "holdout"
    Y[:, 1] = (rng.random(n) < 0.01).astype(float)  # a rare outcome: ~30 events in validation
    small = plan_folds(is_val, np.arange(n), Y, SizeRule())
    assert small.mode == "crossfit" and "sparsest outcome" in small.reason


def test_combiner_weights_are_non_negative_sum_to_one_and_favour_the_informative_member():
    rng = np.random.default_rng(0)
    n = 4000
    signal = rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-2 * signal))).astype(float)
    Z = np.column_stack([signal + rng.normal(scale=0.3, size=n),    # informative
                         rng.normal(size=n),                       # noise
                         -signal])                                 # anti-informative
    c = fit_combiner(Z, y)
    w = np.asarray(c.weights)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0)
    assert w[0] > 0.9 and w[2] == 0.0 and c.scale > 0
    one_class = fit_combiner(Z, np.ones(n))
    assert one_class.weights == (1.0, 0.0, 0.0)


def test_core_pull_holds_a_near_tie_at_the_network_and_yields_to_many_rows():
    def data(n, core_noise, other_noise, seed):
        rng = np.random.default_rng(seed)
        signal = rng.normal(size=n)
        y = (rng.random(n) < 1 / (1 + np.exp(-2 * signal))).astype(float)
        return np.column_stack([signal + rng.normal(scale=core_noise, size=n),
                                signal + rng.normal(scale=other_noise, size=n)]), y

    Z, y = data(300, 0.8, 0.7, 1)   # a few hundred rows, the other member a little better
    pulled, ridged = fit_combiner(Z, y, core=0), fit_combiner(Z, y)
    assert pulled.weights[0] > ridged.weights[0] + 0.1 and pulled.weights[0] > 0.5
    assert sum(pulled.weights) == pytest.approx(1.0) and min(pulled.weights) >= 0
    Z, y = data(20_000, 1.5, 0.3, 2)  # many rows, the other member far better: the rows win
    assert fit_combiner(Z, y, core=0).weights[1] > 0.8


def _members(X, Y, plan):
    members = [fit_mtl_member(dict(FAST), X, Y, plan)]
    members += [fit_single_member(kind, X, Y, plan, dict(FAST)) for kind in ("logistic", "hist_gb")]
    return members


def test_stacked_model_weights_use_held_out_rows_only():
    X, Y = linear_problem(1200, k=2, seed=4)
    Y.iloc[::7, 1] = np.nan  # an outcome with missing labels
    patients = np.arange(1200) // 2
    plan = plan_folds(np.zeros(1200, bool), patients, Y.to_numpy(), SizeRule(folds=3), mode="crossfit")
    members = _members(X, Y, plan)
    model = stack(members, Y, plan)
    for weights in model.weights().values():
        assert all(w >= 0 for w in weights.values()) and sum(weights.values()) == pytest.approx(1.0)
        assert set(weights) == {MTL, "logistic", "hist_gb"}
    # the stacker sees held-out predictions only: replacing what members predicted for their own
    # training rows cannot change it (every row is held out exactly once when cross-fitting)
    again = stack(members, Y, plan)
    assert again.weights() == model.weights()
    P = model.predict_proba(X.head(50))
    assert P.shape == (50, 2) and np.isfinite(P).all() and ((P > 0) & (P < 1)).all()
    # validation_proba gives the out-of-fold ensemble predictions, not in-sample ones
    held = validation_proba(model, X.iloc[100:200])
    assert np.allclose(held, model.held_.loc[X.index[100:200]].to_numpy())
    assert not np.allclose(held, model.predict_proba(X.iloc[100:200]))
    assert isinstance(pickle.loads(pickle.dumps(model)), StackedMultiOutcome)


def test_a_member_fitted_on_some_folds_only_gets_no_weight_on_that_outcome():
    """As the LightGBM member when a category has 10 levels in some folds' training rows and 9 in others."""
    import copy

    X, Y = linear_problem(900, k=2, seed=6)
    plan = plan_folds(np.zeros(900, bool), np.arange(900), Y.to_numpy(), SizeRule(folds=3), mode="crossfit")
    members = _members(X, Y, plan)
    gaps = copy.deepcopy(members[2])
    gaps.fits[0]["y0"] = None
    gaps.held[plan.held_rows[0], 0] = np.nan
    model = stack(members[:2] + [gaps], Y, plan)
    assert model.weights()["y0"]["hist_gb"] == 0.0
    P = model.predict_proba(X.head(50))
    assert np.isfinite(P).all()
    assert np.isfinite(gaps.predict_proba(X.head(50))).all()  # the folds that fitted y0 still predict it


def test_holdout_stacking_ignores_training_rows():
    X, Y = linear_problem(1000, k=2, seed=5)
    is_val = np.arange(1000) >= 700
    plan = plan_folds(is_val, np.arange(1000), Y.to_numpy(), mode="holdout")
    members = _members(X, Y, plan)
    model = stack(members, Y, plan)
    Y_changed = Y.copy()
    Y_changed.iloc[:700] = 1 - Y_changed.iloc[:700]  # training labels flipped after the fits
    assert stack(members, Y_changed, plan).weights() == model.weights()
    assert list(model.held_.index) == list(X.index[700:])


def test_single_task_members_match_the_baselines_on_a_holdout():
    X, Y = linear_problem(900, k=2, seed=6)
    tr, va, te = slice(0, 600), slice(600, 750), slice(750, 900)
    Xtv, Ytv = X.iloc[:750], Y.iloc[:750]
    plan = plan_folds(np.arange(750) >= 600, np.arange(750), Ytv.to_numpy(), mode="holdout")
    member = fit_single_member("logistic", Xtv, Ytv, plan, dict(FAST))
    direct = fit_baselines(X[tr], Y[tr], X[va], Y[va], X[te], list(Y.columns), network_params=FAST,
                           kinds=("logistic",))
    for k, o in enumerate(Y.columns):
        assert np.allclose(member.predict_proba(X[te])[:, k], direct["logistic"][o], atol=1e-9)


def test_logit_is_finite_at_the_edges():
    assert np.isfinite(logit(np.array([0.0, 1.0, 0.5]))).all()


def test_piecewise_linear_encoding_by_hand():
    from mtl_core.network.encoding import PiecewiseLinear

    enc = PiecewiseLinear(n_bins=2).fit(np.array([[0.0], [1.0], [2.0], [3.0], [4.0]]))
    np.testing.assert_allclose(enc.edges_[0], [0.0, 2.0, 4.0])     # quantiles 0, .5, 1
    out = enc.transform(np.array([[-1.0], [1.0], [2.0], [3.0], [9.0]]))
    np.testing.assert_allclose(out, [[0, 0], [0.5, 0], [1, 0], [1, 0.5], [1, 1]])
    assert list(enc.get_feature_names_out(["age"])) == ["age_bin0", "age_bin1"]
    constant = PiecewiseLinear(4).fit(np.ones((5, 1)))
    assert constant.transform(np.ones((2, 1))).shape == (2, 1)


def test_ple_lets_the_network_bend_a_threshold_risk():
    """Risk jumps above a threshold of one lab value: with the bins even a linear model has the step."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(3000, 1))
    y = (rng.random(3000) < np.where(x[:, 0] > 1.0, 0.6, 0.05)).astype(float)
    X, Y = pd.DataFrame(x, columns=["lactate"]), pd.DataFrame({"shock": y})
    params = dict(hidden=(), epochs=80, patience=10, lr=1e-2, seed=0, wide=False)  # a linear model
    plain = MultiOutcomeClassifier(**params, numeric_encoding="standard").fit(X[:2000], Y[:2000], X[2000:2500], Y[2000:2500])
    ple = MultiOutcomeClassifier(**params, numeric_encoding="ple").fit(X[:2000], Y[:2000], X[2000:2500], Y[2000:2500])
    p_plain, p_ple = plain.predict_proba(X[2500:])[:, 0], ple.predict_proba(X[2500:])[:, 0]
    brier = lambda p: float(np.mean((p - y[2500:]) ** 2))  # noqa: E731 - calibration of the bent curve
    assert brier(p_ple) < brier(p_plain)

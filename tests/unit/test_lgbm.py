"""The LightGBM member (mtl_core/ensemble/lgbm.py): native categorical splits beat one-hot trees on a
many-level category, its encoding survives unseen levels and odd names, it pickles with the model, and
its TreeSHAP contributions add up exactly, alone and inside the stack."""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pandas as pd
import pytest

from mtl_core.config import Config
from mtl_core.dataset.features import typical_row
from mtl_core.ensemble.baselines import Task, fit_hist_gb, fit_lightgbm, fit_single
from mtl_core.ensemble.fitting import fit_model
from mtl_core.ensemble.lgbm import BAG, MIN_LEVELS, Bag, Categories, contributions
from mtl_core.ensemble.stacking import Combiner
from mtl_core.evaluation.additive import member_contributions
from mtl_core.evaluation.explain import _logit, predictor_groups
from mtl_core.evaluation.metrics import auroc
from tests.clinics import clinics

COLUMNS = ["age", "clinic [site]", "sex"]


def test_native_categories_beat_one_hot_trees_on_a_many_level_predictor():
    X, y = clinics(4000, 0)
    Xt, yt = clinics(4000, 1)
    task = Task("risk", X, y, None, None, seed=0)
    native = auroc(yt, fit_lightgbm(task)(Xt))
    one_hot = auroc(yt, fit_hist_gb(task)(Xt))
    assert native > one_hot + 0.01, (native, one_hot)


def test_categories_keep_numbers_and_make_unseen_levels_missing():
    X, _ = clinics(300, 0)
    pre = Categories().fit(X)
    new = pd.DataFrame({"age": [40.0, np.nan], "clinic [site]": ["clinic 3", "a clinic never seen"],
                        "sex": ["F", None]})
    E = pre.transform(new)
    assert list(E.columns) == ["c0", "c1", "c2"] and pre.columns_ == COLUMNS
    assert E["c0"].dtype == float and np.isnan(E["c0"].iloc[1])
    assert E["c1"].iloc[0] == "clinic 3" and pd.isna(E["c1"].iloc[1]) and pd.isna(E["c2"].iloc[1])
    assert list(E["c2"].cat.categories) == ["F", "M"]


def test_rare_outcome_fits_with_fixed_rounds_and_pickles():
    X, y = clinics(600, 0)
    y = np.zeros(len(y))
    y[:8] = 1.0  # too few positives to early-stop
    predict = fit_lightgbm(Task("rare", X, y, None, None, seed=0))
    again = pickle.loads(pickle.dumps(predict))
    np.testing.assert_array_equal(predict(X), again(X))
    assert predict.model.named_steps["model"].n_estimators == 100


def test_contributions_sum_to_the_change_of_the_margin():
    X, y = clinics(3000, 0)
    model = fit_lightgbm(Task("risk", X, y, None, None, seed=0)).model
    rows, ref = X.head(200), typical_row(X)
    values, owners = contributions(model, rows, ref)
    margin = model.named_steps["model"].predict(model.named_steps["pre"].transform(pd.concat([rows, ref])),
                                                raw_score=True)
    np.testing.assert_allclose(values.sum(1), margin[:-1] - margin[-1], atol=1e-9)
    assert owners == COLUMNS
    mean = np.abs(values).mean(0)
    assert mean[1] > 3 * mean[2], mean  # the clinic carries the risk, sex none


def test_the_chosen_setting_is_bagged_and_its_margin_is_the_mean_of_its_models():
    X, y = clinics(3000, 0)
    bag = fit_lightgbm(Task("risk", X, y, None, None, seed=0)).model.named_steps["model"]
    assert isinstance(bag, Bag) and len(bag.models) == BAG
    settings = [{k: m.get_params()[k] for k in ("learning_rate", "num_leaves")} for m in bag.models]
    assert all(s == settings[0] for s in settings)  # one setting, fitted on other row samples
    assert [m.get_params()["subsample"] for m in bag.models] == [1.0] + [0.8] * (BAG - 1)
    E = Categories().fit(X).transform(X.head(50))
    margins = np.array([m.predict(E, raw_score=True) for m in bag.models])
    assert np.ptp(margins, axis=0).max() > 1e-3  # the models differ
    np.testing.assert_allclose(bag.predict(E, raw_score=True), margins.mean(0))
    np.testing.assert_allclose(bag.predict_proba(E)[:, 1], 1 / (1 + np.exp(-margins.mean(0))))


def test_a_single_model_saved_before_bagging_is_still_explained_exactly():
    X, y = clinics(3000, 0)
    model = fit_lightgbm(Task("risk", X, y, None, None, seed=0)).model
    single = copy.deepcopy(model)
    single.steps[-1] = ("model", model.named_steps["model"].models[0])  # what a model saved before bagging holds
    rows, ref = X.head(100), typical_row(X)
    values, _ = contributions(single, rows, ref)
    margin = single.named_steps["model"].predict(single.named_steps["pre"].transform(pd.concat([rows, ref])),
                                                 raw_score=True)
    np.testing.assert_allclose(values.sum(1), margin[:-1] - margin[-1], atol=1e-9)


def _frame(X: pd.DataFrame) -> pd.DataFrame:
    f = X.copy()
    f.insert(0, "subject_id", np.arange(len(f)))
    f.insert(0, "hadm_id", np.arange(len(f)))
    f["split"] = np.where(np.arange(len(f)) % 10 < 7, "train", np.where(np.arange(len(f)) % 10 < 8, "val", "test"))
    return f


def _stack(f: pd.DataFrame, y: np.ndarray, baselines: list[str]):
    Y = pd.DataFrame({"a": y, "b": (np.random.default_rng(5).random(len(y)) < 0.3).astype(float)})
    cfg = Config.model_validate({"source": {"kind": "tabular", "path": "u.csv", "id_column": "stay_id"},
                                 "outcomes": ["a", "b"], "model": {"hidden": [16], "fitting": "crossfit", "folds": 3},
                                 "train": {"epochs": 5, "patience": 2}, "evaluation": {"baselines": baselines}})
    return fit_model(cfg, f, Y).model


@pytest.fixture(scope="module")
def stacked():
    X, y = clinics(2400, 0)
    f = _frame(X)
    return f, _stack(f, y, ["logistic", "lightgbm"])


def test_not_fitted_without_a_category_of_many_levels_and_the_stack_is_unchanged():
    X, y = clinics(1500, 0, levels=MIN_LEVELS - 1)
    assert fit_single("lightgbm", Task("risk", X, y, None, None, seed=0)) is None
    f = _frame(X)
    without, beside = _stack(f, y, ["logistic"]), _stack(f, y, ["logistic", "lightgbm"])
    assert beside.member_kinds_ == ["mtl", "logistic"]  # left out, so no report lists it
    rows = f.loc[f["split"] == "test", COLUMNS]
    np.testing.assert_array_equal(beside.predict_proba(rows), without.predict_proba(rows))


def test_a_stack_of_linear_and_lightgbm_members_is_explained_exactly(stacked):
    f, model = stacked
    alone = copy.copy(model)  # the network's weight moved to the others: nothing approximate is left
    i = model.member_kinds_.index("mtl")
    alone.combiners_ = []
    for c in model.combiners_:
        w = [0.0 if j == i else v for j, v in enumerate(c.weights)]
        w = [1.0 if j == model.member_kinds_.index("lightgbm") else 0.0 for j in range(len(w))] if sum(w) == 0 else w
        alone.combiners_.append(Combiner(tuple(v / sum(w) for v in w), c.scale, c.bias))
    assert model.member_kinds_[-1] == "lightgbm"
    X = f.loc[f["split"] == "test", COLUMNS]
    ref = typical_row(f.loc[f["split"] == "train", COLUMNS])
    c = member_contributions(alone, X, ref, predictor_groups(COLUMNS))
    np.testing.assert_allclose(c.logit, _logit(alone.predict_proba(X)), atol=1e-9)
    np.testing.assert_allclose(c.values.sum(1), c.logit - c.reference, atol=1e-6)
    assert np.abs(c.rest).max() < 1e-6

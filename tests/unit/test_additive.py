"""Fast per-patient contributions (issue 19): each member's own additive attribution (linear for the
logistic member, shap's TreeExplainer for gradient boosting, captum's DeepLift for the networks), combined
through the stack's weights, add up to the registered model's logit minus the reference patient's, and
agree with the model-agnostic baseline Shapley values."""
from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from mtl_core.dataset.features import typical_row
from mtl_core.dataset.structure import unprojected_proba
from mtl_core.ensemble.fitting import fit_model
from mtl_core.ensemble.stacking import Combiner
from mtl_core.evaluation.additive import NotAdditive, _owners, member_contributions
from mtl_core.evaluation.contributions import baseline_shapley
from mtl_core.evaluation.explain import _logit, predictor_groups
from tests.unit.test_explain import COLUMNS, _fit, known_effects
from tests.unit.test_outcome_structure import HORIZONS, _config, horizon_cohort


@pytest.fixture(scope="module")
def crossfitted():
    f, Y = known_effects(n=2000, seed=1)
    return f, _fit(f, Y, "crossfit").model


def _rows(f, n=300):
    return f.loc[f["split"] == "test", COLUMNS].head(n), typical_row(f.loc[f["split"] == "train", COLUMNS])


def test_contributions_add_up_and_agree_with_baseline_shapley(crossfitted):
    f, model = crossfitted
    assert all(w > 0 for o in model.weights().values() for w in o.values()), model.weights()  # every member
    X, ref = _rows(f)
    groups = predictor_groups(COLUMNS)
    c = member_contributions(model, X, ref, groups)
    np.testing.assert_allclose(c.logit, _logit(model.predict_proba(X)), atol=1e-9)
    np.testing.assert_allclose(c.values.sum(1), c.logit - c.reference, atol=1e-6)  # DeepLift sums up here
    assert np.abs(c.rest).max() < 1e-6
    exact = baseline_shapley(model.predict_proba, X, ref, groups, orderings=8)
    for k in range(2):  # the same attribution up to the members' interactions (Shapley splits them evenly)
        assert np.corrcoef(c.values[:, :, k].ravel(), exact.values[:, :, k].ravel())[0, 1] > 0.99
    by = dict(zip(c.predictors, np.abs(c.values).mean(0)))
    assert by["only_a"][0] > 5 * by["null_1"][0] and by["only_b"][1] > 5 * by["null_2"][1]
    again = member_contributions(model, X.iloc[::-1], ref, groups)
    np.testing.assert_allclose(again.values[::-1], c.values, atol=1e-9)  # one row's answer is its own


def test_linear_and_tree_members_alone_are_exact(crossfitted):
    """Without the networks (their weights moved to the other members) no approximation is left at all."""
    f, model = crossfitted
    nets = copy.copy(model)
    i = model.member_kinds_.index("mtl")
    nets.combiners_ = []
    for c in model.combiners_:
        w = [0.0 if j == i else v for j, v in enumerate(c.weights)]
        nets.combiners_.append(Combiner(tuple(v / sum(w) for v in w), c.scale, c.bias))
    X, ref = _rows(f)
    c = member_contributions(nets, X, ref, predictor_groups(COLUMNS))
    np.testing.assert_allclose(c.values.sum(1), c.logit - c.reference, atol=1e-6)
    linear = baseline_shapley(nets.predict_proba, X, ref, predictor_groups(COLUMNS), orderings=8)
    for k in range(2):  # trees: path-dependent TreeSHAP differences, close to but not baseline Shapley
        assert np.corrcoef(c.values[:, :, k].ravel(), linear.values[:, :, k].ravel())[0, 1] > 0.99


def test_the_structure_projection_is_the_rest():
    f, Y = horizon_cohort(n=1500, seed=2)
    model = fit_model(_config({"chains": [list(HORIZONS)]}), f, Y).model
    cols = [c for c in f.columns if c.startswith("x")]
    X, ref = f.loc[f["split"] == "test", cols], typical_row(f.loc[f["split"] == "train", cols])
    c = member_contributions(model, X, ref, predictor_groups(cols))
    np.testing.assert_allclose(c.values.sum(1) + c.rest, c.logit - c.reference, atol=1e-9)
    changed = ~np.isclose(unprojected_proba(model, X), model.predict_proba(X), rtol=0, atol=1e-12).all(1)
    assert changed.any() and (~changed).sum() > 50
    assert np.abs(c.rest[~changed]).max() < 1e-6 < np.abs(c.rest[changed]).max()


def test_model_columns_map_back_to_their_predictor():
    from mtl_core.network.estimator import build_preprocessor

    X = pd.DataFrame({"lab": [1.0, np.nan, 3.0] * 10, "lab_max": [2.0, 5.0, np.nan] * 10,
                      "sex": ["F", "M", "F"] * 10})
    pre = build_preprocessor(X, "ple").fit(X)
    owners = _owners(pre, list(X.columns))
    names = list(pre.get_feature_names_out())
    assert len(owners) == len(names) and set(owners) == {"lab", "lab_max", "sex"}
    assert all(o == "lab_max" for n, o in zip(names, owners) if "lab_max" in n), list(zip(names, owners))
    with pytest.raises(NotAdditive):
        member_contributions(object(), X, X.head(1), {c: [c] for c in X.columns})

"""Per-patient explanations (issue 19): contributions add up to the model's logit minus the reference
patient's, to 1e-6, for the stacked model with and without an outcome structure; plain-words factors."""
from __future__ import annotations

import numpy as np
import pytest

from mtl_core.dataset.features import typical_row
from mtl_core.ensemble.fitting import fit_model
from mtl_core.evaluation.contributions import baseline_shapley, top_factors
from mtl_core.evaluation.explain import _logit, predictor_groups
from tests.unit.test_explain import COLUMNS, _fit, known_effects
from tests.unit.test_outcome_structure import HORIZONS, _config, horizon_cohort


@pytest.fixture(scope="module")
def stacked():
    f, Y = known_effects(n=2000, seed=1)
    return f, _fit(f, Y, "holdout").model


def test_contributions_add_up_to_the_logit_minus_the_reference(stacked):
    f, model = stacked
    X, ref = f.loc[f["split"] == "test", COLUMNS].head(200), typical_row(f.loc[f["split"] == "train", COLUMNS])
    c = baseline_shapley(model.predict_proba, X, ref, predictor_groups(COLUMNS))
    np.testing.assert_allclose(c.logit, _logit(model.predict_proba(X)), atol=1e-9)
    np.testing.assert_allclose(c.reference, _logit(model.predict_proba(ref))[0], atol=1e-9)
    np.testing.assert_allclose(c.values.sum(1), c.logit - c.reference, atol=1e-6)
    by = dict(zip(c.predictors, np.abs(c.values).mean(0)))
    # the known predictors carry several times a null one's share (4.9x on a, with the stack pulled toward its
    # small 10-epoch network, whose binned inputs pick up some noise)
    assert by["only_a"][0] > 4 * by["null_1"][0] and by["only_b"][1] > 4 * by["null_2"][1]
    again = baseline_shapley(model.predict_proba, X.iloc[::-1], ref, predictor_groups(COLUMNS))
    np.testing.assert_allclose(again.values[::-1], c.values, atol=1e-9)  # one row's answer is its own


def test_additive_through_the_outcome_structure_projection():
    f, Y = horizon_cohort(n=1500, seed=2)
    model = fit_model(_config({"chains": [list(HORIZONS)]}), f, Y).model
    cols = [c for c in f.columns if c.startswith("x")]
    X, ref = f.loc[f["split"] == "test", cols], typical_row(f.loc[f["split"] == "train", cols])
    c = baseline_shapley(model.predict_proba, X, ref, predictor_groups(cols), orderings=2)
    np.testing.assert_allclose(c.values.sum(1), c.logit - c.reference, atol=1e-6)


def test_top_factors_in_plain_words(stacked):
    f, model = stacked
    X, ref = f.loc[f["split"] == "test", COLUMNS].head(50), typical_row(f.loc[f["split"] == "train", COLUMNS])
    groups = predictor_groups(COLUMNS)
    c = baseline_shapley(model.predict_proba, X, ref, groups)
    words = top_factors(c, X, ref, groups, ["a", "b"], 3)
    assert list(words.columns) == [f"{o}_why_{i}" for o in ("a", "b") for i in (1, 2, 3)] and len(words) == 50
    first = words.loc[0, "a_why_1"]
    assert first.endswith(" points") and ("(high; typical" in first or "(low; typical" in first or "=" in first)
    p, p0 = 1 / (1 + np.exp(-c.logit)), 1 / (1 + np.exp(-c.reference))
    all_points = top_factors(c, X, ref, groups, ["a", "b"], len(groups))
    total = all_points.filter(like="a_why_").apply(lambda col: col.str.extract(r"([+-][\d.]+) points$")[0].astype(float))
    np.testing.assert_allclose(total.sum(1), 100 * (p[:, 0] - p0[0]), atol=0.05 * len(groups))  # rounding to 0.1

"""Global explanations (issue 19): on generated data with known effects, permutation importance of the
registered model recovers shared, outcome-specific and null predictors, on held-out rows only."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtl_core.config import Config
from mtl_core.config.review import ExplanationsConfig
from mtl_core.ensemble.fitting import fit_model
from mtl_core.evaluation.explain import explain, held_out_views, predictor_groups
from mtl_core.reports.card_sections import HONESTY, explanations_section
from mtl_core.reports.explain_plots import importance_matrix, write_heatmap

COLUMNS = ["shared", "only_a", "only_b", "null_1", "null_2", "ward"]
NULLS = ("null_1", "null_2", "ward")


def known_effects(n: int = 5000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """`shared` drives both outcomes (up for a, down for b), `only_a` and `only_b` one each, the rest none."""
    rng = np.random.default_rng(seed)
    f = pd.DataFrame({"shared": rng.normal(size=n), "only_a": rng.normal(size=n), "only_b": rng.normal(size=n),
                      "null_1": rng.normal(size=n), "null_2": rng.normal(size=n),
                      "ward": rng.choice(["east", "west", "north"], size=n)})
    za = -1.5 + 1.2 * f["shared"] + 1.0 * f["only_a"]
    zb = -1.5 - 1.2 * f["shared"] + 1.0 * f["only_b"]
    Y = pd.DataFrame({"a": (rng.random(n) < 1 / (1 + np.exp(-za))).astype(float),
                      "b": (rng.random(n) < 1 / (1 + np.exp(-zb))).astype(float)})
    Y.loc[rng.random(n) < 0.1, "b"] = np.nan  # unlabelled rows are left out of b's importance
    f.insert(0, "subject_id", np.arange(n))
    f.insert(0, "hadm_id", np.arange(n))
    f["split"] = np.where(np.arange(n) % 20 < 14, "train", np.where(np.arange(n) % 20 < 17, "val", "test"))
    return f, Y


def _fit(f, Y, fitting: str):
    cfg = Config.model_validate({"source": {"kind": "tabular", "path": "u.csv", "id_column": "stay_id"},
                                 "outcomes": ["a", "b"], "model": {"hidden": [16], "fitting": fitting, "folds": 3},
                                 "train": {"epochs": 10, "patience": 3},
                                 "evaluation": {"baselines": ["logistic", "hist_gb"]}})
    return fit_model(cfg, f, Y)


@pytest.fixture(scope="module")
def crossfitted():
    f, Y = known_effects()
    fitted = _fit(f, Y, "crossfit")
    tv = (f["split"] != "test").to_numpy()
    result = explain(fitted.model, fitted.plan, f.loc[tv, COLUMNS], Y[tv].to_numpy(), ["a", "b"],
                     ExplanationsConfig(max_rows=2000, n_boot=200))
    return f, Y, fitted, result


def test_fold_views_predict_exactly_the_out_of_fold_risks(crossfitted):
    f, _, fitted, _ = crossfitted
    tv = (f["split"] != "test").to_numpy()
    X, held = f.loc[tv, COLUMNS], fitted.model.held_
    views = held_out_views(fitted.model, fitted.plan)
    assert len(views) == 3 and sorted(np.concatenate([v.rows for v in views])) == list(range(int(tv.sum())))
    for v in views:  # each fold's members never saw these rows
        np.testing.assert_allclose(v.predict(X.iloc[v.rows]), held.loc[X.index[v.rows]].to_numpy(), atol=1e-12)


def test_importance_recovers_shared_specific_and_null_predictors(crossfitted):
    *_, result = crossfitted
    assert result["source"] == "out-of-fold" and result["rows"] == 2000
    ranked = {o: [r["predictor"] for r in rows] for o, rows in result["outcomes"].items()}
    assert set(ranked["a"][:2]) == {"shared", "only_a"} and set(ranked["b"][:2]) == {"shared", "only_b"}
    assert result["shared"]["shared"] == ["a", "b"]
    assert result["shared"]["only_a"] == ["a"] and result["shared"]["only_b"] == ["b"]
    for outcome, rows in result["outcomes"].items():
        by = {r["predictor"]: r for r in rows}
        other = "only_b" if outcome == "a" else "only_a"
        for name in (*NULLS, other):  # no effect: zero lies within the interval
            assert by[name]["lo"] <= 0 <= by[name]["hi"], (outcome, name, by[name])
            assert abs(by[name]["share"]) < 0.02
        assert by["shared"]["lo"] > 0 and by["shared"]["share_lo"] > 0.1
    a = {r["predictor"]: r for r in result["outcomes"]["a"]}
    b = {r["predictor"]: r for r in result["outcomes"]["b"]}
    assert a["shared"]["direction"] > 0.5 and b["shared"]["direction"] < -0.5  # raises a, lowers b
    assert a["ward"]["direction"] is None  # a category has no "higher"


def test_holdout_uses_validation_rows_and_the_item_aggregates_group():
    f, Y = known_effects(n=2000, seed=1)
    fitted = _fit(f, Y, "holdout")
    views = held_out_views(fitted.model, fitted.plan)
    tv = f["split"] != "test"
    assert len(views) == 1 and (f.loc[tv, "split"].to_numpy()[views[0].rows] == "val").all()
    groups = predictor_groups(["lactate_mean", "lactate_max", "age", "lactate_count", "chf"], ["lactate"])
    assert groups == {"lactate": ["lactate_mean", "lactate_max", "lactate_count"], "age": ["age"], "chf": ["chf"]}
    skipped = explain(fitted.model, fitted.plan, f.loc[tv, COLUMNS], Y[tv].to_numpy(), ["a", "b"],
                      ExplanationsConfig(max_predictors=3))
    assert "skipped" in skipped


def test_heat_map_and_model_card_section(crossfitted, tmp_path):
    *_, result = crossfitted
    outcomes, names, S, clear = importance_matrix(result)
    assert outcomes == ["a", "b"] and names[0] == "shared" and clear[0, 0] and clear[1, 0]
    path = write_heatmap(result, tmp_path / "explanations.png")
    assert path.stat().st_size > 10_000
    text = "\n".join(explanations_section(result))
    assert HONESTY in text and "Shared drivers" in text and "shared" in text
    assert "Specific to a: only_a" in text and "### b" in text
    assert "higher shared: lower risk" in text.split("### b")[1]


def test_effect_shapes_follow_the_known_effects(crossfitted, tmp_path):
    """Partial dependence (scikit-learn's) on held-out rows: `shared` raises a's risk and lowers b's,
    `only_a` moves a and hardly b; null predictors are never drawn (their importance interval holds 0)."""
    from mtl_core.reports.explain_plots import write_effects

    *_, result = crossfitted
    effects = result["effects"]
    assert effects["rows"] == 300 and "shared" in effects["per_outcome"]["a"] and "shared" in effects["per_outcome"]["b"]
    assert not {"null_1", "null_2"} & {c for cols in effects["per_outcome"].values() for c in cols}
    shared, only_a = effects["curves"]["shared"], effects["curves"]["only_a"]
    assert shared["a"][-1] - shared["a"][0] > 0.2 and shared["b"][0] - shared["b"][-1] > 0.2
    assert np.all(np.diff(shared["a"]) > -0.01)  # rises along the grid
    assert only_a["a"][-1] - only_a["a"][0] > 3 * abs(only_a["b"][-1] - only_a["b"][0])
    assert write_effects(result, tmp_path / "effects.png").stat().st_size > 10_000
    text = "\n".join(explanations_section(result))
    assert "Effect shapes" in text and "shared " in text.split("### a")[1].split("### b")[0]

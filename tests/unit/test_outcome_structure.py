"""Nested outcomes (issue 19): declared implications in the config, refused contradicting labels, and a
registered model whose risks always respect them at no cost in AUROC or Brier."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.isotonic import IsotonicRegression

from mtl_core.config import Config
from mtl_core.dataset.structure import OutcomeStructure, coherent, unprojected_proba
from mtl_core.ensemble.fitting import fit_model
from mtl_core.errors import DataError
from mtl_core.evaluation.metrics import auroc

HORIZONS = ("event_1y", "event_2y", "event_3y")


def _config(structure: dict | None = None, **model) -> Config:
    raw = {"source": {"kind": "tabular", "path": "unused.csv", "id_column": "stay_id"},
           "outcomes": list(HORIZONS), "split": {"seed": 3},
           "model": {"hidden": [16], "fitting": "holdout", **model},
           "train": {"epochs": 12, "patience": 3, "batch_size": 256},
           "evaluation": {"baselines": ["logistic", "hist_gb"]}}
    if structure is not None:
        raw["outcome_structure"] = structure
    return Config.model_validate(raw)


def horizon_cohort(n: int = 6000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Time to event from a proportional-hazards model; 'event by h' for close horizons, so separately
    fitted heads often put a later horizon below an earlier one."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))
    rate = np.exp(-1.6 + X[:, 0] * 0.9 + X[:, 1] * 0.6 - X[:, 2] * 0.4)
    t = rng.exponential(1 / rate)
    f = pd.DataFrame(X, columns=[f"x{i}" for i in range(6)])
    f.insert(0, "subject_id", np.arange(n))
    f.insert(0, "hadm_id", np.arange(n))
    f["split"] = np.where(np.arange(n) % 20 < 14, "train", np.where(np.arange(n) % 20 < 17, "val", "test"))
    Y = pd.DataFrame({o: (t <= h).astype(float) for o, h in zip(HORIZONS, (1.0, 1.15, 1.3))})
    return f, Y


def test_chain_shorthand_and_implies_entries_declare_the_same_pairs():
    chain = _config({"chains": [list(HORIZONS)]})
    raw = {"source": {"kind": "tabular", "path": "u.csv", "id_column": "id"},
           "outcomes": [{"name": "event_1y", "implies": "event_2y"}, {"name": "event_2y", "implies": ["event_3y"]},
                        "event_3y"]}
    assert chain.outcome_structure.pairs() == Config.model_validate(raw).outcome_structure.pairs() == [
        ("event_1y", "event_2y"), ("event_2y", "event_3y")]
    assert not _config().outcome_structure.declared


@pytest.mark.parametrize("structure, words", [
    ({"implies": [["event_1y", "death"]]}, "names outcomes not in `outcomes`: ['death']"),
    ({"chains": [["event_1y", "event_2y"]], "implies": [["event_2y", "event_1y"]]}, "form a cycle"),
    ({"implies": [["event_1y", "event_1y"]]}, "cannot imply itself"),
])
def test_bad_declarations_are_refused(structure, words):
    with pytest.raises(ValueError, match=None) as err:
        _config(structure)
    assert words in str(err.value)


def test_projection_is_isotonic_regression_along_a_chain_and_leaves_coherent_rows_alone():
    s = OutcomeStructure((("a", "b"), ("b", "c"), ("c", "d")))
    P = np.random.default_rng(1).random((500, 4))
    Q = s.project(P, list("abcd"))
    iso = IsotonicRegression()
    want = np.array([iso.fit_transform(np.arange(4), row) for row in P])
    np.testing.assert_allclose(Q, want, atol=1e-12)
    assert s.incoherent(Q, list("abcd")).sum() == 0
    fine = ~s.incoherent(P, list("abcd"), tol=0.0)
    assert (Q[fine] == P[fine]).all()  # bit for bit


def test_projection_holds_on_a_partial_order():
    s = OutcomeStructure((("hospital_mi", "mi"), ("mi", "coronary"), ("angina", "coronary")))
    P = np.random.default_rng(2).random((1000, 4))
    order = ["hospital_mi", "mi", "angina", "coronary"]
    Q = s.project(P, order)
    assert s.incoherent(Q, order, tol=0.0).sum() == 0
    assert ((Q >= 0) & (Q <= 1)).all()
    # least squares: no coherent candidate is closer (the max-up repair is coherent too)
    repair = P.copy()
    repair[:, 1] = np.maximum(repair[:, 1], repair[:, 0])
    repair[:, 3] = np.maximum.reduce([repair[:, 3], repair[:, 1], repair[:, 2]])
    assert (((Q - P) ** 2).sum(1) <= ((repair - P) ** 2).sum(1) + 1e-12).all()


def test_labels_breaking_an_implication_are_refused_with_outcomes_and_count():
    s = OutcomeStructure((("event_1y", "event_2y"), ("event_2y", "event_3y")))
    labels = pd.DataFrame({"event_1y": [1, 1, 0, 1, np.nan], "event_2y": [0, 1, 0, 0, 0],
                           "event_3y": [1, 1, 0, 1, 1]})
    with pytest.raises(DataError) as err:
        s.check_labels(labels)
    text = str(err.value)
    assert "2 rows with 'event_1y' = 1 but 'event_2y' = 0" in text and "event_3y'" not in text.split("\n")[1]
    s.check_labels(labels.assign(event_2y=[1, 1, 0, 1, 0]))  # NaN implies nothing: accepted


def test_a_flat_table_is_checked_whole_at_ingest_and_quarantine_sets_the_rows_aside():
    from mtl_core.sources import add_summaries, tabular

    cfg = _config({"chains": [list(HORIZONS)]})
    table = pd.DataFrame({"stay_id": range(6), "x": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
                          "event_1y": [1, 1, 0, 0, 1, 0], "event_2y": [1, 0, 0, 1, 1, 0],
                          "event_3y": [1, 1, 0, 0, 0, 1]})
    halves = [tabular.summary({tabular.TABLE: part}, cfg) for part in (table[:3], table[3:])]
    total = add_summaries(*halves)  # counted over every partition, as ingest does
    with pytest.raises(DataError) as err:
        tabular.check_summary(total, cfg)
    assert "1 row with 'event_1y' = 1 but 'event_2y' = 0" in str(err.value)
    assert "2 rows with 'event_2y' = 1 but 'event_3y' = 0" in str(err.value)
    rejected = tabular.row_rejects({tabular.TABLE: table}, cfg)[tabular.TABLE]
    assert sorted(rejected["index"]) == [1, 3, 4]


def test_registered_model_is_coherent_on_every_split_at_no_cost():
    f, Y = horizon_cohort()
    model = fit_model(_config({"chains": [list(HORIZONS)]}), f, Y).model
    cols = [c for c in f.columns if c.startswith("x")]
    structure = model.structure_
    for split in ("train", "val", "test"):
        rows = (f["split"] == split).to_numpy()
        assert structure.incoherent(model.predict_proba(f.loc[rows, cols]), list(HORIZONS)).sum() == 0, split
    assert structure.incoherent(model.held_.to_numpy(), list(HORIZONS)).sum() == 0  # thresholds see these
    test = (f["split"] == "test").to_numpy()
    raw = unprojected_proba(model, f.loc[test, cols])
    P = coherent(model, raw)
    assert structure.incoherent(raw, list(HORIZONS)).sum() > 0  # the unprojected model does break it
    for k, o in enumerate(HORIZONS):
        y = Y.loc[test, o].to_numpy()
        assert auroc(y, P[:, k]) >= auroc(y, raw[:, k]) - 0.002
        assert np.mean((P[:, k] - y) ** 2) <= np.mean((raw[:, k] - y) ** 2) + 0.002


def test_no_declaration_leaves_the_model_output_unchanged():
    f, Y = horizon_cohort(n=1500)
    model = fit_model(_config(), f, Y).model
    cols = [c for c in f.columns if c.startswith("x")]
    assert model.structure_ is None
    np.testing.assert_array_equal(model.predict_proba(f[cols]), unprojected_proba(model, f[cols]))


def test_the_model_card_shows_the_structure_and_what_it_changed():
    from mtl_core.reports.card_sections import structure_section

    cfg = _config({"chains": [list(HORIZONS)]})
    evaluation = {"structure": {"rows": 400, "incoherent_before": 12, "incoherent_after": 0,
                                "max_reversal_before": 0.031, "mean_abs_change": 0.0004}}
    text = "\n".join(structure_section(cfg, evaluation))
    assert "## Outcome structure" in text
    assert "| event_1y | event_2y | risk(event_1y) <= risk(event_2y) |" in text
    assert "12 rows (3.0%)" in text and "after it, 0" in text
    assert structure_section(_config(), {}) == []  # nothing declared, no section

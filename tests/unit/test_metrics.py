"""auroc / mean_auroc / outcome_report on hand-computed cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mtl_core.evaluation.metrics import auroc, mean_auroc, outcome_report

NAN = np.nan


def test_auroc_hand_computed():
    # positives 0.9, 0.6, 0.3 vs negatives 0.8, 0.4, 0.1: pairs won 3 + 2 + 1 = 6 of 9
    y = [1, 0, 1, 0, 1, 0]
    p = [0.9, 0.8, 0.6, 0.4, 0.3, 0.1]
    assert auroc(y, p) == pytest.approx(6 / 9)


def test_auroc_ties_count_half():
    # positives 0.5, 0.7 vs negatives 0.5, 0.2: pairs 0.5 + 1 + 1 + 1 = 3.5 of 4
    assert auroc([1, 1, 0, 0], [0.5, 0.7, 0.5, 0.2]) == pytest.approx(3.5 / 4)


def test_auroc_perfect_and_reversed():
    assert auroc([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert auroc([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 0.0


def test_auroc_drops_nan_labels():
    y = [1, 0, NAN, 1, 0, NAN, 1, 0]
    p = [0.9, 0.8, 0.0, 0.6, 0.4, 1.0, 0.3, 0.1]
    assert auroc(y, p) == pytest.approx(6 / 9)


def test_auroc_single_class_is_none():
    assert auroc([1, 1, 1], [0.2, 0.5, 0.9]) is None
    assert auroc([0, NAN, 0], [0.2, 0.5, 0.9]) is None
    assert auroc([NAN, NAN], [0.2, 0.5]) is None
    assert auroc([], []) is None


def test_mean_auroc_skips_non_estimable_outcomes():
    Y = np.array([[1, 1, NAN], [0, 1, NAN], [1, 1, NAN], [0, 1, NAN]], float)
    P = np.array([[0.9, 0.1, 0.5], [0.1, 0.2, 0.5], [0.8, 0.3, 0.5], [0.7, 0.4, 0.5]])
    assert mean_auroc(Y, P) == pytest.approx(1.0)
    assert math.isnan(mean_auroc(Y[:, 1:], P[:, 1:]))


def test_outcome_report_fields():
    Y = np.array([[1, 0, NAN], [0, 0, 1], [1, NAN, 0], [0, 0, NAN], [1, 0, 1], [0, NAN, NAN]], float)
    P = np.array([[0.9, 0.1, 0.2], [0.2, 0.2, 0.9], [0.8, 0.3, 0.1], [0.4, 0.4, 0.5],
                  [0.3, 0.5, 0.7], [0.1, 0.6, 0.5]])
    truth = np.array([[0.9, 0.1, 0.1], [0.1, 0.2, 0.8], [0.3, 0.3, 0.9], [0.4, 0.4, 0.5],
                      [0.2, 0.5, 0.6], [0.1, 0.6, 0.5]])
    rows = outcome_report(Y, P, ["a", "b", "c"], truth=truth)
    assert [r["outcome"] for r in rows] == ["a", "b", "c"]
    a, b, c = rows
    assert (a["n"], a["positives"], a["prevalence"]) == (6, 3, 0.5)
    # positives .9 .8 .3 vs negatives .2 .4 .1 -> 3 + 3 + 2 = 8 of 9
    assert a["auroc"] == pytest.approx(8 / 9)
    # truth: positives .9 .3 .2 vs negatives .1 .4 .1 -> 3 + 2 + 2 = 7 of 9
    assert a["bayes_auroc"] == pytest.approx(7 / 9)
    assert a["estimable"] is True
    assert (b["n"], b["positives"], b["prevalence"]) == (4, 0, 0.0)
    assert b["auroc"] is None and b["bayes_auroc"] is None and b["estimable"] is False
    assert (c["n"], c["positives"]) == (3, 2)
    assert c["prevalence"] == pytest.approx(2 / 3)
    assert c["auroc"] == 1.0 and c["estimable"] is True
    assert c["bayes_auroc"] == 0.0


def test_outcome_report_without_truth_and_no_labels():
    Y = np.array([[NAN], [NAN]])
    rows = outcome_report(Y, np.array([[0.3], [0.6]]), ["x"])
    assert rows == [{"outcome": "x", "n": 0, "positives": 0, "prevalence": None, "auroc": None,
                     "estimable": False}]


def test_rank_auroc_equals_sklearn_with_ties_and_missing_labels():
    from mtl_core.evaluation.metrics import rank_auroc
    rng = np.random.default_rng(3)
    for n in (7, 200, 5000):
        y = (rng.random(n) < 0.2).astype(float)
        y[:2] = [0.0, 1.0]
        y[rng.random(n) < 0.1] = np.nan
        p = np.round(rng.random(n), 1)  # heavy ties
        assert abs(rank_auroc(y, p) - auroc(y, p)) < 1e-12
    assert rank_auroc(np.array([1.0, 0.0, 1.0]), np.array([0.9, 0.1, 0.8])) == 1.0
    assert rank_auroc(np.array([1.0, 1.0, np.nan]), np.array([0.2, 0.3, 0.4])) is None

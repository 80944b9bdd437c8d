"""Clinical metrics: hand-computed values, calibration, bootstrap CIs, subgroups, non-estimable outcomes."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from mtl_core.evaluation.bootstrap import auroc_ap_from_counts, fast_auroc_ap, percentile_ci, stratified_bootstrap
from mtl_core.evaluation.metrics import (
    age_bands,
    auprc,
    brier,
    calibration_slope_intercept,
    clinical_report,
    expected_calibration_error,
    outcome_report,
    subgroup_auroc,
)

NAN = np.nan


def _simulate(n: int, seed: int, prevalence: float = 0.2, signal: float = 1.5):
    """Calibrated risks from a logistic model and labels drawn from them."""
    rng = np.random.default_rng(seed)
    logit = signal * rng.normal(size=n) + np.log(prevalence / (1 - prevalence))
    p = 1 / (1 + np.exp(-logit))
    return (rng.random(n) < p).astype(float), p


# --- hand-computed point metrics -------------------------------------------------------------

def test_auprc_hand_computed():
    # thresholds .9 (pos): precision 1, recall +1/2; .6 (pos): precision 2/3, recall +1/2
    assert auprc([1, 0, 1, 0], [0.9, 0.8, 0.6, 0.4]) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)


def test_auprc_ties_share_a_threshold_and_nan_labels_drop():
    # threshold .5 calls a positive and a negative (precision 1/2), then .2 (precision 2/3)
    assert auprc([1, 0, NAN, 1], [0.5, 0.5, 0.99, 0.2]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_brier_hand_computed_and_defined_with_one_class():
    assert brier([1, 0, NAN], [0.8, 0.4, 0.7]) == pytest.approx((0.2 ** 2 + 0.4 ** 2) / 2)
    assert brier([0, 0], [0.1, 0.3]) == pytest.approx((0.01 + 0.09) / 2)
    assert brier([NAN], [0.5]) is None


def test_ece_hand_computed():
    y, p = [0, 1, 0, 1], [0.05, 0.15, 0.15, 0.95]
    # 10 bins: |0 - .05| + |1 - .30| + |1 - .95| over 4 rows
    assert expected_calibration_error(y, p) == pytest.approx((0.05 + 0.7 + 0.05) / 4)
    # 2 bins: |1 - .35| + |1 - .95| over 4 rows
    assert expected_calibration_error(y, p, n_bins=2) == pytest.approx((0.65 + 0.05) / 4)


def test_ece_bins_are_left_closed_and_the_last_holds_one():
    # 0.5 belongs to the upper of 2 bins: |0 - .4| + |1 - .5| over 2 rows (not |1 - .9| / 2)
    assert expected_calibration_error([0, 1], [0.4, 0.5], n_bins=2) == pytest.approx(0.45)
    assert expected_calibration_error([1, 1], [1.0, 1.0], n_bins=10) == pytest.approx(0.0)
    assert expected_calibration_error([NAN], [0.3]) is None


def test_point_metrics_are_none_for_one_class():
    assert auprc([0, 0, 0], [0.1, 0.2, 0.3]) is None
    assert calibration_slope_intercept([1, 1, NAN], [0.1, 0.2, 0.3]) == (None, None)


# --- the vectorised AUROC / AP ---------------------------------------------------------------

def test_fast_auroc_ap_match_sklearn_on_random_data_with_ties():
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(2, 400))
        y = (rng.random(n) < rng.uniform(0.02, 0.98)).astype(float)
        y[:2] = [1, 0]
        p = np.round(rng.random(n), int(rng.integers(1, 5)))  # coarse rounding makes ties
        auc, ap = fast_auroc_ap(y, p)
        assert abs(auc - roc_auc_score(y, p)) < 1e-9
        assert abs(ap - average_precision_score(y, p)) < 1e-9


def test_count_form_matches_sklearn_with_resample_multiplicities():
    # a bootstrap resample is the data with each row repeated: integer sample weights
    rng = np.random.default_rng(11)
    for _ in range(100):
        n = int(rng.integers(3, 300))
        y = (rng.random(n) < 0.3).astype(float)
        y[:2] = [1, 0]
        p = np.round(rng.random(n), 2)
        w = rng.integers(0, 4, n)
        w[:2] = 1
        distinct, codes = np.unique(p, return_inverse=True)
        pos = np.bincount(codes, weights=w * (y == 1), minlength=distinct.size)
        neg = np.bincount(codes, weights=w * (y == 0), minlength=distinct.size)
        auc, ap = auroc_ap_from_counts(pos, neg)
        assert abs(auc[0] - roc_auc_score(y, p, sample_weight=w)) < 1e-9
        assert abs(ap[0] - average_precision_score(y, p, sample_weight=w)) < 1e-9


def _delong_se(y, p) -> float:
    """DeLong standard error of the AUROC, from the structural components."""
    pos, neg = p[y == 1], p[y == 0]
    psi = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    return float(np.sqrt(psi.mean(1).var(ddof=1) / pos.size + psi.mean(0).var(ddof=1) / neg.size))


def test_bootstrap_spread_matches_delong_standard_error():
    y, p = _simulate(1500, seed=3)
    aucs, _ = stratified_bootstrap(y, p, n_boot=2000, seed=0)
    assert aucs.mean() == pytest.approx(roc_auc_score(y, p), abs=0.005)
    assert aucs.std() == pytest.approx(_delong_se(y, p), rel=0.15)


def test_bootstrap_keeps_both_classes_with_a_single_positive():
    y = np.zeros(50)
    y[10] = 1
    p = np.linspace(0, 1, 50)
    aucs, aps = stratified_bootstrap(y, p, n_boot=300, seed=1)
    assert np.isfinite(aucs).all() and np.isfinite(aps).all()
    assert ((aps > 0) & (aps <= 1)).all()  # the positive is in every resample


def test_percentile_ci():
    assert percentile_ci(np.arange(101.0)) == pytest.approx((2.5, 97.5))
    assert percentile_ci(np.arange(101.0), level=0.5) == pytest.approx((25.0, 75.0))


# --- calibration slope / intercept -----------------------------------------------------------

def test_calibrated_predictions_give_slope_one_intercept_zero():
    y, p = _simulate(200_000, seed=1, prevalence=0.3)
    slope, intercept = calibration_slope_intercept(y, p)
    assert slope == pytest.approx(1.0, abs=0.03)
    assert intercept == pytest.approx(0.0, abs=0.03)


def _irls(y, x, steps=50):
    """Unpenalised logistic regression of y on [1, x] by Newton-Raphson: (intercept, slope)."""
    X, beta = np.column_stack([np.ones_like(x), x]), np.zeros(2)
    for _ in range(steps):
        mu = 1 / (1 + np.exp(-X @ beta))
        beta += np.linalg.solve(X.T @ (X * (mu * (1 - mu))[:, None]), X.T @ (y - mu))
    return beta


def test_slope_and_intercept_are_the_unpenalised_fit_on_small_data():
    y, p = _simulate(150, seed=8, prevalence=0.3)
    p = 1 / (1 + np.exp(-1.7 * np.log(p / (1 - p)) - 0.4))  # miscalibrated on purpose
    intercept, slope = _irls(y, np.log(p / (1 - p)))
    assert calibration_slope_intercept(y, p) == pytest.approx((slope, intercept), abs=1e-3)


def test_overconfident_predictions_give_slope_below_one():
    y, p = _simulate(50_000, seed=2, prevalence=0.3)
    logit = np.log(p / (1 - p))
    slope, _ = calibration_slope_intercept(y, 1 / (1 + np.exp(-2 * logit)))  # logits doubled
    assert slope == pytest.approx(0.5, abs=0.05)
    under, _ = calibration_slope_intercept(y, 1 / (1 + np.exp(-0.5 * logit)))
    assert under > 1.5


def test_calibration_fit_survives_extreme_and_constant_predictions():
    slope, intercept = calibration_slope_intercept([0, 1, 0, 1], [0.0, 1.0, 0.2, 0.7])
    assert np.isfinite(slope) and np.isfinite(intercept)
    assert calibration_slope_intercept([0, 1, 0], [0.4, 0.4, 0.4]) == (None, None)


# --- clinical_report -------------------------------------------------------------------------

def test_report_keeps_outcome_report_keys_and_adds_hand_checked_metrics():
    Y = np.array([[1, 0], [0, 1], [1, 0], [0, NAN]], float)
    P = np.array([[0.9, 0.2], [0.8, 0.6], [0.6, 0.4], [0.4, 0.5]])
    rows = clinical_report(Y, P, ["a", "b"], n_boot=50)
    for row, base in zip(rows, outcome_report(Y, P, ["a", "b"])):
        assert {k: row[k] for k in base} == base
    a = rows[0]
    assert a["auroc"] == pytest.approx(3 / 4) and a["auprc"] == pytest.approx(5 / 6)
    assert a["brier"] == pytest.approx((0.01 + 0.64 + 0.16 + 0.16) / 4)
    # bins 9, 8, 6, 4: |1-.9| + |0-.8| + |1-.6| + |0-.4| over 4
    assert a["ece"] == pytest.approx(1.7 / 4)
    assert a["mean_predicted"] == pytest.approx(0.675)
    assert a["reason"] is None and a["estimable"] is True and a["n_boot"] == 50
    assert rows[1]["n"] == 3 and rows[1]["auroc"] == pytest.approx(1.0)


def test_ci_contains_the_estimate_and_narrows_with_more_data():
    widths = {}
    for n in (400, 8000):
        y, p = _simulate(n, seed=n)
        row = clinical_report(y[:, None], p[:, None], ["x"], n_boot=500, seed=0)[0]
        for m in ("auroc", "auprc"):
            assert row[f"{m}_ci_low"] <= row[m] <= row[f"{m}_ci_high"]
            widths[n, m] = row[f"{m}_ci_high"] - row[f"{m}_ci_low"]
    for m in ("auroc", "auprc"):
        assert widths[8000, m] < 0.5 * widths[400, m]


def test_report_is_deterministic_for_a_seed():
    y, p = _simulate(600, seed=5)
    Y, P = np.column_stack([y, y[::-1]]), np.column_stack([p, p[::-1]])
    first = clinical_report(Y, P, ["a", "b"], n_boot=200, seed=3)
    assert clinical_report(Y, P, ["a", "b"], n_boot=200, seed=3) == first
    other = clinical_report(Y, P, ["a", "b"], n_boot=200, seed=4)
    assert other[0]["auroc_ci_low"] != first[0]["auroc_ci_low"]


def test_one_class_outcome_is_not_estimable_with_a_reason_and_json_clean():
    y, p = _simulate(40, seed=9, prevalence=0.4)
    y[:2] = [0, 1]
    Y = np.column_stack([y, np.zeros(40), np.full(40, NAN)])
    P = np.column_stack([p, p, p])
    rows = clinical_report(Y, P, ["ok", "none_positive", "unlabelled"], truth=P, n_boot=100)
    ok, one, empty = rows
    assert ok["estimable"] and ok["auroc_ci_low"] is not None and ok["calibration_slope"] is not None
    assert one["estimable"] is False
    assert one["reason"] == "not estimable: only one class (n=40, positives=0)"
    for key in ("auroc", "bayes_auroc", "auprc", "auroc_ci_low", "auroc_ci_high", "auprc_ci_low",
                "auprc_ci_high", "calibration_slope", "calibration_intercept"):
        assert one[key] is None and empty[key] is None
    assert one["brier"] == pytest.approx(np.mean(p ** 2))  # still defined on one class
    assert empty["reason"] == "not estimable: no labelled rows (n=0)" and empty["brier"] is None
    json.dumps(rows, allow_nan=False)  # raises on NaN or numpy scalars that are not plain numbers
    assert all(type(v) in (str, int, float, bool, type(None)) for r in rows for v in r.values())


def test_min_per_class_marks_too_few_rows_not_estimable():
    Y = np.array([[1], [0], [0], [0], [1]], float)
    P = np.array([[0.9], [0.1], [0.2], [0.3], [0.4]])
    row = clinical_report(Y, P, ["x"], n_boot=20, min_per_class=3)[0]
    assert row["estimable"] is False and row["auroc"] is None and row["calibration_slope"] is None
    assert row["reason"] == "not estimable: too few rows of a class (n=5, positives=2, need 3 of each)"
    assert clinical_report(Y, P, ["x"], n_boot=20, min_per_class=2)[0]["estimable"] is True


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="outcomes"):
        clinical_report(np.zeros((3, 2)), np.zeros((3, 2)), ["a"])
    with pytest.raises(ValueError, match="'a'.*labels"):
        clinical_report(np.array([[2.0], [0.0]]), np.array([[0.5], [0.5]]), ["a"])
    with pytest.raises(ValueError, match="'a'.*probabilities"):
        clinical_report(np.array([[1.0], [0.0]]), np.array([[NAN], [0.5]]), ["a"])


# --- subgroups and age bands -----------------------------------------------------------------

def test_subgroup_auroc_matches_the_subset_by_hand():
    y, p = _simulate(900, seed=4, prevalence=0.3)
    rng = np.random.default_rng(0)
    y[rng.random(900) < 0.1] = NAN
    sex = rng.choice(["M", "F"], 900).astype(object)
    sex[:30] = None
    age = pd.Series(rng.integers(10, 95, 900), index=np.arange(900) + 1000)  # groups match by position
    Y, P = np.column_stack([y, y]), np.column_stack([p, 1 - p])
    groups = pd.DataFrame({"sex": sex, "age_band": age_bands(age)}, index=age.index)
    rows = subgroup_auroc(Y, P, ["a", "reversed"], groups)
    assert [(r["column"], r["group"]) for r in rows if r["outcome"] == "a"] == [
        ("sex", "F"), ("sex", "M"), ("sex", "missing"),
        *[("age_band", b) for b in ("<18", "18-44", "45-64", "65-79", "80+")]]
    for r in rows:
        k = 0 if r["outcome"] == "a" else 1
        col = groups[r["column"]].to_numpy()
        mask = pd.isna(col) if r["group"] == "missing" else (col.astype(str) == r["group"])
        mask &= ~np.isnan(y)
        assert (r["n"], r["positives"]) == (mask.sum(), y[mask].sum())
        assert r["auroc"] == pytest.approx(roc_auc_score(y[mask], P[mask, k]), abs=1e-12)
        assert r["reason"] is None


def test_subgroup_with_one_class_is_not_estimable_and_report_nests_subgroups():
    Y = np.array([[1], [0], [1], [0], [0], [0]], float)
    P = np.array([[0.9], [0.2], [0.7], [0.8], [0.1], [0.3]])
    groups = pd.DataFrame({"site": [1, 1, 1, 1, 2, 2]})
    row = clinical_report(Y, P, ["x"], groups=groups, n_boot=20)[0]
    one, two = row["subgroups"]
    assert (one["group"], one["n"], one["positives"]) == ("1", 4, 2)
    assert one["auroc"] == pytest.approx(3 / 4)
    assert two["auroc"] is None and two["reason"] == "not estimable: only one class (n=2, positives=0)"
    with pytest.raises(ValueError, match="groups has 2 rows"):
        subgroup_auroc(Y, P, ["x"], groups.iloc[:2])


def test_age_band_labels():
    bands = age_bands([17, 18, 44.9, 45, 64, 65, 79, 80, 103, NAN])
    assert list(bands.cat.categories) == ["<18", "18-44", "45-64", "65-79", "80+"]
    assert list(bands.astype(object).where(bands.notna(), None)) == [
        "<18", "18-44", "18-44", "45-64", "45-64", "65-79", "65-79", "80+", "80+", None]
    custom = age_bands(pd.Series([49, 50, 70], index=[7, 8, 9]), edges=(50, 70))
    assert list(custom) == ["<50", "50-69", "70+"] and list(custom.index) == [7, 8, 9]
    with pytest.raises(ValueError, match="increasing"):
        age_bands([30], edges=(65, 45))

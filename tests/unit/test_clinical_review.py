"""Hand-computed cases for the clinical review metrics: threshold metrics and operating point rules,
net benefit, PSI and drift, subgroup rate gaps, and the run fingerprint behind idempotent retraining."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from mtl_core import provenance
from mtl_core.evaluation import decision_curve as dc
from mtl_core.evaluation import drift
from mtl_core.evaluation.fairness import rate_gaps, subgroup_rows
from mtl_core.evaluation.operating_points import (
    bootstrap_metrics,
    choose_threshold,
    evaluate_point,
    threshold_metrics,
    with_flags,
)

# 3 positives, 7 negatives
Y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0], float)
P = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1, 0.1, 0.05, 0.4, 0.6])


def test_threshold_metrics_by_hand():
    # flag p >= 0.5: 0.9, 0.8 (cases), 0.7, 0.6 (not) -> TP 2, FP 2, FN 1 (0.3), TN 5
    m = threshold_metrics(Y, P, 0.5)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 2, 1, 5)
    expected = {"sensitivity": 2 / 3, "specificity": 5 / 7, "ppv": 0.5, "npv": 5 / 6, "f1": 4 / 7,
                "accuracy": 0.7, "alert_rate": 0.4}
    for k, v in expected.items():
        assert m[k] == pytest.approx(v), k
    nobody = threshold_metrics(Y, P, 0.95)  # nobody flagged: PPV undefined, not 0 and not NaN
    assert nobody["ppv"] is None and nobody["alert_rate"] == 0 and nobody["npv"] == pytest.approx(0.7)
    # unlabelled rows (NaN) are left out
    m2 = threshold_metrics(np.r_[Y, np.nan], np.r_[P, 0.99], 0.5)
    assert (m2["tp"], m2["fp"]) == (2, 2)


@pytest.mark.parametrize("rule, target, threshold", [
    ("max_f1", None, 0.8),        # F1 per threshold: .5 .8 .667 .571 .5 .667 .6 ...
    ("youden", None, 0.8),        # sens + spec - 1: .333 .667 .524 .381 .238 .571 ...
    ("sensitivity", 1.0, 0.3),    # highest threshold still catching all 3 cases
    ("sensitivity", 0.6, 0.8),    # 2 of 3 is enough
    ("specificity", 0.8, 0.7),    # 6/7 at 0.7, 5/7 at 0.6
    ("ppv", 0.6, 0.7),            # PPV 1, 1, 2/3, 1/2 ...: lowest threshold with PPV >= 0.6
    ("alert_rate", 0.3, 0.7),     # 3 of 10 flagged at 0.7, 4 at 0.6
])
def test_rules_pick_the_hand_computed_threshold(rule, target, threshold):
    point = choose_threshold(Y, P, rule, target, "x")
    assert point.threshold == threshold and point.reason is None
    assert point.validation["tp"] + point.validation["fn"] == 3


def test_rule_edge_cases():
    assert choose_threshold(np.zeros(5), np.linspace(0, 1, 5)).threshold is None  # one class
    unmet = choose_threshold(Y, P, "ppv", 1.0)
    assert unmet.threshold == 0.8  # PPV 1 holds down to 0.8
    assert choose_threshold(Y, np.full(10, 0.3), "ppv", 0.9).reason.startswith("no validation threshold")
    with pytest.raises(ValueError, match="needs a target"):
        choose_threshold(Y, P, "sensitivity")
    with pytest.raises(ValueError, match="unknown"):
        choose_threshold(Y, P, "accuracy")


def test_operating_point_is_chosen_on_validation_and_only_applied_to_test():
    rng = np.random.default_rng(0)
    risk = rng.uniform(0.01, 0.5, 4000)
    y = (rng.uniform(size=4000) < risk).astype(float)
    p = np.clip(risk + rng.normal(0, 0.1, 4000), 0, 1)
    val, test = slice(0, 2000), slice(2000, None)
    point = choose_threshold(y[val], p[val], "sensitivity", 0.8, "o")
    row = evaluate_point(y[test], p[test], point, n_boot=300)
    assert row["threshold"] == point.threshold  # test rows never move it
    # on test the target is met only approximately; the validation value meets it exactly
    assert point.validation["sensitivity"] >= 0.8 and abs(row["sensitivity"] - 0.8) < 0.08
    for k in ("sensitivity", "specificity", "ppv", "npv", "f1", "accuracy", "alert_rate"):
        assert row[f"{k}_ci_low"] <= row[k] <= row[f"{k}_ci_high"], k
    # the test threshold would differ if chosen on test: the two halves are different draws
    assert choose_threshold(y[test], p[test], "sensitivity", 0.8).threshold != point.threshold


def test_bootstrap_ci_matches_binomial_width():
    y = np.r_[np.ones(500), np.zeros(500)]
    p = np.r_[np.ones(400), np.zeros(100), np.zeros(500)]  # sensitivity 0.8 on 500 cases
    lo, hi = bootstrap_metrics(y, p, 0.5, n_boot=4000, seed=1)["sensitivity"]
    se = math.sqrt(0.8 * 0.2 / 500)  # the share of cases in a row resample varies too; close to binomial
    assert lo == pytest.approx(0.8 - 1.96 * se, abs=0.01) and hi == pytest.approx(0.8 + 1.96 * se, abs=0.01)
    assert bootstrap_metrics(y, p, 0.5, n_boot=0)["ppv"] == (None, None)


def test_flags_sit_beside_their_probability():
    proba = pd.DataFrame({"a": [0.1, 0.6], "b": [0.3, 0.2]})
    out = with_flags(proba, {"a": 0.5, "b": None})
    assert list(out.columns) == ["a", "a_flag", "b"] and out["a_flag"].tolist() == [0, 1]
    assert out["a_flag"].dtype == "int64"


def test_net_benefit_by_hand():
    ts = np.array([0.25, 0.5])
    # t = 0.25: flagged 0.9 0.8 0.3 0.7 0.4 0.6 -> TP 3, FP 3: 3/10 - 3/10 * (0.25 / 0.75) = 0.2
    # t = 0.5: TP 2, FP 2: 0.2 - 0.2 * 1 = 0
    assert dc.net_benefit(Y, P, ts) == pytest.approx([0.2, 0.0])
    # treat all: prevalence 0.3 - 0.7 * t / (1 - t)
    assert dc.treat_all(Y, ts) == pytest.approx([0.3 - 0.7 / 3, -0.4])
    table = dc.decision_curve(Y, P, ts, ("logistic", np.full(10, 0.3)))
    assert table["treat_none"].tolist() == [0, 0] and table["model_useful"].tolist() == [True, False]
    # the constant baseline flags everybody at 0.25 (= treat all) and nobody at 0.5
    assert table["baseline"].to_numpy() == pytest.approx([0.3 - 0.7 / 3, 0.0])
    assert dc.useful_range(table) == (0.25, 0.25)
    assert dc.thresholds(0.01, 0.05, 0.01).tolist() == [0.01, 0.02, 0.03, 0.04, 0.05]
    with pytest.raises(ValueError):
        dc.thresholds(0.5, 0.1, 0.01)


def test_psi_by_hand():
    # (0.25 - 0.5) ln(0.25 / 0.5) + (0.75 - 0.5) ln(0.75 / 0.5)
    assert drift.psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * math.log(2) + 0.25 * math.log(1.5))
    assert drift.psi([0.2, 0.3, 0.5], [0.2, 0.3, 0.5]) == 0
    ref = drift.profile_feature(pd.Series(np.arange(1.0, 11.0)), n_bins=2)
    assert ref["edges"] == [5.5] and ref["shares"] == [0.5, 0.5] and ref["missing"] == 0
    # new values 1 2 6 7 8 9 and two missing: 2/6 below the median, 4/6 above
    new = drift.feature_drift(ref, pd.Series([1, 2, 6, 7, 8, 9, np.nan, np.nan]))
    expected = (1 / 3 - 1 / 2) * math.log((1 / 3) / (1 / 2)) + (2 / 3 - 1 / 2) * math.log((2 / 3) / (1 / 2))
    assert new["psi"] == pytest.approx(expected) and new["missing_change"] == pytest.approx(0.25)


def test_drift_report_flags_shift_missingness_new_categories_and_prevalence():
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"age": rng.normal(60, 10, 2000), "lab": rng.normal(1, 0.2, 2000),
                          "ward": rng.choice(["A", "B"], 2000), "rare": ["x"] * 1995 + ["y"] * 5})
    labels = pd.DataFrame({"death": (rng.uniform(size=2000) < 0.1).astype(float)})
    ref = drift.profile(train, labels)
    assert ref["features"]["rare"]["categories"] == ["x", "(other)"]  # 5 rows: pooled, never listed
    same = drift.drift_report(ref, train, labels)
    assert not same["warn"] and same["max_psi"] == pytest.approx(0, abs=1e-9)
    new = train.copy()
    new["age"] += 10                      # one standard deviation older
    new.loc[:600, "lab"] = np.nan         # 30% missing
    new["ward"] = rng.choice(["A", "C"], 2000)  # a ward never seen in training
    shifted = pd.DataFrame({"death": (rng.uniform(size=2000) < 0.25).astype(float)})
    report = drift.drift_report(ref, new.drop(columns=["rare"]), shifted)
    rows = {r["feature"]: r for r in report["features"]}
    assert rows["age"]["psi"] > 0.25 and rows["age"]["drifted"]
    assert rows["lab"]["missing_change"] == pytest.approx(601 / 2000) and rows["lab"]["drifted"]
    assert rows["ward"]["psi"] > 1 and rows["rare"]["absent"]
    assert report["outcomes"][0]["change"] == pytest.approx(0.15, abs=0.03) and "death" in report["drifted"]
    text = drift.drift_markdown(report, "Drift")
    assert "| age |" in text and "Drift: " in text


def test_subgroup_rates_and_gaps_by_hand():
    y = np.array([1, 1, 0, 0, 1, 1, 0, 0], float)
    p = np.array([0.9, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9, 0.1])
    groups = pd.DataFrame({"sex": ["F"] * 4 + ["M"] * 4})
    # F: TPR 1/2, FPR 0; M: TPR 1, FPR 1/2
    rows = {r["group"]: r for r in subgroup_rows(y, p, groups, threshold=0.5, n_boot=100)}
    assert (rows["F"]["tpr"], rows["F"]["fpr"], rows["M"]["tpr"], rows["M"]["fpr"]) == (0.5, 0.0, 1.0, 0.5)
    assert rows["M"]["auroc"] == 0.75 and rows["F"]["auroc"] == 0.75
    gaps = rate_gaps(y, p, groups, 0.5, min_events=2, n_boot=200)[0]
    assert gaps["tpr_gap"] == 0.5 and gaps["fpr_gap"] == 0.5 and gaps["tpr_groups"] == ["F", "M"]
    assert gaps["tpr_gap_ci_low"] <= 0.5 <= gaps["tpr_gap_ci_high"]
    assert rate_gaps(y, p, groups, 0.5, min_events=3, n_boot=0)[0]["tpr_gap"] is None  # 2 cases per group


def test_subgroup_auroc_ci_and_calibration():
    rng = np.random.default_rng(1)
    risk = rng.uniform(0.05, 0.6, 3000)
    y = (rng.uniform(size=3000) < risk).astype(float)
    groups = pd.DataFrame({"g": np.where(np.arange(3000) < 1500, "a", "b")})
    p = risk.copy()
    p[1500:] = 1 / (1 + np.exp(-2 * np.log(risk[1500:] / (1 - risk[1500:]))))  # group b overconfident
    rows = {r["group"]: r for r in subgroup_rows(y, p, groups, n_boot=300)}
    for r in rows.values():
        assert r["auroc_ci_low"] < r["auroc"] < r["auroc_ci_high"]
    assert rows["a"]["calibration_slope"] == pytest.approx(1, abs=0.2)
    assert rows["b"]["calibration_slope"] == pytest.approx(0.5, abs=0.1)


def test_fingerprint_ignores_name_and_workspace_only():
    code = {"package_version": "0.1.0", "git_commit": "abc", "source_digest": "d1"}
    base = {"name": "a", "workspace": "/x", "train": {"seed": 0}}
    f = provenance.fingerprint("snap1", base, code)
    assert provenance.changed_keys(f, provenance.fingerprint("snap1", {**base, "name": "b", "workspace": "/y"},
                                                             {**code, "git_commit": "def"})) == []
    assert provenance.changed_keys(f, provenance.fingerprint("snap2", base, code)) == ["lake_snapshot"]
    assert provenance.changed_keys(f, provenance.fingerprint("snap1", {**base, "train": {"seed": 1}}, code)) == [
        "config_digest"]
    assert provenance.changed_keys(f, provenance.fingerprint("snap1", base, {**code, "source_digest": "d2"})) == [
        "code"]
    assert provenance.changed_keys(f, {}) == ["lake_snapshot", "config_digest", "code"]
    version = provenance.code_version()
    assert version["package_version"] and len(version["source_digest"]) == 16
    assert version["source_digest"] == provenance.source_digest()  # stable between calls
    assert "clinical-mtl" in provenance.describe(version)


def test_gate_uses_calibration_slope_and_fairness_when_configured():
    from mtl_core.gate.promotion import Rules, gate, gather

    rng = np.random.default_rng(3)
    n = 4000
    risk = rng.uniform(0.05, 0.6, n)
    y = (rng.uniform(size=n) < risk).astype(float)
    sex = np.where(np.arange(n) % 2 == 0, "F", "M")
    p = risk.copy()
    p[sex == "M"] = np.clip(risk[sex == "M"] * 1.8, 0, 0.99)  # men flagged far more often at one threshold
    groups = pd.DataFrame({"sex": sex})
    strict = Rules(max_tpr_gap=0.05, max_fpr_gap=0.05, subgroup_auroc_floor=0.6, calibration_slope_range=(0.8, 1.25))
    evidence = gather(y[:, None], p[:, None], ["o"], None, rules=strict, n_boot=200, fairness_groups=groups,
                      thresholds={"o": 0.3})
    v = gate(evidence, strict, None)
    failed = {c.gate: c for c in v.checks if c.passed is False}
    assert not v.promote and {"tpr_gap", "fpr_gap"} <= set(failed)
    assert "upper CI bound" in failed["fpr_gap"].detail and failed["fpr_gap"].subgroup == "sex/fpr_gap"
    floors = [c for c in v.checks if c.gate == "subgroup_floor"]
    assert {c.subgroup for c in floors} == {"sex=F/floor", "sex=M/floor"} and all(c.passed for c in floors)
    slope = next(c for c in v.checks if c.gate == "calibration")
    assert "calibration slope" in slope.detail
    # the same model without the optional rules passes: nothing is gated unless configured
    assert gate(gather(y[:, None], p[:, None], ["o"], None, n_boot=200), Rules(), None).promote


def test_config_sections_for_the_review(tmp_path):
    import yaml

    from mtl_core.config import load_config
    from mtl_core.errors import ConfigError

    base = {"outcomes": [{"name": "died", "description": "Death in hospital."}, "other"],
            "source": {"kind": "tabular", "path": "x.csv", "id_column": "id"}, "owner": "Ward 7 team",
            "evaluation": {"operating_points": {"outcomes": {"died": {"rule": "sensitivity", "target": 0.8}}}}}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(base))
    cfg = load_config(path)
    assert cfg.outcomes == ["died", "other"] and cfg.outcome_descriptions == {"died": "Death in hospital."}
    assert cfg.evaluation.operating_points.rule("died").target == 0.8
    assert cfg.evaluation.operating_points.rule("other").rule == "max_f1" and cfg.owner == "Ward 7 team"
    for bad, words in (({"outcomes": {"nope": {"rule": "youden"}}}, "names outcomes not in"),
                       ({"default": {"rule": "ppv"}}, "needs a target"),
                       ({"default": {"rule": "youden", "target": 0.5}}, "takes no target")):
        path.write_text(yaml.safe_dump({**base, "evaluation": {"operating_points": bad}}))
        with pytest.raises(ConfigError, match=words):
            load_config(path)

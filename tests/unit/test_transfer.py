"""Negative-transfer checks: paired bootstrap, DeLong against a direct implementation, verdicts, affinity."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from mtl_core.evaluation.transfer import (
    delong_components,
    delong_test,
    midranks,
    paired_bootstrap_diff,
    transfer_report,
)
from mtl_core.network.affinity import gradient_affinity
from mtl_core.sharing import HardSharedMTL


def signal_data(n: int, seed: int, prevalence: float = 0.3):
    """Labels and a latent risk score that ranks them (AUROC ~0.8)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < prevalence).astype(float)
    signal = y * 1.2 + rng.normal(size=n)
    return rng, y, signal


# --- slow reference implementation of DeLong's structural components --------------------------

def slow_delong(y, scores):
    """Direct O(m n) DeLong (1988): psi kernel, structural components, covariance of AUROCs."""
    y = np.asarray(y, bool)
    out_auc, v10s, v01s = [], [], []
    for s in scores:
        X, Y = s[y], s[~y]
        psi = (X[:, None] > Y[None, :]) + 0.5 * (X[:, None] == Y[None, :])
        out_auc.append(psi.mean())
        v10s.append(psi.mean(axis=1))
        v01s.append(psi.mean(axis=0))
    v10, v01 = np.array(v10s), np.array(v01s)
    m, n = v10.shape[1], v01.shape[1]
    S = np.cov(v10) / m + np.cov(v01) / n
    return np.array(out_auc), v10, v01, S


def test_midranks_average_ties():
    assert midranks(np.array([3.0, 1.0, 3.0, 2.0, 3.0])).tolist() == [[4.0, 1.0, 4.0, 2.0, 4.0]]


def test_delong_matches_direct_implementation_and_sklearn():
    rng = np.random.default_rng(5)
    for trial in range(6):
        n = int(rng.integers(20, 80))
        y = np.r_[1.0, 0.0, (rng.random(n - 2) < 0.4).astype(float)]
        # rounding makes ties, within and across classes, which the midrank version must handle
        a = np.round(y + rng.normal(size=n), 1)
        b = np.round(0.5 * y + rng.normal(size=n), 1) if trial % 2 else a.copy()
        aucs, v10, v01 = delong_components(y.astype(bool), np.vstack([a, b]))
        slow_auc, slow_v10, slow_v01, S = slow_delong(y, [a, b])
        np.testing.assert_allclose(aucs, slow_auc, rtol=0, atol=1e-10)
        np.testing.assert_allclose(v10, slow_v10, rtol=0, atol=1e-10)
        np.testing.assert_allclose(v01, slow_v01, rtol=0, atol=1e-10)
        assert aucs[0] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
        assert aucs[1] == pytest.approx(roc_auc_score(y, b), abs=1e-12)
        res = delong_test(y, a, b)
        var = S[0, 0] + S[1, 1] - 2 * S[0, 1]
        assert res["diff"] == pytest.approx(slow_auc[0] - slow_auc[1], abs=1e-10)
        assert res["se"] == pytest.approx(math.sqrt(max(var, 0.0)), abs=1e-10)
        if var > 1e-20:
            z = (slow_auc[0] - slow_auc[1]) / math.sqrt(var)
            assert res["z"] == pytest.approx(z, abs=1e-8)
            assert res["p_value"] == pytest.approx(math.erfc(abs(z) / math.sqrt(2)), abs=1e-10)
        else:  # identical predictions: no difference, nothing to test
            assert res["diff"] == 0.0 and res["z"] == 0.0 and res["p_value"] == 1.0


def test_delong_small_p_for_a_real_difference():
    rng, y, signal = signal_data(1500, seed=1)
    good = signal + 0.3 * rng.normal(size=y.size)
    poor = signal + 2.0 * rng.normal(size=y.size)
    res = delong_test(y, good, poor)
    assert res["diff"] > 0.08
    assert res["p_value"] < 1e-6
    assert delong_test(y, poor, good)["z"] == pytest.approx(-res["z"])


def test_delong_large_p_for_two_noisy_copies_of_one_signal():
    rng, y, signal = signal_data(1500, seed=2)
    res = delong_test(y, signal + rng.normal(size=y.size), signal + rng.normal(size=y.size))
    assert res["p_value"] > 0.2
    # and the test is calibrated: under the null, p < 0.05 about 5 % of the time, not routinely
    rejections = 0
    for seed in range(40):
        rng, y, signal = signal_data(400, seed=100 + seed)
        res = delong_test(y, signal + rng.normal(size=y.size), signal + rng.normal(size=y.size))
        rejections += res["p_value"] < 0.05
    assert rejections <= 6


def test_delong_drops_nan_labels_and_reports_not_estimable():
    rng, y, signal = signal_data(300, seed=3)
    other = signal + rng.normal(size=y.size)
    y_nan = y.copy()
    y_nan[::3] = np.nan
    keep = ~np.isnan(y_nan)
    assert delong_test(y_nan, signal, other) == delong_test(y[keep], signal[keep], other[keep])
    assert delong_test(np.zeros(50), signal[:50], other[:50]) == {"diff": None, "se": None, "z": None,
                                                                  "p_value": None}


# --- paired bootstrap -------------------------------------------------------------------------

def test_bootstrap_identical_predictions_give_exact_zero():
    _, y, signal = signal_data(500, seed=4)
    res = paired_bootstrap_diff(y, signal, signal.copy(), n_boot=300, seed=0)
    assert res == {"diff": 0.0, "lo": 0.0, "hi": 0.0}


def test_bootstrap_diff_is_the_auroc_difference_inside_its_ci():
    rng, y, signal = signal_data(800, seed=6)
    a, b = signal + 0.5 * rng.normal(size=y.size), signal + 1.0 * rng.normal(size=y.size)
    res = paired_bootstrap_diff(y, a, b, n_boot=1000, seed=0)
    assert res["diff"] == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b), abs=1e-12)
    assert res["lo"] < res["diff"] < res["hi"]
    assert res["hi"] - res["lo"] < 0.1
    # deterministic given the seed, different with another seed
    assert paired_bootstrap_diff(y, a, b, n_boot=1000, seed=0) == res
    assert paired_bootstrap_diff(y, a, b, n_boot=1000, seed=1) != res


def test_bootstrap_ci_is_roughly_symmetric_around_zero_for_exchangeable_models():
    rng, y, signal = signal_data(1000, seed=7)
    a, b = signal + rng.normal(size=y.size), signal + rng.normal(size=y.size)
    res = paired_bootstrap_diff(y, a, b, n_boot=1000, seed=0)
    assert res["lo"] < 0 < res["hi"]
    centre, half = (res["lo"] + res["hi"]) / 2, (res["hi"] - res["lo"]) / 2
    assert abs(centre - res["diff"]) < 0.25 * half


def test_bootstrap_pairing_narrows_the_ci():
    """Two models sharing most of their error: the paired CI is far narrower than unpaired CIs would be."""
    rng, y, signal = signal_data(1000, seed=8)
    a = signal + rng.normal(size=y.size)
    b = a + 0.1 * rng.normal(size=y.size)
    res = paired_bootstrap_diff(y, a, b, n_boot=500, seed=0)
    assert res["hi"] - res["lo"] < 0.02  # an unpaired AUROC CI at n=1000 is ~0.06 wide


def test_bootstrap_drops_nan_labels_and_handles_one_class():
    rng, y, signal = signal_data(400, seed=9)
    other = signal + rng.normal(size=y.size)
    y_nan = y.copy()
    y_nan[1::4] = np.nan
    keep = ~np.isnan(y_nan)
    assert (paired_bootstrap_diff(y_nan, signal, other, n_boot=200)
            == paired_bootstrap_diff(y[keep], signal[keep], other[keep], n_boot=200))
    assert paired_bootstrap_diff(np.ones(30), signal[:30], other[:30]) == {"diff": None, "lo": None, "hi": None}


def test_bootstrap_replicates_equal_sklearn_on_the_same_resampled_rows():
    """Each count-based replicate is exactly AUROC(a) - AUROC(b) on the rows it drew (ties included)."""
    from mtl_core.evaluation.bootstrap import paired_stratified_bootstrap

    rng, y, signal = signal_data(200, seed=12)
    a, b = np.round(signal + rng.normal(size=y.size), 1), signal + rng.normal(size=y.size)  # a has ties
    diffs = paired_stratified_bootstrap(y, a, b, n_boot=20, seed=3)
    draw = np.random.default_rng(3)
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    rows = np.concatenate([pos[draw.integers(0, pos.size, size=(20, pos.size))],
                           neg[draw.integers(0, neg.size, size=(20, neg.size))]], axis=1)
    expected = [roc_auc_score(y[r], a[r]) - roc_auc_score(y[r], b[r]) for r in rows]
    assert diffs == pytest.approx(expected, abs=1e-12)


# --- transfer_report --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def report_case():
    """Four outcomes: MTL much worse, much better, equal to the best baseline, and one with one class."""
    rng = np.random.default_rng(11)
    n = 1500
    Y = (rng.random((n, 4)) < 0.3).astype(float)
    Y[:, 3] = 0.0
    Y[rng.random(n) < 0.2, 1] = np.nan
    signal = Y * 1.5 + rng.normal(size=(n, 4))
    sharp = signal + 0.2 * rng.normal(size=(n, 4))
    blurred = signal + 3.0 * rng.normal(size=(n, 4))
    P_mtl = np.column_stack([blurred[:, 0], sharp[:, 1], sharp[:, 2], sharp[:, 3]])
    outcomes = ["worse", "better", "same", "one_class"]
    baselines = {
        "logistic": {"worse": sharp[:, 0], "better": blurred[:, 1], "same": sharp[:, 2], "one_class": sharp[:, 3]},
        "hist_gb": {"worse": blurred[:, 0], "better": None, "same": blurred[:, 2], "one_class": None},
    }
    return Y, P_mtl, baselines, outcomes


def test_transfer_report_verdicts(report_case):
    Y, P_mtl, baselines, outcomes = report_case
    rows = {r["outcome"]: r for r in transfer_report(Y, P_mtl, baselines, outcomes, n_boot=300, seed=0)}
    assert rows["worse"]["verdict"] == "negative transfer"
    assert rows["worse"]["hi"] < 0 and rows["worse"]["p_value"] < 0.001
    assert rows["better"]["verdict"] == "sharing helps"
    assert rows["better"]["lo"] > 0
    assert rows["same"]["verdict"] == "no clear difference"
    assert rows["same"]["delta"] == 0.0
    for name in ("worse", "better", "same"):
        r = rows[name]
        assert r["best_baseline"] == "logistic"
        assert r["best_baseline_auroc"] == max(a for a in r["baseline_auroc"].values() if a is not None)
        assert r["delta"] == pytest.approx(r["mtl_auroc"] - r["best_baseline_auroc"], abs=1e-12)
        assert r["lo"] <= r["delta"] <= r["hi"]
    assert rows["better"]["baseline_auroc"]["hist_gb"] is None      # a baseline that could not fit
    assert rows["better"]["n"] == int((~np.isnan(Y[:, 1])).sum())


def test_transfer_report_not_estimable_outcome_has_no_numbers(report_case):
    Y, P_mtl, baselines, outcomes = report_case
    row = transfer_report(Y, P_mtl, baselines, outcomes, n_boot=50)[3]
    assert row["verdict"] == "not estimable"
    assert row["mtl_auroc"] is None and row["best_baseline"] is None
    assert all(row[k] is None for k in ("best_baseline_auroc", "delta", "lo", "hi", "p_value"))


def test_transfer_report_is_plain_json(report_case):
    Y, P_mtl, baselines, outcomes = report_case
    rows = transfer_report(Y, P_mtl, baselines, outcomes, n_boot=50)
    again = json.loads(json.dumps(rows, allow_nan=False))
    assert again == rows
    assert [r["outcome"] for r in rows] == outcomes


def test_transfer_report_margin_and_reference(report_case):
    Y, P_mtl, baselines, outcomes = report_case
    rows = transfer_report(Y, P_mtl, baselines, outcomes, n_boot=200, margin=0.5)
    assert [r["verdict"] for r in rows[:3]] == ["no clear difference"] * 3   # nothing beats a 0.5 margin
    ref = transfer_report(Y, P_mtl, baselines, outcomes, n_boot=200, reference={"worse": "hist_gb"})[0]
    assert ref["best_baseline"] == "hist_gb"
    assert ref["verdict"] == "no clear difference"   # MTL equals the weak baseline it is compared with


# --- gradient affinity ------------------------------------------------------------------------

def _net_and_data(n_outcomes: int, seed: int = 0):
    torch.manual_seed(seed)
    net = HardSharedMTL(6, n_outcomes, hidden=(16, 8), dropout=0.3)
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(600, 6)).astype(np.float32)
    Y = (rng.random((600, n_outcomes)) < 0.4).astype(np.float32)
    return net, X, Y


def rng_rows(n: int, share: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(n) < share


def test_gradient_affinity_shape_symmetry_diagonal():
    net, X, Y = _net_and_data(4)
    Y[rng_rows(600, 0.5, 1), 2] = np.nan
    A = gradient_affinity(net, X, Y, batch_size=128, n_batches=3)
    assert A.shape == (4, 4)
    np.testing.assert_array_equal(A, A.T)
    np.testing.assert_array_equal(np.diag(A), np.ones(4))
    assert np.all(np.abs(A) <= 1 + 1e-9)
    assert not np.allclose(A[~np.eye(4, dtype=bool)], 1.0)  # unrelated outcomes are not all aligned


def test_identical_outcomes_have_affinity_one():
    net, X, Y = _net_and_data(3)
    Y[:, 1] = Y[:, 0]
    net.heads[1].load_state_dict(net.heads[0].state_dict())  # same task, same head: same trunk gradient
    A = gradient_affinity(net, X, Y, batch_size=200, n_batches=3)
    assert A[0, 1] == pytest.approx(1.0, abs=1e-6)
    assert A[0, 2] < 0.99


def test_gradient_affinity_skips_unlabelled_outcomes_and_has_no_side_effects():
    net, X, Y = _net_and_data(3)
    Y[:, 2] = np.nan
    net.train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    A = gradient_affinity(net, X, Y, batch_size=256, n_batches=2)
    assert np.isnan(A[0, 2]) and np.isnan(A[2, 1]) and A[2, 2] == 1.0
    assert np.isfinite(A[0, 1])
    assert net.training                                   # mode restored
    assert all(p.grad is None for p in net.parameters())  # .grad untouched
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    # deterministic: dropout is off and batches come from the seed
    np.testing.assert_array_equal(A, gradient_affinity(net, X, Y, batch_size=256, n_batches=2))


def test_gradient_affinity_respects_explicit_shared_params():
    net, X, Y = _net_and_data(2)
    first_layer = [net.trunk[0].weight]
    A = gradient_affinity(net, X, Y, shared_params=first_layer, batch_size=300, n_batches=2)
    B = gradient_affinity(net, X, Y, batch_size=300, n_batches=2)
    assert A.shape == (2, 2) and A[0, 1] != B[0, 1]
    with pytest.raises(ValueError, match="shared_params"):
        gradient_affinity(torch.nn.Linear(6, 2), X, Y)


def test_gradient_affinity_defaults_to_the_schemes_shared_parameters_without_a_trunk():
    from mtl_core.sharing import SHARING

    torch.manual_seed(0)
    net = SHARING["mmoe"](6, 2, hidden=(8,), dropout=0.0, n_experts=2)
    _, X, Y = _net_and_data(2)
    A = gradient_affinity(net, X, Y, batch_size=300, n_batches=2)
    B = gradient_affinity(net, X, Y, shared_params=list(net.experts.parameters()), batch_size=300, n_batches=2)
    np.testing.assert_array_equal(A, B)
    C = gradient_affinity(net, X, Y, shared_params=list(net.parameters()), batch_size=300, n_batches=2)
    assert C[0, 1] != A[0, 1]

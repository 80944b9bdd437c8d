"""Every sharing scheme and weighting strategy: shapes, gradient flow, masked outcomes, determinism."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from mtl_core.errors import ConfigError
from mtl_core.network.estimator import MultiOutcomeClassifier
from mtl_core.network.losses import masked_bce
from mtl_core.network.train import alternating, joint
from mtl_core.sharing import SHARING
from mtl_core.weighting import WEIGHTING


def _net(name: str, k: int = 3):
    torch.manual_seed(0)
    return SHARING[name](6, k, hidden=(8, 4), dropout=0.0)


def _batch(n: int = 32, k: int = 3, missing_outcome: int | None = None):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(n, 6, generator=g)
    y = (torch.rand(n, k, generator=g) < 0.4).float()
    if missing_outcome is not None:
        y[:, missing_outcome] = float("nan")
    return x, y, ~torch.isnan(y)


@pytest.mark.parametrize("name", sorted(SHARING))
def test_sharing_scheme_shapes_and_gradients(name):
    net = _net(name)
    x, y, m = _batch()
    out = net(x)
    assert out.shape == (32, 3)
    (masked_bce(out, y, m, reduction="outcome").sum() + net.penalty()).backward()
    for k in range(3):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.task_parameters(k))
    shared = net.shared_parameters()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in shared if p.dim() == 2)
    own = {id(p) for k in range(3) for p in net.task_parameters(k)}
    assert own.isdisjoint(id(p) for p in shared)
    assert len(own) + len(shared) == len(list(net.parameters()))


def test_soft_sharing_penalty_pulls_towers_together():
    net = _net("soft")
    assert net.penalty() > 0
    with torch.no_grad():
        for layer in zip(*(list(t.parameters()) for t in net.towers)):
            for p in layer[1:]:
                p.copy_(layer[0])
    assert float(net.penalty().detach()) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("strategy", sorted(WEIGHTING))
@pytest.mark.parametrize("scheme", ["hard", "mmoe"])
def test_weighting_backward_reaches_network_and_skips_masked_outcome(strategy, scheme):
    net = _net(scheme)
    weighting = WEIGHTING[strategy](3)
    x, y, m = _batch(missing_outcome=2)
    losses = masked_bce(net(x), y, m, reduction="outcome")
    present = m.any(0)
    assert present.tolist() == [True, True, False]
    w = weighting.backward(losses, present, net, net.penalty())
    assert w.shape == (3,) and float(w[2]) == 0.0 and torch.isfinite(w).all()
    assert all(p.grad is None or float(p.grad.abs().sum()) == 0.0 for p in net.task_parameters(2))
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in net.shared_parameters())


def test_gradnorm_needs_shared_layers():
    net = _net("soft")
    x, y, m = _batch()
    with pytest.raises(ConfigError, match="gradnorm"):
        WEIGHTING["gradnorm"](3).backward(masked_bce(net(x), y, m, reduction="outcome"), m.any(0), net, net.penalty())


def test_pcgrad_on_soft_sharing_is_plain_sum():
    # soft sharing has no shared parameters: nothing conflicts, PCGrad reduces to the summed loss
    net_a, net_b = _net("soft"), _net("soft")
    x, y, m = _batch()
    WEIGHTING["pcgrad"](3).backward(masked_bce(net_a(x), y, m, reduction="outcome"), m.any(0), net_a, net_a.penalty())
    WEIGHTING["equal"](3).backward(masked_bce(net_b(x), y, m, reduction="outcome"), m.any(0), net_b, net_b.penalty())
    for pa, pb in zip(net_a.parameters(), net_b.parameters()):
        assert torch.equal(pa.grad, pb.grad)


def test_uncertainty_weights_are_learnable():
    w = WEIGHTING["uncertainty"](3)
    assert [n for n, _ in w.named_parameters()] == ["log_var"]


def test_dwa_upweights_the_outcome_whose_loss_falls_slowest():
    dwa = WEIGHTING["dwa"](2)
    dwa.epoch_end(torch.tensor([1.0, 1.0]))
    dwa.epoch_end(torch.tensor([0.5, 1.0]))  # outcome 0 halved, outcome 1 stalled
    w = dwa.current()
    assert w[1] > w[0] and float(w.sum()) == pytest.approx(2.0)


def test_pcgrad_removes_conflict_between_two_outcomes():
    # Two outcomes with exactly opposite labels on one shared layer: their gradients conflict.
    torch.manual_seed(0)
    net = SHARING["hard"](4, 2, hidden=(4,), dropout=0.0)
    x = torch.randn(64, 4)
    t = (x[:, :1] > 0).float()
    y = torch.cat([t, 1 - t], 1)
    m = torch.ones_like(y, dtype=torch.bool)
    shared = net.shared_parameters()
    losses = masked_bce(net(x), y, m, reduction="outcome")
    g = [torch.cat([q.reshape(-1) for q in torch.autograd.grad(losses[k], shared, retain_graph=True)])
         for k in range(2)]
    assert g[0] @ g[1] < 0
    WEIGHTING["pcgrad"](2).backward(losses, m.any(0), net, net.penalty())
    combined = torch.cat([p.grad.reshape(-1) for p in shared])
    for gk in g:  # the projected sum no longer points against either outcome
        assert combined @ gk >= -1e-6


def test_training_modes():
    present = torch.tensor([True, False, True])
    assert joint(present, 5).tolist() == [True, False, True]
    turns = [alternating(present, s).tolist() for s in range(4)]
    assert turns == [[True, False, False], [False, False, True]] * 2


def _toy(n=400, seed=0):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "g": rng.choice(["x", "y"], n)})
    z = X["a"] + 0.5 * X["b"]
    Y = pd.DataFrame({"o1": (rng.random(n) < 1 / (1 + np.exp(-2 * z))).astype(float),
                      "o2": (rng.random(n) < 1 / (1 + np.exp(1 - z))).astype(float)})
    Y.loc[rng.random(n) < 0.3, "o2"] = np.nan
    return X, Y


@pytest.mark.parametrize("params", [dict(sharing="soft"), dict(sharing="mmoe", n_experts=2),
                                    dict(weighting="pcgrad", mode="alternating"),
                                    dict(pos_weight="auto", calibration="temperature",
                                         head_dropout={"o2": 0.3}, head_weight_decay={"o1": 1e-2})])
def test_estimator_options_fit_and_are_deterministic(params):
    X, Y = _toy()
    make = lambda: MultiOutcomeClassifier(hidden=(8,), epochs=4, patience=2, seed=3, **params)  # noqa: E731
    p1 = make().fit(X, Y).predict_proba(X)
    p2 = make().fit(X, Y).predict_proba(X)
    assert p1.shape == (400, 2) and np.array_equal(p1, p2)


def test_unknown_names_are_config_errors():
    X, Y = _toy()
    with pytest.raises(ConfigError, match="train.weighting: unknown 'magic'"):
        MultiOutcomeClassifier(weighting="magic").fit(X, Y)


def test_resume_after_interruption_matches_uninterrupted(tmp_path):
    X, Y = _toy(600)
    params = dict(hidden=(8,), epochs=6, patience=10, seed=5)
    full = MultiOutcomeClassifier(**params).fit(X, Y)

    def stop_after_three(epoch, logs):
        if epoch == 3:
            raise KeyboardInterrupt

    ckpt = str(tmp_path / "ckpt.pt")
    with pytest.raises(KeyboardInterrupt):
        MultiOutcomeClassifier(**params).fit(X, Y, callbacks=[stop_after_three], checkpoint_path=ckpt)
    resumed = MultiOutcomeClassifier(**params).fit(X, Y, checkpoint_path=ckpt, resume=True)
    assert [h["epoch"] for h in resumed.history_] == list(range(1, 7))
    assert np.array_equal(full.predict_proba(X), resumed.predict_proba(X))


def test_platt_calibration_keeps_ranking_and_fixes_reweighted_probabilities():
    X, Y = _toy(2000, seed=2)
    raw = MultiOutcomeClassifier(hidden=(8,), epochs=8, pos_weight={"o1": 6.0}, calibration="none", seed=1)
    cal = MultiOutcomeClassifier(hidden=(8,), epochs=8, pos_weight={"o1": 6.0}, calibration="platt", seed=1)
    p_raw, p_cal = raw.fit(X, Y).predict_proba(X)[:, 0], cal.fit(X, Y).predict_proba(X)[:, 0]
    assert np.array_equal(np.argsort(p_raw, kind="stable"), np.argsort(p_cal, kind="stable"))
    observed = Y["o1"].mean()
    assert abs(p_cal.mean() - observed) < abs(p_raw.mean() - observed)


def test_weighting_and_sharing_args_reach_the_classes_and_unknown_ones_are_refused():
    from mtl_core.network.estimator import check_args
    from mtl_core.weighting import dwa

    check_args("mmoe", {"n_experts": 2}, "dwa", {"temperature": 3.0})
    with pytest.raises(ConfigError, match=r"train.weighting_args: \['alpha'\] not accepted by 'dwa'.*temperature"):
        check_args("hard", None, "dwa", {"alpha": 1.0})
    with pytest.raises(ConfigError, match=r"model.sharing_args: \['n_experts'\] not accepted by 'hard'"):
        check_args("hard", {"n_experts": 2}, "equal", None)
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    Y = pd.DataFrame({"y1": (X.a > 0).astype(float), "y2": (X.b > 0).astype(float)})
    seen = {}

    class Spy(dwa.DWAWeighting):
        def __init__(self, n_tasks, temperature=2.0):
            seen["temperature"] = temperature
            super().__init__(n_tasks, temperature)

    old = WEIGHTING["dwa"]
    WEIGHTING["dwa"] = Spy
    try:
        MultiOutcomeClassifier(weighting="dwa", weighting_args={"temperature": 5.0}, epochs=2, hidden=(8,),
                               numeric_encoding="standard").fit(X, Y)
    finally:
        WEIGHTING["dwa"] = old
    assert seen == {"temperature": 5.0}

"""masked_bce: per-outcome BCE over labelled rows only; masked labels give neither loss nor gradient."""
from __future__ import annotations

import math

import pytest
import torch

from mtl_core.network.losses import masked_bce

NAN = float("nan")


def _bce(z: float, y: float) -> float:
    p = 1.0 / (1.0 + math.exp(-z))
    return -(y * math.log(p) + (1 - y) * math.log(1 - p))


def _approx(x: float):
    return pytest.approx(x, rel=1e-9, abs=1e-12)


def _inputs(logits, targets):
    t = torch.tensor(targets, dtype=torch.float64)
    return torch.tensor(logits, dtype=torch.float64, requires_grad=True), t, ~torch.isnan(t)


def test_masked_bce_equals_hand_computed_mean_over_labelled_rows():
    logits = [[0.5, -1.0], [2.0, 0.3], [-0.7, 1.5], [0.0, -2.0]]
    targets = [[1.0, 0.0], [0.0, NAN], [1.0, 1.0], [NAN, NAN]]
    z, y, m = _inputs(logits, targets)
    loss = masked_bce(z, y, m, reduction="outcome")
    assert loss.shape == (2,)
    first = (_bce(0.5, 1) + _bce(2.0, 0) + _bce(-0.7, 1)) / 3
    second = (_bce(-1.0, 0) + _bce(1.5, 1)) / 2
    torch.testing.assert_close(loss, torch.tensor([first, second], dtype=torch.float64))


def test_masked_label_gives_exactly_zero_gradient_to_its_logit():
    z, y, m = _inputs([[0.5, -1.0], [2.0, 0.3], [-0.7, 1.5]], [[1.0, 0.0], [0.0, NAN], [NAN, 1.0]])
    masked_bce(z, y, m, reduction="outcome").sum().backward()
    grad = z.grad
    assert grad[1, 1].item() == 0.0
    assert grad[2, 0].item() == 0.0
    assert torch.isfinite(grad).all()
    # labelled entries do get the usual (sigmoid(z) - y) / n gradient
    assert grad[0, 0].item() == _approx((1 / (1 + math.exp(-0.5)) - 1) / 2)
    assert grad[1, 0].item() == _approx((1 / (1 + math.exp(-2.0)) - 0) / 2)
    assert grad[0, 1].item() == _approx((1 / (1 + math.exp(1.0)) - 0) / 2)


def test_masked_value_does_not_matter():
    z = torch.tensor([[0.2, -0.4], [1.1, 0.9]], dtype=torch.float64)
    m = torch.tensor([[True, True], [True, False]])
    a = masked_bce(z, torch.tensor([[1.0, 0.0], [0.0, NAN]], dtype=torch.float64), m, reduction="outcome")
    b = masked_bce(z, torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64), m, reduction="outcome")
    c = masked_bce(z, torch.tensor([[1.0, 0.0], [0.0, 1e9]], dtype=torch.float64), m, reduction="outcome")
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a, c)


def test_outcome_without_labels_gives_zero_loss_and_no_nan():
    z, y, m = _inputs([[0.5, -1.0], [2.0, 0.3], [-0.7, 1.5]], [[1.0, NAN], [0.0, NAN], [1.0, NAN]])
    loss = masked_bce(z, y, m, reduction="outcome")
    assert loss[1].item() == 0.0
    assert not torch.isnan(loss).any()
    loss.sum().backward()
    assert torch.isfinite(z.grad).all()
    assert (z.grad[:, 1] == 0).all()
    assert (z.grad[:, 0] != 0).all()


def test_all_masked_batch_is_zero():
    z, y, m = _inputs([[3.0, -3.0]], [[NAN, NAN]])
    loss = masked_bce(z, y, m, reduction="outcome")
    assert loss.tolist() == [0.0, 0.0]


def test_batch_reduction_divides_by_batch_rows_so_each_label_weighs_the_same():
    logits = [[0.5, -1.0], [2.0, 0.3], [-0.7, 1.5], [0.0, -2.0]]
    targets = [[1.0, 0.0], [0.0, NAN], [1.0, NAN], [NAN, NAN]]
    z, y, m = _inputs(logits, targets)
    loss = masked_bce(z, y, m, reduction="batch")
    first = (_bce(0.5, 1) + _bce(2.0, 0) + _bce(-0.7, 1)) / 4
    second = _bce(-1.0, 0) / 4      # one label in a batch of four: a quarter of the weight
    torch.testing.assert_close(loss, torch.tensor([first, second], dtype=torch.float64))
    loss.sum().backward()
    assert z.grad[0, 0].item() == _approx((1 / (1 + math.exp(-0.5)) - 1) / 4)
    assert z.grad[1, 1].item() == 0.0


def test_unknown_reduction_is_refused():
    z, y, m = _inputs([[0.5]], [[1.0]])
    with pytest.raises(ValueError, match="reduction"):
        masked_bce(z, y, m, reduction="sum")

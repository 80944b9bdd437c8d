"""What every sharing scheme provides: logits per outcome, and its parameters split into shared and per-outcome."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


def mlp(n_in: int, hidden: Sequence[int], dropout: float) -> tuple[nn.Sequential, int]:
    """Linear-ReLU-Dropout blocks; returns the stack and its output width."""
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_in, width), nn.ReLU(), nn.Dropout(dropout)]
        n_in = width
    return nn.Sequential(*layers), n_in


def head(width: int, head_hidden: int, dropout: float) -> nn.Module:
    """One outcome's output layer: linear, or a small MLP when head_hidden > 0."""
    if head_hidden <= 0:
        return nn.Linear(width, 1) if dropout == 0 else nn.Sequential(nn.Dropout(dropout), nn.Linear(width, 1))
    return nn.Sequential(nn.Linear(width, head_hidden), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(head_hidden, 1))


def per_outcome(value: float | Sequence[float] | None, n: int, default: float) -> list[float]:
    """A scalar or a per-outcome list, expanded to one value per outcome."""
    if value is None:
        return [default] * n
    if isinstance(value, (int, float)):
        return [float(value)] * n
    if len(value) != n:
        raise ValueError(f"expected {n} per-outcome values, got {len(value)}")
    return [float(v) for v in value]


class MultiTaskNet(nn.Module):
    """Base class: subclasses build `self.towers` (one module per outcome) and their shared part."""

    towers: nn.ModuleList

    def shared_parameters(self) -> list[nn.Parameter]:
        """Parameters every outcome's loss reaches (where gradient conflicts can happen)."""
        own = {id(p) for t in self.towers for p in t.parameters()}
        return [p for p in self.parameters() if id(p) not in own]

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        return list(self.towers[k].parameters())

    def penalty(self) -> torch.Tensor:
        """Extra loss term of the scheme (soft sharing pulls towers together); zero by default."""
        return torch.zeros(())

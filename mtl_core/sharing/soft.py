"""Soft parameter sharing: a full network per outcome, pulled towards each other by an L2 penalty."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mtl_core.sharing.base import MultiTaskNet, head, mlp, per_outcome


class SoftSharedMTL(MultiTaskNet):
    """One tower per outcome; `penalty()` is soft_lambda x squared distance of each tower's weights
    to the towers' mean, layer by layer. Lambda 0 gives independent networks; large lambda
    approaches hard sharing without forcing one representation on outcomes that disagree.
    """

    def __init__(self, n_features: int, n_outcomes: int, hidden: Sequence[int] = (128, 64),
                 dropout: float = 0.1, head_hidden: int = 0,
                 head_dropout: float | Sequence[float] | None = None, soft_lambda: float = 1e-3):
        super().__init__()
        self.soft_lambda = soft_lambda
        drops = per_outcome(head_dropout, n_outcomes, 0.0)
        towers = []
        for d in drops:
            body, width = mlp(n_features, hidden, dropout)
            towers.append(nn.Sequential(body, head(width, head_hidden, d)))
        self.towers = nn.ModuleList(towers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([t(x) for t in self.towers], dim=1)

    def penalty(self) -> torch.Tensor:
        if self.soft_lambda == 0 or len(self.towers) < 2:
            return torch.zeros(())
        total = torch.zeros(())
        for same_layer in zip(*(list(t.parameters()) for t in self.towers)):
            stacked = torch.stack(same_layer)
            total = total + ((stacked - stacked.mean(0, keepdim=True)) ** 2).sum()
        return self.soft_lambda * total

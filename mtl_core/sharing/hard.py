"""Hard parameter sharing: one trunk for all outcomes, one head per outcome (the default)."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from mtl_core.sharing.base import MultiTaskNet, head, mlp, per_outcome


class HardSharedMTL(MultiTaskNet):
    """Every outcome reads the same trunk representation through its own head.

    Sharing the trunk lets rare outcomes borrow the representation learned from common ones, which is
    where multi-task learning pays off on clinical data with few positives per outcome.
    """

    def __init__(self, n_features: int, n_outcomes: int, hidden: Sequence[int] = (128, 64),
                 dropout: float = 0.1, head_hidden: int = 0,
                 head_dropout: float | Sequence[float] | None = None):
        super().__init__()
        self.trunk, width = mlp(n_features, hidden, dropout)
        drops = per_outcome(head_dropout, n_outcomes, 0.0)
        self.towers = torch.nn.ModuleList(head(width, head_hidden, d) for d in drops)

    @property
    def heads(self) -> torch.nn.ModuleList:
        return self.towers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.trunk(x)
        if all(isinstance(h, torch.nn.Linear) for h in self.towers):
            # Linear heads as one matmul: the heads stay separate parameters (per-outcome weight
            # decay, gradients), but the step costs about what a single-task network's does.
            w = torch.cat([h.weight for h in self.towers])
            b = torch.cat([h.bias for h in self.towers])
            return torch.nn.functional.linear(z, w, b)
        return torch.cat([h(z) for h in self.towers], dim=1)  # (n, n_outcomes) logits

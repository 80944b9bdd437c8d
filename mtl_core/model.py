"""Multi-task networks: a registry of sharing schemes; `hard` (shared trunk, one head per outcome) is default.

Only torch is imported here, so the networks can be reused from any training loop.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


def mlp(n_in: int, hidden: Sequence[int], dropout: float) -> tuple[nn.Sequential, int]:
    layers: list[nn.Module] = []
    for width in hidden:
        layers += [nn.Linear(n_in, width), nn.ReLU(), nn.Dropout(dropout)]
        n_in = width
    return nn.Sequential(*layers), n_in


class HardSharedMTL(nn.Module):
    """Hard parameter sharing: every outcome reads the same trunk representation through its own head.

    Sharing the trunk lets rare outcomes borrow the representation learned from common ones, which is
    where multi-task learning pays off on clinical data with few positives per outcome.
    """

    def __init__(self, n_features: int, n_outcomes: int, hidden: Sequence[int] = (128, 64),
                 dropout: float = 0.1, head_hidden: int = 0):
        super().__init__()
        self.trunk, width = mlp(n_features, hidden, dropout)
        self.heads = nn.ModuleList(self._head(width, head_hidden, dropout) for _ in range(n_outcomes))

    @staticmethod
    def _head(width: int, head_hidden: int, dropout: float) -> nn.Module:
        if head_hidden <= 0:
            return nn.Linear(width, 1)
        return nn.Sequential(nn.Linear(width, head_hidden), nn.ReLU(), nn.Dropout(dropout),
                             nn.Linear(head_hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.trunk(x)
        return torch.cat([head(z) for head in self.heads], dim=1)  # (n, n_outcomes) logits


SHARING: dict[str, type[nn.Module]] = {"hard": HardSharedMTL}

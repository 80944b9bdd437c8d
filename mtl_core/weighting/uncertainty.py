"""Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla 2018): a learned log-variance per outcome."""
from __future__ import annotations

import torch
from torch import nn

from mtl_core.weighting.base import Weighting


class UncertaintyWeighting(Weighting):
    """loss = sum_k exp(-s_k) / 2 * L_k + s_k / 2: noisy outcomes learn a large s_k and count less,
    while the + s_k / 2 term stops every weight from collapsing to zero."""

    def __init__(self, n_tasks: int):
        super().__init__(n_tasks)
        self.log_var = nn.Parameter(torch.zeros(n_tasks))

    def backward(self, losses, present, net, extra) -> torch.Tensor:
        w = 0.5 * torch.exp(-self.log_var)
        total = ((w * losses + 0.5 * self.log_var) * present).sum() + extra
        total.backward()
        return w.detach() * present

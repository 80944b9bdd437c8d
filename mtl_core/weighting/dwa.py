"""Dynamic weight average (Liu, Johns & Davison 2019): weight outcomes whose loss falls slowest."""
from __future__ import annotations

import torch

from mtl_core.weighting.base import Weighting


class DWAWeighting(Weighting):
    """w_k = K * softmax_k(r_k / T), r_k = L_k(t-1) / L_k(t-2) from epoch mean losses; equal weights
    for the first two epochs, when there is no rate to measure yet."""

    def __init__(self, n_tasks: int, temperature: float = 2.0):
        super().__init__(n_tasks)
        self.temperature = temperature
        self.register_buffer("history", torch.ones(2, n_tasks))
        self.register_buffer("epochs_seen", torch.zeros((), dtype=torch.long))

    def current(self) -> torch.Tensor:
        if int(self.epochs_seen) < 2:
            return torch.ones(self.n_tasks)
        rate = self.history[1] / self.history[0].clamp(min=1e-12)
        return self.n_tasks * torch.softmax(rate / self.temperature, dim=0)

    def backward(self, losses, present, net, extra) -> torch.Tensor:
        w = self.current() * present
        ((w * losses).sum() + extra).backward()
        return w

    def epoch_end(self, mean_losses: torch.Tensor) -> None:
        self.history.copy_(torch.stack([self.history[1], mean_losses.detach().clamp(min=1e-12)]))
        self.epochs_seen += 1

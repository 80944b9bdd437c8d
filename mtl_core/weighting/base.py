"""The contract of a loss-weighting strategy: per-outcome batch losses in, gradients on the network out."""
from __future__ import annotations

import torch
from torch import nn


class Weighting(nn.Module):
    """Subclasses implement `backward`; learnable weights are parameters, running state is buffers,
    so an optimiser and a checkpoint pick both up without special cases."""

    def __init__(self, n_tasks: int):
        super().__init__()
        self.n_tasks = n_tasks

    def backward(self, losses: torch.Tensor, present: torch.Tensor, net: nn.Module,
                 extra: torch.Tensor) -> torch.Tensor:
        """Backpropagate `losses` (K,) of the outcomes `present` (K,) bool in this batch, plus the
        scheme's `extra` penalty; return the weights applied, (K,), for logging."""
        raise NotImplementedError

    def epoch_end(self, mean_losses: torch.Tensor) -> None:
        """Hook for strategies that adapt between epochs (mean training loss per outcome)."""

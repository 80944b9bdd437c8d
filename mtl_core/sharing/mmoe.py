"""Multi-gate mixture of experts (Ma et al. 2018): shared experts, one softmax gate and tower per outcome."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from mtl_core.sharing.base import MultiTaskNet, head, mlp, per_outcome


class MMoE(MultiTaskNet):
    """Each outcome mixes the experts with its own input-dependent gate, so outcomes that conflict
    can lean on different experts while related ones share them."""

    def __init__(self, n_features: int, n_outcomes: int, hidden: Sequence[int] = (128, 64),
                 dropout: float = 0.1, head_hidden: int = 0,
                 head_dropout: float | Sequence[float] | None = None, n_experts: int = 4):
        super().__init__()
        experts = [mlp(n_features, hidden, dropout) for _ in range(n_experts)]
        self.experts = nn.ModuleList(e for e, _ in experts)
        width = experts[0][1]
        self.gates = nn.ModuleList(nn.Linear(n_features, n_experts) for _ in range(n_outcomes))
        drops = per_outcome(head_dropout, n_outcomes, 0.0)
        self.towers = nn.ModuleList(head(width, head_hidden, d) for d in drops)

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        return list(self.towers[k].parameters()) + list(self.gates[k].parameters())

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.experts.parameters())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = torch.stack([expert(x) for expert in self.experts], dim=1)  # (n, experts, width)
        out = []
        for gate, tower in zip(self.gates, self.towers):
            w = torch.softmax(gate(x), dim=1).unsqueeze(2)                # (n, experts, 1)
            out.append(tower((w * e).sum(1)))
        return torch.cat(out, dim=1)

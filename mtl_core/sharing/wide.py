"""A linear (wide) path per outcome beside any sharing scheme, so per-outcome logistic regression is a
special case of the multi-task network (Cheng et al. 2016, wide & deep)."""
from __future__ import annotations

import torch
from torch import nn

from mtl_core.sharing.base import MultiTaskNet


class WideAndDeep(MultiTaskNet):
    """logit_k(x) = deep_k(x) + w_k . x. The wide weights start at zero, so training begins from the
    deep network alone; each outcome's weights are its own parameters (per-outcome weight decay,
    task gradients), the deep part keeps its shared/task split. On small near-linear cohorts the wide
    path carries the linear signal a logistic regression would find, and the trunk only what is left."""

    def __init__(self, deep: MultiTaskNet, n_features: int, n_outcomes: int):
        super().__init__()
        self.deep = deep
        self.wide = nn.ModuleList(nn.Linear(n_features, 1, bias=False) for _ in range(n_outcomes))
        for w in self.wide:
            nn.init.zeros_(w.weight)

    @property
    def towers(self) -> nn.ModuleList:  # type: ignore[override]
        """The deep part's per-outcome modules (the wide weights are in `wide`)."""
        return self.deep.towers

    @property
    def trunk(self):
        """The deep part's trunk (hard sharing), for gradient affinity."""
        return self.deep.trunk

    def shared_parameters(self) -> list[nn.Parameter]:
        return self.deep.shared_parameters()

    def task_parameters(self, k: int) -> list[nn.Parameter]:
        return self.deep.task_parameters(k) + list(self.wide[k].parameters())

    def penalty(self) -> torch.Tensor:
        return self.deep.penalty()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        linear = nn.functional.linear(x, torch.cat([w.weight for w in self.wide]))
        return self.deep(x) + linear

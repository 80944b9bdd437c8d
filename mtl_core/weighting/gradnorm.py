"""GradNorm (Chen et al. 2018): learn weights that balance gradient norms on the last shared layer."""
from __future__ import annotations

import torch
from torch import nn

from mtl_core.errors import ConfigError
from mtl_core.weighting.base import Weighting


def last_shared_matrix(net: nn.Module) -> nn.Parameter:
    mats = [p for p in net.shared_parameters() if p.dim() == 2]
    if not mats:
        raise ConfigError("weighting 'gradnorm' needs a sharing scheme with shared layers (hard, mmoe)")
    return mats[-1]


class GradNormWeighting(Weighting):
    """Outcomes whose loss has fallen least (relative to its first value) get a larger gradient-norm
    target, scaled by alpha; the weights are renormalised to sum to K before every step."""

    def __init__(self, n_tasks: int, alpha: float = 1.5):
        super().__init__(n_tasks)
        self.alpha = alpha
        self.w = nn.Parameter(torch.ones(n_tasks))
        self.register_buffer("initial", torch.zeros(n_tasks))

    def backward(self, losses, present, net, extra) -> torch.Tensor:
        with torch.no_grad():
            self.w.clamp_(min=1e-3).mul_(self.n_tasks / self.w.sum())
            first = present & (self.initial == 0)
            self.initial[first] = losses.detach()[first].clamp(min=1e-8)
        W = last_shared_matrix(net)
        weighted = self.w * losses * present
        norms = torch.stack([
            torch.autograd.grad(weighted[k], W, retain_graph=True, create_graph=True)[0].norm()
            if present[k] else torch.zeros(()) for k in range(self.n_tasks)])
        ratio = losses.detach() / self.initial.clamp(min=1e-8)
        rel = ratio / ratio[present].mean().clamp(min=1e-8)
        target = (norms[present].mean() * rel ** self.alpha).detach()
        grad_w = torch.autograd.grad(((norms - target).abs() * present).sum(), self.w, retain_graph=True)[0]
        (weighted.sum() + extra).backward()
        self.w.grad = grad_w  # the weights follow the GradNorm objective, not the task loss
        return self.w.detach() * present

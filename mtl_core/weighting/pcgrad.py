"""PCGrad (Yu et al. 2020): remove the conflicting component between outcomes' shared-layer gradients."""
from __future__ import annotations

import torch

from mtl_core.weighting.base import Weighting


class PCGradWeighting(Weighting):
    """For each outcome's gradient on the shared parameters, project out its component along any other
    outcome's gradient it conflicts with (negative dot product), in a random order; outcome-specific
    parameters keep the plain summed gradient."""

    def __init__(self, n_tasks: int, seed: int = 0):
        super().__init__(n_tasks)
        self.seed = seed
        self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    def backward(self, losses, present, net, extra) -> torch.Tensor:
        shared = net.shared_parameters()
        if not shared:  # e.g. soft sharing: no parameter two outcomes both move, nothing to project
            ((losses * present).sum() + extra).backward()
            return present.float()
        tasks = [k for k in range(self.n_tasks) if present[k]]
        grads = []
        for k in tasks:
            g = torch.autograd.grad(losses[k], shared, retain_graph=True, allow_unused=True)
            grads.append(torch.cat([(x if x is not None else torch.zeros_like(p)).reshape(-1)
                                    for x, p in zip(g, shared)]))
        ((losses * present).sum() + extra).backward()
        if len(grads) < 2:
            return present.float()
        order = torch.Generator().manual_seed(self.seed + int(self.steps))
        self.steps += 1
        projected = []
        for i, g in enumerate(grads):
            g = g.clone()
            for j in torch.randperm(len(grads), generator=order).tolist():
                dot = g @ grads[j]
                if j != i and dot < 0:
                    g -= dot / grads[j].square().sum().clamp(min=1e-20) * grads[j]
            projected.append(g)
        total = torch.stack(projected).sum(0)
        offset = 0
        for p in shared:
            n = p.numel()
            p.grad = total[offset:offset + n].view_as(p).clone()
            offset += n
        return present.float()

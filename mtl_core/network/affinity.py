"""Task affinity of a trained multi-task network: how alike the outcomes' gradients on the shared layers are."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from mtl_core.network.losses import masked_bce


def gradient_affinity(net: nn.Module, X: np.ndarray, Y: np.ndarray, shared_params: list[nn.Parameter] | None = None,
                      batch_size: int = 1024, n_batches: int = 5, seed: int = 0) -> np.ndarray:
    """(K, K) mean cosine similarity between outcomes' masked-BCE gradients on the shared parameters.

    Shared parameters default to `net.trunk` (hard sharing), else `net.shared_parameters()`.

    Positive: the outcomes pull the trunk the same way; negative: they fight over it. Averaged over
    `n_batches` random batches; an outcome without labels (or with a zero gradient) in a batch sits that
    batch out. Pairs never seen together are NaN; the diagonal is 1. Dropout is off while measuring, so
    the answer depends only on the weights and the sampled rows; the network's mode is restored.
    """
    params = _shared(net) if shared_params is None else list(shared_params)
    Y = np.asarray(Y, dtype=np.float32)
    K = Y.shape[1]
    total, count = np.zeros((K, K)), np.zeros((K, K))
    order = np.random.default_rng(seed).permutation(len(X))
    was_training = net.training
    net.eval()
    try:
        for start in range(0, min(n_batches * batch_size, len(X)), batch_size):
            idx = order[start:start + batch_size]
            cos, present = _batch_cosines(net, X[idx], Y[idx], params)
            both = np.outer(present, present)
            total[both] += cos[both]
            count[both] += 1
    finally:
        net.train(was_training)
    out = np.full((K, K), np.nan)
    np.divide(total, count, out=out, where=count > 0)
    out = (out + out.T) / 2
    np.fill_diagonal(out, 1.0)
    return out


def _shared(net: nn.Module) -> list[nn.Parameter]:
    """The trunk of a hard-shared net; otherwise whatever the scheme declares shared."""
    if hasattr(net, "trunk"):
        return list(net.trunk.parameters())
    if hasattr(net, "shared_parameters"):
        return list(net.shared_parameters())
    raise ValueError(f"{type(net).__name__} has no `trunk` or `shared_parameters()`: pass shared_params")


def _batch_cosines(net: nn.Module, X: np.ndarray, Y: np.ndarray, params: list[nn.Parameter]):
    x, y = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(Y, dtype=torch.float32)
    mask = ~torch.isnan(y)
    losses = masked_bce(net(x), y, mask, reduction="outcome")
    K = Y.shape[1]
    grads = np.zeros((K, sum(p.numel() for p in params)))
    present = np.zeros(K, dtype=bool)
    for k in range(K):
        if not bool(mask[:, k].any()):
            continue
        g = torch.autograd.grad(losses[k], params, retain_graph=True, allow_unused=True)
        flat = torch.cat([(gi if gi is not None else torch.zeros_like(p)).reshape(-1)
                          for gi, p in zip(g, params)]).double().numpy()
        norm = np.linalg.norm(flat)
        if norm > 0:
            grads[k], present[k] = flat / norm, True
    return grads @ grads.T, present

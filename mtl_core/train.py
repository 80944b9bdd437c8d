"""Joint training of a multi-task network with masked losses and early stopping on validation AUROC.

The loop reports through callbacks (`callback(epoch, logs)`); it never talks to a tracker itself.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from mtl_core.errors import DataError
from mtl_core.losses import masked_bce
from mtl_core.metrics import auroc, mean_auroc

Callback = Callable[[int, dict], None]


@dataclass
class TrainSettings:
    epochs: int = 60
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 8
    seed: int = 0


@dataclass
class TrainResult:
    best_epoch: int
    best_score: float
    history: list[dict] = field(default_factory=list)


def _tensors(X: np.ndarray, Y: np.ndarray):
    y = torch.tensor(Y, dtype=torch.float32)
    return torch.tensor(X, dtype=torch.float32), y, ~torch.isnan(y)


@torch.no_grad()
def predict_logits(net: nn.Module, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    net.eval()
    x = torch.tensor(X, dtype=torch.float32)
    return torch.cat([net(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()


def fit_network(net: nn.Module, X: np.ndarray, Y: np.ndarray, X_val: np.ndarray, Y_val: np.ndarray,
                s: TrainSettings, outcomes: list[str], callbacks: list[Callback] = ()) -> TrainResult:
    """Train `net` in place; on return it holds the weights of the best validation epoch."""
    if not any(auroc(Y_val[:, k], np.zeros(len(Y_val))) is not None for k in range(Y_val.shape[1])):
        raise DataError("validation split has no outcome with both classes labelled: early stopping "
                        "has nothing to measure (more data, or a larger val fraction in `split`)")
    torch.manual_seed(s.seed)
    gen = torch.Generator().manual_seed(s.seed)
    x, y, m = _tensors(X, Y)
    opt = torch.optim.AdamW(net.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    best = TrainResult(best_epoch=-1, best_score=-np.inf)
    best_state = copy.deepcopy(net.state_dict())
    for epoch in range(1, s.epochs + 1):
        net.train()
        total, batches = torch.zeros(len(outcomes)), 0
        for idx in torch.randperm(len(x), generator=gen).split(s.batch_size):
            per_outcome = masked_bce(net(x[idx]), y[idx], m[idx])
            loss = per_outcome.sum()  # equal weighting
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += per_outcome.detach()
            batches += 1
        P_val = 1 / (1 + np.exp(-predict_logits(net, X_val)))
        score = mean_auroc(Y_val, P_val)
        logs = {"train_loss": float(total.sum() / batches), "val_mean_auroc": score}
        for k, name in enumerate(outcomes):
            logs[f"train_loss/{name}"] = float(total[k] / batches)
            a = auroc(Y_val[:, k], P_val[:, k])
            if a is not None:
                logs[f"val_auroc/{name}"] = a
        best.history.append({"epoch": epoch, **logs})
        if score > best.best_score:
            best.best_score, best.best_epoch = score, epoch
            best_state = copy.deepcopy(net.state_dict())
        for cb in callbacks:
            cb(epoch, logs)
        if epoch - best.best_epoch >= s.patience:
            break
    net.load_state_dict(best_state)
    net.eval()
    return best

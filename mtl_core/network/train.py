"""Training loop for multi-task networks: masked losses, a weighting strategy, joint or alternating
steps, early stopping on validation mean AUROC, and a checkpoint each epoch to resume from.

The loop reports through callbacks (`callback(epoch, logs)`); it never talks to a tracker itself.
"""
from __future__ import annotations

import copy
import os
import re
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from mtl_core.errors import DataError
from mtl_core.evaluation.metrics import auroc, rank_auroc
from mtl_core.network.losses import masked_bce
from mtl_core.weighting import WEIGHTING, Weighting

Callback = Callable[[int, dict], None]


def joint(present: torch.Tensor, step: int) -> torch.Tensor:
    """Every outcome with labels in the batch trains on every step."""
    return present


def alternating(present: torch.Tensor, step: int) -> torch.Tensor:
    """Outcomes take turns, one per step; an outcome without labels in the batch passes its turn."""
    idx = torch.nonzero(present).flatten()
    turn = torch.zeros_like(present)
    if len(idx):
        turn[idx[step % len(idx)]] = True
    return turn


MODES: dict[str, Callable[[torch.Tensor, int], torch.Tensor]] = {"joint": joint, "alternating": alternating}


@dataclass
class TrainSettings:
    epochs: int = 60
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    patience: int = 8
    seed: int = 0
    weighting: str = "equal"
    mode: str = "joint"
    head_weight_decay: list[float] | None = None   # per outcome; None = weight_decay
    pos_weight: list[float] | None = None          # per outcome; None = 1
    loss_reduction: str = "batch"                  # mtl_core.network.losses.REDUCTIONS
    checkpoint_path: str | None = None
    resume: bool = False
    threads: int = 1                               # torch intra-op threads while training
    selection: str = "mean"                        # "mean" | "per_outcome" (independent towers only)
    weighting_args: dict = field(default_factory=dict)  # keyword arguments of the weighting class


@contextmanager
def torch_threads(n: int):
    """Run with n torch threads. These networks are small: a second thread saves little on a quiet
    machine, and when the cores are busy (a Prefect server, other fits) spinning threads made a fit
    ~10x slower (9 s with 1 thread vs 110 s with 2, measured under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass
class TrainResult:
    best_epoch: int
    best_score: float
    history: list[dict] = field(default_factory=list)
    outcome_epochs: list[int] | None = None       # per_outcome selection: each outcome's best epoch


_OWNER = re.compile(r"(?:^|\.)(?:towers|wide)\.(\d+)\.")


def _assemble(shared_state: dict, per_state: list[dict | None]) -> dict:
    """One state dict taking each outcome's own parameters (towers.k, wide.k) from that outcome's best
    epoch and anything shared from `shared_state`: per-outcome early stopping for networks whose
    outcomes share nothing (soft sharing with lambda 0: K single-task networks trained in one loop)."""
    out = {}
    for key, value in shared_state.items():
        hit = _OWNER.search(key)
        own = per_state[int(hit.group(1))] if hit else None
        out[key] = own[key] if own is not None else value
    return out


@torch.no_grad()
def predict_logits(net: nn.Module, X: np.ndarray, batch_size: int = 8192) -> np.ndarray:
    net.eval()
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    return torch.cat([net(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]).numpy()


def _optimizer(net: nn.Module, weighting: Weighting, s: TrainSettings, k: int) -> torch.optim.Optimizer:
    decay = s.head_weight_decay or [s.weight_decay] * k
    groups = [{"params": net.shared_parameters(), "weight_decay": s.weight_decay}]
    groups += [{"params": net.task_parameters(i), "weight_decay": decay[i]} for i in range(k)]
    groups += [{"params": list(weighting.parameters()), "weight_decay": 0.0}]
    # foreach: one fused update over all tensors, so extra heads add little per-step overhead
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=s.lr, foreach=True)


def _check_validation(Y_val: np.ndarray) -> None:
    if not any(auroc(Y_val[:, k], np.zeros(len(Y_val))) is not None for k in range(Y_val.shape[1])):
        raise DataError("validation split has no outcome with both classes labelled: early stopping "
                        "has nothing to measure (more data, or a larger val fraction in `split`)")


def _save(path: str, state: dict) -> None:
    tmp = f"{path}.tmp"
    torch.save(state, tmp)
    os.replace(tmp, path)  # a crash mid-write never leaves a torn checkpoint


def fit_network(net: nn.Module, X: np.ndarray, Y: np.ndarray, X_val: np.ndarray, Y_val: np.ndarray,
                s: TrainSettings, outcomes: list[str], callbacks: list[Callback] = ()) -> TrainResult:
    """Train `net` in place; on return it holds the weights of the best validation epoch."""
    _check_validation(Y_val)
    with torch_threads(s.threads):
        return _fit(net, X, Y, X_val, Y_val, s, outcomes, callbacks)


def _fit(net: nn.Module, X: np.ndarray, Y: np.ndarray, X_val: np.ndarray, Y_val: np.ndarray,
         s: TrainSettings, outcomes: list[str], callbacks: list[Callback]) -> TrainResult:
    k = len(outcomes)
    torch.manual_seed(s.seed)
    gen = torch.Generator().manual_seed(s.seed)
    # from_numpy shares the float32 inputs instead of copying them (a copy is GiBs at a million rows)
    x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
    y = torch.tensor(Y, dtype=torch.float32)
    m = ~torch.isnan(y)
    pos_weight = torch.tensor(s.pos_weight, dtype=torch.float32) if s.pos_weight else None
    weighting = WEIGHTING[s.weighting](k, **s.weighting_args)
    opt = _optimizer(net, weighting, s, k)
    step_of = MODES[s.mode]
    best = TrainResult(best_epoch=0, best_score=-np.inf)
    best_state = copy.deepcopy(net.state_dict())
    per_best, per_state = [(-np.inf, 0)] * k, [None] * k   # per_outcome selection: (score, epoch), state
    start = 1
    if s.resume and s.checkpoint_path and os.path.exists(s.checkpoint_path):
        ck = torch.load(s.checkpoint_path, weights_only=False)
        net.load_state_dict(ck["net"]), opt.load_state_dict(ck["opt"]), weighting.load_state_dict(ck["weighting"])
        torch.set_rng_state(ck["rng"])
        gen.set_state(ck["gen"])
        best, best_state, start = ck["best"], ck["best_state"], ck["epoch"] + 1
        per_best, per_state = ck.get("per_best", per_best), ck.get("per_state", per_state)
    weights = torch.zeros(k)
    step = 0 if start == 1 else (start - 1) * ((len(x) + s.batch_size - 1) // s.batch_size)
    for epoch in range(start, s.epochs + 1):
        if best.best_epoch and epoch - best.best_epoch > s.patience:
            break  # resumed after early stopping had already triggered
        net.train()
        total, batches = torch.zeros(k), 0
        for idx in torch.randperm(len(x), generator=gen).split(s.batch_size):
            losses = masked_bce(net(x[idx]), y[idx], m[idx], pos_weight, reduction=s.loss_reduction)
            active = step_of(m[idx].any(0), step)
            step += 1
            if not active.any():
                continue
            opt.zero_grad(set_to_none=True)
            weights = weighting.backward(losses, active, net, net.penalty())
            opt.step()
            total += losses.detach()
            batches += 1
        weighting.epoch_end(total / max(batches, 1))
        P_val = 1 / (1 + np.exp(-predict_logits(net, X_val)))
        per_outcome = [rank_auroc(Y_val[:, j], P_val[:, j]) for j in range(k)]  # each computed once
        known = [a for a in per_outcome if a is not None]
        score = float(np.mean(known)) if known else float("nan")
        logs = {"train_loss": float(total.sum() / max(batches, 1)), "val_mean_auroc": score}
        for j, name in enumerate(outcomes):
            logs[f"train_loss/{name}"] = float(total[j] / max(batches, 1))
            logs[f"loss_weight/{name}"] = float(weights[j])
            if per_outcome[j] is not None:
                logs[f"val_auroc/{name}"] = per_outcome[j]
        best.history.append({"epoch": epoch, **logs})
        if score > best.best_score:
            best.best_score, best.best_epoch = score, epoch
            best_state = copy.deepcopy(net.state_dict())
        if s.selection == "per_outcome":
            for j, a in enumerate(per_outcome):
                if a is not None and a > per_best[j][0]:
                    per_best[j], per_state[j] = (a, epoch), copy.deepcopy(net.state_dict())
            best.best_epoch = max(e for _, e in per_best) or best.best_epoch  # the last outcome still improving
        if s.checkpoint_path:
            _save(s.checkpoint_path, {"epoch": epoch, "net": net.state_dict(), "opt": opt.state_dict(),
                                      "weighting": weighting.state_dict(), "rng": torch.get_rng_state(),
                                      "gen": gen.get_state(), "best": best, "best_state": best_state,
                                      "per_best": per_best, "per_state": per_state})
        for cb in callbacks:
            cb(epoch, logs)
        if epoch - best.best_epoch >= s.patience:
            break
    if s.selection == "per_outcome":
        best_state = _assemble(best_state, per_state)
        best.outcome_epochs = [e for _, e in per_best]
    net.load_state_dict(best_state)
    net.eval()
    return best

"""A small budgeted search of the network's capacity and regularisation (Optuna), scored on held-out
predictions of the fold plan, so the shape of the network follows the data instead of a fixed guess.

Trial 0 is always the configured network, so the search can only replace it with something that did
better on the same held-out rows. Each trial is a whole member (one fit per fold): the best trial's
member is kept as is, with no refit. A trial whose first folds already trail the median of earlier
trials is pruned, which keeps the budget for promising shapes. The search space scales with the data:
the widest trunk offered grows with the number of labelled rows.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mtl_core.ensemble.folds import FoldPlan
from mtl_core.ensemble.members import Member, fit_mtl_member
from mtl_core.evaluation.metrics import rank_auroc

TRUNKS = {"32": (32,), "64": (64,), "64-32": (64, 32), "128-64": (128, 64), "256-128": (256, 128)}


@dataclass
class SearchResult:
    member: Member
    params: dict
    score: float
    trials: list[dict] = field(default_factory=list)   # number, params, score, state, seconds


def held_score(member_held: np.ndarray, Y: np.ndarray, rows: np.ndarray) -> float:
    """Mean over outcomes of the AUROC of held-out predictions on `rows` (outcomes that cannot be
    ranked there are left out)."""
    scores = [rank_auroc(Y[rows, k], member_held[rows, k]) for k in range(Y.shape[1])]
    known = [s for s in scores if s is not None]
    return float(np.mean(known)) if known else float("nan")


def trunks_for(n_rows: int) -> list[str]:
    """Trunk shapes worth trying at this size: a wide trunk on a few thousand rows only overfits."""
    if n_rows < 5_000:
        return ["32", "64", "64-32", "128-64"]
    if n_rows < 50_000:
        return ["64", "64-32", "128-64", "256-128"]
    return ["64-32", "128-64", "256-128"]


def _suggest(trial, base: dict, n_rows: int) -> dict:
    trunk = trial.suggest_categorical("trunk", trunks_for(n_rows))
    return {**base, "hidden": TRUNKS[trunk],
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
            "weight_decay": trial.suggest_float("weight_decay", 1e-5, 1e-1, log=True),
            "lr": trial.suggest_float("lr", 3e-4, 3e-3, log=True),
            "wide": trial.suggest_categorical("wide", [True, False])}


def _as_trial(base: dict) -> dict:
    """The configured network as a point of the search space (trunk by name when it is one of ours)."""
    trunk = next((k for k, v in TRUNKS.items() if tuple(v) == tuple(base["hidden"])), None)
    point = {"dropout": base["dropout"], "weight_decay": max(base["weight_decay"], 1e-5),
             "lr": min(max(base["lr"], 3e-4), 3e-3), "wide": bool(base.get("wide", False))}
    return {**point, "trunk": trunk} if trunk else point


def search_network(base: dict, X: pd.DataFrame, Y: pd.DataFrame, plan: FoldPlan, trials: int,
                   timeout_seconds: float | None = None, seed: int = 0, progress=None) -> SearchResult:
    """Best member over `trials` network shapes (trial 0 = `base`); trials <= 1 fits `base` only."""
    import optuna  # imported here: a plain fit should not pay for it

    Yv = Y.to_numpy(float)
    held_rows = np.concatenate(plan.held_rows)
    first = fit_mtl_member(base, X, Y, plan)
    best = SearchResult(first, dict(base), held_score(first.held, Yv, held_rows),
                        [{"number": 0, "params": _as_trial(base), "score": None, "state": "COMPLETE"}])
    best.trials[0]["score"] = best.score
    if trials <= 1:
        return best
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0))
    study.enqueue_trial(_as_trial(base))

    def objective(trial) -> float:
        if trial.number == 0:  # the configured network, already fitted above
            return best.score
        params = _suggest(trial, base, len(X))
        member = fit_mtl_member(params, X, Y, plan, on_fold=lambda i, m: _report(trial, i, m))
        score = held_score(member.held, Yv, held_rows)
        if score > best.score:
            best.member, best.params, best.score = member, params, score
        return score

    def _report(trial, i: int, member: Member) -> None:
        rows = np.concatenate(plan.held_rows[:i + 1])
        trial.report(held_score(member.held, Yv, rows), i)
        if trial.should_prune():
            raise optuna.TrialPruned()

    def tick(study, trial) -> None:
        if progress:
            progress(f"trial {trial.number + 1}: {trial.state.name.lower()}", trial.number + 1, trials)

    study.optimize(objective, n_trials=trials, timeout=timeout_seconds, callbacks=[tick])
    best.trials = [{"number": t.number, "params": t.params, "score": t.value, "state": t.state.name,
                    "seconds": (t.duration.total_seconds() if t.duration else None)} for t in study.trials]
    best.trials[0]["params"] = _as_trial(base)
    return best

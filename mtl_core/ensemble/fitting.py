"""How the registered model is fitted from a feature set: the fold plan, the multi-task network member
(searched when configured), the single-task members, and the per-outcome stack. The train flow runs
these steps as separate tasks; `fit_model` runs them in one call (notebooks, benchmarks).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mtl_core.config import Config
from mtl_core.dataset.structure import OutcomeStructure, attach
from mtl_core.ensemble.folds import FoldPlan, SizeRule, plan_folds
from mtl_core.ensemble.members import Member, fit_mtl_member, fit_single_member
from mtl_core.ensemble.search import search_network
from mtl_core.ensemble.stacked import StackedMultiOutcome, stack
from mtl_core.network.estimator import MultiOutcomeClassifier, estimator_from_config


def split_rows(f: pd.DataFrame) -> dict[str, np.ndarray]:
    return {s: (f["split"] == s).to_numpy() for s in ("train", "val", "test")}


def fold_plan(cfg: Config, f: pd.DataFrame, Y: pd.DataFrame, rows: dict[str, np.ndarray]) -> FoldPlan:
    """Holdout or cross-fitting over the train + val rows (mtl_core/ensemble/folds.py); `ensemble: none`
    keeps the holdout, as the plain network always had."""
    tv = rows["train"] | rows["val"]
    m = cfg.model
    mode = "holdout" if m.ensemble == "none" else m.fitting
    rule = SizeRule(folds=m.folds, min_val_rows=m.holdout_min_val_rows, min_val_events=m.holdout_min_val_events)
    return plan_folds(rows["val"][tv], f.loc[tv, "subject_id"].to_numpy(), Y[tv].to_numpy(float), rule,
                      seed=cfg.split.seed, mode=mode)


def fit_network_member(cfg: Config, X: pd.DataFrame, Y: pd.DataFrame, plan: FoldPlan,
                callbacks_for: Callable[[int], list] = lambda fold: [], checkpoint_dir=None,
                progress=None) -> tuple[Member, dict | None]:
    """The network member on train + val rows, and the search record when `model.search_trials` > 1."""
    params = estimator_from_config(cfg).get_params()
    if cfg.model.search_trials > 1:
        found = search_network(params, X, Y, plan, cfg.model.search_trials, seed=cfg.train.seed,
                               timeout_seconds=cfg.model.search_minutes * 60 if cfg.model.search_minutes else None,
                               progress=progress)
        best = {k: list(v) if isinstance(v, tuple) else v for k, v in found.params.items()}
        return found.member, {"best": best, "score": found.score, "trials": found.trials}
    member = fit_mtl_member(params, X, Y, plan, callbacks_for=callbacks_for, checkpoint_dir=checkpoint_dir)
    return member, None


def learner_params(cfg: Config, search: dict | None) -> dict:
    """Settings of the single-task network: the multi-task network's, with the searched shape."""
    params = estimator_from_config(cfg).get_params()
    if search:
        params.update({k: tuple(v) if k == "hidden" else v for k, v in search["best"].items() if k in params})
    return params


def fit_learner(cfg: Config, kind: str, X: pd.DataFrame, Y: pd.DataFrame, plan: FoldPlan, params: dict,
                progress=None) -> Member:
    return fit_single_member(kind, X, Y, plan, params, seed=cfg.train.seed, progress=progress,
                             max_rows=cfg.evaluation.baseline_max_rows)


@dataclass
class Fitted:
    model: StackedMultiOutcome | MultiOutcomeClassifier
    members: list[Member] = field(default_factory=list)
    plan: FoldPlan | None = None
    search: dict | None = None


def fit_model(cfg: Config, f: pd.DataFrame, Y: pd.DataFrame) -> Fitted:
    """The registered model from a feature frame (with `split` and `subject_id`) and its labels, in
    memory: what the train flow does, step by step, without Prefect or MLflow."""
    from mtl_core.dataset.features import model_columns

    cols, rows = model_columns(f), split_rows(f)
    Y = Y[cfg.outcomes]
    structure = OutcomeStructure.from_config(cfg)
    if cfg.model.ensemble == "none":
        est = estimator_from_config(cfg).fit(f.loc[rows["train"], cols], Y[rows["train"]],
                                             f.loc[rows["val"], cols], Y[rows["val"]])
        return Fitted(attach(est, structure))
    plan = fold_plan(cfg, f, Y, rows)
    tv = rows["train"] | rows["val"]
    X_tv, Y_tv = f.loc[tv, cols], Y[tv]
    network, search = fit_network_member(cfg, X_tv, Y_tv, plan)
    params = learner_params(cfg, search)
    learners = [fit_learner(cfg, kind, X_tv, Y_tv, plan, params) for kind in cfg.evaluation.baselines]
    members = [network] + [m for m in learners if m.any_fitted()]
    return Fitted(attach(stack(members, Y_tv, plan, index=f.index[tv]), structure), members, plan, search)

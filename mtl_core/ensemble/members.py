"""Ensemble members: the multi-task network and the single-task learners, each fitted once per fold of
a FoldPlan. A member keeps its held-out (out-of-fold) probabilities, which the stacker learns from,
and its fold models, whose logits it averages (bagging) to predict new rows.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from mtl_core.ensemble.baselines import PositiveProba, Task, fit_single, fit_single_task_nets
from mtl_core.ensemble.folds import FoldPlan
from mtl_core.ensemble.stacking import logit
from mtl_core.network.estimator import MultiOutcomeClassifier

MTL = "mtl"  # the member kind of the multi-task network; the others are mtl_core.ensemble.baselines kinds
Progress = Callable[[str, int, int], None]   # (what, done, total)


def _mean_logit_proba(parts: list[np.ndarray]) -> np.ndarray:
    """Bagged probability: the sigmoid of the fold models' mean logit (NaN where none predicts)."""
    Z = np.stack([logit(p) if p is not None else np.full_like(parts[0], np.nan) for p in parts])
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "mean of empty slice": an outcome no fold fitted
        mean = np.nanmean(Z, axis=0) if np.isnan(Z).any() else Z.mean(axis=0)
    return 1.0 / (1.0 + np.exp(-mean))


@dataclass
class Member:
    """One learner kind over all outcomes: fold models and out-of-fold probabilities (n_rows, K)."""
    kind: str
    outcomes: list[str]
    fits: list = field(default_factory=list)   # per fold: a MultiOutcomeClassifier, or {outcome: predictor|None}
    held: np.ndarray | None = None             # out-of-fold probabilities; NaN where not held out / not fitted

    @property
    def outcomes_(self) -> list[str]:
        return list(self.outcomes)

    @property
    def estimators(self) -> list:
        return list(self.fits)

    def fitted(self, k: int) -> bool:
        """Whether outcome k has at least one fold model."""
        if self.kind == MTL:
            return bool(self.fits)
        return any(f.get(self.outcomes[k]) is not None for f in self.fits)

    def any_fitted(self) -> bool:
        """Whether some outcome has a fold model (a learner that applies to none, such as LightGBM without
        a category of many levels, is left out of the stack and the reports)."""
        return any(self.fitted(k) for k in range(len(self.outcomes)))

    def _fold_proba(self, fit, X: pd.DataFrame) -> np.ndarray:
        if self.kind == MTL:
            return fit.predict_proba(X)
        shared: dict[int, np.ndarray] = {}  # single-task networks of one fold share one model: predict once
        out = np.full((len(X), len(self.outcomes)), np.nan)
        for k, o in enumerate(self.outcomes):
            c = fit.get(o)
            if isinstance(c, PositiveProba) and isinstance(c.model, MultiOutcomeClassifier):
                if id(c.model) not in shared:
                    shared[id(c.model)] = c.model.predict_proba(X)
                out[:, k] = shared[id(c.model)][:, c.column]
            elif c is not None:
                out[:, k] = c(X)
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """(n, K) bagged probabilities; NaN columns for outcomes this kind could not fit."""
        parts = [self._fold_proba(fit, X) for fit in self.fits]
        return _mean_logit_proba(parts)


def fit_mtl_member(params: dict, X: pd.DataFrame, Y: pd.DataFrame, plan: FoldPlan,
                   callbacks_for: Callable[[int], list] = lambda fold: [],
                   progress: Progress | None = None, checkpoint_dir: str | Path | None = None,
                   on_fold: Callable[[int, Member], None] | None = None) -> Member:
    """The multi-task network on each fold, early-stopped and calibrated on the fold's stop rows
    (FoldPlan.stop_split: when cross-fitting, rows it neither holds out nor trains on).

    With a checkpoint_dir, a finished fold is kept as fold<i>.joblib and the running one checkpoints
    each epoch (fold<i>.pt), so a retried fit resumes where it stopped instead of starting over."""
    member = Member(MTL, [str(c) for c in Y.columns], held=np.full(Y.shape, np.nan))
    ckpt = Path(checkpoint_dir) if checkpoint_dir is not None else None
    if ckpt is not None:
        ckpt.mkdir(parents=True, exist_ok=True)
    for i, held_rows in enumerate(plan.held_rows):
        done = ckpt / f"fold{i}.joblib" if ckpt is not None else None
        if done is not None and done.is_file():
            est = joblib.load(done)
        else:
            train, stop = plan.stop_split(i)
            est = MultiOutcomeClassifier(**params).fit(
                X.iloc[train], Y.iloc[train], X.iloc[stop], Y.iloc[stop],
                callbacks=callbacks_for(i), checkpoint_path=None if ckpt is None else str(ckpt / f"fold{i}.pt"),
                resume=ckpt is not None)
            if done is not None:
                joblib.dump(est, done)
                (ckpt / f"fold{i}.pt").unlink(missing_ok=True)
        member.fits.append(est)
        member.held[held_rows] = est.predict_proba(X.iloc[held_rows])
        if progress:
            progress(f"{MTL} fold {i + 1}", i + 1, plan.n_fits)
        if on_fold:  # e.g. a search pruning a trial after its first folds
            on_fold(i, member)
    return member


def capped(rows: np.ndarray, max_rows: int | None, seed: int) -> np.ndarray:
    """At most max_rows of `rows` (a seeded sample, in their original order); all when None or fewer."""
    if max_rows is None or len(rows) <= max_rows:
        return rows
    return np.sort(np.random.default_rng(seed).choice(rows, size=max_rows, replace=False))


def fit_single_member(kind: str, X: pd.DataFrame, Y: pd.DataFrame, plan: FoldPlan, network_params: dict,
                      seed: int = 0, progress: Progress | None = None, max_rows: int | None = None) -> Member:
    """One single-task learner per outcome and fold, each on the fold's rows where its outcome is
    labelled. Logistic C is picked on the fold's held-out rows (3 values: a small optimism), the
    single-task networks early-stop on its stop rows (FoldPlan.stop_split), gradient boosting on its own
    split of the fit rows. With max_rows,
    each fold's learners train on a seeded sample of that many rows: on a million admissions they
    would otherwise cost many times the multi-task network they are there to check."""
    outcomes = [str(c) for c in Y.columns]
    member = Member(kind, outcomes, held=np.full(Y.shape, np.nan))
    total, done = plan.n_fits * len(outcomes), 0
    for fold, (fit_rows, held_rows) in enumerate(zip(plan.fit_rows, plan.held_rows)):
        fit_rows = capped(fit_rows, max_rows, seed + fold)
        models: dict = {}
        X_held = X.iloc[held_rows]
        if kind == "single_task_net":  # all outcomes' networks in one loop (mtl_core/ensemble/baselines.py)
            train, stop = plan.stop_split(fold)  # early-stopped as the multi-task network is
            train = capped(train, max_rows, seed + fold)
            models = fit_single_task_nets(X.iloc[train], Y.iloc[train], X.iloc[stop], Y.iloc[stop],
                                          network_params, seed)
            for k, o in enumerate(outcomes):
                if models[o] is not None:
                    member.held[held_rows, k] = models[o](X_held)
            done += len(outcomes)
            if progress:
                progress(f"{kind}: all outcomes", done, total)
            member.fits.append(models)
            continue
        for k, o in enumerate(outcomes):
            y = Y[o].to_numpy(float)[fit_rows]
            keep = ~np.isnan(y)
            task = Task(o, X.iloc[fit_rows[keep]], y[keep], X_held, Y[o].to_numpy(float)[held_rows], seed,
                        dict(network_params))
            models[o] = predictor = fit_single(kind, task)
            if predictor is not None:
                member.held[held_rows, k] = predictor(X_held)
            done += 1
            if progress:
                progress(f"{kind}: {o}", done, total)
        member.fits.append(models)
    return member

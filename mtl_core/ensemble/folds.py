"""Where model choices are learned: one holdout (train -> validation) for large cohorts, K-fold
cross-fitting over train + validation for small ones, with every patient in exactly one fold.

On a small cohort the validation split holds a few hundred rows and a few dozen events per outcome:
choosing hyperparameters or ensemble weights on it is mostly noise. Cross-fitting lets every
train+validation row be predicted once by a model that did not see it (out-of-fold), so choices rest
on all of them; the K fold models are then averaged (bagged) for new rows. Large cohorts keep the
single holdout: their validation split is already large, and K fits would cost K times as much.

When cross-fitting, the networks early-stop (pick each outcome's best epoch) and calibrate on a fold's
stop rows, a patient-grouped sixth of its fit rows, never on the rows it holds out. Picking the epoch on
the held-out rows made those predictions look better than they are (up to +0.05 AUROC over the test rows
on a cohort with rare outcomes, bench/results/restack.md), and the stack, which learns its weights from
them, then leaned on the network where a gradient-boosted member was better.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mtl_core.errors import DataError


@dataclass(frozen=True)
class SizeRule:
    """Cross-fit unless the validation split can rank every outcome on its own."""
    folds: int = 5
    min_val_rows: int = 2000        # a holdout needs at least this many validation rows ...
    min_val_events: int = 100       # ... and this many positives and negatives of every outcome there
    stop_share: int = 6             # cross-fitting: 1 in this many of a fold's fit patients are its stop rows


@dataclass(frozen=True)
class FoldPlan:
    """Row positions (into the train+validation frame) each fit learns from and predicts held out."""
    mode: str                        # "holdout" | "crossfit"
    fit_rows: tuple[np.ndarray, ...]
    held_rows: tuple[np.ndarray, ...]
    reason: str
    stop_rows: tuple[np.ndarray, ...] = ()  # per fold, fit rows the networks early-stop on (none: held rows)

    def stop_split(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """(rows a network of fold i trains on, rows it early-stops and calibrates on): the fold's stop
        rows when the plan has them, else (a holdout) the fit and held-out rows themselves."""
        if not self.stop_rows:
            return self.fit_rows[i], self.held_rows[i]
        stop = self.stop_rows[i]
        return np.setdiff1d(self.fit_rows[i], stop, assume_unique=True), stop

    @property
    def n_fits(self) -> int:
        return len(self.fit_rows)

    def held_mask(self, n: int) -> np.ndarray:
        """True for rows some fit predicts out of sample (all of them when cross-fitting)."""
        mask = np.zeros(n, dtype=bool)
        for rows in self.held_rows:
            mask[rows] = True
        return mask


def _min_events(Y: np.ndarray) -> int:
    labelled = ~np.isnan(Y)
    pos = np.nansum(Y, axis=0)
    return int(np.min(np.minimum(pos, labelled.sum(axis=0) - pos))) if Y.size else 0


def choose_mode(is_val: np.ndarray, Y: np.ndarray, rule: SizeRule, mode: str = "auto") -> tuple[str, str]:
    """("holdout" | "crossfit", why) for train+validation rows whose validation rows are `is_val`."""
    if mode != "auto":
        return mode, f"set in config ({mode})"
    n_val, events = int(is_val.sum()), _min_events(Y[is_val])
    if n_val >= rule.min_val_rows and events >= rule.min_val_events:
        return "holdout", (f"validation split large enough ({n_val:,} rows, >= {events} of the rarer class "
                           f"of every outcome)")
    return "crossfit", (f"small validation split ({n_val:,} rows, {events} of the rarer class of the "
                        f"sparsest outcome; a holdout needs {rule.min_val_rows:,} and {rule.min_val_events}): "
                        f"{rule.folds}-fold cross-fitting on train + validation")


def group_folds(groups: pd.Series | np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold number per row from a seeded hash of its patient key: a patient's rows share one fold."""
    key = hashlib.sha256(f"cmtl-folds-{seed}".encode()).hexdigest()[:16]
    h = pd.util.hash_pandas_object(pd.Series(np.asarray(groups)).astype(str), index=False,
                                   hash_key=key).to_numpy()
    return (h % np.uint64(k)).astype(int)


def plan_folds(is_val: np.ndarray, groups, Y: np.ndarray, rule: SizeRule = SizeRule(), seed: int = 0,
               mode: str = "auto") -> FoldPlan:
    """The fits to make on the train+validation rows (`is_val` marks the validation ones)."""
    is_val = np.asarray(is_val, dtype=bool)
    chosen, reason = choose_mode(is_val, Y, rule, mode)
    if chosen == "holdout":
        return FoldPlan("holdout", (np.flatnonzero(~is_val),), (np.flatnonzero(is_val),), reason)
    fold = group_folds(groups, rule.folds, seed)
    held = tuple(np.flatnonzero(fold == i) for i in range(rule.folds))
    empty = [i for i, rows in enumerate(held) if rows.size == 0]
    if empty:
        raise DataError(f"cross-fitting: fold(s) {empty} of {rule.folds} hold no patient "
                        f"({len(np.unique(np.asarray(groups)))} patients in train + validation)")
    fit = tuple(np.flatnonzero(fold != i) for i in range(rule.folds))
    return FoldPlan("crossfit", fit, held, reason, _stop_rows(groups, fit, rule.stop_share, seed))


def _stop_rows(groups, fit: tuple[np.ndarray, ...], share: int, seed: int) -> tuple[np.ndarray, ...]:
    """Per fold, the fit rows of about 1 in `share` patients (a seeded hash per fold; a patient's rows
    stay together). A fold whose fit rows are too few to spare any keeps none, and the whole plan
    then falls back to early stopping on the held-out rows."""
    g = np.asarray(groups)
    stops = []
    for i, rows in enumerate(fit):
        stop = rows[group_folds(g[rows], share, seed * 1000 + 101 + i) == 0]
        if stop.size == 0 or stop.size == rows.size:
            return ()
        stops.append(stop)
    return tuple(stops)

"""What the gate knows about each outcome of a challenger (and the champion, on the same rows)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mtl_core.evaluation.bootstrap import percentile_ci, stratified_bootstrap
from mtl_core.evaluation.fairness import rate_gaps, shortfalls, subgroup_rows
from mtl_core.evaluation.metrics import auroc, calibration_slope_intercept, expected_calibration_error
from mtl_core.evaluation.paired import Comparison, compare
from mtl_core.evaluation.unseen import Overlap
from mtl_core.gate.rules import Rules


@dataclass
class Evidence:
    """What the gate knows about one outcome of the challenger."""
    outcome: str
    auroc: float | None
    ece: float | None = None
    champion: Comparison | None = None  # None: no champion score for this outcome
    subgroups: list[Comparison] = field(default_factory=list)
    auroc_ci: tuple[float, float] | None = None
    level: float = 0.95
    calibration_slope: float | None = None
    subgroup_aurocs: list[dict] = field(default_factory=list)  # fairness.subgroup_rows
    rate_gaps: list[dict] = field(default_factory=list)        # fairness.rate_gaps
    shortfalls: list[dict] = field(default_factory=list)  # fairness.shortfalls: groups far below the whole
    not_comparable: str | None = None  # why the champion was not scored (too few rows unseen by both)


def gather(Y, P, outcomes: Sequence[str], champion: Mapping[str, np.ndarray | None] | None = None,
           groups: pd.DataFrame | None = None, rules: Rules = Rules(), n_boot: int = 1000, seed: int = 0,
           ci_level: float = 0.95, ece_bins: int = 10, fairness_groups: pd.DataFrame | None = None,
           thresholds: Mapping[str, float | None] | None = None, overlap: Overlap | None = None
           ) -> list[Evidence]:
    """Evidence per outcome from labels Y (n, K; NaN = unlabelled), challenger probabilities P (n, K) and
    the champion's probabilities per outcome (None: there is no champion) on the rows of `overlap` the
    champion did not see (all rows without an overlap). Not comparable (too few such rows, or the
    champion's split unknown): the champion check fails with the reason, and the champion is not scored.
    fairness_groups (evaluation.subgroups) and thresholds (the operating points) feed the optional
    subgroup AUROC floor and rate-gap rules."""
    Y, P = np.asarray(Y, float), np.asarray(P, float)
    masks = _masks(groups, list(rules.subgroup_margins)) if champion is not None else []
    rows = np.ones(len(Y), bool) if overlap is None else overlap.unseen
    out = []
    for k, name in enumerate(outcomes):
        y, p = Y[:, k], P[:, k]
        e = Evidence(name, auroc(y, p), expected_calibration_error(y, p, ece_bins), level=ci_level)
        # the AUROC CI uses the evaluation's own seed, so the verdict quotes the interval the report shows
        _absolute_evidence(e, y, p, rules, n_boot, seed, ci_level, fairness_groups,
                           (thresholds or {}).get(name))
        if champion is not None and overlap is not None and not overlap.comparable:
            e.not_comparable = overlap.short()
        elif champion is not None:
            old = champion.get(name)  # scored on the unseen rows only
            yu, pu = y[rows], p[rows]
            e.champion = compare(yu, pu, old, n_boot, seed + k, ci_level)
            for column, group, m in masks:
                mu = m[rows]
                e.subgroups.append(compare(yu[mu], pu[mu], None if old is None else np.asarray(old)[mu], n_boot,
                                           seed + k, ci_level, rules.subgroup_min_events, column, group))
        out.append(e)
    return out


def _absolute_evidence(e: Evidence, y, p, rules: Rules, n_boot: int, seed: int, level: float,
                       fairness_groups: pd.DataFrame | None, threshold: float | None) -> None:
    """The AUROC CI and calibration slope every version is held to, and the fairness evidence the
    configured rules need."""
    yl, pl = y[~np.isnan(y)], p[~np.isnan(y)]
    if e.auroc is not None and n_boot > 0:
        aucs, _ = stratified_bootstrap(yl, pl, n_boot, seed)
        e.auroc_ci = percentile_ci(aucs, level)
    if e.auroc is not None:
        e.calibration_slope = calibration_slope_intercept(yl, pl)[0]
    if fairness_groups is not None and rules.warns_fairness:
        e.shortfalls = shortfalls(y, p, fairness_groups, threshold, rules.shortfall_min_events,
                                  rules.subgroup_auroc_drop, rules.subgroup_sensitivity_drop)
    if fairness_groups is not None and rules.needs_fairness:
        e.subgroup_aurocs = subgroup_rows(y, p, fairness_groups, None, n_boot, seed, level)
        if threshold is not None and (rules.max_tpr_gap is not None or rules.max_fpr_gap is not None):
            e.rate_gaps = rate_gaps(y, p, fairness_groups, threshold, rules.subgroup_min_events, n_boot, seed, level)


def _masks(groups: pd.DataFrame | None, columns: list[str]) -> list[tuple[str, str, np.ndarray]]:
    """(column, group label, row mask) for every present value of the gated columns; NaN is "missing"."""
    if groups is None:
        return []
    out = []
    for column in columns:
        s = groups[column].reset_index(drop=True)
        if isinstance(s.dtype, pd.CategoricalDtype):
            values = list(s.cat.categories)
        else:
            values = sorted(s.dropna().unique(), key=str)
        out += [(column, str(v), (s == v).to_numpy()) for v in values if (s == v).any()]
        if s.isna().any():
            out.append((column, "missing", s.isna().to_numpy()))
    return out

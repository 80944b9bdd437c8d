"""The clinical review of a model's test predictions: test metrics at each validation-chosen operating
point, decision curves against treat-all / treat-none / the best single-task baseline, and subgroups
with uncertainty (AUROC CIs, calibration, TPR and FPR gaps at the operating point)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mtl_core.evaluation.decision_curve import decision_curve, net_benefit, thresholds, useful_range
from mtl_core.evaluation.fairness import rate_gaps, subgroup_rows
from mtl_core.evaluation.operating_points import OperatingPoint, evaluate_point


def clinical_review(Y: np.ndarray, P: np.ndarray, outcomes: list[str], groups: pd.DataFrame | None,
                    points: Mapping[str, dict], baselines: Mapping[str, Mapping[str, np.ndarray | None]],
                    best_baseline: Mapping[str, str | None], curve: tuple[float, float, float],
                    n_boot: int = 1000, seed: int = 0, level: float = 0.95, min_events: int = 20
                    ) -> tuple[dict, pd.DataFrame]:
    """(JSON-ready review, decision-curve table of every outcome). points: outcome -> OperatingPoint as a
    dict (from the validation split); baselines: kind -> outcome -> test probabilities; best_baseline:
    outcome -> kind (or None); curve: (start, stop, step) of threshold probabilities."""
    grid = thresholds(*curve)
    review: dict[str, Any] = {"operating_points": [], "decision_curves": [], "subgroups": {}, "rate_gaps": []}
    tables = []
    for k, name in enumerate(outcomes):
        y, p = Y[:, k], P[:, k]
        point = OperatingPoint(**points[name]) if name in points else OperatingPoint(
            name, "none", None, None, "no operating point shipped with this model")
        row = evaluate_point(y, p, point, n_boot, seed + k, level)
        kind = best_baseline.get(name)
        p_base = baselines.get(kind, {}).get(name) if kind else None
        table = decision_curve(y, p, grid, None if p_base is None else (kind, p_base))
        table.insert(0, "outcome", name)
        tables.append(table)
        useful = useful_range(table)
        row["net_benefit"] = _net_benefit_at(y, p, point.threshold)
        review["operating_points"].append(row)
        review["decision_curves"].append({
            "outcome": name, "useful_from": None if useful is None else useful[0],
            "useful_to": None if useful is None else useful[1], "baseline": kind if p_base is not None else None,
            "thresholds": len(grid)})
        if groups is not None and len(groups.columns):
            review["subgroups"][name] = subgroup_rows(y, p, groups, point.threshold, n_boot, seed + k, level)
            if point.threshold is not None:
                review["rate_gaps"] += [{"outcome": name, **g} for g in
                                        rate_gaps(y, p, groups, point.threshold, min_events, n_boot, seed + k, level)]
    return review, pd.concat(tables, ignore_index=True)


def _net_benefit_at(y, p, threshold: float | None) -> float | None:
    """Net benefit of acting on the flag at the operating point (threshold t weighs false positives)."""
    if threshold is None or not 0 < threshold < 1:
        return None
    value = float(net_benefit(y, p, [threshold])[0])
    return None if np.isnan(value) else value

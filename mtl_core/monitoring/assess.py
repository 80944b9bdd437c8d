"""The monitoring check on scored admissions: measures per time window and outcome, then a verdict per
outcome on the latest `judge_windows` windows pooled (more events, so a CI that can decide)."""
from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from mtl_core.config.monitoring import MonitoringConfig
from mtl_core.monitoring.checks import STATUSES, judge, worst
from mtl_core.monitoring.measures import measure


def _measure(rows: np.ndarray, o: str, labels, P, flags, masked, limits, n_boot, seed, level) -> dict:
    flag = flags.get(o)
    return measure(labels[o].to_numpy(float)[rows], P[o].to_numpy(float)[rows],
                   None if flag is None else flag[rows], int(masked[o][rows].sum()), limits.min_events,
                   n_boot, seed, level)


def _subgroups(rows: np.ndarray, o: str, groups: pd.DataFrame | None, kw: dict) -> list[dict]:
    """AUROC (with CI) and counts per subgroup over the judged rows, beside the verdict; the check
    subgroup_gap (checks.py) makes the outcome "watch" when one lies far below the whole."""
    out: list[dict] = []
    for col in [] if groups is None else groups.columns:
        values = groups[col].astype(str).to_numpy()
        for g in sorted(set(values[rows])):
            m = _measure(rows & (values == g), o, **kw)
            out.append({"column": col, "group": g, **{k: m.get(k) for k in (
                "known", "positives", "auroc", "auroc_ci_low", "auroc_ci_high", "oe", "judged")}})
    return out


def assess(labels: pd.DataFrame, masked: dict[str, np.ndarray], P: pd.DataFrame,
           flags: dict[str, np.ndarray | None], win: pd.DataFrame, cards: dict[str, dict],
           limits: MonitoringConfig, n_boot: int = 1000, seed: int = 0, level: float = 0.95,
           groups: pd.DataFrame | None = None) -> dict:
    """labels (NaN where unknown, rows aligned with P and win), masked (outcome -> rows masked as not yet
    known), flags (outcome -> 0/1 alerts at the card's threshold, or None), win (window, end per row),
    cards (outcome -> what the card promised), groups (subgroup columns, rows aligned). Returns windows,
    verdicts (with subgroups of the judged period) and the overall status."""
    outcomes = list(labels.columns)
    order = win.drop_duplicates("window").sort_values("end")
    kw = {"labels": labels, "P": P, "flags": flags, "masked": masked, "limits": limits, "n_boot": n_boot,
          "seed": seed, "level": level}
    windows = []
    for w, end in zip(order["window"], order["end"], strict=True):
        rows = (win["window"] == w).to_numpy()
        found = {}
        for o in outcomes:
            m = _measure(rows, o, **kw)
            m["status"] = judge(o, m, cards.get(o, {}), limits)[0]
            found[o] = m
        windows.append({"window": w, "end": pd.Timestamp(end), "outcomes": found})
    verdicts = {}
    for o in outcomes:
        recent = [w for w in windows if w["outcomes"][o]["known"] > 0][-limits.judge_windows:]
        names = {w["window"] for w in recent}
        rows = win["window"].isin(names).to_numpy()
        m = _measure(rows, o, **kw)
        found_groups = _subgroups(rows, o, groups, kw)
        status, reason, findings = judge(o, m, cards.get(o, {}), limits, found_groups)
        verdicts[o] = {"status": status, "reason": reason, "measures": m,
                       "period": [recent[0]["window"], recent[-1]["window"]] if recent else None,
                       "findings": [asdict(f) for f in findings], "subgroups": found_groups}
    overall = worst(v["status"] for v in verdicts.values())
    return {"windows": windows, "verdicts": verdicts, "overall": overall,
            "degraded": [o for o, v in verdicts.items() if v["status"] == "degraded"],
            "watch": [o for o, v in verdicts.items() if v["status"] == "watch"]}


METRICS = ("auroc", "auroc_ci_low", "auroc_ci_high", "oe", "slope", "sensitivity", "ppv", "alert_rate",
           "prevalence", "known", "masked")


def series(result: dict) -> list[tuple[str, float, pd.Timestamp]]:
    """(metric name, value, window end) for MLflow: monitor/<metric>/<outcome> over time, plus the
    window's status as 0 stable, 1 watch, 2 degraded."""
    out = []
    for w in result["windows"]:
        for o, m in w["outcomes"].items():
            out += [(f"monitor/{k}/{o}", float(m[k]), w["end"]) for k in METRICS if m.get(k) is not None]
            out.append((f"monitor/status/{o}", float(STATUSES.index(m["status"])), w["end"]))
    return out

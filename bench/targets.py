"""The benchmarks' targets and the growth-exponent fit, shared by the benchmarks that judge them and by
bench.readme_bench, which restates their verdicts in the README (numpy only: cheap to import)."""
from __future__ import annotations

import numpy as np

BASELINE_TARGET = -0.005          # registered model - best single-task baseline, per outcome
PEER_MARGIN = -0.005              # cmtl - AutoGluon medium_quality, per outcome (bench.peers)
MEDS_MARGIN = -0.005              # cmtl - MEDS-Tab, per outcome (bench.meds_tab)
RSS_LIMIT_GIB = 6.0               # peak RSS of a whole run at a million admissions
EXPONENT_TARGET = 1.1             # growth exponent of time against size
MINUTES_TARGET = 30               # the whole `cmtl run` at a million admissions


def slope(x: list[float], y: list[float]) -> float:
    """Growth exponent: slope of log y against log x (linear growth is 1.0)."""
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def stage_exponents(rows: list[dict]) -> dict[str, float]:
    """bench.scale_run rows -> growth exponent of each stage's time (at least 0.05 s) and of the flow's."""
    adm = [r["admissions"] for r in rows]
    exps = {s: slope(adm, [max(r["stages"][s], 0.05) for r in rows]) for s in rows[0]["stages"]}
    exps["flow"] = slope(adm, [r["flow_seconds"] for r in rows])
    return exps

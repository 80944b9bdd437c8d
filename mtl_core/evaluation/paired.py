"""Two models on the same rows: both AUROCs and the paired bootstrap CI of their difference."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtl_core.evaluation.metrics import auroc
from mtl_core.evaluation.transfer import paired_bootstrap_diff


@dataclass
class Comparison:
    """Challenger and champion AUROC on the same rows, and the paired CI of their difference."""
    challenger: float | None
    champion: float | None
    diff: float | None = None
    lo: float | None = None
    hi: float | None = None
    n: int = 0
    positives: int = 0
    level: float = 0.95
    column: str = ""  # set for a subgroup
    group: str = ""


def compare(y, p_new, p_old, n_boot: int = 1000, seed: int = 0, ci_level: float = 0.95,
            min_events: int = 1, column: str = "", group: str = "") -> Comparison:
    """AUROCs and the paired bootstrap CI of the difference on the labelled rows; no CI when either
    side is not estimable, the champion has no predictions (p_old None), n_boot is 0 or a class has
    fewer than min_events rows."""
    y, p_new = np.asarray(y, float), np.asarray(p_new, float)
    keep = ~np.isnan(y)
    n, pos = int(keep.sum()), int(np.nansum(y))
    new = auroc(y, p_new)
    old = None if p_old is None else auroc(y, np.asarray(p_old, float))
    c = Comparison(new, old, n=n, positives=pos, level=ci_level, column=column, group=group)
    if new is None or old is None:
        return c
    c.diff = new - old
    if n_boot > 0 and min(pos, n - pos) >= min_events:
        boot = paired_bootstrap_diff(y, p_new, p_old, n_boot=n_boot, seed=seed, alpha=1 - ci_level)
        c.lo, c.hi = boot["lo"], boot["hi"]
    return c

"""A cohort whose risk is set by which of many clinics a patient came from: the case the LightGBM
member (mtl_core/ensemble/lgbm.py) is for. Used by tests/unit/test_lgbm.py and the legacy-model recorder."""
from __future__ import annotations

import numpy as np
import pandas as pd


def clinics(n: int, seed: int, levels: int = 80) -> tuple[pd.DataFrame, np.ndarray]:
    """Risk set by which of 80 clinics a patient came from (a random effect per clinic), plus age."""
    rng = np.random.default_rng(seed)
    effect = np.random.default_rng(99).normal(scale=1.5, size=levels)
    clinic = rng.integers(0, levels, n)
    X = pd.DataFrame({"age": rng.normal(50, 15, n), "clinic [site]": [f"clinic {c}" for c in clinic],
                      "sex": rng.choice(["F", "M"], n)})
    X.loc[rng.random(n) < 0.05, "age"] = np.nan
    z = -1.5 + effect[clinic] + 0.02 * (X["age"].fillna(50) - 50)
    return X, (rng.random(n) < 1 / (1 + np.exp(-z))).astype(float)

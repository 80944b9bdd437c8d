"""Fits run single-threaded whatever the process default (2 on the 2-core machine), in `cmtl run` and under
a worker alike: spinning OpenMP/BLAS/torch threads next to a Prefect server made fits 2-15x slower."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_info

from mtl_core.ensemble import baselines
from mtl_core.network.estimator import MultiOutcomeClassifier


def _data(n=300):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n), "w": rng.choice(["x", "y"], n)})
    y = (X["a"] + rng.normal(size=n) > 0).astype(float).to_numpy()
    return X, y


def test_network_trains_on_one_torch_thread():
    X, y = _data()
    seen = []
    torch.set_num_threads(2)
    MultiOutcomeClassifier(hidden=(8,), epochs=2, batch_size=64, seed=0).fit(
        X, pd.DataFrame({"o": y}), callbacks=[lambda epoch, logs: seen.append(torch.get_num_threads())])
    assert seen == [1, 1] and torch.get_num_threads() == 2  # restored after the fit


def test_baselines_fit_on_one_openmp_and_blas_thread(monkeypatch):
    X, y = _data()
    seen = []
    for cls in (LogisticRegression, HistGradientBoostingClassifier):
        orig = cls.fit

        def fit(self, *a, _orig=orig, **k):
            seen.append({p["internal_api"]: p["num_threads"] for p in threadpool_info()})
            return _orig(self, *a, **k)
        monkeypatch.setattr(cls, "fit", fit)
    task = baselines.Task("o", X, y, X, y)
    baselines.fit_logistic(task)
    baselines.fit_hist_gb(task)
    assert seen and all(set(pools.values()) == {1} for pools in seen), seen

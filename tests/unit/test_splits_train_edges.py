"""Regressions: long split seeds, and training with nothing to early-stop on."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtl_core.config import SplitConfig
from mtl_core.dataset.splits import assign_splits
from mtl_core.errors import DataError
from mtl_core.network.estimator import MultiOutcomeClassifier


def test_every_seed_digit_changes_the_split():
    keys = pd.Series(np.arange(2000))
    a = assign_splits(keys, SplitConfig(seed=123456))
    b = assign_splits(keys, SplitConfig(seed=123457))
    assert (a != b).mean() > 0.2


def test_validation_without_both_classes_is_a_clear_error():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=200)})
    Y = pd.DataFrame({"o": (rng.random(200) < 0.3).astype(float)})
    with pytest.raises(DataError, match="validation split has no outcome with both classes"):
        MultiOutcomeClassifier(epochs=2).fit(X[:150], Y[:150], X[150:], pd.DataFrame({"o": np.ones(50)}))


def test_preprocessor_names_its_output_features():
    rng = np.random.default_rng(1)
    X = pd.DataFrame({"x": rng.normal(size=120), "g": rng.choice(["a", "b"], 120)})
    Y = pd.DataFrame({"o": (rng.random(120) < 0.4).astype(float)})
    est = MultiOutcomeClassifier(epochs=1, hidden=(8,)).fit(X, Y)
    names = list(est.preprocessor_.get_feature_names_out())
    assert "x" in names and len(names) == est.network_.trunk[0].in_features

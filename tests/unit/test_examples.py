"""The shipped examples run as documented: the tabular example's file is what its generator writes, and
the tabular config builds a dataset from it with every outcome having both classes in each split."""
from __future__ import annotations

import pandas as pd

from examples.make_tabular_example import table
from mtl_core.config import load_config
from mtl_core.dataset.features import model_columns
from mtl_core.sources import load_source, tabular
from tests.conftest import ROOT


def test_shipped_tabular_example_is_its_generators_output():
    shipped = pd.read_csv(ROOT / "examples" / "tabular_example.csv")
    made = pd.read_csv(pd.io.common.StringIO(table().to_csv(index=False)))
    pd.testing.assert_frame_equal(shipped, made)


def test_tabular_example_config_builds_a_dataset(monkeypatch):
    monkeypatch.chdir(ROOT)  # the config's path is relative to the project root, as the README runs it
    cfg = load_config(ROOT / "configs" / "tabular_example.yaml")
    tables = load_source(cfg)  # the source reader: excluded columns are never read
    tabular.validate(tables, cfg)
    features, labels = tabular.build_dataset(tables, cfg)
    assert len(features) == 3000
    inputs = set(model_columns(features))
    assert inputs == {"age", "sex", "ward", "creatinine_first", "lactate_max"}  # no identifier, date or label
    for o in cfg.outcomes:
        for split in ("train", "val", "test"):
            y = labels.loc[(features["split"] == split).to_numpy(), o].dropna()
            assert 0 < y.mean() < 1, (o, split)

"""Temporal split (split.by: temporal): exact boundaries, determinism, and clear errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtl_core.config import SplitConfig, load_config
from mtl_core.data.contracts import outcome_definitions
from mtl_core.dataset.features import build_dataset
from mtl_core.dataset.splits import assign_splits
from mtl_core.errors import ConfigError, DataError
from mtl_core.sources import load_source, tabular
from tests.bad_inputs.fixtures import flat_frame, tabular_config
from tests.conftest import write_config

SPLIT = SplitConfig(by="temporal", val_from="2019-07-01", test_from="2020-01-01")
SECOND = pd.Timedelta(seconds=1)


def test_boundaries_are_exact():
    val_from, test_from = pd.Timestamp("2019-07-01"), pd.Timestamp("2020-01-01")
    times = pd.Series([val_from - SECOND, val_from, test_from - SECOND, test_from, test_from + SECOND,
                       pd.Timestamp("2001-01-01")])
    out = assign_splits(pd.Series(np.arange(6)), SPLIT, times=times)
    assert out.tolist() == ["train", "val", "val", "test", "test", "train"]


def test_same_patient_may_span_splits_but_each_admission_has_one():
    times = pd.Series(pd.to_datetime(["2018-01-01", "2019-08-01", "2020-02-01", "2018-05-05"]))
    patients = pd.Series([1, 1, 1, 2])
    out = assign_splits(patients, SPLIT, times=times)
    assert out.tolist() == ["train", "val", "test", "train"]  # patient 1 in all three: by design


def test_deterministic_and_independent_of_row_order_and_patient_keys():
    rng = np.random.default_rng(0)
    times = pd.Series(pd.Timestamp("2018-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365 * 24, 500), "h"))
    keys = pd.Series(rng.integers(0, 100, 500))
    first = assign_splits(keys, SPLIT, times=times)
    np.testing.assert_array_equal(first, assign_splits(keys.copy(), SPLIT, times=times.copy()))
    order = rng.permutation(500)
    shuffled = assign_splits(keys.iloc[order].reset_index(drop=True), SPLIT,
                             times=times.iloc[order].reset_index(drop=True))
    np.testing.assert_array_equal(shuffled, first[order])
    other_seed = SPLIT.model_copy(update={"seed": 99})
    np.testing.assert_array_equal(assign_splits(keys + 7, other_seed, times=times), first)


def test_offset_dates_compare_in_utc():
    cfg = SplitConfig(by="temporal", val_from="2019-07-01T02:00:00+02:00", test_from="2020-01-01")
    assert cfg.val_from == pd.Timestamp("2019-07-01 00:00:00")
    out = assign_splits(pd.Series([1, 2, 3]), cfg, times=pd.Series(pd.to_datetime(
        ["2019-06-30 23:59:59", "2019-07-01 00:00:00", "2020-01-01 00:00:00"])))
    assert out.tolist() == ["train", "val", "test"]


def test_empty_split_is_a_data_error_with_counts():
    times = pd.Series(pd.to_datetime(["2018-01-01", "2018-02-01", "2019-08-01"]))
    with pytest.raises(DataError) as info:
        assign_splits(pd.Series([1, 2, 3]), SPLIT, times=times)
    msg = str(info.value)
    for part in ("test split(s) would be empty", "train 2, val 1, test 0 rows", "2018-01-01", "2019-08-01"):
        assert part in msg, (part, msg)


def test_missing_times_are_a_data_error():
    with pytest.raises(DataError, match="missing or unparseable in 1 of 3 rows"):
        assign_splits(pd.Series([1, 2, 3]), SPLIT, times=pd.Series(pd.to_datetime(
            ["2018-01-01", None, "2020-05-01"])))
    with pytest.raises(ConfigError, match="no admission time"):
        assign_splits(pd.Series([1, 2, 3]), SPLIT)


def test_patient_split_is_still_the_default():
    keys = pd.Series(np.arange(2000))
    cfg = SplitConfig()
    assert cfg.by == "patient"
    times = pd.Series(pd.Timestamp("2030-01-01"), index=keys.index)  # ignored: would be all test
    np.testing.assert_array_equal(assign_splits(keys, cfg), assign_splits(keys, cfg, times=times))


@pytest.mark.parametrize("split, message", [
    ({"by": "temporal", "val_from": "2020-01-01", "test_from": "2020-01-01"}, "must be before split.test_from"),
    ({"by": "temporal", "val_from": "2021-01-01", "test_from": "2020-01-01"}, "must be before split.test_from"),
    ({"by": "temporal", "val_from": "2019-13-01", "test_from": "2020-01-01"}, "split.val_from"),
    ({"by": "temporal", "test_from": "2020-01-01"}, "needs both val_from and test_from"),
    ({"val_from": "2019-01-01", "test_from": "2020-01-01"}, "only apply with split.by: temporal"),
    ({"by": "time"}, "split.by"),
])
def test_bad_temporal_configs_are_config_errors(tmp_path, split, message):
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(tmp_path / "c.yaml", tmp_path / "ws", split=split))


def test_build_dataset_puts_admissions_after_the_dates_in_val_and_test(small_tables):
    cfg, tables = small_tables
    temporal = cfg.model_copy(update={"split": SplitConfig(by="temporal", val_from="2017-07-01",
                                                           test_from="2018-01-01")})
    features, _ = build_dataset(tables, temporal, outcome_definitions())
    admit = features[["hadm_id", "split"]].merge(tables["admissions"][["hadm_id", "admittime"]])
    assert len(admit) == len(features) and features["hadm_id"].is_unique
    by_split = admit.groupby("split")["admittime"]
    assert by_split.min()["test"] >= pd.Timestamp("2018-01-01")
    assert by_split.max()["val"] < pd.Timestamp("2018-01-01") <= by_split.min()["test"]
    assert by_split.min()["val"] >= pd.Timestamp("2017-07-01") > by_split.max()["train"]
    assert admit["split"].value_counts().min() > 100


def test_tabular_temporal_split_needs_and_uses_a_time_column(small_tables, tmp_path):
    cfg, tables = small_tables
    flat = flat_frame(tables, cfg)
    flat.insert(3, "admitted", tables["admissions"].set_index("hadm_id").loc[flat["stay_id"], "admittime"]
                .dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy())
    path = tmp_path / "t.csv"
    flat.to_csv(path, index=False)
    split = {"by": "temporal", "val_from": "2017-07-01", "test_from": "2018-01-01"}
    with pytest.raises(ConfigError, match="needs source.time_column"):
        load_config(tabular_config(tmp_path / "a.yaml", tmp_path / "ws", path, split=split))
    with pytest.raises(ConfigError, match="must not name time_column 'admitted'"):
        load_config(tabular_config(tmp_path / "b.yaml", tmp_path / "ws", path, split=split,
                                   source={"time_column": "admitted", "exclude_columns": ["mrn", "admitted"]}))
    tcfg = load_config(tabular_config(tmp_path / "c.yaml", tmp_path / "ws", path, split=split,
                                      source={"time_column": "admitted"}))
    loaded = load_source(tcfg)
    tabular.validate(loaded, tcfg)
    features, _ = tabular.build_dataset(loaded, tcfg)
    assert "admitted" not in features.columns  # a time is never a feature
    when = pd.to_datetime(flat["admitted"])
    assert (when[features["split"] == "test"] >= pd.Timestamp("2018-01-01")).all()
    assert (when[features["split"] == "train"] < pd.Timestamp("2017-07-01")).all()
    assert set(features["split"]) == {"train", "val", "test"}
    loaded["tabular"]["admitted"] = loaded["tabular"]["admitted"].astype(object)
    loaded["tabular"].loc[3, "admitted"] = "yesterday"
    with pytest.raises(DataError, match="column 'admitted': check ISO 8601 timestamp failed in 1 row"):
        tabular.validate(loaded, tcfg)

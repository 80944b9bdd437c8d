"""Streaming a file into subject shards: typed in one pass, read again as text when a value needs the
row-checking converters, and partitions of whole patients (or whole groups, for a flat table)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from mtl_core.config import load_config
from mtl_core.data.partitions import concat
from mtl_core.errors import DataError
from mtl_core.sources import each_partition, open_source, scan, staging
from tests.bad_inputs.fixtures import flat_frame, tabular_config

SPEC = {"subject_id": ("int", False), "itemid": ("int", False), "charttime": ("time", False),
        "valuenum": ("float", True)}


def _events(n: int = 6000) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"subject_id": rng.integers(1, 400, n), "itemid": rng.choice([50912, 220045], n),
                         "charttime": (pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), "s")
                                       ).strftime("%Y-%m-%d %H:%M:%S"),
                         "valuenum": np.round(rng.normal(5, 1, n), 2), "comment": "x"})


def _stage(path: Path, tmp: Path, bounds: np.ndarray) -> staging.Stage:
    stage = staging.Stage(tmp / "stage", bounds)
    writer = stage.writer("events", "labevents", "subject_id")
    for batch in scan.file_batches(path, SPEC, "table 'events' (t.csv)", restart=writer.reset):
        writer.add(batch)
    stage.finish("events", "labevents", writer, scan.typed_schema(SPEC, list(SPEC)))
    return stage


def test_a_late_value_the_typed_parser_refuses_is_read_again_as_text(tmp_path, monkeypatch):
    monkeypatch.setattr(scan, "BLOCK_BYTES", 16 << 10)   # many blocks: the odd values come late
    raw = _events()
    raw = raw.astype({"itemid": object, "charttime": object})
    raw.loc[5000, "itemid"] = "50912.0"                   # an integer written as a float
    raw.loc[5500, "charttime"] = "2020-01-02T10:00:00+02:00"   # an offset: converted to UTC
    raw.to_csv(tmp_path / "t.csv", index=False)
    restarts = []
    real = staging.ShardWriter.reset
    monkeypatch.setattr(staging.ShardWriter, "reset", lambda self: (restarts.append(1), real(self)))
    stage = _stage(tmp_path / "t.csv", tmp_path, staging.shard_bounds(raw["subject_id"], 8))
    assert restarts == [1]                                # the typed pass gave up once, nothing doubled
    got = pd.concat([scan.to_frame(stage.read("events", k, k + 1), SPEC) for k in range(8)])
    assert len(got) == len(raw) and stage.counts["events"].sum() == len(raw)
    got = got.sort_values(["subject_id", "charttime", "itemid", "valuenum"]).reset_index(drop=True)
    want = raw.assign(itemid=pd.to_numeric(raw["itemid"]).astype("int64"))
    want["charttime"] = pd.to_datetime(want["charttime"], utc=True, format="ISO8601").dt.tz_convert(None)
    want = want[list(SPEC)].astype({"charttime": "datetime64[ns]"})
    want = want.sort_values(["subject_id", "charttime", "itemid", "valuenum"]).reset_index(drop=True)
    pdt.assert_frame_equal(got, want, check_dtype=False)
    assert str(got["charttime"].dtype) == "datetime64[ns]" and got["itemid"].dtype == "int64"


def test_a_bad_value_in_a_late_block_is_named_with_its_column_and_count(tmp_path, monkeypatch):
    monkeypatch.setattr(scan, "BLOCK_BYTES", 16 << 10)
    raw = _events().astype({"valuenum": object})
    raw.loc[[4000, 4001, 5900], "valuenum"] = "high"
    raw.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(DataError, match=r"table 'events' \(t.csv\): column 'valuenum': check numeric failed in "
                                        r"\d+ rows? \(e.g. 'high'\)"):
        _stage(tmp_path / "t.csv", tmp_path, staging.shard_bounds(raw["subject_id"], 4))


def test_plan_cuts_runs_of_shards_of_about_the_partition_size():
    stage = staging.Stage(Path("."), np.arange(10))
    stage.counts = {"a": np.array([5, 5, 5, 5, 30, 1, 1, 1, 1, 1]), "b": np.zeros(10, np.int64)}
    assert stage.plan(12) == [(0, 2), (2, 4), (4, 5), (5, 10)]
    assert stage.plan(1000) == [(0, 10)]
    assert list(staging.shard_of(np.array([-5, 0, 3, 9, 99]), np.array([0, 3, 9]))) == [0, 0, 1, 2, 2]


def test_a_flat_table_larger_than_a_partition_comes_in_whole_groups(small_tables, tmp_path):
    cfg, tables = small_tables
    flat = flat_frame(tables, cfg)
    flat["ward"] = np.where(np.arange(len(flat)) % 5 == 0, np.nan, np.arange(len(flat)) % 3)  # ints + gaps
    flat.loc[len(flat) // 2:, "ward"] = flat.loc[len(flat) // 2:, "ward"].fillna(1)
    path = tmp_path / "flat.csv"
    flat.to_csv(path, index=False)
    whole = load_config(tabular_config(tmp_path / "w.yaml", tmp_path / "ws", path))
    parted = load_config(tabular_config(tmp_path / "p.yaml", tmp_path / "ws", path, ingest={"partition_rows": 1000}))
    with open_source(whole) as one:
        (all_rows,) = list(each_partition(one))
    with open_source(parted) as many:
        parts = list(each_partition(many))
    assert len(parts) >= 2
    groups = [set(p["tabular"]["patient"]) for p in parts]
    assert sum(len(g) for g in groups) == len(set().union(*groups))   # no patient in two partitions
    assert len({tuple(p["tabular"].dtypes.astype(str)) for p in parts}) == 1   # the same dtypes in each
    got = concat(parts)["tabular"].sort_values("stay_id").reset_index(drop=True)
    pdt.assert_frame_equal(got, all_rows["tabular"].sort_values("stay_id").reset_index(drop=True))


def test_rules_over_the_whole_flat_table_are_checked_over_all_partitions(small_tables, tmp_path):
    """An outcome whose positives all sit in one partition is fine; one with no positives anywhere is
    not, and says so once every partition has been seen (not in the first partition without any)."""
    from mtl_core.sources import check_summary, ingest_tables, summary

    cfg, tables = small_tables
    flat = flat_frame(tables, cfg)
    path = tmp_path / "flat.csv"
    flat.assign(sepsis=np.where(flat["patient"] == flat["patient"].iloc[0], 1.0, 0.0)).to_csv(path, index=False)
    parted = load_config(tabular_config(tmp_path / "p.yaml", tmp_path / "ws", path, ingest={"partition_rows": 1000}))
    with open_source(parted) as many:
        parts = list(each_partition(many))
    assert len(parts) >= 2 and sum(p["tabular"]["sepsis"].sum() > 0 for p in parts) == 1
    summaries = [summary(ingest_tables(p, parted, check_share=False)[0], parted) for p in parts]
    check_summary(summaries, parted)   # one partition with positives is enough
    for s in summaries:
        s["positives"]["sepsis"] = 0
    with pytest.raises(DataError, match=r"outcome column 'sepsis': only class 0 in its \d+ labelled rows"):
        check_summary(summaries, parted)

"""Content-addressed, atomic parquet snapshots."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pyarrow.parquet as pq
import pytest

from mtl_core.data import lake


def _tables() -> dict[str, pd.DataFrame]:
    return {
        "patients": pd.DataFrame({"subject_id": np.arange(5, dtype=np.int64),
                                  "gender": ["F", "M", "F", "M", "F"],
                                  "dod": pd.to_datetime(["2020-01-01", None, None, "2021-05-02", None])}),
        "events": pd.DataFrame({"hadm_id": np.arange(7, dtype=np.int64),
                                "valuenum": [1.0, 2.5, np.nan, 4.0, 5.0, 6.0, 7.5]}),
    }


def test_write_snapshot_writes_parquet_and_manifest(tmp_path):
    tables = _tables()
    path, reused = lake.write_snapshot(tables, tmp_path / "raw", extra={"source": "unit-test"})
    assert reused is False
    assert path.parent == tmp_path / "raw"
    assert sorted(p.name for p in path.iterdir()) == ["events.parquet", "manifest.json", "patients.parquet"]
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest == lake.read_manifest(path)
    assert manifest["id"] == path.name
    assert manifest["source"] == "unit-test"
    assert manifest["tables"]["patients"]["rows"] == 5
    assert manifest["tables"]["events"]["rows"] == 7
    assert manifest["tables"]["events"]["columns"] == ["hadm_id", "valuenum"]
    for name, df in tables.items():
        assert manifest["tables"][name]["sha256"] == lake.table_hash(df)
    back = lake.read_tables(path)
    for name, df in tables.items():
        pdt.assert_frame_equal(back[name], df)
    assert lake.latest(tmp_path / "raw") == path


def test_identical_content_is_reused(tmp_path):
    path, reused = lake.write_snapshot(_tables(), tmp_path)
    again, reused_again = lake.write_snapshot({k: v.copy() for k, v in _tables().items()}, tmp_path)
    assert (reused, reused_again) == (False, True)
    assert again == path
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_salt_changes_snapshot_id(tmp_path):
    a, _ = lake.write_snapshot(_tables(), tmp_path, salt="v1")
    b, reused = lake.write_snapshot(_tables(), tmp_path, salt="v2")
    assert a != b and reused is False


def test_changed_content_gives_new_snapshot_and_old_stays_readable(tmp_path):
    old_tables = _tables()
    old, _ = lake.write_snapshot(old_tables, tmp_path)
    changed = _tables()
    changed["events"].loc[3, "valuenum"] = 99.0
    new, reused = lake.write_snapshot(changed, tmp_path)
    assert reused is False and new != old
    assert lake.table_hash(changed["events"]) != lake.table_hash(old_tables["events"])
    assert lake.read_manifest(new)["tables"]["patients"]["sha256"] == \
        lake.read_manifest(old)["tables"]["patients"]["sha256"]
    pdt.assert_frame_equal(lake.read_tables(old)["events"], old_tables["events"])
    pdt.assert_frame_equal(lake.read_tables(new)["events"], changed["events"])
    assert lake.read_tables(old, ["patients"]).keys() == {"patients"}


def test_table_hash_ignores_index_but_not_dtype_or_names():
    df = _tables()["events"]
    assert lake.table_hash(df) == lake.table_hash(df.set_axis(range(10, 17)))
    assert lake.table_hash(df) != lake.table_hash(df.astype({"hadm_id": "int32"}))
    assert lake.table_hash(df) != lake.table_hash(df.rename(columns={"valuenum": "value"}))


def test_failure_while_writing_leaves_nothing_behind(tmp_path, monkeypatch):
    root = tmp_path / "raw"
    real = pq.ParquetWriter.write_table
    calls = []

    def flaky(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", flaky)
    with pytest.raises(OSError, match="disk full"):
        lake.write_snapshot(_tables(), root)
    assert len(calls) == 2
    assert list(root.iterdir()) == []        # no snapshot folder, no hidden temp folder
    assert lake.latest(root) is None
    # once the fault is gone the same content is written normally (not mistaken for a reuse)
    monkeypatch.setattr(pq.ParquetWriter, "write_table", real)
    path, reused = lake.write_snapshot(_tables(), root)
    assert reused is False and (path / "manifest.json").is_file()
    assert [p.name for p in root.iterdir()] == [path.name]


def test_latest_picks_most_recent_complete_snapshot(tmp_path):
    import os

    a, _ = lake.write_snapshot(_tables(), tmp_path)
    changed = _tables()
    changed["patients"]["gender"] = "F"
    b, _ = lake.write_snapshot(changed, tmp_path)
    os.utime(a / "manifest.json", (1_000_000, 1_000_000))
    os.utime(b / "manifest.json", (2_000_000, 2_000_000))
    assert lake.latest(tmp_path) == b
    lake.write_snapshot(_tables(), tmp_path)   # reusing a marks it as latest again
    assert lake.latest(tmp_path) == a
    (tmp_path / "incomplete").mkdir()         # a folder without a manifest never counts
    assert lake.latest(tmp_path) == a
    assert lake.latest(tmp_path / "empty-root") is None

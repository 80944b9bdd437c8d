"""Data in partitions: the synthetic source's partitions, partitioned snapshots, cross-partition keys."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from mtl_core.config import SourceConfig
from mtl_core.data import contracts, lake
from mtl_core.data.contracts import outcome_definitions
from mtl_core.data.partitions import KeyCheck, concat
from mtl_core.dataset.features import build_dataset
from mtl_core.errors import DataError
from mtl_core.sources import synthetic

N, PER_PART = 1500, 500   # the test cohort in three partitions


@pytest.fixture(scope="module")
def parts(small_tables):
    cfg, _ = small_tables
    assert cfg.source.n_patients == N
    return list(synthetic.partitions(cfg.source, cfg.cohort.observation_hours, patients_per_partition=PER_PART))


def test_partitions_hold_whole_patients_and_disjoint_keys(parts):
    assert len(parts) == 3
    subjects = [set(p["patients"]["subject_id"]) for p in parts]
    assert sum(len(s) for s in subjects) == N and len(set().union(*subjects)) == N
    for p in parts:
        contracts.check_references(p)   # every admission, event, diagnosis has its patient in the partition
        assert set(p["admissions"]["subject_id"]) <= set(p["patients"]["subject_id"])
        assert set(p["truth"]["hadm_id"]) == set(p["admissions"]["hadm_id"])
        for name in ("patients", "admissions", "events", "diagnoses", "truth"):
            contracts.validate(p[name], name)
    hadm = np.concatenate([p["admissions"]["hadm_id"].to_numpy() for p in parts])
    assert len(np.unique(hadm)) == len(hadm) and (np.diff(hadm) > 0).all()  # increasing across partitions
    keys = KeyCheck()
    for p in parts:
        keys.add(p)
    keys.check()


def test_one_partition_is_the_whole_cohort_unchanged(small_tables):
    cfg, tables = small_tables
    (only,) = synthetic.partitions(cfg.source, cfg.cohort.observation_hours)
    for name, df in tables.items():
        pdt.assert_frame_equal(only[name], df, check_exact=True)


def test_partitions_differ_yet_keep_the_outcome_model(parts):
    assert not np.array_equal(parts[0]["events"]["valuenum"].to_numpy()[:200],
                              parts[1]["events"]["valuenum"].to_numpy()[:200])
    died = [p["admissions"]["hospital_expire_flag"].mean() for p in parts]
    assert max(died) - min(died) < 0.05   # intercepts calibrated once, shared by every partition


def test_features_per_partition_equal_features_of_the_whole(small_tables, parts):
    cfg, _ = small_tables
    defs = outcome_definitions()
    built = [build_dataset(p, cfg, defs) for p in parts]
    whole_f, whole_l = build_dataset(concat(parts), cfg, defs)
    pdt.assert_frame_equal(pd.concat([f for f, _ in built], ignore_index=True), whole_f)
    pdt.assert_frame_equal(pd.concat([lab for _, lab in built], ignore_index=True), whole_l)
    assert whole_l["readmission_30d"].sum() > 20 and whole_f["n_prior_admissions"].max() >= 1


def test_chart_density_scales_events_per_admission():
    base = SourceConfig(n_patients=400, seed=3)
    dense = synthetic.generate(base.model_copy(update={"chart_density": 2.9}), 24)
    plain = synthetic.generate(base, 24)
    ratio = len(dense["events"]) / len(plain["events"])
    assert 2.4 < ratio < 3.0, ratio
    assert 85 < len(dense["events"]) / len(dense["admissions"]) < 115


def test_snapshot_in_partitions_reads_back_whole_and_by_partition(tmp_path, parts):
    with lake.SnapshotWriter(tmp_path, salt="s", extra={"source_kind": "synthetic"}) as w:
        for p in parts:
            w.add(p)
        path, reused = w.commit()
    assert reused is False and [q.name for q in tmp_path.iterdir()] == [path.name]
    manifest = lake.read_manifest(path)
    whole = concat(parts)
    for name, df in whole.items():
        entry = manifest["tables"][name]
        assert entry["partitions"] == [len(p[name]) for p in parts] and entry["rows"] == len(df)
        assert sorted(q.name for q in (path / f"{name}.parquet").iterdir()) == entry["parts"]
    back = lake.read_tables(path)
    for name, df in whole.items():
        pdt.assert_frame_equal(back[name], df)
    got = list(lake.iter_partitions(path, ["admissions", "events"]))
    assert len(got) == 3
    for g, p in zip(got, parts):
        assert set(g) == {"admissions", "events"}
        pdt.assert_frame_equal(g["events"], p["events"])
        pdt.assert_frame_equal(g["admissions"], p["admissions"])
    # parts written out of order (as workers finish) give the same snapshot
    with lake.SnapshotWriter(tmp_path, salt="s", extra={"source_kind": "synthetic"}) as w:
        for i in (2, 0, 1):
            w.record(i, lake.write_part(w.folder, i, parts[i]))
        assert w.commit() == (path, True)
    # the id is of the content as partitioned: the same rows in one piece are another snapshot
    one, reused = lake.write_snapshot(whole, tmp_path, salt="s", extra={"source_kind": "synthetic"})
    assert one != path and reused is False
    changed = {**parts[1], "events": parts[1]["events"].assign(valuenum=parts[1]["events"]["valuenum"] + 1)}
    with lake.SnapshotWriter(tmp_path, salt="s") as w:
        for p in (parts[0], changed, parts[2]):
            w.add(p)
        other, _ = w.commit()
    assert other not in (path, one)
    assert lake.read_manifest(other)["tables"]["admissions"]["sha256"] == entry_of(path, "admissions")


def entry_of(path, name):
    return lake.read_manifest(path)["tables"][name]["sha256"]


def test_empty_partition_of_a_table_round_trips(tmp_path):
    a = pd.DataFrame({"hadm_id": np.arange(3, dtype=np.int64), "v": [1.0, 2.0, 3.0]})
    with lake.SnapshotWriter(tmp_path) as w:
        for part in (a, a.iloc[:0], a + 10):
            w.add({"t": part})
        path, _ = w.commit()
    sizes = [len(p["t"]) for p in lake.iter_partitions(path)]
    assert sizes == [3, 0, 3]
    pdt.assert_frame_equal(lake.read_tables(path)["t"], pd.concat([a, a + 10], ignore_index=True))


def test_failure_in_a_later_partition_leaves_nothing(tmp_path):
    good = pd.DataFrame({"hadm_id": np.arange(3, dtype=np.int64)})
    with pytest.raises(ValueError, match="partition 2"):
        with lake.SnapshotWriter(tmp_path) as w:
            w.add({"t": good})
            w.add({"t": good.astype("float64")})   # a dtype unlike the first partition's
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="tables"):
        with lake.SnapshotWriter(tmp_path) as w:
            w.add({"t": good})
            w.add({"u": good})
    assert list(tmp_path.iterdir()) == []


def test_snapshot_without_partition_record_is_one_partition(tmp_path):
    path, _ = lake.write_snapshot({"t": pd.DataFrame({"x": np.arange(4, dtype=np.int64)})}, tmp_path)
    manifest = json.loads((path / lake.MANIFEST).read_text())
    del manifest["tables"]["t"]["partitions"]   # as written before partitions existed
    (path / lake.MANIFEST).write_text(json.dumps(manifest))
    (only,) = lake.iter_partitions(path)
    assert only["t"]["x"].tolist() == [0, 1, 2, 3]


def test_key_in_two_partitions_is_a_clear_error(parts):
    keys = KeyCheck()
    keys.add(parts[0])
    clash = parts[1]["admissions"].copy()
    clash.loc[clash.index[:3], "hadm_id"] = parts[0]["admissions"]["hadm_id"].to_numpy()[:3]
    keys.add({**parts[1], "admissions": clash})
    with pytest.raises(DataError) as err:
        keys.check()
    msg = str(err.value)
    assert "table 'admissions'" in msg and "column 'hadm_id'" in msg and "6 rows" in msg
    assert "patients" not in msg   # the patients of different partitions are distinct

"""ingest and build_features on a source that comes in partitions: same results, memory per partition."""
from __future__ import annotations

import gc
import re
import weakref
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest

from mtl_core.data import lake
from mtl_core.data.contracts import outcome_definitions
from mtl_core.data.partitions import concat
from mtl_core.dataset.features import build_dataset
from mtl_core.errors import DataError

PER_PART = 500  # the 1,500-patient test cohort in three partitions


def _partitioned(monkeypatch, spoil=None):
    from mtl_core import sources
    from mtl_core.sources import synthetic

    def load(cfg, staging, progress=None, pool=None):
        for i, part in enumerate(synthetic.partitions(cfg.source, cfg.cohort.observation_hours, progress,
                                                      patients_per_partition=PER_PART)):
            yield spoil(i, part) if spoil else part

    monkeypatch.setitem(sources.SOURCES, "synthetic", load)


def test_partitioned_ingest_and_features_match_the_whole(prefect_server, small_config, small_tables,
                                                         monkeypatch):
    from flows.features import build_features
    from flows.ingest import ingest
    from mtl_core.config import load_config
    from mtl_core.sources import synthetic

    _partitioned(monkeypatch)
    snapshot = ingest(str(small_config))
    assert ingest(str(small_config)) == snapshot   # unchanged input reuses the snapshot
    manifest = lake.read_manifest(Path(snapshot))
    assert len(manifest["tables"]["events"]["partitions"]) == 3
    features_dir = build_features(str(small_config), snapshot)
    fm = lake.read_manifest(Path(features_dir))
    assert len(fm["tables"]["features"]["partitions"]) == 3

    cfg = load_config(small_config)
    whole = concat(synthetic.partitions(cfg.source, cfg.cohort.observation_hours,
                                        patients_per_partition=PER_PART))
    features, labels = build_dataset(whole, cfg, outcome_definitions())
    got = lake.read_tables(Path(features_dir))
    pdt.assert_frame_equal(got["features"], features)
    pdt.assert_frame_equal(got["labels"], labels)
    assert got["truth"]["hadm_id"].tolist() == features["hadm_id"].tolist()
    assert got["features"].groupby("subject_id")["split"].nunique().max() == 1


def test_bad_rows_in_a_later_partition_write_nothing(prefect_server, small_config, monkeypatch):
    from flows.ingest import ingest

    def spoil(i, part):
        if i == 2:
            adm = part["admissions"].copy()
            adm.loc[adm.index[:3], "dischtime"] = adm.loc[adm.index[:3], "admittime"] - pd.Timedelta(hours=1)
            part = {**part, "admissions": adm}
        return part

    _partitioned(monkeypatch, spoil)
    with pytest.raises(DataError) as err:
        ingest(str(small_config))
    message = str(err.value)
    assert "admissions" in message and "ordered" in message and "3 rows" in message
    lake_dir = small_config.parent / "workspace" / "lake"
    assert not any(lake_dir.iterdir())  # no snapshot, no temp folder


def test_ingest_holds_one_partition_at_a_time(prefect_server, small_config, monkeypatch):
    """A partition must be freed once written (Prefect generator tasks kept every one alive)."""
    from flows.ingest import ingest

    seen: list[weakref.ref] = []
    alive_before: list[int] = []

    def track(i, part):
        gc.collect()
        # partition i - 1 may still be bound to the flow's loop variable; older ones must be gone
        alive_before.append(sum(ref() is not None for ref in seen[:-1]))
        seen.append(weakref.ref(part["events"]))
        return part

    _partitioned(monkeypatch, track)
    ingest(str(small_config))
    assert len(seen) == 3 and alive_before == [0, 0, 0]


def test_bad_rows_of_a_real_source_in_a_later_partition_write_nothing(prefect_server, small_config, tmp_path):
    """A MIMIC-IV export read in partitions: a defect in the patients of the last partition stops ingest
    after the earlier partitions were staged, and neither the lake nor the staging area keeps anything."""
    import yaml

    from flows.ingest import ingest
    from mtl_core.config import load_config
    from mtl_core.sources.export_mimic import write_mimic

    cfg = load_config(small_config)
    export = write_mimic(cfg.source, cfg.cohort.observation_hours, tmp_path / "mimic", "parquet")
    adm = pd.read_parquet(export / "hosp/admissions.parquet")
    last = adm["subject_id"] >= adm["subject_id"].quantile(0.95)   # patients at the end of the id range
    rows = adm.index[last][:4]
    adm.loc[rows, "dischtime"] = adm.loc[rows, "admittime"] - pd.Timedelta(hours=2)
    adm.to_parquet(export / "hosp/admissions.parquet", index=False)
    raw = yaml.safe_load(small_config.read_text())
    raw["source"] = {"kind": "mimic_iv", "path": str(export)}
    raw["ingest"] = {"partition_rows": 20_000}
    small_config.write_text(yaml.safe_dump(raw))
    with pytest.raises(DataError) as err:
        ingest(str(small_config))
    message = str(err.value)
    assert "table 'admissions'" in message and "ordered" in message and "4 rows" in message
    partition, total = map(int, re.search(r"in partition (\d+) of (\d+)", message).groups())
    assert total >= 3 and partition == total   # the earlier partitions passed and were staged
    ws = small_config.parent / "workspace"
    assert not any((ws / "lake").iterdir()) and not any((ws / "staging").iterdir())

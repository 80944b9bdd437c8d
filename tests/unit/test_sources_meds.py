"""Source `meds`: shards as partitions, labels joined per prediction, dataset splits, no look-ahead."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mtl_core.config import Config
from mtl_core.data.meds_predictions import prediction_tables
from mtl_core.dataset.code_features import CodeCounter
from mtl_core.sources import iter_source, validate_source
from mtl_core.sources.meds import EVENTS, PREDICTIONS
from mtl_core.sources.meds_features import build_dataset
from tests.meds_data import OUTCOMES, meds_copy


@pytest.fixture(scope="module")
def export(tmp_path_factory):
    return meds_copy(tmp_path_factory.mktemp("meds") / "export", n_patients=400)


def _cfg(export, **source) -> Config:
    return Config.model_validate({"outcomes": OUTCOMES, "source": {
        "kind": "meds", "path": str(export / "dataset"), "labels_dir": str(export / "labels"), **source}})


@pytest.fixture(scope="module")
def parts(export):
    cfg = _cfg(export)
    out = list(iter_source(cfg))
    for p in out:
        validate_source(p, cfg)
    return out


def test_each_shard_is_a_partition_of_whole_subjects(export, parts):
    shards = sorted((export / "dataset" / "data").rglob("*.parquet"))
    assert len(parts) == len(shards) > 3
    subjects = [set(p[EVENTS]["subject_id"]) for p in parts]
    assert sum(len(s) for s in subjects) == len(set().union(*subjects))  # nobody in two partitions
    for p in parts:
        assert set(p[PREDICTIONS]["subject_id"]) == set(p[EVENTS]["subject_id"])  # labelled subjects only


def test_labels_are_joined_per_prediction_and_missing_ones_masked(export, parts):
    preds = pd.concat([p[PREDICTIONS] for p in parts], ignore_index=True)
    assert preds["hadm_id"].is_unique
    for o in OUTCOMES:
        labels = pd.read_parquet(export / "labels" / o)
        assert preds[o].notna().sum() == len(labels)
        got = preds.dropna(subset=[o]).set_index(["subject_id", "prediction_time"])[o].sort_index()
        want = labels.set_index(["subject_id", "prediction_time"])["boolean_value"].astype(float).sort_index()
        assert got.to_numpy().tolist() == want.to_numpy().tolist()
    union = pd.concat([pd.read_parquet(export / "labels" / o)[["subject_id", "prediction_time"]]
                       for o in OUTCOMES]).drop_duplicates()
    assert len(preds) == len(union)


def test_dataset_splits_are_used_when_present(export, parts):
    splits = pd.read_parquet(export / "dataset" / "metadata" / "subject_splits.parquet")
    ours = {"train": "train", "tuning": "val", "held_out": "test"}
    mapping = splits.set_index("subject_id")["split"].map(ours)
    preds = pd.concat([p[PREDICTIONS] for p in parts], ignore_index=True)
    assert (preds["split"] == preds["subject_id"].map(mapping)).all()
    own = list(iter_source(_cfg(export, use_dataset_splits=False)))
    assert all("split" not in p[PREDICTIONS] for p in own)


def test_one_label_file_per_outcome_reads_the_same(export, parts, tmp_path):
    files = {}
    for o in OUTCOMES:
        files[o] = str(tmp_path / f"{o}.parquet")
        pd.read_parquet(export / "labels" / o).to_parquet(files[o], index=False)
    cfg = Config.model_validate({"outcomes": OUTCOMES, "source": {
        "kind": "meds", "path": str(export / "dataset"), "labels": files}})
    again = pd.concat([p[PREDICTIONS] for p in iter_source(cfg)], ignore_index=True)
    pd.testing.assert_frame_equal(again, pd.concat([p[PREDICTIONS] for p in parts], ignore_index=True))


def _vocab(parts):
    counter = CodeCounter()
    for p in parts:
        counter.add(pa.Table.from_pandas(p[EVENTS]))
    return counter.vocabulary(60)


def test_events_at_or_after_the_prediction_time_change_no_feature(export, parts):
    cfg, vocab = _cfg(export), _vocab(parts)
    p = parts[0]
    before, _ = build_dataset(p, cfg, None, vocab)
    last = p[PREDICTIONS].groupby("subject_id")["prediction_time"].max()
    codes = p[EVENTS]["code"].value_counts().index[:10].to_numpy()
    late = []
    for offset in (pd.Timedelta(0), pd.Timedelta(hours=1), pd.Timedelta(days=400)):
        late.append(pd.DataFrame({"subject_id": last.index.to_numpy(),
                                  "time": (last + offset).astype("datetime64[us]").to_numpy(),
                                  "code": np.resize(codes, len(last)), "numeric_value": np.float32(999.0)}))
    leaked = {**p, EVENTS: pd.concat([p[EVENTS], *late], ignore_index=True)}
    after, _ = build_dataset(leaked, cfg, None, vocab)
    pd.testing.assert_frame_equal(after, before)
    # the same events a microsecond before the prediction time do change features
    early = late[0].assign(time=(late[0]["time"] - pd.Timedelta(microseconds=1)).astype("datetime64[us]"))
    moved, _ = build_dataset({**p, EVENTS: pd.concat([p[EVENTS], early], ignore_index=True)}, cfg, None, vocab)
    assert not moved.equals(before)


def test_features_are_float32_and_ids_stay_out_of_the_model(export, parts):
    from mtl_core.dataset.features import model_columns

    features, labels = build_dataset(parts[0], _cfg(export), None, _vocab(parts))
    cols = model_columns(features)
    assert {"hadm_id", "subject_id", "split", "prediction_time"}.isdisjoint(cols)
    assert "age" in cols and features["age"].between(17, 100).all()
    assert all(features[c].dtype == np.float32 for c in cols if c != "age")
    assert list(labels.columns) == ["hadm_id", *OUTCOMES]


def test_predictions_meet_the_meds_evaluation_schema():
    from meds_evaluation.schema import PredictionSchema

    ids = pd.DataFrame({"subject_id": [1, 2, 3], "prediction_time": pd.to_datetime(
        ["2020-01-01", "2020-01-02", "2020-01-03"]).astype("datetime64[us]")})
    labels = pd.DataFrame({"a": [1.0, np.nan, 0.0], "b": [0.0, 1.0, 1.0]})
    tables = prediction_tables(ids, np.array([[0.9, 0.2], [0.4, 0.7], [0.1, 0.6]]), ["a", "b"], labels)
    assert tables["a"].num_rows == 2  # the unlabelled row is left out of that outcome's file
    for table in tables.values():
        aligned = PredictionSchema.align(table)
        assert aligned.schema == table.schema  # nothing to cast: written in the schema's own types
    assert tables["b"].column("predicted_boolean_value").to_pylist() == [False, True, True]

"""Features and labels of a staged MEDS dataset: one row per prediction, code features before it.

The code vocabulary (mtl_core/dataset/code_features.py) is chosen once per feature set from the training
split only (streamed over the staged events in batches), then every partition is built with it, so
all partitions share one set of columns and nothing about validation or test subjects shapes them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mtl_core.config import Config
from mtl_core.data.lake import read_tables, table_files
from mtl_core.dataset.code_features import CodeCounter, Vocabulary, code_features
from mtl_core.dataset.splits import assign_splits
from mtl_core.errors import DataError
from mtl_core.sources.meds import EVENTS, PREDICTIONS

BATCH_ROWS = 1_000_000
YEAR = np.timedelta64(int(365.25 * 86_400_000_000), "us")


def _splits(preds: pd.DataFrame, cfg: Config) -> np.ndarray:
    """The dataset's own split when staged with it, else the config's (by subject, or temporal by
    prediction time)."""
    if "split" in preds:
        return preds["split"].astype(str).to_numpy()
    return assign_splits(preds["subject_id"], cfg.split, times=preds["prediction_time"])


def fit_vocabulary(snapshot_dir: Path, cfg: Config) -> Vocabulary:
    """The code_features.top_n most frequent codes among training events, streamed in batches."""
    preds = read_tables(Path(snapshot_dir), [PREDICTIONS])[PREDICTIONS]
    split = _splits(preds, cfg)
    train = preds.loc[split == "train"]
    if train.empty:
        raise DataError("MEDS: no prediction falls in the training split; check subject_splits or `split`")
    counter = CodeCounter()
    before = pd.Timestamp(cfg.split.val_from) if "split" not in preds and cfg.split.by == "temporal" else None
    subjects = pa.array(train["subject_id"].unique(), pa.int64())
    batches = (b for f in table_files(Path(snapshot_dir), EVENTS)
               for b in pq.ParquetFile(f).iter_batches(batch_size=BATCH_ROWS, columns=["subject_id", "time",
                                                                                       "code", "numeric_value"]))
    for batch in batches:
        table = pa.Table.from_batches([batch])
        keep = pc.is_in(table.column("subject_id"), subjects)
        if before is not None:  # temporal: only what happened before validation starts
            keep = pc.and_(keep, pc.fill_null(pc.less(table.column("time"), pa.scalar(before, pa.timestamp("us"))),
                                              True))
        counter.add(table.filter(keep))
    if counter.totals.empty:
        raise DataError("MEDS: the training subjects have no events to take codes from")
    return counter.vocabulary(cfg.code_features.top_n)


def age_at(events: pd.DataFrame, preds: pd.DataFrame) -> np.ndarray:
    """Years from the subject's MEDS_BIRTH event to the prediction time (NaN without one)."""
    import meds

    births = events.loc[events["code"] == meds.birth_code].groupby("subject_id")["time"].min()
    birth = preds["subject_id"].map(births).to_numpy(dtype="datetime64[us]")
    return (preds["prediction_time"].to_numpy(dtype="datetime64[us]") - birth) / YEAR


def build_dataset(tables: dict[str, pd.DataFrame], cfg: Config, definitions: dict | None,
                  vocabulary: Vocabulary) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, labels) of one partition; features carry hadm_id (the prediction's id), subject_id,
    split and prediction_time for bookkeeping, then age and the code features."""
    preds = tables[PREDICTIONS].reset_index(drop=True)
    events = tables[EVENTS]
    base = pd.DataFrame({"hadm_id": preds["hadm_id"].to_numpy(), "subject_id": preds["subject_id"].to_numpy(),
                         "split": _splits(preds, cfg),
                         "prediction_time": preds["prediction_time"].astype("datetime64[us]").to_numpy(),
                         "age": age_at(events, preds)})
    features = pd.concat([base, code_features(events, preds, vocabulary, cfg.code_features)], axis=1)
    labels = preds[["hadm_id", *cfg.outcomes]].astype({o: "float64" for o in cfg.outcomes})
    return features, labels.reset_index(drop=True)

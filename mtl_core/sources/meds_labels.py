"""MEDS task labels (ACES style: subject_id, prediction_time, boolean_value) and subject splits.

One label file, or folder of label shards, per outcome. The outcomes' labels are joined on
(subject_id, prediction_time) into one row per prediction: an outcome without a label at a row is
missing there (masked out of training and evaluation, never imputed). Every label problem of every
outcome is collected and reported at once, with file, column, rule and row count.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import meds
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtl_core.config import MedsSource
from mtl_core.errors import ConfigError, DataError
from mtl_core.sources.meds_check import check_table

# MEDS split names -> ours
SPLIT_NAMES = {meds.train_split: "train", meds.tuning_split: "val", meds.held_out_split: "test"}
KEYS = ["subject_id", "prediction_time"]


def _rows(n: int) -> str:
    return f"{n} row{'s' * (n != 1)}"


def label_path(src: MedsSource, outcome: str) -> Path:
    """The outcome's label file or folder: source.labels[outcome], else <labels_dir>/<outcome>(.parquet)."""
    if outcome in src.labels:
        path = Path(src.labels[outcome]).expanduser()
    else:
        base = Path(src.labels_dir).expanduser() / outcome
        path = base.with_name(base.name + ".parquet") if not base.is_dir() else base
    if not path.exists():
        raise ConfigError(f"outcome '{outcome}': no label file or folder at {path.resolve()} "
                          f"(source.labels / source.labels_dir)")
    return path


def _files(path: Path) -> list[Path]:
    found = sorted(path.rglob("*.parquet")) if path.is_dir() else [path]
    if not found:
        raise DataError(f"label folder {path}: no .parquet files in it")
    return found


def read_outcome(path: Path, outcome: str) -> tuple[pd.DataFrame, list[str]]:
    """(subject_id, prediction_time, boolean_value) of one outcome, and the problems found in it."""
    frames, problems = [], []
    for f in _files(path):
        where = f"labels of outcome '{outcome}' ({f.name})"
        try:
            table = pq.read_table(f)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"{where}: not a readable Parquet file ({type(exc).__name__})") from None
        try:
            table = check_table(meds.LabelSchema, table, where)
        except DataError as exc:
            problems.append(str(exc))
            continue
        if "boolean_value" not in table.column_names:
            problems.append(f"{where}: column 'boolean_value' is missing (a binary outcome needs it)")
            continue
        frames.append(table.select([*KEYS, "boolean_value"]).to_pandas())
    if problems:
        return pd.DataFrame(), problems
    df = pd.concat(frames, ignore_index=True)
    where = f"labels of outcome '{outcome}' ({path.name})"
    dup = df.duplicated(KEYS, keep=False)
    if dup.any():
        problems.append(f"{where}: columns 'subject_id, prediction_time': check unique failed in "
                        f"{_rows(int(dup.sum()))}")
    classes = set(df["boolean_value"].unique())
    if len(classes) < 2:
        only = f"only {sorted(classes)[0]}" if classes else "no rows"
        problems.append(f"{where}: column 'boolean_value': {only} in {_rows(len(df))}; a model needs both "
                        f"classes")
    return df, problems


def check_against_data(df: pd.DataFrame, outcome: str, path: Path, spans: pd.DataFrame) -> list[str]:
    """Label rows of subjects the dataset does not have, or at times outside the subject's record.

    spans: index subject_id, columns first and last (times of the subject's first and last timed event)."""
    where = f"labels of outcome '{outcome}' ({path.name})"
    problems = []
    known = df["subject_id"].isin(spans.index).to_numpy()
    if not known.all():
        problems.append(f"{where}: column 'subject_id': check subject in the MEDS data failed in "
                        f"{_rows(int((~known).sum()))} (subjects in no data shard)")
    ok = df[known]
    first = ok["subject_id"].map(spans["first"])
    last = ok["subject_id"].map(spans["last"])
    t = ok["prediction_time"]
    outside = ~((t >= first) & (t <= last))  # NaT (no timed event at all) is outside too
    if outside.any():
        problems.append(f"{where}: column 'prediction_time': check within the subject's recorded times "
                        f"(first to last event) failed in {_rows(int(outside.sum()))}")
    return problems


def read_labels(src: MedsSource, outcomes: list[str], spans: pd.DataFrame) -> pd.DataFrame:
    """One row per prediction (sorted by subject and time): hadm_id (the row's id), subject_id,
    prediction_time and one 1.0 / 0.0 / NaN column per outcome. DataError listing every problem."""
    per_outcome, problems = {}, []
    for o in outcomes:
        path = label_path(src, o)
        df, found = read_outcome(path, o)
        if not found:
            found = check_against_data(df, o, path, spans)
        problems += found
        per_outcome[o] = df
    if problems:
        raise DataError("MEDS labels are not usable:\n  - " + "\n  - ".join(problems))
    wide = pd.concat([df.set_index(KEYS)["boolean_value"].astype("float64").rename(o)
                      for o, df in per_outcome.items()], axis=1, join="outer")
    wide = wide.sort_index().reset_index()
    wide.insert(0, "hadm_id", np.arange(len(wide), dtype=np.int64))
    wide["prediction_time"] = wide["prediction_time"].astype("datetime64[us]")
    return wide


def read_splits(root: Path, subjects: np.ndarray) -> pd.Series | None:
    """subject_id -> our split name from metadata/subject_splits.parquet, or None without that file.
    DataError for unknown split names or labelled subjects the file does not place."""
    path = root / meds.subject_splits_filepath
    if not path.is_file():
        return None
    where = f"table 'subject_splits' ({meds.subject_splits_filepath})"
    table = check_table(meds.SubjectSplitSchema, pq.read_table(path), where)
    df = table.to_pandas()
    problems = []
    unknown = ~df["split"].isin(list(SPLIT_NAMES))
    if unknown.any():
        names = df.loc[unknown, "split"].value_counts()
        problems.append(f"column 'split': check isin {list(SPLIT_NAMES)} failed in "
                        f"{_rows(int(unknown.sum()))} ({', '.join(f'{k}: {v}' for k, v in names.items())}); "
                        f"set source.use_dataset_splits: false to split by the config instead")
    dup = df["subject_id"].duplicated(keep=False)
    if dup.any():
        problems.append(f"column 'subject_id': check unique failed in {_rows(int(dup.sum()))}")
    missing = ~pd.Series(subjects).isin(df["subject_id"])
    if missing.any():
        problems.append(f"column 'subject_id': {_rows(int(missing.sum()))} of labelled subjects have no "
                        f"split (check every labelled subject is in subject_splits)")
    if problems:
        raise DataError(f"{where} breaks the MEDS schema:\n  - " + "\n  - ".join(problems))
    return df.set_index("subject_id")["split"].map(SPLIT_NAMES)


@dataclass
class Predictions:
    """The prediction rows of the whole dataset, handed out per shard."""
    rows: pd.DataFrame  # hadm_id, subject_id, prediction_time, [split,] outcomes...

    def of(self, subjects: np.ndarray) -> pd.DataFrame:
        return self.rows[self.rows["subject_id"].isin(subjects)].reset_index(drop=True)

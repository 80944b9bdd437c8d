"""Source `meds`: a MEDS dataset read one data shard at a time, with ACES-style labels per outcome.

A MEDS shard holds every event of its subjects (the standard requires it, and the index pass checks
it), which is the partition contract of mtl_core/data/partitions.py: each shard becomes one partition.
Before any event is read in full, one cheap pass over the shards' subject_id and time columns checks
every shard's schema against `meds.DataSchema` and learns each subject's first and last event time;
the labels are then checked against it (unknown subjects, prediction times outside the record), so a
bad label file fails before anything is staged. Only subjects with a label are kept.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import meds
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mtl_core.config import Config, MedsSource
from mtl_core.data import contracts
from mtl_core.errors import ConfigError, DataError
from mtl_core.sources.meds_check import check_table, non_finite, schema_problems
from mtl_core.sources.meds_labels import Predictions, read_labels, read_splits

EVENTS, PREDICTIONS = "meds_events", "meds_predictions"   # the lake tables (data_contracts/)
COLUMNS = ["subject_id", "time", "code", "numeric_value"]  # what features use; text_value is not read


def _rows(n: int) -> str:
    return f"{n} row{'s' * (n != 1)}"


def root_of(src: MedsSource) -> Path:
    root = Path(src.path).expanduser()
    if not (root / meds.data_subdirectory).is_dir():
        raise ConfigError(f"source.path: no MEDS dataset at {root.resolve()} (expected a "
                          f"'{meds.data_subdirectory}/' folder of Parquet shards)")
    return root


def shard_files(root: Path) -> list[Path]:
    found = sorted((root / meds.data_subdirectory).rglob("*.parquet"))
    if not found:
        raise DataError(f"MEDS dataset {root}: no Parquet shards under {meds.data_subdirectory}/")
    return found


def _rel(root: Path, path: Path) -> str:
    return str(path.relative_to(root))


def _read(path: Path, where: str, columns: list[str] | None = None) -> pa.Table:
    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{where}: not a readable Parquet file ({type(exc).__name__})") from None


@dataclass
class DatasetIndex:
    shards: list[Path]
    subjects: list[np.ndarray]  # per shard
    spans: pd.DataFrame  # index subject_id; first, last: times of the subject's first and last timed event


def index(root: Path) -> DatasetIndex:
    """Schema of every shard (all problems at once), each subject in one shard, per-subject time span."""
    files, problems = shard_files(root), []
    for f in files:
        try:
            schema = pq.read_schema(f)
        except (pa.ArrowInvalid, OSError) as exc:
            raise DataError(f"MEDS shard '{_rel(root, f)}': not a readable Parquet file "
                            f"({type(exc).__name__})") from None
        found = schema_problems(meds.DataSchema, schema)
        problems += [f"MEDS shard '{_rel(root, f)}': {p}" for p in found]
    if problems:
        raise DataError("MEDS data breaks the MEDS schema:\n  - " + "\n  - ".join(problems))
    per_shard = []
    for f in files:
        where = f"MEDS shard '{_rel(root, f)}'"
        table = check_table(meds.DataSchema, _read(f, where, ["subject_id", "time", "code"]), where)
        per_shard.append(table.group_by("subject_id").aggregate([("time", "min"), ("time", "max")])
                         .to_pandas())
    spans = pd.concat(per_shard, ignore_index=True).rename(columns={"time_min": "first", "time_max": "last"})
    twice = spans["subject_id"].duplicated(keep=False)
    if twice.any():
        n = int(spans.loc[twice, "subject_id"].nunique())
        raise DataError(f"MEDS data: column 'subject_id': check each subject in one shard failed for "
                        f"{n} subject{'s' * (n != 1)} (found in several shards; MEDS keeps a subject's events "
                        f"in one shard)")
    subjects = [s["subject_id"].to_numpy() for s in per_shard]
    return DatasetIndex(files, subjects, spans.set_index("subject_id"))


def check_metadata(root: Path) -> None:
    """metadata/codes.parquet and metadata/dataset.json, when present, against their MEDS schemas."""
    codes = root / meds.code_metadata_filepath
    if codes.is_file():
        where = f"table 'codes' ({meds.code_metadata_filepath})"
        check_table(meds.CodeMetadataSchema, _read(codes, where, ["code"]), where)
    info = root / meds.dataset_metadata_filepath
    if info.is_file():
        try:
            meds.DatasetMetadataSchema.validate(json.loads(info.read_text()))
        except Exception as exc:  # noqa: BLE001 - invalid JSON or a field of the wrong type
            raise DataError(f"{meds.dataset_metadata_filepath}: does not meet the MEDS dataset metadata "
                            f"schema ({' '.join(str(exc).split())[:300]})") from None


def shard_events(root: Path, path: Path, subjects: np.ndarray) -> pd.DataFrame:
    """Events of the labelled subjects in one shard: subject_id, time, code, numeric_value (float32)."""
    where = f"MEDS shard '{_rel(root, path)}'"
    names = pq.read_schema(path).names
    table = check_table(meds.DataSchema, _read(path, where, [c for c in COLUMNS if c in names]), where)
    bad = non_finite(table, "numeric_value")
    if bad:
        raise DataError(f"{where}: column 'numeric_value': check finite failed in {_rows(bad)} (NaN or "
                        f"infinite; a code without a value has a null)")
    table = table.filter(pc.is_in(table.column("subject_id"), pa.array(subjects, pa.int64())))
    df = table.select([c for c in COLUMNS if c in table.column_names]).to_pandas()
    if "numeric_value" not in df:
        df["numeric_value"] = np.float32(np.nan)
    df["code"] = df["code"].astype(str)
    df["time"] = df["time"].astype("datetime64[us]")
    return df[COLUMNS].astype({"numeric_value": "float32"})


def _write_example(src: MedsSource, cfg: Config, root: Path) -> None:
    """The synthetic cohort as a MEDS dataset at root (labels at labels_dir), written under temporary
    names and renamed, so a killed run leaves no half dataset that a later run would take as whole."""
    import os
    import shutil

    from mtl_core.sources import export_meds  # only the example config needs the generator

    labels = Path(src.labels_dir).expanduser()
    if labels.exists():
        raise ConfigError(f"source.generate_if_missing: {labels} exists but no MEDS dataset at {root}; "
                          f"it would not be overwritten: remove it or point labels_dir elsewhere")
    tmp = {p: p.with_name(f".partial-{p.name}-{os.getpid()}") for p in (root, labels)}
    try:
        export_meds.write_synthetic(src.generate_if_missing, cfg.cohort.observation_hours, tmp[root], tmp[labels])
        for final, partial in tmp.items():
            final.parent.mkdir(parents=True, exist_ok=True)
            partial.rename(final)
    finally:
        for partial in tmp.values():
            shutil.rmtree(partial, ignore_errors=True)


def partitions(cfg: Config, progress: Callable[[int, int], None] | None = None
               ) -> Iterator[dict[str, pd.DataFrame]]:
    """One partition per shard holding labelled subjects: their events and prediction rows."""
    src: MedsSource = cfg.source
    if src.generate_if_missing is not None and not (Path(src.path) / meds.data_subdirectory).is_dir():
        _write_example(src, cfg, Path(src.path).expanduser())
    root = root_of(src)
    idx = index(root)
    check_metadata(root)
    rows = read_labels(src, cfg.outcomes, idx.spans)
    splits = read_splits(root, rows["subject_id"].unique()) if src.use_dataset_splits else None
    if splits is not None:
        rows.insert(3, "split", rows["subject_id"].map(splits).astype(str))
    preds = Predictions(rows)
    labelled = rows["subject_id"].unique()
    for i, (path, in_shard) in enumerate(zip(idx.shards, idx.subjects), 1):
        subjects = np.sort(in_shard[np.isin(in_shard, labelled)]).astype(np.int64)
        if progress:
            progress(i, len(idx.shards))
        if len(subjects) == 0:
            continue  # nobody in this shard has a label: nothing to learn from or predict
        yield {EVENTS: shard_events(root, path, subjects), PREDICTIONS: preds.of(subjects)}


def load(cfg: Config, progress=None) -> Iterator[dict[str, pd.DataFrame]]:
    return partitions(cfg, progress)


def validate(tables: dict[str, pd.DataFrame], cfg: Config,
             progress: Callable[[int, str], None] | None = None) -> None:
    """Our contracts on the staged tables (the MEDS schema was checked while reading)."""
    for i, name in enumerate((EVENTS, PREDICTIONS), 1):
        contracts.validate(tables[name], name)
        if progress:
            progress(i, f"{name}: {len(tables[name]):,} rows")

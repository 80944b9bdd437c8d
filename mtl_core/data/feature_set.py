"""A feature set folder in the workspace: features, labels (and a synthetic source's truth), read whole or
as the rows of one split."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from mtl_core.data import lake
from mtl_core.errors import DataError

SPLITS = ("train", "val", "test")


def latest(ws: Path) -> str:
    found = lake.latest(ws / "features")
    if found is None:
        raise DataError(f"no feature set in {ws / 'features'}: run `cmtl features` first")
    return str(found)


def split_rows(f: pd.DataFrame) -> dict[str, np.ndarray]:
    """Row masks of the train, validation and test splits."""
    return {s: (f["split"] == s).to_numpy() for s in SPLITS}


def features_and_labels(features_dir: str | Path, outcomes: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The whole feature frame and the labels of `outcomes`, row for row."""
    frames = lake.read_tables(Path(features_dir), ["features", "labels"])
    return frames["features"], frames["labels"][list(outcomes)]


def test_split(features_dir: str | Path, outcomes: list[str]):
    """Test-split features, labels (n, K) and, when the source has one, the truth (n, K) or None."""
    frames = lake.read_tables(Path(features_dir))
    f = frames["features"]
    test = (f["split"] == "test").to_numpy()
    Y = frames["labels"].loc[test, outcomes].to_numpy(float)
    truth = None
    if "truth" in frames and all(o in frames["truth"] for o in outcomes):
        t = frames["truth"].set_index("hadm_id").reindex(f.loc[test, "hadm_id"])
        truth = t[outcomes].to_numpy(float)
    return f.loc[test].reset_index(drop=True), Y, truth


test_split.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, whatever its name


KEY_COLUMNS = ["hadm_id", "subject_id", "split", "prediction_time"]  # prediction_time: MEDS rows only


def split_keys(features_dir: str | Path) -> pd.DataFrame:
    """hadm_id, subject_id and split (and a MEDS row's prediction_time) of every row of a feature set:
    what a model fitted on it saw."""
    files = lake.table_files(Path(features_dir), "features")
    names = set(pq.read_schema(files[0]).names)
    return pd.concat([pd.read_parquet(p, columns=[c for c in KEY_COLUMNS if c in names]) for p in files],
                     ignore_index=True)

"""Train/val/test assignment: by a stable, seeded hash of the patient (default) or by admission time.

`by: patient` puts no patient in two splits. `by: temporal` splits admissions at two dates, which is
what a deployed model faces: it is trained on the past and scores new admissions, including new
admissions of patients it has seen. So a patient whose admissions span a boundary has admissions in
several splits (each admission, having one admittime, is in exactly one); features of a later
admission may use that patient's earlier admissions, as they would in deployment. Labels of train
admissions just before `val_from` may be observed after it (e.g. 30-day readmission); the validation
period between `val_from` and `test_from` keeps them from reaching into the test period.
"""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from mtl_core.config import SplitConfig
from mtl_core.errors import ConfigError, DataError

SPLITS = ("train", "val", "test")


def assign_splits(patient_keys: pd.Series, cfg: SplitConfig, times: pd.Series | None = None) -> np.ndarray:
    """'train' / 'val' / 'test' per row; `times` (each row's admission time) is needed by `by: temporal`."""
    if cfg.by == "temporal":
        if times is None:
            raise ConfigError("split.by temporal: this source has no admission time to split by")
        return temporal_splits(times, cfg)
    return patient_splits(patient_keys, cfg)


def patient_splits(patient_keys: pd.Series, cfg: SplitConfig) -> np.ndarray:
    """The same key always lands in the same split for a seed."""
    key = hashlib.sha256(f"cmtl-split-{cfg.seed}".encode()).hexdigest()[:16]  # pandas wants 16 chars
    h = pd.util.hash_pandas_object(patient_keys.astype(str), index=False, hash_key=key).to_numpy()
    u = (h % np.uint64(1_000_000)).astype(float) / 1_000_000
    return np.where(u < cfg.train, "train", np.where(u < cfg.train + cfg.val, "val", "test"))


def temporal_splits(times: pd.Series, cfg: SplitConfig) -> np.ndarray:
    """test: time >= test_from; val: val_from <= time < test_from; train: earlier. Each must be non-empty."""
    t = pd.Series(pd.to_datetime(times, errors="coerce")).reset_index(drop=True)
    if getattr(t.dt, "tz", None) is not None:
        t = t.dt.tz_convert(None)
    if t.isna().any():
        raise DataError(f"split.by temporal: admission time missing or unparseable in "
                        f"{int(t.isna().sum())} of {len(t)} rows")
    val_from, test_from = pd.Timestamp(cfg.val_from), pd.Timestamp(cfg.test_from)
    out = np.where(t >= test_from, "test", np.where(t >= val_from, "val", "train"))
    counts = {s: int((out == s).sum()) for s in SPLITS}
    empty = [s for s in SPLITS if counts[s] == 0]
    if empty:
        raise DataError(f"split.by temporal: the {' and '.join(empty)} split(s) would be empty "
                        f"(train {counts['train']}, val {counts['val']}, test {counts['test']} rows; "
                        f"admissions from {t.min()} to {t.max()}; val_from {val_from}, "
                        f"test_from {test_from}): move the dates inside that range")
    return out

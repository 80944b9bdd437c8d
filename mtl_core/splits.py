"""Patient-level train/val/test assignment by a stable, seeded hash: no patient in two splits."""
from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd

from mtl_core.config import SplitConfig


def assign_splits(patient_keys: pd.Series, cfg: SplitConfig) -> np.ndarray:
    """'train' / 'val' / 'test' per row; the same key always lands in the same split for a seed."""
    key = hashlib.sha256(f"cmtl-split-{cfg.seed}".encode()).hexdigest()[:16]  # pandas wants 16 chars
    h = pd.util.hash_pandas_object(patient_keys.astype(str), index=False, hash_key=key).to_numpy()
    u = (h % np.uint64(1_000_000)).astype(float) / 1_000_000
    return np.where(u < cfg.train, "train", np.where(u < cfg.train + cfg.val, "val", "test"))

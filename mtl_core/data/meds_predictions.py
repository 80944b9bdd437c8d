"""Predictions in the MEDS prediction schema: one Parquet file per outcome, as meds-evaluation reads them.

Columns: subject_id, prediction_time (the MEDS label schema's types), boolean_value (the label, when
known; rows whose label is missing are left out of that outcome's file, as a MEDS label file has no
row where the task is undefined), predicted_boolean_value and predicted_boolean_probability (the
extension meds-evaluation's PredictionSchema adds). The probabilities are calibrated on the
validation split, so predicted_boolean_value = probability >= 0.5 is the more likely class; an
operating point of one's own is a threshold on the probability column.
"""
from __future__ import annotations

import os
from pathlib import Path

import meds
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtl_core.errors import DataError

THRESHOLD = 0.5
_LABEL = meds.LabelSchema.schema()
KEYS = [("subject_id", _LABEL.field("subject_id").type), ("prediction_time", _LABEL.field("prediction_time").type)]
LABEL = ("boolean_value", _LABEL.field("boolean_value").type)
PREDICTED = [("predicted_boolean_value", pa.bool_()), ("predicted_boolean_probability", pa.float32())]


def prediction_tables(ids: pd.DataFrame, proba: np.ndarray, outcomes: list[str],
                      labels: pd.DataFrame | None = None) -> dict[str, pa.Table]:
    """{outcome: table in the MEDS prediction schema} for rows `ids` (subject_id, prediction_time) with
    probabilities proba (n, K) in `outcomes` order; labels (0/1/NaN per outcome, same rows) optional."""
    missing = [c for c, _ in KEYS if c not in ids]
    if missing:
        raise DataError(f"MEDS predictions need column(s) {missing} in the input (the prediction's "
                        f"subject and time); this input has none")
    out = {}
    for k, o in enumerate(outcomes):
        p = np.asarray(proba[:, k], dtype=np.float32)
        keep = np.ones(len(ids), bool)
        cols = {c: pa.array(ids[c].to_numpy(), t) for c, t in KEYS}
        if labels is not None and o in labels:
            y = labels[o].to_numpy(dtype=float)
            keep = ~np.isnan(y)
            cols = {c: v.filter(pa.array(keep)) for c, v in cols.items()}
            cols[LABEL[0]] = pa.array(y[keep] == 1, LABEL[1])
        cols[PREDICTED[0][0]] = pa.array(p[keep] >= THRESHOLD, PREDICTED[0][1])
        cols[PREDICTED[1][0]] = pa.array(p[keep], PREDICTED[1][1])
        out[o] = pa.table(cols)
    return out


def write_tables(tables: dict[str, pa.Table], folder: Path) -> list[Path]:
    """<folder>/<outcome>.parquet each, written beside and renamed: a reader never sees half a file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for o, table in tables.items():
        path = folder / f"{o}.parquet"
        tmp = folder / f".{o}.{os.getpid()}.tmp"
        pq.write_table(table, tmp)
        tmp.replace(path)
        written.append(path)
    return written

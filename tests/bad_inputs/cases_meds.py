"""Bad-input cases of the `meds` source: a small MEDS export with one defect each (see cases.py)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tests.bad_inputs.cases import Bad, case
from tests.meds_data import meds_config, meds_copy

SHARD = "data/train/0.parquet"


def _meds(tmp: Path, expect: list[str], edit=None, command: str = "ingest") -> Bad:
    root = meds_copy(tmp / "meds")
    if edit:
        edit(root)
    return Bad(command, meds_config(tmp / "config.yaml", tmp / "ws", root), expect)


def _rewrite(path: Path, change) -> None:
    table = change(pq.read_table(path).to_pandas())
    pq.write_table(table if isinstance(table, pa.Table) else pa.Table.from_pandas(table, preserve_index=False),
                   path)


@case
def meds_shard_with_text_times(tmp, g):
    def text(root):
        _rewrite(root / "dataset" / SHARD, lambda d: d.assign(time=d["time"].astype(str)))
    return _meds(tmp, [f"MEDS shard '{SHARD}'", "column 'time'", "wrong dtype", "expected timestamp[us]",
                       "found large_string", "meds DataSchema"], text)


@case
def meds_shard_with_null_codes(tmp, g):
    def nulls(root):
        def edit(d):
            t = pa.Table.from_pandas(d, preserve_index=False)
            codes = t.column("code").to_pylist()
            for i in (3, 10, 20):
                codes[i] = None
            return t.set_column(t.schema.get_field_index("code"), "code", pa.array(codes, pa.string()))
        _rewrite(root / "dataset" / SHARD, edit)
    return _meds(tmp, [f"MEDS shard '{SHARD}'", "column 'code'", "not_nullable", "3 rows"], nulls)


@case
def meds_subject_in_two_shards(tmp, g):
    def spill(root):
        first = pq.read_table(root / "dataset" / SHARD).to_pandas()
        other = root / "dataset" / "data" / "train" / "1.parquet"
        moved = first[first["subject_id"] == first["subject_id"].iloc[0]]
        _rewrite(other, lambda d: pd.concat([d, moved], ignore_index=True))
    return _meds(tmp, ["column 'subject_id'", "each subject in one shard", "1 subject"], spill)


@case
def meds_labels_for_unknown_subjects(tmp, g):
    def strangers(root):
        def add(d):
            extra = d.head(4).assign(subject_id=[990_000_001, 990_000_002, 990_000_003, 990_000_004])
            return pd.concat([d, extra], ignore_index=True)
        _rewrite(root / "labels" / "aki" / "train" / "0.parquet", add)
    return _meds(tmp, ["labels of outcome 'aki'", "column 'subject_id'", "subject in the MEDS data", "4 rows"],
                 strangers)


@case
def meds_labels_outside_the_data(tmp, g):
    def late(root):
        def shift(d):
            d.loc[d.index[:5], "prediction_time"] += pd.Timedelta(days=365 * 30)
            return d
        _rewrite(root / "labels" / "sepsis" / "train" / "0.parquet", shift)
    return _meds(tmp, ["labels of outcome 'sepsis'", "column 'prediction_time'",
                       "within the subject's recorded times", "5 rows"], late)


@case
def meds_label_file_without_boolean_value(tmp, g):
    def rename(root):
        _rewrite(root / "labels" / "in_hospital_mortality" / "train" / "0.parquet",
                 lambda d: d.rename(columns={"boolean_value": "label"}))
    return _meds(tmp, ["labels of outcome 'in_hospital_mortality'", "column 'label' is not allowed",
                       "meds LabelSchema"], rename, command="run")

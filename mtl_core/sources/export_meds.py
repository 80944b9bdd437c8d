"""Write canonical tables (the synthetic cohort) as a MEDS dataset with ACES-style label files.

The layout is what MEDS tools expect: data/{train,tuning,held_out}/<n>.parquet (whole subjects per
shard, sorted by subject and time, static codes first), metadata/codes.parquet,
metadata/subject_splits.parquet and metadata/dataset.json; labels go to <labels_dir>/<outcome>/ with
one shard per data shard (subject_id, prediction_time = the index time, boolean_value; undefined
labels are left out, as ACES leaves out rows a task does not cover). Codes, MIMIC-IV MEDS style:
MEDS_BIRTH, GENDER//F, HOSPITAL_ADMISSION//<type>, INSURANCE//<x>, LAB//<itemid> with its value,
HOSPITAL_DISCHARGE, MEDS_DEATH, DIAGNOSIS//ICD<version>//<code> at discharge (codes are assigned then).
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import meds
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtl_core.config import CohortConfig, SplitConfig, SyntheticSource
from mtl_core.data.contracts import outcome_definitions
from mtl_core.dataset.cohort import build_cohort
from mtl_core.dataset.outcomes import build_labels
from mtl_core.dataset.splits import patient_splits
from mtl_core.sources import synthetic
from mtl_core.sources.synthetic_spec import OUTCOMES

MEDS_SPLIT = {"train": meds.train_split, "val": meds.tuning_split, "test": meds.held_out_split}
DATA_SCHEMA = pa.schema([(c, meds.DataSchema.schema().field(c).type)
                         for c in ("subject_id", "time", "code", "numeric_value")])
LABEL_SCHEMA = pa.schema([(c, meds.LabelSchema.schema().field(c).type)
                          for c in ("subject_id", "prediction_time", "boolean_value")])


def _ev(subject, time, code, value=None) -> pd.DataFrame:
    n = len(subject)
    return pd.DataFrame({"subject_id": np.asarray(subject, dtype=np.int64),
                         "time": pd.Series(time).astype("datetime64[us]").to_numpy() if time is not None
                         else np.full(n, np.datetime64("NaT"), "datetime64[us]"),
                         "code": np.asarray(code, dtype=object),
                         "numeric_value": (np.full(n, np.nan, np.float32) if value is None
                                           else np.asarray(value, dtype=np.float32))})


def meds_events(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Every canonical row as MEDS events, sorted by subject and time (static events first)."""
    pat, adm = tables["patients"], tables["admissions"]
    births = pd.to_datetime((pat["anchor_year"] - pat["anchor_age"]).astype(str) + "-01-01")
    dead = adm.dropna(subset=["deathtime"])
    dx = tables["diagnoses"].merge(adm[["hadm_id", "dischtime"]], on="hadm_id")
    ev = tables["events"]
    lab = np.where(ev["itemid"] >= 220_000, "VITAL//", "LAB//")
    parts = [
        _ev(pat["subject_id"], None, "GENDER//" + pat["gender"].astype(str)),
        _ev(pat["subject_id"], births, np.full(len(pat), meds.birth_code)),
        _ev(adm["subject_id"], adm["admittime"], "HOSPITAL_ADMISSION//" + adm["admission_type"].astype(str)),
        _ev(adm["subject_id"], adm["admittime"], "INSURANCE//" + adm["insurance"].astype(str)),
        _ev(adm["subject_id"], adm["dischtime"], np.full(len(adm), "HOSPITAL_DISCHARGE")),
        _ev(dead["subject_id"], dead["deathtime"], np.full(len(dead), meds.death_code)),
        _ev(dx["subject_id"], dx["dischtime"],
            "DIAGNOSIS//ICD" + dx["icd_version"].astype(str) + "//" + dx["icd_code"].astype(str)),
        _ev(ev["subject_id"], ev["charttime"], lab + ev["itemid"].astype(str), ev["valuenum"]),
    ]
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["subject_id", "time"], kind="stable", na_position="first", ignore_index=True)


def task_labels(tables: dict[str, pd.DataFrame], observation_hours: int, outcomes: list[str]
                ) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """({outcome: subject_id, prediction_time, boolean_value}, truth keyed the same way) of the cohort."""
    cohort = build_cohort(tables, CohortConfig(observation_hours=observation_hours))
    labels = build_labels(cohort, tables, outcomes, outcome_definitions())
    keys = pd.DataFrame({"subject_id": cohort["subject_id"].to_numpy(),
                         "prediction_time": cohort["index_time"].astype("datetime64[us]").to_numpy()})
    out = {}
    for o in outcomes:
        y = labels[o].to_numpy()
        rows = keys[~np.isnan(y)].assign(boolean_value=y[~np.isnan(y)] == 1)
        # sorted by subject and time, as ACES writes them (and MEDS-Tab's as-of joins need)
        out[o] = rows.sort_values(["subject_id", "prediction_time"], kind="stable", ignore_index=True)
    truth = tables["truth"].set_index("hadm_id").reindex(cohort["hadm_id"])
    truth = pd.concat([keys, truth[[o for o in outcomes if o in truth]].reset_index(drop=True)], axis=1)
    return out, truth


def _write(df: pd.DataFrame, schema: pa.Schema, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(df, schema=schema, preserve_index=False), path)


def write_synthetic(src: SyntheticSource, observation_hours: int, root: Path, labels_dir: Path,
                    outcomes: list[str] | None = None, truth_path: Path | None = None,
                    subjects_per_shard: int = 2_000, split: SplitConfig | None = None) -> dict:
    """The synthetic cohort as a MEDS dataset at `root` and label shards under `labels_dir`;
    returns counts. Memory holds one generator partition at a time."""
    outcomes, split = list(outcomes or OUTCOMES), split or SplitConfig()
    counts, splits, truths, codes = {"subjects": 0, "events": 0, "shards": 0}, [], [], set()
    shard_no = {s: 0 for s in MEDS_SPLIT.values()}
    for tables in synthetic.partitions(src, observation_hours):
        events = meds_events(tables)
        labels, truth = task_labels(tables, observation_hours, outcomes)
        subjects = tables["patients"]["subject_id"].to_numpy()
        names = pd.Series(patient_splits(pd.Series(subjects), split)).map(MEDS_SPLIT).to_numpy()
        splits.append(pd.DataFrame({"subject_id": subjects, "split": names}))
        truths.append(truth)
        codes |= set(events["code"].unique())
        for name in MEDS_SPLIT.values():
            members = subjects[names == name]
            for start in range(0, len(members), subjects_per_shard):
                chunk = members[start:start + subjects_per_shard]
                rel = Path(name) / f"{shard_no[name]}.parquet"
                shard_no[name] += 1
                part = events[events["subject_id"].isin(chunk)]
                _write(part, DATA_SCHEMA, root / meds.data_subdirectory / rel)
                for o in outcomes:
                    _write(labels[o][labels[o]["subject_id"].isin(chunk)], LABEL_SCHEMA, labels_dir / o / rel)
                counts["events"] += len(part)
                counts["shards"] += 1
        counts["subjects"] += len(subjects)
    meta = root / "metadata"
    _write(pd.concat(splits, ignore_index=True), meds.SubjectSplitSchema.schema(), root / meds.subject_splits_filepath)
    codes_df = pd.DataFrame({"code": sorted(codes), "description": None, "parent_codes": None})
    _write(codes_df, meds.CodeMetadataSchema.schema(), root / meds.code_metadata_filepath)
    (meta / "dataset.json").write_text(json.dumps({
        "dataset_name": "cmtl-synthetic", "dataset_version": f"seed-{src.seed}-n-{src.n_patients}",
        "etl_name": "clinical-mtl export_meds", "etl_version": "1", "meds_version": meds.__version__,
        "created_at": datetime.now(UTC).replace(tzinfo=None).isoformat()}, indent=2))
    if truth_path is not None:
        Path(truth_path).parent.mkdir(parents=True, exist_ok=True)
        pd.concat(truths, ignore_index=True).to_parquet(truth_path, index=False)
    return counts

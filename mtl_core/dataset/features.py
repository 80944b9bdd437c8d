"""Feature matrix at the index time: window aggregates of labs/vitals, demographics, prior diagnoses.

Only data charted before each admission's index time may enter a feature: events in
[admittime, index_time), and diagnoses of earlier admissions already discharged at admittime
(codes are assigned at discharge, so the current stay's codes are never available).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from mtl_core.config import Config
from mtl_core.dataset.cohort import build_cohort
from mtl_core.dataset.outcomes import build_labels
from mtl_core.dataset.splits import assign_splits

ID_COLUMNS = ["hadm_id", "subject_id", "split", "prediction_time"]  # never model inputs
CATEGORICAL = ["gender", "admission_type", "insurance"]


def _positions(keys: np.ndarray, table_keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(position of each key in table_keys, whether it is there at all); table_keys unique."""
    if table_keys.size == 0:
        return np.zeros(keys.size, np.int64), np.zeros(keys.size, bool)
    order = np.argsort(table_keys, kind="stable")
    at = np.minimum(np.searchsorted(table_keys[order], keys), table_keys.size - 1)
    return order[at], table_keys[order[at]] == keys


def window_aggregates(cohort: pd.DataFrame, events: pd.DataFrame, items: dict[str, int],
                      aggregates: list[str]) -> pd.DataFrame:
    """One column per (item, aggregate), e.g. creatinine_last; count is 0 when never measured.

    Over the events of each admission in [admittime, index_time). `last` is the latest value (of equal
    times, the one that comes last in the table). Vectorised over every event at once (bincount and
    ufunc.at, no sort): this runs over every event row of a partition."""
    names = list(items)
    n, k = len(cohort), len(names)
    item, known = _positions(events["itemid"].to_numpy(np.int64), np.array([items[m] for m in names], np.int64))
    row, admitted = _positions(events["hadm_id"].to_numpy(np.int64), cohort["hadm_id"].to_numpy(np.int64))
    val = events["valuenum"].to_numpy(float)
    t = events["charttime"].to_numpy("datetime64[ns]").view(np.int64)
    keep = known & admitted & ~np.isnan(val)
    start = cohort["admittime"].to_numpy("datetime64[ns]").view(np.int64)
    end = cohort["index_time"].to_numpy("datetime64[ns]").view(np.int64)
    keep[keep] &= (t[keep] >= start[row[keep]]) & (t[keep] < end[row[keep]])
    at = np.flatnonzero(keep)
    key, v, t = row[at] * k + item[at], val[at], t[at]
    stats = {"count": np.bincount(key, minlength=n * k).astype(float)}
    with np.errstate(invalid="ignore", divide="ignore"):
        stats["mean"] = np.bincount(key, weights=v, minlength=n * k) / stats["count"]
    if "min" in aggregates:
        stats["min"] = np.full(n * k, np.inf)
        np.minimum.at(stats["min"], key, v)
    if "max" in aggregates:
        stats["max"] = np.full(n * k, -np.inf)
        np.maximum.at(stats["max"], key, v)
    if "last" in aggregates:
        latest = np.full(n * k, np.iinfo(np.int64).min)
        np.maximum.at(latest, key, t)
        tied = np.flatnonzero(t == latest[key])
        pick = np.full(n * k, -1)
        np.maximum.at(pick, key[tied], tied)  # of equal times, the later row
        stats["last"] = np.where(pick >= 0, v[np.maximum(pick, 0)], np.nan) if v.size else np.full(n * k, np.nan)
    empty = stats["count"] == 0
    out = {}
    for j, name in enumerate(names):
        for agg in aggregates:
            col = stats[agg].reshape(n, k)[:, j] if n else np.zeros(0)
            out[f"{name}_{agg}"] = col if agg == "count" else np.where(empty.reshape(n, k)[:, j] if n else col,
                                                                      np.nan, col)
    wanted = [f"{name}_{agg}" for name in items for agg in aggregates]
    return pd.DataFrame(out, columns=wanted, dtype=float)


def prior_conditions(cohort: pd.DataFrame, conditions: pd.DataFrame, groups: dict[str, list[str]]
                     ) -> pd.DataFrame:
    """Per group: True when a dated condition of the group (outpatient visits included; OMOP's
    `conditions` table) was recorded strictly before admittime. Same-day records are left out, as
    date-only sources cannot say whether they came before the index time."""
    codes = conditions["code"].astype(str)
    out = {}
    for g, prefixes in groups.items():
        hit = conditions.loc[codes.str.startswith(tuple(prefixes)), ["subject_id", "charttime"]]
        first = hit.groupby("subject_id")["charttime"].min()
        out[g] = (cohort["subject_id"].map(first) < cohort["admittime"]).to_numpy()
    return pd.DataFrame(out, index=cohort.index)


def prior_history(cohort: pd.DataFrame, admissions: pd.DataFrame, diagnoses: pd.DataFrame,
                  groups: dict[str, list[str]], conditions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Flags of diagnosis groups coded on earlier admissions (or, given dated `conditions`, recorded at
    any earlier visit), prior admission count, days since last discharge."""
    adm = admissions[["subject_id", "hadm_id", "dischtime"]].copy()
    codes = diagnoses["icd_code"].astype(str)
    for g, prefixes in groups.items():
        adm[g] = adm["hadm_id"].isin(diagnoses.loc[codes.str.startswith(tuple(prefixes)), "hadm_id"])
    adm = adm.sort_values(["subject_id", "dischtime"], kind="stable")
    by_subject = adm.groupby("subject_id")
    hist = adm[["subject_id", "dischtime"]].copy()
    if groups:
        hist[list(groups)] = by_subject[list(groups)].cummax()
    hist["n_prior_admissions"] = by_subject.cumcount() + 1.0
    left = cohort[["hadm_id", "subject_id", "admittime"]].sort_values("admittime", kind="stable")
    merged = pd.merge_asof(left, hist.sort_values("dischtime", kind="stable"), left_on="admittime",
                           right_on="dischtime", by="subject_id", direction="backward")
    merged = merged.set_index("hadm_id").reindex(cohort["hadm_id"])
    out = pd.DataFrame({f"prior_{g}": merged[g].fillna(False).astype(float).to_numpy() for g in groups})
    if conditions is not None and groups:
        earlier = prior_conditions(cohort.reset_index(drop=True), conditions, groups)
        for g in groups:
            out[f"prior_{g}"] = np.maximum(out[f"prior_{g}"].to_numpy(), earlier[g].to_numpy(float))
    out["n_prior_admissions"] = merged["n_prior_admissions"].fillna(0.0).to_numpy()
    out["days_since_last_discharge"] = ((merged["admittime"] - merged["dischtime"])
                                        / pd.Timedelta(days=1)).to_numpy()
    return out


def build_dataset(tables: dict[str, pd.DataFrame], cfg: Config, definitions: dict
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features, labels) for the cohort; features carry hadm_id, subject_id and split for bookkeeping."""
    cohort = build_cohort(tables, cfg.cohort)
    base = pd.DataFrame({
        "hadm_id": cohort["hadm_id"].to_numpy(),
        "subject_id": cohort["subject_id"].to_numpy(),
        "split": assign_splits(cohort["subject_id"], cfg.split, times=cohort["admittime"]),
        "age": cohort["age"].to_numpy(dtype=float),
    })
    for col in CATEGORICAL:
        if col in cohort:
            base[col] = cohort[col].astype(str).to_numpy()
    parts = [base,
             window_aggregates(cohort, tables["events"], cfg.features.items, cfg.features.aggregates),
             prior_history(cohort, tables["admissions"], tables["diagnoses"], cfg.features.prior_diagnoses,
                           tables.get("conditions"))]
    features = pd.concat(parts, axis=1)
    labels = build_labels(cohort, tables, cfg.outcomes, definitions)
    return features, labels


@dataclass(frozen=True)
class DatasetBuilder:
    """How one source layout becomes (features, labels), and the contracts those frames must meet."""
    build: Callable[[dict[str, pd.DataFrame], Config, dict], tuple[pd.DataFrame, pd.DataFrame]]
    features_contract: str = "features"
    labels_contract: str = "labels"
    # learns what every partition must share from the whole snapshot first (e.g. a code vocabulary
    # from the training split); returns the keyword arguments `build` then gets
    fit: Callable[[Path, Config], dict] | None = None

    def fitted(self, snapshot_dir: Path, cfg: Config) -> DatasetBuilder:
        if self.fit is None:
            return self
        return replace(self, build=partial(self.build, **self.fit(snapshot_dir, cfg)), fit=None)


def model_columns(features: pd.DataFrame) -> list[str]:
    """The columns a model sees: everything but identifiers and the split."""
    return [c for c in features.columns if c not in ID_COLUMNS]


def typical_row(X: pd.DataFrame) -> pd.DataFrame:
    """One made-up row (medians and modes) with X's columns: an input example that describes no patient."""
    row: dict[str, list] = {}
    for c in X.columns:
        if pd.api.types.is_numeric_dtype(X[c]):
            row[c] = [float(X[c].median())] if X[c].notna().any() else [float("nan")]
        else:
            mode = X[c].mode()
            row[c] = [str(mode.iloc[0]) if len(mode) else "missing"]
    return pd.DataFrame(row)

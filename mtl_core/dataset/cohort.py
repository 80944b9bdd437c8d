"""The prediction cohort: one row per eligible admission at its index time (admittime + window)."""
from __future__ import annotations

import pandas as pd

from mtl_core.config import CohortConfig


def build_cohort(tables: dict[str, pd.DataFrame], cfg: CohortConfig) -> pd.DataFrame:
    """Admissions still in hospital and alive at the index time, with age at admission.

    A prediction is only useful for a patient who is still there to receive it, so stays that end
    (by discharge or death) before the index time are excluded rather than labelled.
    """
    adm = tables["admissions"].merge(
        tables["patients"][["subject_id", "gender", "anchor_age", "anchor_year"]], on="subject_id",
        how="inner")
    adm["index_time"] = adm["admittime"] + pd.Timedelta(hours=cfg.observation_hours)
    adm["age"] = (adm["anchor_age"] + adm["admittime"].dt.year - adm["anchor_year"]).astype(float)
    alive = adm["deathtime"].isna() | (adm["deathtime"] > adm["index_time"])
    keep = (adm["dischtime"] > adm["index_time"]) & alive & (adm["age"] >= cfg.min_age)
    cols = ["subject_id", "hadm_id", "admittime", "dischtime", "deathtime", "index_time", "age",
            "gender", "admission_type"] + [c for c in ("insurance",) if c in adm]
    return adm.loc[keep, cols].sort_values("hadm_id", kind="stable").reset_index(drop=True)

"""The vectorised contract check (contracts._passes) never lets through what pandera would reject, and
passes the valid tables (else validation would fall back to pandera on every partition)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from mtl_core.data import contracts
from mtl_core.data.contracts import outcome_definitions
from mtl_core.dataset.features import build_dataset


def _pandera_ok(df: pd.DataFrame, table: str) -> bool:
    try:
        contracts.schema(table).validate(df.reset_index(drop=True), lazy=True)
    except pa.errors.SchemaErrors:
        return False
    return True


@pytest.fixture(scope="module")
def good(small_tables):
    cfg, tables = small_tables
    features, labels = build_dataset(tables, cfg, outcome_definitions())
    return {**tables, "features": features, "labels": labels}


def _set(df: pd.DataFrame, col: str, value, rows: int = 2) -> pd.DataFrame:
    df = df.copy()
    if not isinstance(value, (int, float, str)) or isinstance(value, bool):
        df[col] = df[col].astype(object)
    df.loc[df.index[:rows], col] = value
    return df


DEFECTS = {
    "patients": [lambda d: _set(d, "gender", "U"), lambda d: _set(d, "anchor_age", 121),
                 lambda d: _set(d, "anchor_age", -1), lambda d: pd.concat([d, d.head(2)]),
                 lambda d: d.drop(columns="anchor_year"), lambda d: d.astype({"anchor_age": "float64"}),
                 lambda d: _set(d, "subject_id", None)],
    "admissions": [lambda d: d.assign(dischtime=d["admittime"] - pd.Timedelta(hours=1)),
                   lambda d: _set(d, "hospital_expire_flag", 2), lambda d: d.assign(deathtime=d["admittime"]),
                   lambda d: d.drop(columns="insurance"), lambda d: _set(d, "admittime", pd.NaT)],
    "events": [lambda d: _set(d, "valuenum", np.nan), lambda d: d.astype({"itemid": "int32"}),
               lambda d: _set(d, "charttime", pd.NaT)],
    "diagnoses": [lambda d: _set(d, "seq_num", 0), lambda d: _set(d, "icd_version", 11)],
    "truth": [lambda d: _set(d, "aki", 1.5), lambda d: _set(d, "sepsis", np.nan)],
    "features": [lambda d: _set(d, "split", "holdout"), lambda d: _set(d, "creatinine_count", -1.0),
                 lambda d: _set(d, "prior_chf", -0.5), lambda d: _set(d, "age", 131.0),
                 lambda d: _set(d, "hadm_id", 7, rows=3)],
    "labels": [lambda d: _set(d, "aki", 2.0)],
}


@pytest.mark.parametrize("table", list(DEFECTS))
def test_fast_check_agrees_with_pandera(good, table):
    schema = contracts.schema(table)
    assert contracts._passes(schema, good[table]) and _pandera_ok(good[table], table)
    for i, defect in enumerate(DEFECTS[table]):
        bad = defect(good[table])
        fast, slow = contracts._passes(schema, bad), _pandera_ok(bad, table)
        assert not (fast and not slow), (table, i)   # never a pass pandera would refuse
        assert fast == slow, (table, i)              # and the defects here are all caught fast


def test_validate_reports_through_pandera_when_the_fast_check_fails(good):
    bad = good["admissions"].assign(dischtime=good["admissions"]["admittime"] - pd.Timedelta(hours=1))
    with pytest.raises(contracts.DataError, match=r"(?s)table .admissions.*check ordered.*failed in \d+ rows"):
        contracts.validate(bad, "admissions")

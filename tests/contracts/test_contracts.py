"""Data contracts (data_contracts/*.yaml): generated tables pass; violations give precise DataErrors."""
from __future__ import annotations

import pandas as pd
import pytest

from mtl_core.data.contracts import check_references, outcome_definitions, schema, validate
from mtl_core.dataset.features import build_dataset
from mtl_core.errors import CmtlError, DataError

RAW = ("patients", "admissions", "events", "diagnoses", "truth")


@pytest.fixture(scope="module")
def dataset(small_tables):
    cfg, tables = small_tables
    return build_dataset(tables, cfg, outcome_definitions())


def _error(df: pd.DataFrame, table: str) -> str:
    with pytest.raises(DataError) as info:
        validate(df, table)
    return str(info.value)


# --- generated data passes ------------------------------------------------------------------------

@pytest.mark.parametrize("table", RAW)
def test_generated_raw_table_passes_its_contract(small_tables, table):
    _, tables = small_tables
    out = validate(tables[table].copy(), table)
    assert len(out) == len(tables[table])


def test_features_and_labels_pass_their_contracts(dataset):
    features, labels = dataset
    assert len(validate(features, "features")) == len(features)
    assert len(validate(labels, "labels")) == len(labels)


def test_generated_tables_have_intact_references(small_tables):
    _, tables = small_tables
    check_references(tables)  # raises DataError on any dangling reference


def test_data_error_is_a_user_error():
    assert issubclass(DataError, CmtlError)


# --- violations -----------------------------------------------------------------------------------

def test_negative_anchor_age_is_named_precisely(small_tables):
    _, tables = small_tables
    p = tables["patients"].copy()
    p.loc[p.index[[0, 5, 9]], "anchor_age"] = -4
    msg = _error(p, "patients")
    for part in ("patients", "anchor_age", "in_range", "3 rows"):
        assert part in msg, (part, msg)


def test_one_failing_row_is_singular(small_tables):
    _, tables = small_tables
    p = tables["patients"].copy()
    p.loc[p.index[0], "anchor_year"] = 1800
    msg = _error(p, "patients")
    assert "anchor_year" in msg and "in_range" in msg and "1 row" in msg and "1 rows" not in msg


def test_dischtime_before_admittime(small_tables):
    _, tables = small_tables
    a = tables["admissions"].copy()
    rows = a.index[[1, 2]]
    a.loc[rows, "dischtime"] = a.loc[rows, "admittime"] - pd.Timedelta(hours=1)
    msg = _error(a, "admissions")
    for part in ("admissions", "ordered", "dischtime", "admittime", "2 rows"):
        assert part in msg, (part, msg)


def test_duplicate_hadm_id(small_tables):
    _, tables = small_tables
    a = tables["admissions"].copy()
    a.loc[a.index[10], "hadm_id"] = a.loc[a.index[11], "hadm_id"]   # one pair of duplicates
    msg = _error(a, "admissions")
    for part in ("admissions", "hadm_id", "uniqueness", "2 rows"):
        assert part in msg, (part, msg)


def test_gender_outside_allowed_values(small_tables):
    _, tables = small_tables
    p = tables["patients"].copy()
    p.loc[p.index[:4], "gender"] = "U"
    msg = _error(p, "patients")
    for part in ("patients", "gender", "isin", "4 rows"):
        assert part in msg, (part, msg)


def test_missing_required_column(small_tables):
    _, tables = small_tables
    msg = _error(tables["admissions"].drop(columns=["dischtime"]), "admissions")
    assert "admissions" in msg
    assert "column 'dischtime' is missing" in msg


def test_optional_column_may_be_absent(small_tables):
    _, tables = small_tables
    a = tables["admissions"].drop(columns=["insurance"])
    assert len(validate(a, "admissions")) == len(a)


def test_several_violations_are_all_listed(small_tables):
    _, tables = small_tables
    p = tables["patients"].copy()
    p.loc[p.index[:2], "gender"] = "X"
    p.loc[p.index[3:8], "anchor_age"] = 500
    msg = _error(p, "patients")
    assert "gender" in msg and "2 rows" in msg
    assert "anchor_age" in msg and "5 rows" in msg


def test_wrong_dtype_is_reported(small_tables):
    _, tables = small_tables
    e = tables["events"].copy()
    e["itemid"] = e["itemid"].astype(str)
    msg = _error(e, "events")
    assert "events" in msg and "itemid" in msg and "dtype" in msg


@pytest.mark.parametrize("table", RAW)
def test_empty_table_is_a_data_error(small_tables, table):
    _, tables = small_tables
    msg = _error(tables[table].iloc[:0].copy(), table)
    assert table in msg and "empty" in msg


def test_unknown_table_has_no_contract():
    with pytest.raises(DataError, match="no contract"):
        schema("no_such_table")


def test_labels_contract_rejects_values_other_than_0_1_nan(dataset):
    _, labels = dataset
    bad = labels.copy()
    col = [c for c in bad.columns if c != "hadm_id"][0]
    bad.loc[bad.index[:3], col] = 0.5
    msg = _error(bad, "labels")
    assert "labels" in msg and col in msg and "isin" in msg and "3 rows" in msg


def test_features_contract_rejects_negative_counts(dataset):
    features, _ = dataset
    bad = features.copy()
    bad.loc[bad.index[:6], "creatinine_count"] = -1.0
    msg = _error(bad, "features")
    assert "features" in msg and "creatinine_count" in msg and "6 rows" in msg


def test_truth_contract_rejects_probabilities_outside_unit_interval(small_tables):
    _, tables = small_tables
    t = tables["truth"].copy()
    t.loc[t.index[:2], "sepsis"] = 1.5
    msg = _error(t, "truth")
    assert "truth" in msg and "sepsis" in msg and "in_range" in msg and "2 rows" in msg


# --- cross-table references -------------------------------------------------------------------------

def _copy(tables):
    return {k: v.copy() for k, v in tables.items()}


def test_check_references_catches_unknown_hadm_in_events_and_diagnoses(small_tables):
    _, tables = small_tables
    t = _copy(tables)
    t["events"].loc[t["events"].index[:7], "hadm_id"] = 1
    t["diagnoses"].loc[t["diagnoses"].index[:3], "hadm_id"] = 2
    with pytest.raises(DataError) as info:
        check_references(t)
    msg = str(info.value)
    assert "'events'" in msg and "hadm_id" in msg and "7 rows" in msg
    assert "'diagnoses'" in msg and "3 rows" in msg
    assert "'admissions'" not in msg


def test_check_references_catches_admissions_of_unknown_subjects(small_tables):
    _, tables = small_tables
    t = _copy(tables)
    t["patients"] = t["patients"][~t["patients"]["subject_id"].isin(t["admissions"]["subject_id"].iloc[:1])]
    lost = int((t["admissions"]["subject_id"] == tables["admissions"]["subject_id"].iloc[0]).sum())
    with pytest.raises(DataError) as info:
        check_references(t)
    msg = str(info.value)
    assert "'admissions'" in msg and "subject_id" in msg and f"{lost} row" in msg
    assert "'events'" not in msg


def test_check_references_without_optional_tables(small_tables):
    _, tables = small_tables
    check_references({"patients": tables["patients"], "admissions": tables["admissions"]})
    t = {"patients": tables["patients"].iloc[:0], "admissions": tables["admissions"]}
    with pytest.raises(DataError, match=f"{len(tables['admissions'])} rows"):
        check_references(t)


def test_table_level_violation_is_listed_once(small_tables):
    # regression: pandera reports a dataframe check once per column; the message said it 7 times
    _, tables = small_tables
    a = tables["admissions"].copy()
    rows = a.index[[1, 2]]
    a.loc[rows, "dischtime"] = a.loc[rows, "admittime"] - pd.Timedelta(hours=1)
    msg = _error(a, "admissions")
    assert msg.count("ordered(") == 1, msg


def test_repeated_index_labels_do_not_undercount_rows(small_tables):
    _, tables = small_tables
    p = tables["patients"].head(8).copy()
    p.index = [0, 0, 1, 1, 2, 2, 3, 3]
    p["anchor_age"] = -1
    assert "8 rows" in _error(p, "patients")

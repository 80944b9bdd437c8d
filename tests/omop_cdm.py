"""A tiny hand-written OMOP CDM database (4 persons, 6 visits), as CSV/Parquet folder or DuckDB file.

Person 1 (M, 1950): inpatient stays 10 (Jan 1-5 2020) and 11 (Jan 20-22: a readmission within 30 days),
  then viral sinusitis outside any visit on Feb 10.
Person 2 (F, 1960): ER-and-inpatient stay 12 (Mar 1-3), dies on Mar 3: in-hospital death.
Person 3 (F, 1970): outpatient visit 13, inpatient stay 14 (Jun 1-2); observed only until Jul 1.
Person 4 (M, 1980): an outpatient visit only, so not a patient of the cohort.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from tests.conftest import ROOT, apply_overrides

NA = None
# table -> columns, rows; a few extra CDM columns the source must not need
TABLES = {
    "person": (["person_id", "gender_concept_id", "year_of_birth", "race_concept_id"],
               [[1, 8507, 1950, 8527], [2, 8532, 1960, 8527], [3, 8532, 1970, 8516], [4, 8507, 1980, 8527]]),
    "visit_occurrence": (
        ["visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date", "visit_end_date",
         "visit_type_concept_id"],
        [[10, 1, 9201, "2020-01-01", "2020-01-05", 44818517], [11, 1, 9201, "2020-01-20", "2020-01-22", 44818517],
         [12, 2, 262, "2020-03-01", "2020-03-03", 44818517], [13, 3, 9202, "2020-02-01", "2020-02-01", 44818517],
         [14, 3, 9201, "2020-06-01", "2020-06-02", 44818517], [15, 4, 9202, "2020-04-01", "2020-04-01", 44818517]]),
    "measurement": (
        ["measurement_id", "person_id", "visit_occurrence_id", "measurement_concept_id", "measurement_date",
         "value_as_number", "unit_concept_id"],
        [[1, 1, 10, 3000963, "2020-01-01", 12.5, 8713], [2, 1, 10, 3000963, "2020-01-03", 11.0, 8713],
         [3, 3, 13, 3000963, "2020-02-01", 13.0, 8713],        # outpatient visit: not an event
         [4, 3, NA, 3016723, "2020-05-01", 0.9, 8840],         # no visit: not an event
         [5, 3, 14, 3016723, "2020-06-01", 1.1, 8840], [6, 2, 12, 3016723, "2020-03-01", NA, 8840]]),
    "drug_exposure": (
        ["drug_exposure_id", "person_id", "visit_occurrence_id", "drug_concept_id", "drug_exposure_start_date",
         "quantity"],
        [[1, 1, 10, 1127433, "2020-01-01", 2], [2, 3, 13, 1127433, "2020-02-01", 1]]),
    "condition_occurrence": (
        ["condition_occurrence_id", "person_id", "visit_occurrence_id", "condition_concept_id",
         "condition_start_date", "condition_source_value"],
        [[1, 1, 10, 192671, "2020-01-01", "K92.2"], [2, 1, 10, 255848, "2020-01-02", "J18.9"],
         [3, 3, 14, 255848, "2020-06-01", "J18.9"], [4, 3, 13, 40481087, "2020-02-01", "J01.90"],
         [5, 1, NA, 40481087, "2020-02-10", "J01.90"], [6, 2, 12, 192671, "2020-03-01", "K92.2"]]),
    "death": (["person_id", "death_date", "death_type_concept_id"], [[2, "2020-03-03", 32817]]),
    "observation_period": (
        ["observation_period_id", "person_id", "observation_period_start_date", "observation_period_end_date"],
        [[1, 1, "2015-01-01", "2022-12-31"], [2, 2, "2015-01-01", "2020-03-03"],
         [3, 3, "2015-01-01", "2020-07-01"], [4, 4, "2015-01-01", "2022-12-31"]]),
}


def omop_frames() -> dict[str, pd.DataFrame]:
    return {name: pd.DataFrame(rows, columns=cols) for name, (cols, rows) in TABLES.items()}


def write_omop_dir(folder: Path, frames: dict[str, pd.DataFrame] | None = None,
                   suffix: dict[str, str] | None = None) -> Path:
    """One file per table; CSV unless `suffix` says otherwise (e.g. {"measurement": ".parquet"})."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, df in (omop_frames() if frames is None else frames).items():
        if df is None:
            continue
        path = folder / f"{name}{(suffix or {}).get(name, '.csv')}"
        df.to_parquet(path, index=False) if path.suffix == ".parquet" else df.to_csv(path, index=False)
    return folder


def write_omop_duckdb(path: Path, frames: dict[str, pd.DataFrame] | None = None) -> Path:
    """The tables in a DuckDB file with upper-case names and typed DATE columns, as Eunomia has them."""
    import duckdb

    con = duckdb.connect(str(path))
    try:
        for name, df in (omop_frames() if frames is None else frames).items():
            df = df.rename(columns=str.upper)
            for col in df.columns:
                if col.endswith("_DATE"):
                    df[col] = pd.to_datetime(df[col]).dt.date
            con.register("frame", df)
            con.execute(f'CREATE TABLE "{name.upper()}" AS SELECT * FROM frame')
            con.unregister("frame")
    finally:
        con.close()
    return path


def omop_config(path: Path, workspace: Path, source_path, **overrides) -> Path:
    """configs/omop_eunomia.yaml pointed at `source_path`; overrides replace whole keys per section."""
    cfg = yaml.safe_load((ROOT / "configs" / "omop_eunomia.yaml").read_text())
    cfg["workspace"] = str(workspace)
    cfg["source"] = {"kind": "omop", "path": str(source_path)}
    apply_overrides(cfg, overrides)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path

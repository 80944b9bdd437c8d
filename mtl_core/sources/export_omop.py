"""Write a synthetic cohort as an OMOP CDM v5.4 database (a folder of CSV or Parquet tables), truth beside it.

Admissions become inpatient visits (visit_concept_id 262 "ER and inpatient" for emergency admissions,
9201 otherwise; the admission type also in visit_source_value), events measurements (itemid as
measurement_concept_id), diagnoses conditions dated at discharge (the ICD code in
condition_source_value: read it with `diagnosis_code: source_value`), deaths the death table, and each
person's observation period runs from a year before the first admission to 400 days after the last
discharge (so 30-day readmission is observed for every stay, as in the MIMIC-IV layout). Any size: the
cohort is generated and written a partition at a time.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from mtl_core.config import SyntheticSource
from mtl_core.sources.export_mimic import write_export

FORMATS = ("csv", "csv.gz", "parquet")
GENDER = {"M": 8507, "F": 8532}
EHR = 32817   # type concept: EHR record
ER_INPATIENT, INPATIENT = 262, 9201


def _dates(s: pd.Series) -> pa.Array:
    return pa.array(s.to_numpy().astype("datetime64[D]"), pa.date32(), from_pandas=True)


def _times(s: pd.Series) -> pa.Array:
    return pa.array(s.to_numpy().astype("datetime64[s]"), pa.timestamp("s"), from_pandas=True)


def _ints(values) -> pa.Array:
    return pa.array(np.asarray(values, dtype=np.int64))


def omop_tables(tables: dict[str, pd.DataFrame], first_row_id: int = 0) -> dict[str, pa.Table]:
    """One partition's canonical tables as OMOP CDM tables (name -> Arrow table)."""
    pat, adm, ev, dx = tables["patients"], tables["admissions"], tables["events"], tables["diagnoses"]
    person = pa.table({
        "person_id": pat["subject_id"], "gender_concept_id": _ints(pat["gender"].map(GENDER)),
        "year_of_birth": _ints(pat["anchor_year"] - pat["anchor_age"]), "race_concept_id": _ints(np.zeros(len(pat))),
        "ethnicity_concept_id": _ints(np.zeros(len(pat))), "gender_source_value": pat["gender"].astype(str)})
    emergency = (adm["admission_type"] == "EMERGENCY").to_numpy()
    visits = pa.table({
        "visit_occurrence_id": adm["hadm_id"], "person_id": adm["subject_id"],
        "visit_concept_id": _ints(np.where(emergency, ER_INPATIENT, INPATIENT)),
        "visit_start_date": _dates(adm["admittime"]), "visit_start_datetime": _times(adm["admittime"]),
        "visit_end_date": _dates(adm["dischtime"]), "visit_end_datetime": _times(adm["dischtime"]),
        "visit_type_concept_id": _ints(np.full(len(adm), EHR)),
        "visit_source_value": adm["admission_type"].astype(str)})
    n_ev = len(ev)
    measurement = pa.table({
        "measurement_id": _ints(first_row_id + np.arange(n_ev) + 1), "person_id": ev["subject_id"],
        "measurement_concept_id": ev["itemid"], "measurement_date": _dates(ev["charttime"]),
        "measurement_datetime": _times(ev["charttime"]), "measurement_type_concept_id": _ints(np.full(n_ev, EHR)),
        "value_as_number": pa.array(ev["valuenum"].to_numpy(), pa.float64(), from_pandas=True),
        "unit_concept_id": _ints(np.zeros(n_ev)), "visit_occurrence_id": ev["hadm_id"]})
    coded_at = adm.set_index("hadm_id")["dischtime"].reindex(dx["hadm_id"]).reset_index(drop=True)
    condition = pa.table({
        "condition_occurrence_id": _ints(first_row_id + np.arange(len(dx)) + 1), "person_id": dx["subject_id"],
        "condition_concept_id": _ints(np.zeros(len(dx))), "condition_start_date": _dates(coded_at),
        "condition_start_datetime": _times(coded_at), "condition_type_concept_id": _ints(np.full(len(dx), 32821)),
        "visit_occurrence_id": dx["hadm_id"], "condition_source_value": dx["icd_code"].astype(str)})
    dead = adm.dropna(subset=["deathtime"]).groupby("subject_id")["deathtime"].min().reset_index()
    death = pa.table({"person_id": dead["subject_id"], "death_date": _dates(dead["deathtime"]),
                      "death_datetime": _times(dead["deathtime"]),
                      "death_type_concept_id": _ints(np.full(len(dead), EHR))})
    span = adm.groupby("subject_id").agg(first=("admittime", "min"), last=("dischtime", "max")).reset_index()
    period = pa.table({
        "observation_period_id": span["subject_id"], "person_id": span["subject_id"],
        "observation_period_start_date": _dates(span["first"] - pd.Timedelta(days=365)),
        "observation_period_end_date": _dates(span["last"] + pd.Timedelta(days=400)),
        "period_type_concept_id": _ints(np.full(len(span), EHR))})
    return {"person": person, "visit_occurrence": visits, "measurement": measurement,
            "condition_occurrence": condition, "death": death, "observation_period": period}


def write_omop(cfg: SyntheticSource, observation_hours: int, folder: Path, fmt: str = "csv",
               progress: Callable[[int, int], None] | None = None) -> Path:
    """The synthetic cohort `cfg` as an OMOP CDM folder (one file per table) plus truth.parquet."""
    return write_export(cfg, observation_hours, folder, fmt, FORMATS, omop_tables, progress)

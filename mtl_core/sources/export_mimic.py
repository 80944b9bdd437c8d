"""Write a synthetic cohort in the MIMIC-IV layout (hosp/, icu/; .csv.gz or Parquet), truth table beside it.

The files carry the columns of MIMIC-IV v2.2 (hosp/labevents has its 16, icu/chartevents its 11), not
only the ones the pipeline reads, so reading one costs what reading the real export costs. Any size:
the cohort is generated and written a partition at a time. `source.kind: mimic_iv` reads the folder
back into the same canonical tables (tests/unit/test_source_paths.py shows it).
"""
from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mtl_core.config import SyntheticSource
from mtl_core.sources.synthetic import SyntheticPartitions

CHART_FROM = 220_000  # MIMIC-IV itemids: d_labitems below, icu d_items from here on
FORMATS = ("csv.gz", "parquet")
UNITS = {50912: "mg/dL", 50813: "mmol/L", 51301: "K/uL", 51222: "g/dL", 50971: "mEq/L", 50983: "mEq/L",
         50931: "mg/dL", 220045: "bpm", 220179: "mmHg", 220210: "insp/min", 223762: "°C", 220277: "%"}


def _seconds(s: pd.Series) -> pa.Array:
    """Timestamps as MIMIC-IV writes them: whole seconds (the generator's resolution)."""
    return pa.array(s.to_numpy().astype("datetime64[s]"), pa.timestamp("s"), from_pandas=True)


def _text(values: list[str], codes: np.ndarray) -> pa.Array:
    """A text column from a few values, built in Arrow (100M Python strings would take minutes)."""
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(values)).cast(pa.string())


def _const(value: str, n: int) -> pa.Array:
    return _text([value], np.zeros(n, np.int32))


def _units(itemid: np.ndarray) -> pa.Array:
    ids = np.array(sorted(UNITS))
    return _text([UNITS[i] for i in ids], np.searchsorted(ids, itemid))


def mimic_tables(tables: dict[str, pd.DataFrame], outpatient_labs: int = 0, first_row_id: int = 0
                 ) -> dict[str, pa.Table]:
    """One partition's canonical tables as the MIMIC-IV files hold them (file stem -> Arrow table).
    `outpatient_labs` extra lab rows without hadm_id (drawn outside any stay; a reader must drop them)."""
    pat, adm, ev = tables["patients"], tables["admissions"], tables["events"]
    n_adm = len(adm)
    year = pat["anchor_year"].to_numpy()
    patients = pa.table({
        "subject_id": pat["subject_id"], "gender": pat["gender"].astype(str), "anchor_age": pat["anchor_age"],
        "anchor_year": pat["anchor_year"],
        "anchor_year_group": pa.array([f"{y - y % 3} - {y - y % 3 + 2}" for y in year], pa.string()),
        "dod": pa.array(pat["dod"].to_numpy().astype("datetime64[D]"), pa.date32(), from_pandas=True)})
    admissions = pa.table({
        "subject_id": adm["subject_id"], "hadm_id": adm["hadm_id"], "admittime": _seconds(adm["admittime"]),
        "dischtime": _seconds(adm["dischtime"]), "deathtime": _seconds(adm["deathtime"]),
        "admission_type": adm["admission_type"].astype(str),
        "admit_provider_id": _text([f"P{i:05d}" for i in range(97)], np.arange(n_adm) % 97),
        "admission_location": _const("EMERGENCY ROOM", n_adm), "discharge_location": _const("HOME", n_adm),
        "insurance": adm["insurance"].astype(str), "language": _const("ENGLISH", n_adm),
        "marital_status": _const("MARRIED", n_adm), "race": _const("UNKNOWN", n_adm),
        "edregtime": _seconds(adm["admittime"] - pd.Timedelta(hours=3)), "edouttime": _seconds(adm["admittime"]),
        "hospital_expire_flag": adm["hospital_expire_flag"]})
    lab = ev[ev["itemid"] < CHART_FROM].reset_index(drop=True)
    chart = ev[ev["itemid"] >= CHART_FROM].reset_index(drop=True)
    if outpatient_labs:
        away = lab.head(outpatient_labs).assign(hadm_id=np.nan, charttime=lambda d: d["charttime"]
                                                - pd.Timedelta(days=400))
        lab = pd.concat([lab, away], ignore_index=True)
    n_lab = len(lab)
    value = pa.array(lab["valuenum"].to_numpy(), pa.float64())
    labevents = pa.table({
        "labevent_id": pa.array(first_row_id + np.arange(n_lab) + 1), "subject_id": lab["subject_id"],
        "hadm_id": pa.array(lab["hadm_id"].to_numpy(float), pa.float64(), from_pandas=True).cast(pa.int64()),
        "specimen_id": pa.array(first_row_id + np.arange(n_lab) + 5_000_000), "itemid": lab["itemid"],
        "order_provider_id": pa.nulls(n_lab, pa.string()), "charttime": _seconds(lab["charttime"]),
        "storetime": _seconds(lab["charttime"] + pd.Timedelta(minutes=40)), "value": value.cast(pa.string()),
        "valuenum": value, "valueuom": _units(lab["itemid"].to_numpy()),
        "ref_range_lower": pa.array(np.full(n_lab, 0.5)), "ref_range_upper": pa.array(np.full(n_lab, 1.2)),
        "flag": pa.nulls(n_lab, pa.string()), "priority": _const("ROUTINE", n_lab),
        "comments": pa.nulls(n_lab, pa.string())})
    n_chart = len(chart)
    value = pa.array(chart["valuenum"].to_numpy(), pa.float64())
    chartevents = pa.table({
        "subject_id": chart["subject_id"], "hadm_id": chart["hadm_id"], "stay_id": chart["hadm_id"] + 10_000_000,
        "caregiver_id": pa.array(np.ones(n_chart, np.int64)), "charttime": _seconds(chart["charttime"]),
        "storetime": _seconds(chart["charttime"] + pd.Timedelta(minutes=5)), "itemid": chart["itemid"],
        "value": value.cast(pa.string()), "valuenum": value, "valueuom": _units(chart["itemid"].to_numpy()),
        "warning": pa.array(np.zeros(n_chart, np.int64))})
    return {"hosp/patients": patients, "hosp/admissions": admissions, "hosp/labevents": labevents,
            "icu/chartevents": chartevents, "hosp/diagnoses_icd": pa.Table.from_pandas(
                tables["diagnoses"], preserve_index=False)}


def mimic_frames(tables: dict[str, pd.DataFrame], outpatient_labs: int = 0) -> dict[str, pd.DataFrame]:
    """mimic_tables as pandas frames with timestamps as text, as a test edits them before writing."""
    out = {}
    for stem, t in mimic_tables(tables, outpatient_labs).items():
        df = t.to_pandas()
        for col in df.columns:
            if str(df[col].dtype).startswith("datetime64"):
                df[col] = df[col].dt.strftime("%Y-%m-%d %H:%M:%S").where(df[col].notna(), None)
        out[stem] = df
    return out


class TableFiles:
    """One writer per file (folder/<stem>.<fmt>: parquet, csv or csv.gz), each appended a partition at a time."""

    def __init__(self, folder: Path, fmt: str):
        self.folder, self.fmt, self.writers, self.streams = folder, fmt, {}, []

    def write(self, stem: str, table: pa.Table) -> None:
        if stem not in self.writers:
            path = self.folder / f"{stem}.{self.fmt}"
            path.parent.mkdir(parents=True, exist_ok=True)
            if self.fmt == "parquet":
                self.writers[stem] = pq.ParquetWriter(path, table.schema)
            else:  # gzip level 1: Arrow's default level writes 10x slower (an hour at 100M rows)
                stream = gzip.open(path, "wb", compresslevel=1) if self.fmt == "csv.gz" else pa.OSFile(str(path), "wb")
                self.streams.append(stream)
                self.writers[stem] = pacsv.CSVWriter(stream, table.schema, write_options=pacsv.WriteOptions(
                    quoting_style="needed"))
        self.writers[stem].write_table(table)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        for s in self.streams:
            s.close()


def write_truth(writer: pq.ParquetWriter | None, tables: dict[str, pd.DataFrame], path: Path
                ) -> pq.ParquetWriter:
    """Append a partition's truth (with subject_id, so a reader can place it with its patient)."""
    adm = tables["admissions"][["hadm_id", "subject_id"]]
    truth = tables["truth"].merge(adm, on="hadm_id", how="left")
    truth = pa.Table.from_pandas(truth[["subject_id", *tables["truth"].columns]], preserve_index=False)
    if writer is None:
        writer = pq.ParquetWriter(path, truth.schema)
    writer.write_table(truth)
    return writer


def write_export(cfg: SyntheticSource, observation_hours: int, folder: Path, fmt: str, formats: tuple,
                 layout: Callable[..., dict[str, pa.Table]],
                 progress: Callable[[int, int], None] | None = None) -> Path:
    """Write the synthetic cohort partition by partition: `layout(tables, first_row_id=...)` gives the
    files of one partition (name -> Arrow table), appended in `fmt`; truth.parquet beside them."""
    if fmt not in formats:
        raise ValueError(f"format {fmt!r}: expected one of {formats}")
    folder = Path(folder)
    parts, out, truth, rows = SyntheticPartitions(cfg, observation_hours), TableFiles(folder, fmt), None, 0
    try:
        for i in range(len(parts)):
            tables = parts.read(i)
            for name, table in layout(tables, first_row_id=rows).items():
                out.write(name, table)
            rows += len(tables["events"])
            truth = write_truth(truth, tables, folder / "truth.parquet")
            if progress:
                progress(i + 1, len(parts))
    finally:
        out.close()
        if truth is not None:
            truth.close()
    return folder


def write_mimic(cfg: SyntheticSource, observation_hours: int, folder: Path, fmt: str = "csv.gz",
                progress: Callable[[int, int], None] | None = None) -> Path:
    """The synthetic cohort `cfg` as a MIMIC-IV export in `folder` (hosp/, icu/, truth.parquet)."""
    return write_export(cfg, observation_hours, folder, fmt, FORMATS, mimic_tables, progress)

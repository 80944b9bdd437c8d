"""Good inputs for the mimic_iv and tabular sources, written from the synthetic generator's tables."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from mtl_core.data.contracts import outcome_definitions
from mtl_core.dataset.features import build_dataset
from tests.conftest import write_config

OUTCOMES = ["in_hospital_mortality", "readmission_30d", "prolonged_stay", "aki", "sepsis"]
CHART_FROM = 220_000  # MIMIC-IV itemids: d_labitems below, icu d_items from here on
OUTPATIENT_LABS = 40  # labevents rows without hadm_id: outside any stay, dropped by the source


def _time_text(s: pd.Series) -> pd.Series:
    return s.dt.strftime("%Y-%m-%d %H:%M:%S").where(s.notna(), None)


def mimic_frames(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The canonical tables as MIMIC-IV files would hold them (extra columns, text timestamps)."""
    pat = tables["patients"]
    adm = tables["admissions"]
    n_adm = len(adm)
    patients = pd.DataFrame({
        "subject_id": pat["subject_id"], "gender": pat["gender"], "anchor_age": pat["anchor_age"],
        "anchor_year": pat["anchor_year"],
        "anchor_year_group": pat["anchor_year"].map(lambda y: f"{y - y % 3} - {y - y % 3 + 2}"),
        "dod": pat["dod"].dt.strftime("%Y-%m-%d").where(pat["dod"].notna(), None)})
    admissions = pd.DataFrame({
        "subject_id": adm["subject_id"], "hadm_id": adm["hadm_id"],
        "admittime": _time_text(adm["admittime"]), "dischtime": _time_text(adm["dischtime"]),
        "deathtime": _time_text(adm["deathtime"]), "admission_type": adm["admission_type"],
        "admit_provider_id": "P" + (np.arange(n_adm) % 97).astype(str),
        "admission_location": "EMERGENCY ROOM", "discharge_location": "HOME",
        "insurance": adm["insurance"], "language": "ENGLISH", "marital_status": "MARRIED",
        "race": "UNKNOWN", "edregtime": _time_text(adm["admittime"] - pd.Timedelta(hours=3)),
        "edouttime": _time_text(adm["admittime"]), "hospital_expire_flag": adm["hospital_expire_flag"]})
    ev = tables["events"]
    lab = ev[ev["itemid"] < CHART_FROM].reset_index(drop=True)
    chart = ev[ev["itemid"] >= CHART_FROM].reset_index(drop=True)
    outpatient = lab.head(OUTPATIENT_LABS).assign(hadm_id=np.nan, charttime=lab["charttime"].head(
        OUTPATIENT_LABS) - pd.Timedelta(days=400))
    lab = pd.concat([lab, outpatient], ignore_index=True)
    labevents = pd.DataFrame({
        "labevent_id": np.arange(len(lab)) + 1, "subject_id": lab["subject_id"],
        "hadm_id": lab["hadm_id"].astype("Int64"), "specimen_id": np.arange(len(lab)) + 5_000_000,
        "itemid": lab["itemid"], "order_provider_id": None, "charttime": _time_text(lab["charttime"]),
        "storetime": _time_text(lab["charttime"] + pd.Timedelta(minutes=40)),
        "value": lab["valuenum"].astype(str), "valuenum": lab["valuenum"], "valueuom": "mg/dL",
        "ref_range_lower": 0.5, "ref_range_upper": 1.2, "flag": None, "priority": "ROUTINE",
        "comments": None})
    chartevents = pd.DataFrame({
        "subject_id": chart["subject_id"], "hadm_id": chart["hadm_id"],
        "stay_id": chart["hadm_id"] + 10_000_000, "caregiver_id": 1,
        "charttime": chart["charttime"], "storetime": chart["charttime"] + pd.Timedelta(minutes=5),
        "itemid": chart["itemid"], "value": chart["valuenum"].astype(str), "valuenum": chart["valuenum"],
        "valueuom": "bpm", "warning": 0})
    return {"hosp/patients": patients, "hosp/admissions": admissions, "hosp/labevents": labevents,
            "icu/chartevents": chartevents, "hosp/diagnoses_icd": tables["diagnoses"].copy()}


SUFFIX = {"hosp/patients": ".csv.gz", "hosp/admissions": ".csv.gz", "hosp/labevents": ".csv.gz",
          "icu/chartevents": ".parquet", "hosp/diagnoses_icd": ".csv.gz"}


def write_file(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.name.endswith(".parquet"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def write_mimic_dir(tables: dict[str, pd.DataFrame], folder: Path) -> Path:
    """A MIMIC-IV-layout export: hosp/*.csv.gz and icu/chartevents.parquet."""
    for stem, df in mimic_frames(tables).items():
        write_file(df, folder / f"{stem}{SUFFIX[stem]}")
    return folder


def flat_frame(tables: dict[str, pd.DataFrame], cfg) -> pd.DataFrame:
    """One row per admission: features and labels joined, a text patient key, and an identifier column
    (`mrn`) the config must exclude."""
    features, labels = build_dataset(tables, cfg, outcome_definitions())
    df = features.drop(columns=["split"]).merge(labels, on="hadm_id")
    df.insert(1, "patient", "P" + df.pop("subject_id").astype(str))
    df.insert(2, "mrn", "MRN" + df["hadm_id"].astype(str))
    return df.rename(columns={"hadm_id": "stay_id"})


def _with_source(path: Path, workspace: Path, source: dict, drop_features: bool, overrides: dict) -> Path:
    write_config(path, workspace, **overrides)
    cfg = yaml.safe_load(path.read_text())
    cfg["source"] = source
    if drop_features:
        cfg.pop("features")
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def mimic_config(path: Path, workspace: Path, export: Path, **overrides) -> Path:
    """The small test config pointed at a MIMIC-IV-layout folder."""
    return _with_source(path, workspace, {"kind": "mimic_iv", "path": str(export)}, False, overrides)


def tabular_config(path: Path, workspace: Path, table: Path, source: dict | None = None,
                   **overrides) -> Path:
    """The small test config with a tabular source and no `features` section."""
    src = {"kind": "tabular", "path": str(table), "id_column": "stay_id", "group_column": "patient",
           "exclude_columns": ["mrn"], **(source or {})}
    return _with_source(path, workspace, src, True, overrides)


@dataclass
class Goods:
    """Valid inputs kept in memory; each bad-input case writes a copy with one defect."""
    mimic: dict[str, pd.DataFrame]  # "hosp/admissions" -> frame with MIMIC-IV columns
    flat: pd.DataFrame

    def write_mimic(self, folder: Path, edit: dict | None = None, suffix: dict | None = None) -> Path:
        """The export with edit[stem](frame) applied and suffix[stem] replacing the usual format;
        an edit returning None leaves that file out."""
        for stem, df in self.mimic.items():
            df = (edit or {}).get(stem, lambda d: d)(df.copy())
            if df is not None:
                write_file(df, folder / f"{stem}{(suffix or {}).get(stem, SUFFIX[stem])}")
        return folder

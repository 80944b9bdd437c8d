"""Source `mimic_iv`: a MIMIC-IV export folder read into the canonical tables, only the columns they need.

MIMIC-IV already uses the canonical column names; this adapter picks each file's format, reads the
needed columns, types them (naive timestamps, int64 keys) and joins labevents with chartevents.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from mtl_core.config import Config
from mtl_core.errors import ConfigError, DataError
from mtl_core.sources import files

# canonical column -> (type in files.TYPES, nullable); MIMIC-IV names are the canonical ones
PATIENTS = {"subject_id": ("int", False), "gender": ("str", False), "anchor_age": ("int", False),
            "anchor_year": ("int", False), "dod": ("time", True)}
ADMISSIONS = {"subject_id": ("int", False), "hadm_id": ("int", False), "admittime": ("time", False),
              "dischtime": ("time", False), "deathtime": ("time", True),
              "admission_type": ("str", False), "insurance": ("str", True),
              "hospital_expire_flag": ("int", False)}
OPTIONAL = {"insurance"}  # read when the file has it
EVENTS = {"subject_id": ("int", False), "hadm_id": ("int", False), "itemid": ("int", False),
          "charttime": ("time", False), "valuenum": ("float", True)}
DIAGNOSES = {"subject_id": ("int", False), "hadm_id": ("int", False), "seq_num": ("int", False),
             "icd_code": ("str", False), "icd_version": ("int", False)}

# (canonical table, file under the export folder without suffix, columns, required)
FILES: tuple[tuple[str, str, dict, bool], ...] = (
    ("patients", "hosp/patients", PATIENTS, True),
    ("admissions", "hosp/admissions", ADMISSIONS, True),
    ("events", "hosp/labevents", EVENTS, True),
    ("events", "icu/chartevents", EVENTS, False),
    ("diagnoses", "hosp/diagnoses_icd", DIAGNOSES, True),
)


def export_folder(path: str) -> Path:
    folder = Path(path).expanduser()
    if not folder.exists():
        raise ConfigError(f"source.path: MIMIC-IV folder not found: {folder.resolve()}")
    if not folder.is_dir():
        raise ConfigError(f"source.path: {folder.resolve()} is a file; mimic_iv expects the export "
                          f"folder holding hosp/ (and optionally icu/)")
    return folder


def read_file(path: Path, table: str, columns: dict, rel: str) -> pd.DataFrame:
    """One MIMIC-IV file as canonical columns of `table`, typed; events without hadm_id are dropped."""
    required = [c for c in columns if c not in OPTIONAL]
    optional = tuple(c for c in columns if c in OPTIONAL)
    raw = files.read(path, required, optional=optional, needed_for=f"table '{table}'")
    if table == "events":  # labs drawn outside a hospital stay belong to no admission
        raw = raw[raw["hadm_id"].notna()].reset_index(drop=True)
    where = f"table '{table}' ({rel})"
    return pd.DataFrame({c: files.TYPES[kind](raw[c], where, c, nullable)
                         for c, (kind, nullable) in columns.items() if c in raw})


def load(cfg: Config, progress: Callable[[int, int], None] | None = None) -> dict[str, pd.DataFrame]:
    """The canonical tables patients, admissions, events, diagnoses from the export at source.path."""
    folder = export_folder(cfg.source.path)
    parts: dict[str, list[pd.DataFrame]] = {}
    for i, (table, stem, columns, required) in enumerate(FILES, 1):
        path = files.find(folder, stem)
        if path is None:
            if required:
                raise DataError(f"mimic_iv source {folder}: {stem} not found (looked for "
                                f"{', '.join(stem + s for s in files.SUFFIXES)})")
            continue
        rel = path.relative_to(folder).as_posix()
        parts.setdefault(table, []).append(read_file(path, table, columns, rel))
        if progress:
            progress(i, len(FILES))
    tables = {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}
    tables["events"] = tables["events"].sort_values(["hadm_id", "charttime"], kind="stable",
                                                    ignore_index=True)
    return tables

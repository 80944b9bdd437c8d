"""Source `mimic_iv`: a MIMIC-IV export folder (or database) read into the canonical tables, only the columns they need.

MIMIC-IV already uses the canonical column names; this adapter picks each file's format, reads the
needed columns, types them (naive timestamps, int64 keys) and joins labevents with chartevents. A full
export does not fit in memory (hundreds of millions of chartevents), so it is read in partitions of
whole patients through a subject-bucketed staging copy (mtl_core/sources/staging.py).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from mtl_core.config import Config
from mtl_core.errors import ConfigError, DataError
from mtl_core.sources import files, scan
from mtl_core.sources import staging as staging_mod
from mtl_core.sources.staging import StagedPartitions

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


TRUTH = "truth.parquet"  # beside hosp/ in a synthetic export: true outcome probabilities, never a feature


def _found(folder: Path) -> list[tuple[str, str, Path, dict]]:
    out = []
    for table, stem, columns, required in FILES:
        path = files.find(folder, stem)
        if path is None:
            if required:
                raise DataError(f"mimic_iv source {folder}: {stem} not found (looked for "
                                f"{', '.join(stem + s for s in files.SUFFIXES)})")
            continue
        out.append((table, stem, path, columns))
    if (folder / TRUTH).is_file():
        names = files.header(folder / TRUTH)
        spec = {"subject_id": ("int", False), "hadm_id": ("int", False),
                **{c: ("float", True) for c in names if c not in ("subject_id", "hadm_id")}}
        out.append(("truth", "truth", folder / TRUTH, spec))
    return out


def _assemble(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    # events stay in file order (labevents, then chartevents): nothing downstream needs them sorted,
    # and sorting 100M rows by admission and time would cost more than reading them
    if "truth" in tables:
        tables["truth"] = tables["truth"].drop(columns="subject_id")
    return tables


def open_partitions(cfg: Config, staging: Path, progress: Callable[[int, int], None] | None = None
                    ) -> StagedPartitions:
    """The export at source.path as partitions of whole patients: every needed file is streamed once
    (typed, only the needed columns) into subject-range shards under `staging`, then read shard runs
    of about ingest.partition_rows rows (a database URL is read by mimic_db.py instead)."""
    folder = export_folder(cfg.source.path)
    found = _found(folder)
    patients = next(path for table, _, path, _ in found if table == "patients")
    where = f"table 'patients' ({patients.relative_to(folder).as_posix()})"
    ids = [b.column("subject_id").to_numpy() for b in scan.file_batches(
        patients, {"subject_id": PATIENTS["subject_id"]}, where, needed_for="table 'patients'")]
    ids = np.concatenate(ids) if ids else np.zeros(0, np.int64)
    rows = sum(staging_mod.estimate_rows(path) for _, _, path, _ in found)
    stage = staging_mod.Stage(Path(staging), staging_mod.shard_bounds(
        ids, staging_mod.n_shards(rows, len(ids), cfg.ingest.partition_rows)))
    for i, (table, stem, path, columns) in enumerate(found, 1):
        rel = path.relative_to(folder).as_posix()
        optional = tuple(c for c in columns if c in OPTIONAL)
        writer = stage.writer(table, stem.replace("/", "_"), "subject_id")
        for batch in scan.file_batches(path, columns, f"table '{table}' ({rel})", optional=optional,
                                       needed_for=f"table '{table}'", restart=writer.reset,
                                       # labs drawn outside a hospital stay belong to no admission
                                       drop_missing="hadm_id" if table == "events" else None):
            writer.add(batch)
        stage.finish(table, stem.replace("/", "_"), writer, scan.typed_schema(columns, files.header(path)))
        if progress:
            progress(i, len(found))
    specs = {table: columns for table, _, _, columns in found}
    return StagedPartitions(stage, stage.plan(cfg.ingest.partition_rows), specs, _assemble)

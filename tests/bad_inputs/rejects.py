"""A MIMIC-IV-layout export with a few bad rows, for quarantine mode; and which admissions they take out."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tests.bad_inputs.fixtures import SUFFIX, mimic_frames, write_file

UNKNOWN_HADM = 999_999_999


@dataclass
class Corrupted:
    folder: Path
    bad_patient: int     # anchor_age -3: the patient, their admissions and events go
    rejected: set[int]   # hadm_ids in quarantine/admissions.parquet
    lost: int            # an id no admission keeps (it became a duplicate): its events are orphans


def write_corrupted_mimic(tables: dict[str, pd.DataFrame], folder: Path) -> Corrupted:
    frames = mimic_frames(tables)
    pat, adm, lab = frames["hosp/patients"], frames["hosp/admissions"], frames["hosp/labevents"]
    bad_patient = int(pat.loc[4, "subject_id"])
    pat.loc[4, "anchor_age"] = -3
    late, dup_from, dup_to = 10, 20, 21
    assert bad_patient not in set(adm.loc[[late, dup_from, dup_to], "subject_id"])
    adm.loc[late, "dischtime"] = (pd.Timestamp(adm.loc[late, "admittime"]) - pd.Timedelta(hours=2)
                                  ).strftime("%Y-%m-%d %H:%M:%S")
    lost = int(adm.loc[dup_from, "hadm_id"])
    adm.loc[dup_from, "hadm_id"] = adm.loc[dup_to, "hadm_id"]
    lab.loc[[3, 7], "hadm_id"] = UNKNOWN_HADM
    rejected = {int(adm.loc[late, "hadm_id"]), int(adm.loc[dup_to, "hadm_id"]),
                *map(int, adm.loc[adm["subject_id"] == bad_patient, "hadm_id"])}
    for stem, df in frames.items():
        write_file(df, folder / f"{stem}{SUFFIX[stem]}")
    return Corrupted(folder, bad_patient, rejected, lost)

"""The rows two models may be compared on: test rows of one model's feature set that the other model was
neither fitted nor tuned on (not in its training or validation split).

A champion trained under another split (another seed, other fractions, `split.by temporal`, a newer
snapshot) has many of the challenger's test rows in its own training split; scored there it looks better
than it is. So the champion is only ever scored on the challenger's test rows it did not see.

What "did not see" means follows the champion's own split: under a patient split (no patient in two of
its splits) a row is unseen when its patient is in none of the champion's training or validation rows;
under a temporal split (a patient's later admissions may be in the test period by design) when the
admission itself is not. Rows of patients the champion never had at all (newer data) are unseen.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mtl_core.data import feature_set, lake
from mtl_core.data.model_folder import ModelFolder


@dataclass
class Overlap:
    """Which of the challenger's test rows the champion did not see, with the counts a verdict quotes."""
    test_rows: int                 # the challenger's test rows
    unseen: np.ndarray             # bool per test row: neither model fitted or tuned on it
    in_train: int = 0              # test rows in the champion's training split (left out)
    in_val: int = 0                # ... in its validation split (left out)
    basis: str = "patient"         # patient | admission (how the champion's split is read)
    min_rows: int = 100
    known: bool = True             # False: the champion's split rows are unknown
    why_unknown: str = ""
    champion: str = "the champion"

    @property
    def rows(self) -> int:
        return int(self.unseen.sum())

    @property
    def comparable(self) -> bool:
        return self.known and self.rows >= self.min_rows

    def left_out(self) -> str:
        return (f"{self.in_train:,} in {self.champion}'s training split and {self.in_val:,} in its validation "
                "split left out")

    def summary(self) -> str:
        """One line for the verdict and comparison.md."""
        if not self.known:
            return (f"not comparable with {self.champion}: {self.why_unknown}, so the rows it was fitted on "
                    "are unknown and it is not scored")
        what = (f"{self.rows:,} of {self.test_rows:,} test rows that neither model was fitted or tuned on "
                f"({self.left_out()}; {self.basis}s matched)")
        if not self.comparable:
            return (f"not comparable with {self.champion}: only {what}; at least {self.min_rows:,} are needed "
                    "(registry.min_comparison_rows)")
        return f"compared with {self.champion} on {what}"

    def short(self) -> str:
        """The champion check's detail when the models are not comparable."""
        if not self.known:
            return f"not comparable with {self.champion}: the rows it was fitted on are unknown"
        return (f"not comparable with {self.champion}: {self.rows:,} unseen test rows, "
                f"at least {self.min_rows:,} needed")


def unseen_rows(test: pd.DataFrame, seen: pd.DataFrame, min_rows: int = 100,
                champion: str = "the champion") -> Overlap:
    """test: the challenger's test rows (hadm_id, subject_id); seen: every row of the champion's feature
    set (hadm_id, subject_id, split)."""
    fitted = seen[seen["split"].isin(["train", "val"])]
    spans = seen.groupby(seen["subject_id"].astype(str))["split"].nunique()
    basis = "admission" if (spans > 1).any() else "patient"
    keys, known = _key(test, basis, seen), _key(fitted, basis, seen)
    in_train = keys.isin(set(known[(fitted["split"] == "train").to_numpy()])).to_numpy()
    in_val = keys.isin(set(known[(fitted["split"] == "val").to_numpy()])).to_numpy() & ~in_train
    return Overlap(len(test), ~(in_train | in_val), int(in_train.sum()), int(in_val.sum()), basis, min_rows,
                   champion=champion)


def _key(frame: pd.DataFrame, basis: str, seen: pd.DataFrame) -> pd.Series:
    """A row's key as text: its patient, or its admission. A MEDS row's hadm_id is its position in one
    feature set, so there the admission is (subject_id, prediction_time), the same in every set."""
    if basis == "patient":
        return frame["subject_id"].astype(str).reset_index(drop=True)
    if "prediction_time" in seen.columns and "prediction_time" in frame.columns:
        time = pd.to_datetime(frame["prediction_time"]).astype("datetime64[us]").astype(str)
        return (frame["subject_id"].astype(str) + "@" + time).reset_index(drop=True)
    return frame["hadm_id"].astype(str).reset_index(drop=True)


def unknown(test_rows: int, why: str, min_rows: int = 100, champion: str = "the champion") -> Overlap:
    """The champion's split is not known (its model folder or feature set is not in this workspace)."""
    return Overlap(test_rows, np.zeros(test_rows, bool), min_rows=min_rows, known=False, why_unknown=why,
                   champion=champion)


def overlap_with(test: pd.DataFrame, folder: ModelFolder, min_rows: int = 100,
                 champion: str = "the champion") -> Overlap:
    """The Overlap of the challenger's test rows with the model of `folder`, read from the feature set
    that model was fitted on (its model.json names it)."""
    if not folder.exists():
        return unknown(len(test), f"its model folder {folder} is not in this workspace", min_rows, champion)
    features = Path(folder.meta().features_dir)
    if not (features / lake.MANIFEST).is_file():  # a workspace moved since: the same set under its features/
        features = folder.path.parent.parent / "features" / features.name
    if not (features / lake.MANIFEST).is_file():
        return unknown(len(test), f"the feature set it was fitted on ({features.name}) is not in this workspace",
                       min_rows, champion)
    return unseen_rows(test, feature_set.split_keys(features), min_rows, champion)

"""The gate and `cmtl compare` score a champion only on rows neither model was fitted or tuned on: the
overlap of the challenger's test rows with the champion's training and validation splits, counted and
reported, and "not comparable" when too few rows are left."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtl_core.config import SplitConfig
from mtl_core.dataset.splits import patient_splits, temporal_splits
from mtl_core.evaluation.unseen import overlap_with, unknown, unseen_rows
from mtl_core.gate.promotion import Rules, gate, gather
from mtl_core.reports.model_card import promotion_markdown
from mtl_core.reports.registry_view import verdict_tags


def _cohort(n_patients: int = 2000, per_patient: int = 2, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    subject = np.repeat(np.arange(10_000, 10_000 + n_patients), per_patient)
    return pd.DataFrame({"hadm_id": np.arange(500_000, 500_000 + subject.size), "subject_id": subject,
                         "admittime": pd.Timestamp("2020-01-01")
                         + pd.to_timedelta(rng.uniform(0, 3 * 365, subject.size), unit="D")})


def _split(cohort: pd.DataFrame, **cfg) -> pd.DataFrame:
    split = SplitConfig(**cfg)
    s = (temporal_splits(cohort["admittime"], split) if split.by == "temporal"
         else patient_splits(cohort["subject_id"], split))
    return cohort.assign(split=s)


def test_a_split_seed_change_leaves_only_rows_unseen_by_the_champion():
    cohort = _cohort()
    champion, challenger = _split(cohort, seed=0), _split(cohort, seed=1)
    test = challenger[challenger["split"] == "test"].reset_index(drop=True)
    o = unseen_rows(test, champion, min_rows=50, champion="v1")
    seen = champion.set_index("hadm_id")["split"].reindex(test["hadm_id"]).to_numpy()
    assert o.basis == "patient" and o.test_rows == len(test)
    assert o.in_train == int((seen == "train").sum()) and o.in_val == int((seen == "val").sum())
    assert o.rows == int((seen == "test").sum()) == o.test_rows - o.in_train - o.in_val
    assert 0 < o.rows < 0.3 * o.test_rows  # most of the challenger's test rows are the champion's own
    assert (seen[o.unseen] == "test").all()  # never one of the champion's training or validation rows
    assert o.comparable and o.summary().startswith(f"compared with v1 on {o.rows:,} of {o.test_rows:,} test rows")
    assert f"{o.in_train:,} in v1's training split and {o.in_val:,} in its validation split left out" in o.summary()


def test_the_same_split_compares_on_every_test_row():
    champion = _split(_cohort())
    test = champion[champion["split"] == "test"]
    o = unseen_rows(test, champion)
    assert o.rows == o.test_rows == len(test) and o.in_train == o.in_val == 0


def test_a_temporal_champion_is_matched_by_admission_and_newer_patients_are_unseen():
    cohort = _cohort()
    champion = _split(cohort, by="temporal", val_from="2021-06-01", test_from="2022-01-01")
    assert champion.groupby("subject_id")["split"].nunique().max() > 1  # patients span its splits
    newer = _cohort(200, seed=3).assign(subject_id=lambda d: d["subject_id"] + 50_000,
                                       hadm_id=lambda d: d["hadm_id"] + 90_000)
    test = pd.concat([champion[champion["split"] == "test"], champion[champion["split"] == "train"].head(30), newer])
    o = unseen_rows(test, champion)
    assert o.basis == "admission" and o.in_train == 30 and o.in_val == 0
    assert o.rows == o.test_rows - 30  # its own test period and patients it never had


def test_too_few_unseen_rows_are_not_comparable_and_the_verdict_says_why():
    cohort = _cohort(400)
    champion, challenger = _split(cohort, seed=0), _split(cohort, seed=5)
    test = challenger[challenger["split"] == "test"].reset_index(drop=True)
    o = unseen_rows(test, champion, min_rows=100_000, champion="v1")
    assert not o.comparable and "not comparable with v1: only" in o.summary()
    assert "at least 100,000 are needed (registry.min_comparison_rows)" in o.summary()

    rng = np.random.default_rng(0)
    Y = (rng.uniform(size=(len(test), 1)) < 0.3).astype(float)
    P = np.clip(Y * 0.6 + rng.uniform(0, 0.4, Y.shape), 0, 1)
    verdict = gate(gather(Y, P, ["death"], {}, n_boot=0, overlap=o), Rules(), [], o.summary())
    assert not verdict.promote and verdict.reasons[0] == o.summary()
    check = next(c for c in verdict.checks if c.gate == "champion")
    assert check.passed is False and check.detail.startswith("not comparable with v1")


def test_the_champion_is_scored_on_the_unseen_rows_only():
    cohort = _cohort()
    champion, challenger = _split(cohort, seed=0), _split(cohort, seed=1)
    test = challenger[challenger["split"] == "test"].reset_index(drop=True)
    o = unseen_rows(test, champion, min_rows=50, champion="v1")
    rng = np.random.default_rng(1)
    Y = (rng.uniform(size=(len(test), 1)) < 0.3).astype(float)
    P = np.clip(Y * 0.5 + rng.uniform(0, 0.5, Y.shape), 0, 1)
    old = P[o.unseen, 0]  # the champion's predictions exist for the unseen rows alone
    verdict = gate(gather(Y, P, ["death"], {"death": old}, n_boot=50, overlap=o), Rules(), ["death"], o.summary())
    verdict.compared_rows = f"{o.rows:,} of {o.test_rows:,}"
    check = next(c for c in verdict.checks if c.gate == "champion")
    assert check.passed and "diff +0.000" in check.detail  # same predictions on the same rows
    assert verdict.reasons[0].startswith("compared with v1 on")
    assert verdict_tags(verdict, "1", "now")["cmtl.compared_rows"] == f"{o.rows:,} of {o.test_rows:,}"
    text = promotion_markdown("m", "2", verdict, "1", Rules())
    assert f"on {o.rows:,} of {o.test_rows:,} test rows of the challenger (those neither model" in text


def test_a_champion_whose_split_is_unknown_is_not_comparable(tmp_path):
    from mtl_core.data.model_folder import ModelFolder

    o = overlap_with(pd.DataFrame({"hadm_id": [1], "subject_id": [1]}), ModelFolder(tmp_path / "gone"), 1, "v3")
    assert not o.known and not o.comparable
    assert o.summary() == (f"not comparable with v3: its model folder {tmp_path / 'gone'} is not in this "
                           "workspace, so the rows it was fitted on are unknown and it is not scored")
    assert unknown(5, "x").rows == 0


@pytest.mark.parametrize("ids", ["int", "str"])
def test_ids_match_whatever_their_type(ids):
    champion = _split(_cohort(300))
    test = champion[champion["split"] == "train"].head(10)
    if ids == "str":
        test = test.astype({"hadm_id": str, "subject_id": str})
    assert unseen_rows(test, champion).in_train == 10


def test_a_moved_workspace_still_finds_the_champions_feature_set(tmp_path):
    import json

    from mtl_core.data import lake
    from mtl_core.data.model_folder import ModelFolder

    champion = _split(_cohort(300))
    features = tmp_path / "ws" / "features" / "abc123"
    features.mkdir(parents=True)
    champion.drop(columns="admittime").to_parquet(features / "features.parquet")
    (features / lake.MANIFEST).write_text(json.dumps({"tables": {"features": {"rows": len(champion)}}}))
    folder = ModelFolder(tmp_path / "ws" / "models" / "run1")
    folder.path.mkdir(parents=True)
    meta = {"features_dir": "/old/place/features/abc123", "outcomes": [], "feature_columns": [], "best_epoch": 1,
            "epochs_run": 1, "best_epochs": [1], "n_train": 1, "n_val": 1, "fitting": {}, "ensemble": "none"}
    (folder.path / "model.json").write_text(json.dumps(meta))
    test = champion[champion["split"] == "test"]
    o = overlap_with(test, folder, 1, "v1")
    assert o.known and o.rows == len(test)


def test_meds_rows_are_matched_by_subject_and_prediction_time_not_row_number():
    cohort = _cohort(500).rename(columns={"admittime": "prediction_time"})
    champion = _split(cohort.rename(columns={"prediction_time": "admittime"}), by="temporal", val_from="2021-06-01",
                      test_from="2022-01-01").rename(columns={"admittime": "prediction_time"})
    # the challenger's feature set numbers its rows afresh (MEDS hadm_id is a row number)
    test = champion[champion["split"] == "train"].head(40).assign(hadm_id=range(40))
    o = unseen_rows(test, champion)
    assert o.basis == "admission" and o.in_train == 40 and o.rows == 0

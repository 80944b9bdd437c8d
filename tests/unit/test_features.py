"""Feature matrix: patient-level splits, no look-ahead leakage, prior history, window aggregates, cohort."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from mtl_core.config import CohortConfig, SplitConfig
from mtl_core.data.contracts import outcome_definitions
from mtl_core.dataset.cohort import build_cohort
from mtl_core.dataset.features import build_dataset, prior_history, window_aggregates
from mtl_core.dataset.splits import assign_splits

T0 = pd.Timestamp("2019-03-01 10:00")
H = pd.Timedelta(hours=1)
D = pd.Timedelta(days=1)


@pytest.fixture(scope="module")
def dataset(small_tables):
    cfg, tables = small_tables
    return build_dataset(tables, cfg, outcome_definitions())


def copy_tables(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {k: v.copy() for k, v in tables.items()}


# --- splits -----------------------------------------------------------------------------------

def test_no_patient_in_two_splits(dataset):
    features, _ = dataset
    per_subject = features.groupby("subject_id")["split"].nunique()
    assert (per_subject == 1).all()
    assert set(features["split"]) == {"train", "val", "test"}
    # and patients with several admissions exist, so the check is not vacuous
    assert (features.groupby("subject_id").size() > 1).sum() > 50


def test_split_fractions_are_roughly_as_configured(small_tables, dataset):
    cfg, _ = small_tables
    features, _ = dataset
    share = features.drop_duplicates("subject_id")["split"].value_counts(normalize=True)
    assert share["train"] == pytest.approx(cfg.split.train, abs=0.05)
    assert share["val"] == pytest.approx(cfg.split.val, abs=0.05)
    assert share["test"] == pytest.approx(cfg.split.test, abs=0.05)


def test_split_is_stable_per_key():
    cfg = SplitConfig()
    keys = pd.Series(np.arange(10_000_000, 10_000_400, dtype=np.int64))
    first = assign_splits(keys, cfg)
    np.testing.assert_array_equal(first, assign_splits(keys.copy(), cfg))  # rerun identical
    # same key -> same split, whatever its position, neighbours or repetition
    shuffled = keys.sample(frac=1.0, random_state=3)
    mapping = dict(zip(keys, first))
    assert list(assign_splits(shuffled.reset_index(drop=True), cfg)) == [mapping[k] for k in shuffled]
    repeated = pd.Series([keys[5], keys[5], keys[17], keys[5]])
    out = assign_splits(repeated, cfg)
    assert list(out) == [mapping[keys[5]], mapping[keys[5]], mapping[keys[17]], mapping[keys[5]]]
    # a different seed re-deals the patients
    assert (assign_splits(keys, SplitConfig(seed=12)) != first).any()


def test_build_dataset_rerun_is_identical(small_tables, dataset):
    cfg, tables = small_tables
    features, labels = build_dataset(copy_tables(tables), cfg, outcome_definitions())
    pdt.assert_frame_equal(features, dataset[0])
    pdt.assert_frame_equal(labels, dataset[1])


# --- leakage ----------------------------------------------------------------------------------

def _extra_events(cohort: pd.DataFrame, itemids: list[int], offsets: list[pd.Timedelta],
                  value: float) -> pd.DataFrame:
    rows = []
    for off in offsets:
        for itemid in itemids:
            rows.append(pd.DataFrame({
                "subject_id": cohort["subject_id"].to_numpy(), "hadm_id": cohort["hadm_id"].to_numpy(),
                "itemid": np.int64(itemid), "charttime": (cohort["index_time"] + off).to_numpy(),
                "valuenum": value}))
    return pd.concat(rows, ignore_index=True)


def _with_events(tables: dict, extra: pd.DataFrame) -> dict:
    out = copy_tables(tables)
    out["events"] = pd.concat([out["events"], extra.astype(out["events"].dtypes.to_dict())],
                              ignore_index=True)
    return out


def test_events_at_or_after_index_time_do_not_change_features(small_tables, dataset):
    cfg, tables = small_tables
    cohort = build_cohort(tables, cfg.cohort)
    itemids = list(cfg.features.items.values())
    offsets = [pd.Timedelta(0), pd.Timedelta(seconds=1), 3 * H, 47 * H, 30 * D]
    extra = pd.concat([_extra_events(cohort, itemids, offsets, 1e6),
                       _extra_events(cohort, itemids, [2 * H], -1e6)], ignore_index=True)
    assert (extra.merge(cohort, on="hadm_id").eval("charttime >= index_time")).all()
    features, _ = build_dataset(_with_events(tables, extra), cfg, outcome_definitions())
    pdt.assert_frame_equal(features, dataset[0])


def test_events_just_before_index_time_do_change_features(small_tables, dataset):
    cfg, tables = small_tables
    cohort = build_cohort(tables, cfg.cohort)
    extra = _extra_events(cohort, list(cfg.features.items.values()), [-pd.Timedelta(seconds=1)], 1e6)
    features, _ = build_dataset(_with_events(tables, extra), cfg, outcome_definitions())
    assert not features.equals(dataset[0])
    for name in cfg.features.items:
        assert (features[f"{name}_max"] == 1e6).all()
        assert (features[f"{name}_last"] == 1e6).all()
        assert (features[f"{name}_count"] == dataset[0][f"{name}_count"] + 1).all()


def test_admissions_after_index_time_do_not_change_features(small_tables, dataset):
    """A stay (with every prior-diagnosis code) admitted after the index time feeds no earlier features."""
    cfg, tables = small_tables
    base = dataset[0]
    cohort = build_cohort(tables, cfg.cohort)
    last = cohort.sort_values("admittime").groupby("subject_id").tail(1)  # each patient's latest cohort stay
    t = copy_tables(tables)
    new = last[["subject_id"]].copy()
    new["hadm_id"] = np.arange(90_000_000, 90_000_000 + len(new), dtype=np.int64)
    new["admittime"] = (last["index_time"] + pd.Timedelta(seconds=1)).to_numpy()
    new["dischtime"] = new["admittime"] + 2 * H   # shorter than the window: not in the cohort itself
    new["deathtime"] = pd.NaT
    new["admission_type"] = "EMERGENCY"
    new["insurance"] = "Other"
    new["hospital_expire_flag"] = np.int64(0)
    t["admissions"] = pd.concat([t["admissions"], new.astype(t["admissions"].dtypes.to_dict())],
                                ignore_index=True)
    codes = [p[0] for p in cfg.features.prior_diagnoses.values()]
    dx = pd.DataFrame({"subject_id": np.repeat(new["subject_id"].to_numpy(), len(codes)),
                       "hadm_id": np.repeat(new["hadm_id"].to_numpy(), len(codes)),
                       "seq_num": np.tile(np.arange(1, len(codes) + 1), len(new)),
                       "icd_code": np.tile(codes, len(new)), "icd_version": 9})
    t["diagnoses"] = pd.concat([t["diagnoses"], dx.astype(t["diagnoses"].dtypes.to_dict())],
                               ignore_index=True)
    features, _ = build_dataset(t, cfg, outcome_definitions())
    pdt.assert_frame_equal(features, base)


def test_admission_discharged_before_admittime_does_change_prior_flags(small_tables, dataset):
    """Counterpart of the test above: the same injected stay, placed before a stay, is seen by it."""
    cfg, tables = small_tables
    base = dataset[0]
    cohort = build_cohort(tables, cfg.cohort)
    first = cohort.sort_values("admittime").groupby("subject_id").head(1)
    t = copy_tables(tables)
    new = first[["subject_id"]].copy()
    new["hadm_id"] = np.arange(90_000_000, 90_000_000 + len(new), dtype=np.int64)
    new["admittime"] = (first["admittime"] - 3 * H).to_numpy()
    new["dischtime"] = new["admittime"] + 2 * H
    new["deathtime"] = pd.NaT
    new["admission_type"] = "EMERGENCY"
    new["insurance"] = "Other"
    new["hospital_expire_flag"] = np.int64(0)
    t["admissions"] = pd.concat([t["admissions"], new.astype(t["admissions"].dtypes.to_dict())],
                                ignore_index=True)
    t["diagnoses"] = pd.concat([t["diagnoses"], pd.DataFrame({
        "subject_id": new["subject_id"].to_numpy(), "hadm_id": new["hadm_id"].to_numpy(),
        "seq_num": np.int64(1), "icd_code": "4280", "icd_version": np.int64(9)}).astype(
            t["diagnoses"].dtypes.to_dict())], ignore_index=True)
    features, _ = build_dataset(t, cfg, outcome_definitions())
    changed = features.set_index("hadm_id").loc[first["hadm_id"]]
    assert (changed["prior_chf"] == 1.0).all()
    assert (changed["n_prior_admissions"] >= 1.0).all()
    assert not features.equals(base)


# --- prior diagnoses, hand-built ------------------------------------------------------------------

def _tiny_tables(admissions: list[dict], diagnoses: list[tuple[int, int, str]],
                 events: list[tuple[int, int, pd.Timestamp, float]] = ()) -> dict[str, pd.DataFrame]:
    adm = pd.DataFrame(admissions)
    adm["deathtime"] = pd.to_datetime(adm.get("deathtime", pd.Series(pd.NaT, index=adm.index)))
    adm["admission_type"] = "EMERGENCY"
    adm["insurance"] = "Other"
    adm["hospital_expire_flag"] = adm["deathtime"].notna().astype(np.int64)
    subjects = sorted(adm["subject_id"].unique())
    patients = pd.DataFrame({"subject_id": subjects, "gender": "F", "anchor_age": 60, "anchor_year": 2019,
                             "dod": pd.NaT})
    dx = pd.DataFrame(diagnoses, columns=["subject_id", "hadm_id", "icd_code"])
    dx["seq_num"] = dx.groupby("hadm_id").cumcount() + 1
    dx["icd_version"] = np.where(dx["icd_code"].str[0].str.isdigit(), 9, 10)
    ev = pd.DataFrame(list(events), columns=["hadm_id", "itemid", "charttime", "valuenum"])
    ev["subject_id"] = ev["hadm_id"].map(adm.set_index("hadm_id")["subject_id"])
    ev["charttime"] = pd.to_datetime(ev["charttime"])
    return {"patients": patients, "admissions": adm, "diagnoses": dx,
            "events": ev.astype({"hadm_id": np.int64, "itemid": np.int64, "valuenum": float})}


GROUPS = {"chf": ["428", "I50"], "ckd": ["585", "N18"]}


def test_prior_flags_come_only_from_earlier_discharged_admissions():
    tables = _tiny_tables(
        admissions=[
            # subject 1: stay 11 (chf coded), then stay 12 (ckd coded on itself)
            {"subject_id": 1, "hadm_id": 11, "admittime": T0, "dischtime": T0 + 5 * D},
            {"subject_id": 1, "hadm_id": 12, "admittime": T0 + 40 * D, "dischtime": T0 + 45 * D},
            # subject 2: stay 22 begins while stay 21 (chf coded) is still open -> not yet coded
            {"subject_id": 2, "hadm_id": 21, "admittime": T0, "dischtime": T0 + 10 * D},
            {"subject_id": 2, "hadm_id": 22, "admittime": T0 + 3 * D, "dischtime": T0 + 6 * D},
            # subject 3: only own-stay codes; must not see subject 1's codes
            {"subject_id": 3, "hadm_id": 31, "admittime": T0 + 50 * D, "dischtime": T0 + 55 * D},
            # subject 4: three stays, chf on the first, ckd on the second
            {"subject_id": 4, "hadm_id": 41, "admittime": T0, "dischtime": T0 + 2 * D},
            {"subject_id": 4, "hadm_id": 42, "admittime": T0 + 10 * D, "dischtime": T0 + 12 * D},
            {"subject_id": 4, "hadm_id": 43, "admittime": T0 + 20 * D, "dischtime": T0 + 22 * D},
        ],
        diagnoses=[(1, 11, "4280"), (1, 12, "N189"), (2, 21, "I509"), (3, 31, "I509"), (3, 31, "5859"),
                   (4, 41, "I509"), (4, 42, "N189"), (4, 42, "E119")],
    )
    cohort = build_cohort(tables, CohortConfig(observation_hours=24))
    assert cohort["hadm_id"].tolist() == [11, 12, 21, 22, 31, 41, 42, 43]
    out = prior_history(cohort, tables["admissions"], tables["diagnoses"], GROUPS)
    out.index = cohort["hadm_id"]
    expected = pd.DataFrame({
        "prior_chf": [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0],
        "prior_ckd": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0],
        "n_prior_admissions": [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 2.0],
        "days_since_last_discharge": [np.nan, 35.0, np.nan, np.nan, np.nan, np.nan, 8.0, 8.0],
    }, index=cohort["hadm_id"])
    pdt.assert_frame_equal(out, expected)


def test_dated_conditions_flag_only_when_recorded_before_admittime():
    tables = _tiny_tables(
        admissions=[{"subject_id": 1, "hadm_id": 11, "admittime": T0, "dischtime": T0 + 5 * D},
                    {"subject_id": 2, "hadm_id": 21, "admittime": T0, "dischtime": T0 + 5 * D},
                    {"subject_id": 3, "hadm_id": 31, "admittime": T0, "dischtime": T0 + 5 * D}],
        diagnoses=[(3, 31, "I509")],  # coded on the stay itself: never a prior flag
    )
    conditions = pd.DataFrame({
        # subject 1: chf at an outpatient visit a year before; subject 2: ckd on the admission day and
        # chf after discharge (both too late); subject 3: nothing before
        "subject_id": [1, 2, 2, 3],
        "code": ["4280", "N189", "I509", "I509"],
        "charttime": [T0 - 365 * D, T0, T0 + 30 * D, T0 + 1 * H],
    })
    cohort = build_cohort(tables, CohortConfig(observation_hours=24))
    out = prior_history(cohort, tables["admissions"], tables["diagnoses"], GROUPS, conditions)
    out.index = cohort["hadm_id"]
    assert out["prior_chf"].tolist() == [1.0, 0.0, 0.0]
    assert out["prior_ckd"].tolist() == [0.0, 0.0, 0.0]
    without = prior_history(cohort, tables["admissions"], tables["diagnoses"], GROUPS)
    assert without["prior_chf"].tolist() == [0.0, 0.0, 0.0]


def test_prior_flags_in_build_dataset_current_code_does_not_count(small_tables):
    cfg, _ = small_tables
    tables = _tiny_tables(
        admissions=[{"subject_id": 1, "hadm_id": 11, "admittime": T0, "dischtime": T0 + 5 * D},
                    {"subject_id": 1, "hadm_id": 12, "admittime": T0 + 40 * D, "dischtime": T0 + 45 * D}],
        diagnoses=[(1, 11, "E119"), (1, 12, "4280")],
    )
    features, _ = build_dataset(tables, cfg, outcome_definitions())
    by = features.set_index("hadm_id")
    assert by.loc[11, "prior_diabetes"] == 0.0 and by.loc[11, "prior_chf"] == 0.0
    assert by.loc[12, "prior_diabetes"] == 1.0   # coded on the earlier, discharged stay
    assert by.loc[12, "prior_chf"] == 0.0        # coded on this stay: not known at index time


# --- window aggregates, hand-built ---------------------------------------------------------------

ITEMS = {"creatinine": 50912, "heart_rate": 220045}
AGGS = ["mean", "min", "max", "last", "count"]


def test_window_aggregates_by_hand():
    tables = _tiny_tables(
        admissions=[{"subject_id": 1, "hadm_id": 1, "admittime": T0, "dischtime": T0 + 4 * D},
                    {"subject_id": 2, "hadm_id": 2, "admittime": T0, "dischtime": T0 + 4 * D}],
        diagnoses=[],
        events=[
            # admission 1, creatinine, rows deliberately out of time order
            (1, 50912, T0 + 10 * H, 2.0),
            (1, 50912, T0 + 1 * H, 1.0),
            (1, 50912, T0 + 5 * H, 3.0),
            (1, 50912, T0 + 6 * H, np.nan),         # missing value: ignored
            (1, 50912, T0 - 1 * H, 50.0),           # before admission: ignored
            (1, 50912, T0 + 24 * H, 70.0),          # at the index time: ignored
            (1, 50912, T0 + 30 * H, 90.0),          # after the index time: ignored
            (1, 220045, T0, 80.0),                  # exactly at admittime: counted
            (1, 220045, T0 + 24 * H - pd.Timedelta(seconds=1), 100.0),
            (1, 99999, T0 + 2 * H, 5.0),            # an item not in the config
            # admission 2: heart rate only
            (2, 220045, T0 + 3 * H, 60.0),
            (2, 50912, T0 + 25 * H, 4.0),
        ],
    )
    cohort = build_cohort(tables, CohortConfig(observation_hours=24))
    out = window_aggregates(cohort, tables["events"], ITEMS, AGGS)
    out.index = cohort["hadm_id"]
    nan = np.nan
    expected = pd.DataFrame({
        "creatinine_mean": [2.0, nan], "creatinine_min": [1.0, nan], "creatinine_max": [3.0, nan],
        "creatinine_last": [2.0, nan], "creatinine_count": [3.0, 0.0],
        "heart_rate_mean": [90.0, 60.0], "heart_rate_min": [80.0, 60.0], "heart_rate_max": [100.0, 60.0],
        "heart_rate_last": [100.0, 60.0], "heart_rate_count": [2.0, 1.0],
    }, index=cohort["hadm_id"])
    pdt.assert_frame_equal(out, expected)


def test_window_aggregates_subset_of_aggregates_and_observation_hours():
    tables = _tiny_tables(
        admissions=[{"subject_id": 1, "hadm_id": 1, "admittime": T0, "dischtime": T0 + 4 * D}],
        diagnoses=[],
        events=[(1, 50912, T0 + 1 * H, 1.0), (1, 50912, T0 + 7 * H, 4.0), (1, 50912, T0 + 9 * H, 9.0)],
    )
    cohort = build_cohort(tables, CohortConfig(observation_hours=8))
    out = window_aggregates(cohort, tables["events"], {"creatinine": 50912}, ["last", "count"])
    assert list(out.columns) == ["creatinine_last", "creatinine_count"]
    assert out.iloc[0].tolist() == [4.0, 2.0]


# --- cohort ---------------------------------------------------------------------------------------

def test_cohort_excludes_stays_that_end_before_index_time():
    tables = _tiny_tables(
        admissions=[
            {"subject_id": 1, "hadm_id": 1, "admittime": T0, "dischtime": T0 + 20 * H},          # too short
            {"subject_id": 2, "hadm_id": 2, "admittime": T0, "dischtime": T0 + 24 * H},          # ends at index
            {"subject_id": 3, "hadm_id": 3, "admittime": T0, "dischtime": T0 + 24 * H + pd.Timedelta(seconds=1)},
            {"subject_id": 4, "hadm_id": 4, "admittime": T0, "dischtime": T0 + 12 * H,
             "deathtime": T0 + 12 * H},                                                           # died early
            {"subject_id": 5, "hadm_id": 5, "admittime": T0, "dischtime": T0 + 3 * D,
             "deathtime": T0 + 3 * D},                                                            # died later
            {"subject_id": 6, "hadm_id": 6, "admittime": T0, "dischtime": T0 + 3 * D},
        ],
        diagnoses=[],
    )
    cohort = build_cohort(tables, CohortConfig(observation_hours=24))
    assert cohort["hadm_id"].tolist() == [3, 5, 6]
    assert (cohort["index_time"] == T0 + 24 * H).all()
    assert (cohort["dischtime"] > cohort["index_time"]).all()
    # with a 12 h window the 20 h stay qualifies too; the death at 12 h still does not
    short = build_cohort(tables, CohortConfig(observation_hours=12))
    assert short["hadm_id"].tolist() == [1, 2, 3, 5, 6]


def test_cohort_excludes_minors_by_age_at_admission():
    tables = _tiny_tables(
        admissions=[{"subject_id": 1, "hadm_id": 1, "admittime": T0, "dischtime": T0 + 3 * D},
                    {"subject_id": 2, "hadm_id": 2, "admittime": T0 + 365 * 3 * D, "dischtime": T0 + 1100 * D}],
        diagnoses=[],
    )
    tables["patients"]["anchor_age"] = 16  # anchor_year 2019: 16 in 2019, 19 in 2022
    cohort = build_cohort(tables, CohortConfig(observation_hours=24, min_age=18))
    assert cohort["hadm_id"].tolist() == [2]
    assert cohort["age"].tolist() == [19.0]


def test_generated_cohort_has_no_stay_ending_before_index(small_tables, dataset):
    cfg, tables = small_tables
    adm = tables["admissions"]
    ends_early = adm["dischtime"] <= adm["admittime"] + pd.Timedelta(hours=cfg.cohort.observation_hours)
    assert ends_early.sum() > 0   # the generator does produce such stays
    features, _ = dataset
    assert not features["hadm_id"].isin(adm.loc[ends_early, "hadm_id"]).any()

"""Each outcome rule of mtl_core/dataset/outcomes.py on hand-built tiny tables."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtl_core.data.contracts import outcome_definitions
from mtl_core.dataset.outcomes import (
    RULES,
    build_labels,
    check_outcomes,
    diagnosis_in_admission,
    died_in_hospital,
    lab_rise_after_index,
    length_of_stay_over,
    readmission_within,
)
from mtl_core.errors import ConfigError

T0 = pd.Timestamp("2020-01-01 08:00")
H = pd.Timedelta(hours=1)
D = pd.Timedelta(days=1)
CREA = 50912


def cohort_frame(rows: list[dict]) -> pd.DataFrame:
    """Cohort rows: hadm_id, subject_id, admittime, dischtime, optional deathtime; index = admit + 24 h."""
    df = pd.DataFrame(rows)
    if "deathtime" not in df:
        df["deathtime"] = pd.NaT
    df["deathtime"] = pd.to_datetime(df["deathtime"])
    df["index_time"] = df["admittime"] + 24 * H
    return df


def values(series: pd.Series) -> list:
    return [None if np.isnan(v) else v for v in series.to_numpy(dtype=float)]


# --- died_in_hospital -------------------------------------------------------------------------

def test_died_in_hospital_is_one_exactly_when_deathtime_present():
    cohort = cohort_frame([
        {"hadm_id": 1, "subject_id": 1, "admittime": T0, "dischtime": T0 + 3 * D, "deathtime": T0 + 3 * D},
        {"hadm_id": 2, "subject_id": 2, "admittime": T0, "dischtime": T0 + 3 * D},
        {"hadm_id": 3, "subject_id": 3, "admittime": T0, "dischtime": T0 + 9 * D, "deathtime": T0 + 9 * D},
    ])
    assert values(died_in_hospital(cohort, {})) == [1.0, 0.0, 1.0]


# --- length_of_stay_over ----------------------------------------------------------------------

def test_length_of_stay_over_is_strict_and_in_days():
    cohort = cohort_frame([
        {"hadm_id": 1, "subject_id": 1, "admittime": T0, "dischtime": T0 + 7 * D},              # exactly 7 d
        {"hadm_id": 2, "subject_id": 2, "admittime": T0, "dischtime": T0 + 7 * D + H},          # just over
        {"hadm_id": 3, "subject_id": 3, "admittime": T0, "dischtime": T0 + 2 * D},
        {"hadm_id": 4, "subject_id": 4, "admittime": T0, "dischtime": T0 + 20 * D},
    ])
    assert values(length_of_stay_over(cohort, {}, days=7)) == [0.0, 1.0, 0.0, 1.0]
    assert values(length_of_stay_over(cohort, {}, days=1.5)) == [1.0, 1.0, 1.0, 1.0]


# --- readmission_within -----------------------------------------------------------------------

def _readmission_case():
    disch_a = T0 + 5 * D
    disch_c = T0 + 4 * D
    admissions = pd.DataFrame([
        # subject 1: stay 10, back exactly 30 days after discharge (boundary -> readmitted)
        {"subject_id": 1, "hadm_id": 10, "admittime": T0, "dischtime": disch_a},
        {"subject_id": 1, "hadm_id": 11, "admittime": disch_a + 30 * D, "dischtime": disch_a + 33 * D},
        # subject 2: stay 20, back 30 days and 1 second after discharge -> not readmitted
        {"subject_id": 2, "hadm_id": 20, "admittime": T0, "dischtime": disch_c},
        {"subject_id": 2, "hadm_id": 21, "admittime": disch_c + 30 * D + pd.Timedelta(seconds=1),
         "dischtime": disch_c + 35 * D},
        # subject 3: dies in hospital; a (data-error) later admission must not make it a readmission
        {"subject_id": 3, "hadm_id": 30, "admittime": T0, "dischtime": T0 + 3 * D},
        {"subject_id": 3, "hadm_id": 31, "admittime": T0 + 5 * D, "dischtime": T0 + 6 * D},
        # subject 4: single stay, never back
        {"subject_id": 4, "hadm_id": 40, "admittime": T0, "dischtime": T0 + 2 * D},
        # subject 5: back after 3 days; listed out of time order to check sorting
        {"subject_id": 5, "hadm_id": 51, "admittime": T0 + 10 * D, "dischtime": T0 + 12 * D},
        {"subject_id": 5, "hadm_id": 50, "admittime": T0, "dischtime": T0 + 7 * D},
    ])
    admissions["deathtime"] = pd.NaT
    admissions.loc[admissions["hadm_id"] == 30, "deathtime"] = T0 + 3 * D
    cohort = cohort_frame(admissions.loc[admissions["hadm_id"].isin([10, 20, 30, 40, 50, 51])]
                          .sort_values("hadm_id").to_dict("records"))
    return cohort, {"admissions": admissions}


def test_readmission_within_30_day_boundary_and_death():
    cohort, tables = _readmission_case()
    got = dict(zip(cohort["hadm_id"], values(readmission_within(cohort, tables, days=30))))
    assert got == {10: 1.0, 20: 0.0, 30: None, 40: 0.0, 50: 1.0, 51: 0.0}


def test_readmission_within_nan_only_for_in_hospital_deaths():
    cohort, tables = _readmission_case()
    label = readmission_within(cohort, tables, days=30)
    assert (label.isna().to_numpy() == cohort["deathtime"].notna().to_numpy()).all()


def test_readmission_within_shorter_window():
    cohort, tables = _readmission_case()
    got = dict(zip(cohort["hadm_id"], values(readmission_within(cohort, tables, days=2))))
    assert got == {10: 0.0, 20: 0.0, 30: None, 40: 0.0, 50: 0.0, 51: 0.0}


# --- lab_rise_after_index ---------------------------------------------------------------------

def _lab_case(pairs: dict[int, list[tuple[float, float]]], other_item: list[tuple[int, float, float]] = ()):
    """pairs: hadm_id -> [(hours after admittime, value)] of creatinine; index time at 24 h."""
    cohort = cohort_frame([{"hadm_id": h, "subject_id": h, "admittime": T0, "dischtime": T0 + 10 * D}
                           for h in pairs])
    rows = [{"subject_id": h, "hadm_id": h, "itemid": CREA, "charttime": T0 + t * H, "valuenum": v}
            for h, obs in pairs.items() for t, v in obs]
    rows += [{"subject_id": h, "hadm_id": h, "itemid": 99999, "charttime": T0 + t * H, "valuenum": v}
             for h, t, v in other_item]
    return cohort, {"events": pd.DataFrame(rows)}


def _rise(cohort, tables, **kw):
    params = dict(itemid=CREA, hours=48, ratio=1.5, delta=0.3) | kw
    return dict(zip(cohort["hadm_id"], values(lab_rise_after_index(cohort, tables, **params))))


def test_lab_rise_ratio_alone_triggers():
    # 0.5 -> 0.75 is exactly 1.5x but only +0.25 (below the 0.3 delta)
    cohort, tables = _lab_case({1: [(2, 0.5), (30, 0.75)], 2: [(2, 0.5), (30, 0.74)]})
    assert _rise(cohort, tables) == {1: 1.0, 2: 0.0}


def test_lab_rise_delta_alone_triggers():
    # 2.0 -> 2.3 is +0.3 (delta reached) but only 1.15x
    cohort, tables = _lab_case({1: [(2, 2.0), (30, 2.3)], 2: [(2, 2.0), (30, 2.25)]})
    assert _rise(cohort, tables) == {1: 1.0, 2: 0.0}


def test_lab_rise_uses_last_value_before_index_and_peak_after():
    cohort, tables = _lab_case({
        # baseline = last before index (1.0, not the earlier 3.0); peak after = max (1.6) -> rise
        1: [(1, 3.0), (20, 1.0), (30, 1.1), (40, 1.6), (50, 1.05)],
        # baseline last = 3.0 (earlier 1.0 ignored): peak 3.2 is neither 1.5x nor +0.3
        2: [(1, 1.0), (23, 3.0), (30, 3.2)],
    })
    assert _rise(cohort, tables) == {1: 1.0, 2: 0.0}


def test_lab_rise_missing_baseline_or_followup_is_nan():
    cohort, tables = _lab_case(
        {
            1: [(30, 5.0)],                 # nothing before index -> undefined
            2: [(3, 1.0)],                  # nothing after index -> undefined
            3: [(3, 1.0), (24 + 49, 9.0)],  # only after the 48 h horizon -> undefined
            4: [(3, 1.0), (24 + 47, 9.0)],  # inside the horizon -> rise
            5: [(3, float("nan")), (30, 4.0)],  # a missing value is no baseline
        },
        other_item=[(1, 2, 0.1), (1, 30, 50.0)],  # another item never counts
    )
    assert _rise(cohort, tables) == {1: None, 2: None, 3: None, 4: 1.0, 5: None}


def test_lab_rise_ignores_values_before_admission():
    cohort, tables = _lab_case({1: [(-5, 0.5), (30, 5.0)]})
    assert _rise(cohort, tables) == {1: None}


# --- diagnosis_in_admission -------------------------------------------------------------------

def test_diagnosis_in_admission_matches_prefixes_on_this_admission_only():
    cohort = cohort_frame([{"hadm_id": h, "subject_id": 1, "admittime": T0 + (h - 1) * 30 * D,
                            "dischtime": T0 + (h - 1) * 30 * D + 5 * D} for h in (1, 2, 3, 4)])
    diagnoses = pd.DataFrame({
        "subject_id": 1, "hadm_id": [1, 2, 2, 3, 5], "seq_num": [1, 1, 2, 1, 1],
        "icd_code": ["0389", "I10", "A419", "4019", "A41"], "icd_version": [9, 10, 10, 9, 10]})
    got = diagnosis_in_admission(cohort, {"diagnoses": diagnoses}, icd_prefixes=["038", "A41"])
    assert values(got) == [1.0, 1.0, 0.0, 0.0]


def test_diagnosis_prefix_is_not_a_substring_match():
    cohort = cohort_frame([{"hadm_id": 1, "subject_id": 1, "admittime": T0, "dischtime": T0 + 3 * D}])
    diagnoses = pd.DataFrame({"subject_id": [1], "hadm_id": [1], "seq_num": [1],
                              "icd_code": ["X0389"], "icd_version": [10]})
    assert values(diagnosis_in_admission(cohort, {"diagnoses": diagnoses}, icd_prefixes=["038"])) == [0.0]


# --- check_outcomes / build_labels ------------------------------------------------------------

def test_check_outcomes_rejects_unknown_outcome():
    with pytest.raises(ConfigError, match="no_such_outcome"):
        check_outcomes(["in_hospital_mortality", "no_such_outcome"], outcome_definitions())


def test_check_outcomes_rejects_unknown_rule():
    with pytest.raises(ConfigError, match="made_up_rule"):
        check_outcomes(["x"], {"x": {"rule": "made_up_rule"}})


def test_check_outcomes_accepts_every_shipped_definition():
    definitions = outcome_definitions()
    check_outcomes(list(definitions), definitions)
    assert {d["rule"] for d in definitions.values()} <= set(RULES)


def test_build_labels_keeps_requested_order_and_raises_on_unknown():
    cohort, tables = _readmission_case()
    defs = {"los": {"rule": "length_of_stay_over", "days": 4, "description": "x"},
            "dead": {"rule": "died_in_hospital"}}
    labels = build_labels(cohort, tables, ["dead", "los"], defs)
    assert list(labels.columns) == ["hadm_id", "dead", "los"]
    assert labels["hadm_id"].tolist() == cohort["hadm_id"].tolist()
    assert labels["los"].tolist() == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    with pytest.raises(ConfigError):
        build_labels(cohort, tables, ["dead", "nope"], defs)


def test_lab_rise_exact_ratio_with_float_rounding_triggers():
    # regression: 1.5 * 0.4 == 0.6000000000000001, so 0.4 -> 0.6 was missed
    cohort, tables = _lab_case({1: [(2, 0.4), (30, 0.6)], 2: [(2, 0.2), (30, 0.3)], 3: [(2, 0.4), (30, 0.59)]})
    assert _rise(cohort, tables) == {1: 1.0, 2: 1.0, 3: 0.0}

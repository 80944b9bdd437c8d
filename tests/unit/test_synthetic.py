"""The synthetic generator: deterministic, realistic prevalences, signal present, no impossible events."""
from __future__ import annotations

import numpy as np
import pandas.testing as pdt
import pytest
from sklearn.metrics import roc_auc_score

from mtl_core.config import SourceConfig
from mtl_core.data.contracts import outcome_definitions
from mtl_core.dataset.features import build_dataset
from mtl_core.sources.synthetic import generate

TABLES = ("patients", "admissions", "events", "diagnoses", "truth")


@pytest.fixture(scope="module")
def dataset(small_tables):
    cfg, tables = small_tables
    return build_dataset(tables, cfg, outcome_definitions())


def test_same_seed_gives_identical_tables():
    cfg = SourceConfig(n_patients=300, seed=123)
    a, b = generate(cfg, 24), generate(cfg.model_copy(), 24)
    assert set(a) == set(b) == set(TABLES)
    for name in TABLES:
        pdt.assert_frame_equal(a[name], b[name], check_exact=True)


def test_different_seed_gives_different_tables():
    a = generate(SourceConfig(n_patients=300, seed=123), 24)
    b = generate(SourceConfig(n_patients=300, seed=124), 24)
    for name in ("patients", "admissions", "events", "truth"):
        assert not a[name].equals(b[name]), name
    assert not np.array_equal(a["events"]["valuenum"].to_numpy()[:100], b["events"]["valuenum"].to_numpy()[:100])


def test_truth_table_has_at_least_five_outcomes_with_probabilities(small_tables):
    cfg, tables = small_tables
    truth = tables["truth"]
    outcomes = [c for c in truth.columns if c != "hadm_id"]
    assert len(outcomes) >= 5
    assert set(cfg.outcomes) <= set(outcomes)
    assert truth["hadm_id"].is_unique
    assert set(truth["hadm_id"]) == set(tables["admissions"]["hadm_id"])
    values = truth[outcomes].to_numpy(float)
    finite = values[~np.isnan(values)]
    assert finite.size > 0.9 * values.size
    assert finite.min() >= 0.0 and finite.max() <= 1.0


def test_label_prevalences_are_realistic(small_tables, dataset):
    cfg, _ = small_tables
    _, labels = dataset
    for outcome in cfg.outcomes:
        prevalence = labels[outcome].mean()  # NaN (undefined) labels are skipped
        assert 0.02 <= prevalence <= 0.40, (outcome, prevalence)


def test_readmission_is_nan_exactly_after_in_hospital_death(small_tables, dataset):
    _, tables = small_tables
    _, labels = dataset
    died = labels["hadm_id"].map(tables["admissions"].set_index("hadm_id")["deathtime"]).notna()
    assert died.sum() > 20
    np.testing.assert_array_equal(labels["readmission_30d"].isna().to_numpy(), died.to_numpy())


def test_truth_probabilities_rank_the_labels(small_tables, dataset):
    cfg, tables = small_tables
    _, labels = dataset
    truth = labels[["hadm_id"]].merge(tables["truth"], on="hadm_id", how="left")
    for outcome in cfg.outcomes:
        y, p = labels[outcome].to_numpy(float), truth[outcome].to_numpy(float)
        keep = ~np.isnan(y)
        assert not np.isnan(p[keep]).any(), outcome
        auc = roc_auc_score(y[keep], p[keep])
        assert auc > 0.65, (outcome, auc)


def test_no_event_outside_its_admission(small_tables):
    _, tables = small_tables
    ev = tables["events"].merge(tables["admissions"][["hadm_id", "subject_id", "admittime", "dischtime"]],
                                on="hadm_id", how="left", suffixes=("", "_adm"))
    assert ev["dischtime"].notna().all()                 # every event belongs to a known admission
    assert (ev["subject_id"] == ev["subject_id_adm"]).all()
    assert (ev["charttime"] <= ev["dischtime"]).all()
    assert (ev["charttime"] >= ev["admittime"]).all()


def test_deaths_are_consistent(small_tables):
    _, tables = small_tables
    adm, pat = tables["admissions"], tables["patients"]
    died = adm["deathtime"].notna()
    assert (adm["hospital_expire_flag"] == died.astype(int)).all()
    assert (adm.loc[died, "deathtime"] == adm.loc[died, "dischtime"]).all()
    # no admission after a patient's in-hospital death
    death = adm.loc[died].groupby("subject_id")["deathtime"].min()
    after = adm["admittime"] > adm["subject_id"].map(death)
    assert not after.any()
    assert pat.set_index("subject_id").loc[death.index, "dod"].notna().all()


def test_a_later_period_adds_new_patients_after_the_main_cohort_cut_at_its_extract():
    from mtl_core.config.sources import LaterPeriod
    from mtl_core.errors import ConfigError
    from mtl_core.sources.synthetic import SyntheticPartitions

    cfg = SourceConfig(n_patients=400, seed=5)
    main = generate(cfg, 24)
    later = cfg.model_copy(update={"later": LaterPeriod(n_patients=800, months=4, outcome_noise={"sepsis": 2.0},
                                                        outcome_odds={"aki": 2.0}, assay={"creatinine": 1.3})})
    parts = SyntheticPartitions(later, 24)
    assert len(parts) == 2
    for name in TABLES:  # the main cohort is what it was without the option
        pdt.assert_frame_equal(parts.read(0)[name], main[name], check_exact=True)
    new = parts.read(1)
    adm = new["admissions"]
    assert not set(adm["hadm_id"]) & set(main["admissions"]["hadm_id"])
    assert not set(new["patients"]["subject_id"]) & set(main["patients"]["subject_id"])
    start = main["admissions"]["dischtime"].max()
    assert adm["admittime"].min() > start
    extract = (start + np.timedelta64(40, "D")).to_period("M").start_time  # month after, + 4 months
    assert adm["dischtime"].max() <= extract + np.timedelta64(120, "D")
    assert set(new["events"]["hadm_id"]) <= set(adm["hadm_id"]) and set(new["truth"]["hadm_id"]) == set(adm["hadm_id"])
    assert new["truth"]["aki"].mean() > 1.4 * main["truth"]["aki"].mean()  # a new outcome rate
    assert "later" not in cfg.model_dump()  # configs without the option keep their digests
    with pytest.raises(ConfigError, match="source.later names"):
        SyntheticPartitions(cfg.model_copy(update={"later": LaterPeriod(assay={"troponin": 2.0})}), 24).read(1)

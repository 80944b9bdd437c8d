"""Source `tabular`, source-kind configs and the per-layout registries (validators, dataset builders)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from mtl_core.config import SOURCE_KINDS, MimicIVSource, SourceConfig, SyntheticSource, load_config
from mtl_core.data.contracts import outcome_definitions, validate
from mtl_core.errors import ConfigError, DataError
from mtl_core.sources import SOURCES, load_source, tabular, validate_source
from mtl_core.sources.layouts import LAYOUTS, check_outcomes, dataset_builder
from tests.bad_inputs.fixtures import OUTCOMES, flat_frame, tabular_config
from tests.conftest import DEFAULT_CONFIG


@pytest.fixture(scope="module")
def flat(small_tables):
    cfg, tables = small_tables
    return flat_frame(tables, cfg)


def _cfg(tmp_path, table, source=None, **overrides):
    return load_config(tabular_config(tmp_path / "c.yaml", tmp_path / "ws", table, source, **overrides))


def _dataset(flat, tmp_path, name="t.parquet", source=None, **overrides):
    path = tmp_path / name
    flat.to_parquet(path, index=False) if name.endswith(".parquet") else flat.to_csv(path, index=False)
    cfg = _cfg(tmp_path, path, source, **overrides)
    tables = load_source(cfg)
    validate_source(tables, cfg)
    return cfg, tables, dataset_builder(cfg).build(tables, cfg, outcome_definitions())


def test_flat_table_becomes_features_and_labels(flat, tmp_path):
    cfg, tables, (features, labels) = _dataset(flat, tmp_path)
    assert "mrn" not in tables["tabular"]  # excluded columns never reach the lake
    assert list(features.columns[:3]) == ["hadm_id", "subject_id", "split"]
    assert features["hadm_id"].tolist() == flat["stay_id"].tolist()  # integer ids are kept
    expected = [c for c in flat.columns if c not in ("stay_id", "patient", "mrn", *OUTCOMES)]
    assert list(features.columns[3:]) == expected
    assert {c for c in expected if features[c].dtype == "str"} == {"gender", "admission_type", "insurance"}
    assert list(labels.columns) == ["hadm_id", *OUTCOMES]
    assert labels["readmission_30d"].isna().sum() == flat["readmission_30d"].isna().sum() > 0
    validate(features, "tabular_features")
    validate(labels, "labels")


def test_split_is_by_group_and_stable(flat, tmp_path):
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    _, _, (a, _) = _dataset(flat, tmp_path / "a")
    assert (a.groupby("subject_id")["split"].nunique() == 1).all()
    assert (a.groupby("subject_id").size() > 1).sum() > 50  # patients with several rows exist
    assert a["split"].value_counts(normalize=True)["train"] == pytest.approx(0.7, abs=0.05)
    _, _, (b, _) = _dataset(flat.sample(frac=1.0, random_state=1), tmp_path / "b")  # same rows, new order
    merged = a[["hadm_id", "subject_id", "split"]].merge(b[["hadm_id", "subject_id", "split"]], on="hadm_id")
    assert len(merged) == len(a)
    assert (merged["split_x"] == merged["split_y"]).all()
    assert (merged["subject_id_x"] == merged["subject_id_y"]).all()


def test_group_defaults_to_the_id(flat, tmp_path):
    _, _, (features, _) = _dataset(flat.drop(columns=["patient"]), tmp_path, source={"group_column": None})
    assert (features["subject_id"] == features["hadm_id"]).all()


def test_text_ids_become_stable_distinct_integer_keys():
    ids = pd.Series([f"stay-{i}" for i in range(5000)])
    keys = tabular.int_key(ids)
    assert keys.dtype == np.int64 and (keys >= 0).all() and len(set(keys)) == len(ids)
    assert (tabular.int_key(ids.iloc[::-1].reset_index(drop=True))[::-1] == keys).all()


def test_listed_features_and_categoricals(flat, tmp_path):
    source = {"feature_columns": ["age", "creatinine_mean", "gender"], "categorical_columns": ["gender"]}
    cfg, tables, (features, _) = _dataset(flat, tmp_path, "t.csv", source,
                                          evaluation={"subgroups": ["gender", "age_band"]})
    stored = ["stay_id", "patient", "age", "creatinine_mean", "gender", *OUTCOMES]
    assert list(tables["tabular"].columns) == stored
    assert list(features.columns) == ["hadm_id", "subject_id", "split", "age", "creatinine_mean", "gender"]
    assert features["gender"].dtype == "str" and features["age"].dtype == "float64"


def test_numeric_column_declared_categorical_is_text(flat, tmp_path):
    source = {"categorical_columns": ["n_prior_admissions", "gender", "admission_type", "insurance"]}
    _, _, (features, _) = _dataset(flat, tmp_path, source=source)
    assert features["n_prior_admissions"].dtype == "str" and features["age"].dtype == "float64"


def test_explicit_categorical_list_leaves_other_text_columns_an_error(flat, tmp_path):
    with pytest.raises(DataError, match=r"feature column 'gender': wrong dtype, expected numbers"):
        _dataset(flat, tmp_path, source={"categorical_columns": ["admission_type", "insurance"]})


def test_other_outcome_columns_are_never_features(flat, tmp_path):
    source = {"outcome_columns": OUTCOMES}
    _, tables, (features, labels) = _dataset(flat, tmp_path, source=source, outcomes=["sepsis", "aki"])
    assert not set(OUTCOMES) & set(features.columns)
    assert list(labels.columns) == ["hadm_id", "sepsis", "aki"]


# --- config -------------------------------------------------------------------------------------------

def _raw_config(tmp_path, source, drop_features=False):
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["source"] = source
    if drop_features:
        raw.pop("features")
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_default_config_is_still_synthetic():
    cfg = load_config(DEFAULT_CONFIG)
    assert isinstance(cfg.source, SyntheticSource) and SourceConfig is SyntheticSource
    assert cfg.source.layout == "canonical" and cfg.source.n_patients == 12500


def test_source_without_kind_is_synthetic(tmp_path):
    assert load_config(_raw_config(tmp_path, {"n_patients": 50})).source.kind == "synthetic"


@pytest.mark.parametrize("source, message", [
    ({"kind": "omop_v6"}, "unknown source kind 'omop_v6' (known: synthetic, mimic_iv, tabular, omop, meds)"),
    ({"kind": "mimic_iv", "path": "x", "n_patients": 5}, "source.mimic_iv.n_patients: Extra inputs"),
    ({"kind": "mimic_iv"}, "source.mimic_iv.path: Field required"),
    ({"kind": "synthetic", "path": "x"}, "source.synthetic.path: Extra inputs"),
])
def test_source_config_errors(tmp_path, source, message):
    with pytest.raises(ConfigError) as info:
        load_config(_raw_config(tmp_path, source))
    assert message in str(info.value)


@pytest.mark.parametrize("source, message", [
    ({"id_column": "id", "feature_columns": ["id", "x"]}, "must not name the id/group column(s) ['id']"),
    ({"id_column": "id", "outcome_columns": ["aki"]}, "are not in source.outcome_columns"),
    ({"id_column": "id", "feature_columns": ["x", "x"]}, "feature_columns lists a column twice"),
    ({"id_column": "id", "feature_columns": ["sepsis"], "outcome_columns": OUTCOMES},
     "both feature and outcome"),
])
def test_tabular_config_errors(tmp_path, source, message):
    with pytest.raises(ConfigError) as info:
        load_config(_raw_config(tmp_path, {"kind": "tabular", "path": "t.csv", **source}, drop_features=True))
    assert message in str(info.value)


def test_every_kind_has_a_loader_validator_and_builder():
    assert set(SOURCES) == set(SOURCE_KINDS)
    layouts = {cls.layout for cls in SOURCE_KINDS.values()}
    assert layouts == set(LAYOUTS) == {"canonical", "flat", "meds"}
    assert MimicIVSource.layout == "canonical"


def test_outcome_check_is_source_aware():
    with pytest.raises(ConfigError, match="outcome 'my_label' is not defined"):
        check_outcomes(["my_label"], outcome_definitions())
    check_outcomes(["my_label"], outcome_definitions(), layout="flat")  # a column, checked at ingest


def test_tabular_outcomes_need_no_definition(flat, tmp_path):
    renamed = flat.rename(columns={"sepsis": "septic_shock_label"})
    _, _, (_, labels) = _dataset(renamed, tmp_path, outcomes=["septic_shock_label"])
    assert list(labels.columns) == ["hadm_id", "septic_shock_label"]


def test_validation_errors_name_column_and_rows(flat, tmp_path):
    bad = flat.copy()
    bad.loc[bad.index[:2], "stay_id"] = bad["stay_id"].iloc[5]
    with pytest.raises(DataError, match=r"column 'stay_id': check unique failed in 3 rows"):
        _dataset(bad, tmp_path)


def test_example_configs_are_valid_and_coherent(tmp_path):
    root = DEFAULT_CONFIG.parent
    mimic = load_config(root / "mimic_iv_example.yaml")
    assert mimic.source.kind == "mimic_iv"
    assert mimic.features.items == load_config(DEFAULT_CONFIG).features.items
    raw = yaml.safe_load((root / "tabular_example.yaml").read_text())
    rng = np.random.default_rng(0)
    n = 400
    table = pd.DataFrame({
        "stay_id": np.arange(n), "patient_id": rng.integers(0, 250, n).astype(str), "mrn": "M1",
        "name": "x", "date_of_birth": "1950-01-01", "admit_date": "2020-01-01", "age": rng.uniform(20, 90, n),
        "sex": rng.choice(["F", "M"], n), "lactate_max": rng.normal(2, 1, n),
        "ward": rng.choice(list("ABC"), n),
        "died_in_hospital": rng.integers(0, 2, n), "readmitted_30d": rng.integers(0, 2, n).astype(float),
        "icu_transfer": rng.integers(0, 2, n)})
    raw["source"]["path"] = str(tmp_path / "cohort.parquet")
    table.to_parquet(raw["source"]["path"], index=False)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_config(tmp_path / "c.yaml")
    tables = load_source(cfg)
    validate_source(tables, cfg)
    features, labels = dataset_builder(cfg).build(tables, cfg, outcome_definitions())
    assert list(features.columns[3:]) == ["age", "sex", "lactate_max", "ward"]
    assert list(labels.columns) == ["hadm_id", "died_in_hospital", "readmitted_30d"]

"""One synthetic cohort three ways: generated, written as MIMIC-IV (csv.gz, Parquet) and as OMOP CDM, then read
back in partitions of whole patients. Every path gives the same tables, features, labels and truth."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from mtl_core.config import Config, load_config
from mtl_core.data.contracts import outcome_definitions
from mtl_core.data.partitions import concat
from mtl_core.dataset.features import build_dataset, model_columns
from mtl_core.evaluation.metrics import auroc
from mtl_core.sources import each_partition, open_source, synthetic
from mtl_core.sources.export_mimic import write_mimic
from mtl_core.sources.export_omop import write_omop
from tests.conftest import write_config

N_PATIENTS = 3000
PARTITION_ROWS = 40_000   # the cohort (~190k rows in all) in about five partitions
CANONICAL = ("patients", "admissions", "events", "diagnoses")
PATHS = {"mimic_csv_gz": ("mimic_iv", "csv.gz"), "mimic_parquet": ("mimic_iv", "parquet"),
         "omop_csv": ("omop", "csv")}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    base = tmp_path_factory.mktemp("paths")
    cfg = load_config(write_config(base / "c.yaml", base / "ws", source={"n_patients": N_PATIENTS}))
    whole = synthetic.generate(cfg.source, cfg.cohort.observation_hours)
    exports = {}
    for name, (kind, fmt) in PATHS.items():
        write = write_mimic if kind == "mimic_iv" else write_omop
        exports[name] = write(cfg.source, cfg.cohort.observation_hours, base / name, fmt)
    return cfg, whole, exports


def _config(cfg: Config, name: str, path) -> Config:
    kind = PATHS[name][0]
    source = {"kind": kind, "path": str(path), **({"diagnosis_code": "source_value"} if kind == "omop" else {})}
    raw = {**cfg.model_dump(mode="json"), "source": source,
           "ingest": {**cfg.ingest.model_dump(), "partition_rows": PARTITION_ROWS}}
    return Config.model_validate(raw)


@pytest.fixture(scope="module")
def read(cohort):
    cfg, _, exports = cohort
    out = {}
    for name, path in exports.items():
        c = _config(cfg, name, path)
        with open_source(c) as parts:
            out[name] = (c, list(each_partition(parts)))
    return out


def _sorted(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return df.sort_values(keys, kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("name", list(PATHS))
def test_partitions_hold_whole_patients_and_add_up_to_the_cohort(cohort, read, name):
    _, whole, _ = cohort
    _, parts = read[name]
    assert len(parts) >= 3
    seen: set[int] = set()
    for p in parts:
        subjects = set(p["patients"]["subject_id"])
        assert not subjects & seen  # no patient in two partitions
        seen |= subjects
        for table in ("admissions", "events", "diagnoses", "truth"):
            key = "subject_id" if "subject_id" in p[table] else None
            if key:
                assert set(p[table][key]) <= subjects, table
        assert set(p["events"]["hadm_id"]) <= set(p["admissions"]["hadm_id"])
        assert set(p["truth"]["hadm_id"]) == set(p["admissions"]["hadm_id"])
    got = concat(parts)
    assert seen == set(whole["patients"]["subject_id"])
    for table in CANONICAL:
        cols = list(whole[table].columns)
        mine = got[table]
        if name.startswith("omop"):   # what the CDM cannot carry (see test_features_agree)
            cols = [c for c in cols if c not in ("insurance", "admission_type", "seq_num", "icd_version", "dod",
                                                 "anchor_age", "anchor_year")]  # re-anchored: same ages
        keys = [c for c in ("subject_id", "hadm_id", "itemid", "charttime", "icd_code") if c in cols]
        pdt.assert_frame_equal(_sorted(mine[cols], keys), _sorted(whole[table][cols], keys), check_like=True)
    pdt.assert_frame_equal(_sorted(got["truth"], ["hadm_id"]), _sorted(whole["truth"], ["hadm_id"]))


def _features(cfg: Config, parts: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    defs = outcome_definitions(kind=cfg.source.kind)
    built = [build_dataset(p, cfg, defs) for p in parts]
    f = _sorted(pd.concat([b[0] for b in built], ignore_index=True), ["hadm_id"])
    y = _sorted(pd.concat([b[1] for b in built], ignore_index=True), ["hadm_id"])
    return f, y


@pytest.mark.parametrize("name", list(PATHS))
def test_features_and_labels_agree_with_the_generated_cohort(cohort, read, name):
    cfg, whole, _ = cohort
    want_f, want_y = _features(cfg, [whole])
    got_f, got_y = _features(*read[name])
    if name.startswith("omop"):
        # OMOP has no insurance, and admission types are visit concepts: 262 (ER and inpatient) for
        # emergency admissions, 9201 (inpatient) for the others
        want_f = want_f.drop(columns="insurance")
        want_f["admission_type"] = np.where(want_f["admission_type"] == "EMERGENCY", "ER_INPATIENT", "INPATIENT")
        want_f["admission_type"] = want_f["admission_type"].astype(got_f["admission_type"].dtype)
    pdt.assert_frame_equal(got_f, want_f[list(got_f.columns)])
    pdt.assert_frame_equal(got_y, want_y)
    assert got_y["readmission_30d"].sum() > 50 and got_f["prior_chf"].sum() > 50


def _auroc_vs_ceiling(f: pd.DataFrame, y: pd.DataFrame, truth: pd.DataFrame) -> dict:
    X = pd.get_dummies(f[model_columns(f)], dtype=float).fillna(0.0)
    t = truth.set_index("hadm_id").reindex(f["hadm_id"]).reset_index(drop=True)
    train, test = (f["split"] == "train").to_numpy(), (f["split"] == "test").to_numpy()
    out = {}
    for o in ("in_hospital_mortality", "prolonged_stay", "aki"):
        lab = y[o].notna().to_numpy()
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
        model.fit(X[train & lab], y.loc[train & lab, o])
        p = model.predict_proba(X[test & lab])[:, 1]
        out[o] = (auroc(y.loc[test & lab, o].to_numpy(), p), auroc(y.loc[test & lab, o].to_numpy(),
                                                                    t.loc[test & lab, o].to_numpy()))
    return out


def test_ceiling_auroc_holds_on_every_path(cohort, read):
    """The truth travels with each export, so every path has the ceiling; a plain model gets close to it
    on every path alike (the features are the same)."""
    cfg, whole, _ = cohort
    reference = _auroc_vs_ceiling(*_features(cfg, [whole]), whole["truth"])
    for name, (c, parts) in read.items():
        got = _auroc_vs_ceiling(*_features(c, parts), concat(parts)["truth"])
        for o, (model, ceiling) in got.items():
            assert ceiling == pytest.approx(reference[o][1], abs=1e-12), (name, o)
            assert model == pytest.approx(reference[o][0], abs=0.02), (name, o)
            assert model >= 0.85 * ceiling, (name, o, model, ceiling)

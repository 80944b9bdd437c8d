"""After a split change (another split seed), the gate and comparison.md compare v2 with champion v1 on the
rows neither model was fitted or tuned on: the overlap is counted and reported, and v1 is never scored on
its own training or validation rows. With too few such rows the two are "not comparable"."""
from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
import yaml

from tests.conftest import write_config


def _features(ws: Path, run_id: str) -> pd.DataFrame:
    from mtl_core.data import feature_set
    from mtl_core.data.model_folder import ModelFolder

    return feature_set.split_keys(ModelFolder.of_run(ws, run_id).meta().features_dir)


def test_split_change_compares_on_unseen_rows_only(prefect_server, tmp_path, monkeypatch):
    from flows import tracking
    from flows.pipeline import pipeline
    from flows.promote import register_and_promote

    ws = tmp_path / "workspace"
    fast = {"evaluation": {"n_boot": 100, "baselines": []}, "registry": {"min_comparison_rows": 20}}
    first = write_config(tmp_path / "v1.yaml", ws, **fast)
    second = write_config(tmp_path / "v2.yaml", ws, split={"seed": 7}, **fast)

    scored: list[pd.Index] = []  # the rows (of v2's test frame) each loaded model was asked to score
    load = tracking.load_model

    def spying(cfg, ws_, uri):
        model = load(cfg, ws_, uri)

        class Spy:
            metadata = model.metadata

            def predict(self, X):
                scored.append(X.index)
                return model.predict(X)
        return Spy()

    v1 = pipeline(str(first))
    assert v1["promoted"] and v1["version"] == "1"
    monkeypatch.setattr(tracking, "load_model", spying)
    v2 = pipeline(str(second))
    assert v2["version"] == "2" and v2["compared_to"] == "1"

    old, new = _features(ws, v1["run_id"]), _features(ws, v2["run_id"])
    test = new[new["split"] == "test"].reset_index(drop=True)
    champion_split = old.drop_duplicates("subject_id").set_index("subject_id")["split"]
    where = champion_split.reindex(test["subject_id"]).to_numpy()
    in_train, in_val, unseen = (int((where == s).sum()) for s in ("train", "val", "test"))
    assert in_train + in_val + unseen == len(test) and in_train > unseen > 20
    heading = v2["reasons"][0]
    assert heading.startswith(f"compared with v1 on {unseen:,} of {len(test):,} test rows that neither model "
                              "was fitted or tuned on"), heading
    assert f"({in_train:,} in v1's training split and {in_val:,} in its validation split left out" in heading

    # the gate's champion scoring (the first call) saw only rows v1 never trained or tuned on
    assert scored and len(scored[0]) == unseen and set(where[scored[0]]) == {"test"}

    uri = f"sqlite:///{ws / 'mlflow.db'}"
    client = mlflow.MlflowClient(uri, registry_uri=uri)
    name = v2["model_name"]
    tags = client.get_model_version(name, "2").tags
    assert tags["cmtl.compared_rows"] == f"{unseen:,} of {len(test):,}"
    assert f"- {heading}" in client.get_model_version(name, "2").description
    local = client.download_artifacts(v2["run_id"], "comparison.md", str(tmp_path / "dl"))
    comparison = Path(local).read_text()
    assert (f"Both models scored on the {unseen:,} of {len(test):,} test rows of v2's feature set that neither "
            f"model was fitted or tuned on ({in_train:,} in v1's training split and {in_val:,} in its validation split left out; "
            "patients matched)") in comparison, comparison

    # the same pair with a higher bar: not comparable, and the verdict and report say why
    cfg = yaml.safe_load(second.read_text())
    cfg["registry"]["min_comparison_rows"] = unseen + 1
    strict = tmp_path / "strict.yaml"
    strict.write_text(yaml.safe_dump(cfg, sort_keys=False))
    dry = register_and_promote(str(strict), version="2", dry_run=True)
    assert not dry["gate_passed"]
    assert dry["reasons"][0].startswith(f"not comparable with v1: only {unseen:,} of {len(test):,} test rows")
    assert f"at least {unseen + 1:,} are needed (registry.min_comparison_rows)" in dry["reasons"][0]
    champion_checks = [c for c in dry["checks"] if c["gate"] == "champion"]
    assert champion_checks and all(c["passed"] is False and "not comparable" in c["detail"] for c in champion_checks)


@pytest.fixture(autouse=True)
def _store_of_this_test(monkeypatch):
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "CMTL_WORKSPACE"):
        monkeypatch.delenv(key, raising=False)

"""Issue 19 through Prefect: a flat table's "event by horizon" columns declared as a chain come out of
train and evaluate coherent, with explanations beside the evaluation; a label breaking a declared
implication stops the features flow with outcomes and count, and nothing is written."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mtl_core.dataset.structure import OutcomeStructure
from mtl_core.errors import DataError
from tests.bad_inputs.fixtures import tabular_config
from tests.conftest import write_config
from tests.unit.test_outcome_structure import HORIZONS, horizon_cohort


def structure_of(chain) -> OutcomeStructure:
    return OutcomeStructure(tuple(zip(chain[:-1], chain[1:])))


def test_a_declared_chain_holds_through_train_and_evaluate(prefect_server, tmp_path):
    from flows.evaluate import evaluate
    from flows.features import build_features
    from flows.ingest import ingest
    from flows.promote import register_and_promote
    from flows.score import score
    from flows.train import train

    f, Y = horizon_cohort(n=3000, seed=4)
    table = f.drop(columns=["hadm_id", "split"]).rename(columns={"subject_id": "stay_id"}).join(Y)
    table.to_csv(tmp_path / "horizons.csv", index=False)
    cfg = tabular_config(tmp_path / "config.yaml", tmp_path / "ws", tmp_path / "horizons.csv",
                         {"group_column": None, "exclude_columns": []}, outcomes=list(HORIZONS),
                         outcome_structure={"chains": [list(HORIZONS)]}, evaluation={"subgroups": [], "n_boot": 50},
                         registry={"subgroup_margins": {}}, train={"epochs": 6, "patience": 2})
    features_dir = build_features(str(cfg), ingest(str(cfg)))
    model_dir = train(str(cfg), features_dir)
    result = evaluate(str(cfg), model_dir=model_dir)
    s = result["structure"]
    assert s["implications"] == [["event_1y", "event_2y"], ["event_2y", "event_3y"]]
    assert s["incoherent_after"] == 0 and s["rows"] > 300
    explained = json.loads((Path(model_dir) / "explanations.json").read_text())
    assert explained["source"] in ("validation", "out-of-fold") and set(explained["outcomes"]) == set(HORIZONS)
    assert explained["outcomes"]["event_1y"][0]["predictor"] == "x0"  # the strongest hazard term
    assert (Path(model_dir) / "explanations.png").stat().st_size > 10_000

    register_and_promote(str(cfg), model_dir)  # then `cmtl score --explain 2` on the registered model
    table.head(25).to_csv(tmp_path / "new.csv", index=False)
    out = tmp_path / "scored.csv"
    result = score(str(cfg), str(tmp_path / "new.csv"), str(out), explain=2)
    scored = pd.read_csv(out)
    assert result["rows"] == 25 and not structure_of(HORIZONS).incoherent(scored[list(HORIZONS)].to_numpy(),
                                                                          list(HORIZONS)).any()
    assert [c for c in scored.columns if "_why_" in c] == [f"{o}_why_{i}" for o in HORIZONS for i in (1, 2)]
    assert scored["event_1y_why_1"].str.endswith(" points").all()


def test_features_refuse_labels_that_break_a_declared_implication(prefect_server, tmp_path):
    from flows.features import build_features
    from flows.ingest import ingest

    cfg = write_config(tmp_path / "config.yaml", tmp_path / "ws",
                       outcome_structure={"implies": [["in_hospital_mortality", "prolonged_stay"]]})
    snapshot = ingest(str(cfg))
    with pytest.raises(DataError) as err:
        build_features(str(cfg), snapshot)
    text = str(err.value)
    assert "labels contradict the declared outcome_structure" in text
    assert "with 'in_hospital_mortality' = 1 but 'prolonged_stay' = 0" in text and " rows " in text
    features = tmp_path / "ws" / "features"
    assert not features.is_dir() or not [p for p in features.iterdir() if not p.name.startswith(".")]
    assert yaml.safe_load(cfg.read_text())["outcome_structure"]  # the config did declare it

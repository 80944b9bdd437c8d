"""What ships with the model beside estimator.joblib: the operating point of each outcome (chosen on the
validation split, never on test) and the drift reference profile of its training data (aggregates only).
Both are JSON files in the model folder and artifacts of the logged pyfunc."""
from __future__ import annotations

import json
from pathlib import Path

import joblib
from prefect import task
from prefect.cache_policies import NO_CACHE

from flows.runtime import policy
from flows.runtime.workspace import prepare
from mtl_core.data import lake
from mtl_core.evaluation.drift import profile
from mtl_core.network.estimator import validation_proba
from mtl_core.dataset.features import model_columns
from mtl_core.evaluation.operating_points import choose_threshold

OPERATING_POINTS = "operating_points.json"
DRIFT_REFERENCE = "drift_reference.json"


@task(name="Choose operating points on validation; profile training data", cache_policy=NO_CACHE, **policy.FIT)
def ship_with_model(config_path: str, features_dir: str, model_dir: str) -> dict:
    cfg, _ = prepare(config_path)
    frames = lake.read_tables(Path(features_dir), ["features", "labels"])
    f, labels = frames["features"], frames["labels"]
    est = joblib.load(Path(model_dir) / "estimator.joblib")
    cols = list(est.feature_names_in_) if hasattr(est, "feature_names_in_") else model_columns(f)
    val, train = (f["split"] == "val").to_numpy(), (f["split"] == "train").to_numpy()
    P = validation_proba(est, f.loc[val, cols])
    points = {}
    for k, outcome in enumerate(est.outcomes_):
        rule = cfg.evaluation.operating_points.rule(outcome)
        points[outcome] = choose_threshold(labels.loc[val, outcome].to_numpy(float), P[:, k], rule.rule,
                                           rule.target, outcome).to_dict()
    (Path(model_dir) / OPERATING_POINTS).write_text(json.dumps(points, indent=2))
    reference = profile(f.loc[train, cols], labels.loc[train, est.outcomes_])
    (Path(model_dir) / DRIFT_REFERENCE).write_text(json.dumps(reference))
    return points


def read_points(model_dir: str | Path) -> dict:
    """outcome -> operating point dict ({} for a model from before operating points)."""
    path = Path(model_dir) / OPERATING_POINTS
    return json.loads(path.read_text()) if path.is_file() else {}


def thresholds(model_dir: str | Path) -> dict[str, float | None]:
    return {o: p.get("threshold") for o, p in read_points(model_dir).items()}


def read_reference(model_dir: str | Path) -> dict | None:
    path = Path(model_dir) / DRIFT_REFERENCE
    return json.loads(path.read_text()) if path.is_file() else None


def pyfunc_artifacts(model_dir: str | Path) -> dict[str, str]:
    """The extra artifacts of the logged pyfunc (those that exist)."""
    found = {"operating_points": Path(model_dir) / OPERATING_POINTS,
             "drift_reference": Path(model_dir) / DRIFT_REFERENCE}
    return {k: str(v) for k, v in found.items() if v.is_file()}

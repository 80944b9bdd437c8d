"""Flow `build_features`: lake snapshot -> validated feature matrix + labels with a patient-level split."""
from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.workspace import prepare
from mtl_core import contracts, lake
from mtl_core.errors import DataError
from mtl_core.features import build_dataset


@task(name="Build cohort, features and labels", cache_policy=NO_CACHE)
def build(config_path: str, snapshot_dir: str) -> dict:
    cfg, _ = prepare(config_path)
    tables = lake.read_tables(Path(snapshot_dir))
    features, labels = build_dataset(tables, cfg, contracts.outcome_definitions())
    contracts.validate(features, "features")
    contracts.validate(labels, "labels")
    out = {"features": features, "labels": labels}
    if "truth" in tables:  # synthetic only: true probabilities, kept apart from features
        truth = tables["truth"]
        known = [o for o in cfg.outcomes if o in truth.columns]
        out["truth"] = truth.loc[truth["hadm_id"].isin(features["hadm_id"]),
                                 ["hadm_id", *known]].reset_index(drop=True)
    return out


@flow(name="build_features", log_prints=True)
def build_features(config_path: str, snapshot_dir: str | None = None) -> str:
    """Features for the snapshot (latest when not given); returns the feature set's folder."""
    cfg, ws = prepare(config_path)
    snapshot_dir = snapshot_dir or str(lake.latest(ws / "lake") or "")
    if not snapshot_dir:
        raise DataError(f"no lake snapshot in {ws / 'lake'}: run `cmtl ingest` first")
    frames = build(config_path, snapshot_dir)
    salt = Path(snapshot_dir).name + cfg.digest("cohort", "outcomes", "features", "split")
    path, reused = lake.write_snapshot(frames, ws / "features", salt=salt,
                                       extra={"snapshot": Path(snapshot_dir).name,
                                              "outcomes": cfg.outcomes})
    get_run_logger().info("%s feature set %s (%d admissions)", "Reused" if reused else "Wrote", path,
                          len(frames["features"]))
    return str(path)

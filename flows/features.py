"""Flow `build_features`: lake snapshot -> validated feature matrix + labels with a patient-level split."""
from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import policy
from flows.workspace import prepare
from mtl_core import contracts, lake
from mtl_core.errors import DataError
from mtl_core.features import DatasetBuilder, dataset_builder
from mtl_core.partitions import KeyCheck


def build_partition(tables: dict, cfg, builder: DatasetBuilder, definitions: dict) -> dict:
    """Validated features, labels (and truth) of one partition: all rows of its patients."""
    features, labels = builder.build(tables, cfg, definitions)
    contracts.validate(features, builder.features_contract)
    contracts.validate(labels, builder.labels_contract)
    out = {"features": features, "labels": labels}
    if "truth" in tables:  # synthetic only: true probabilities, kept apart from features
        truth = tables["truth"]
        known = [o for o in cfg.outcomes if o in truth.columns]
        out["truth"] = truth.loc[truth["hadm_id"].isin(features["hadm_id"]),
                                 ["hadm_id", *known]].reset_index(drop=True)
    return out


@task(name="Build cohort, features and labels", cache_policy=NO_CACHE, **policy.DATA)
def build(config_path: str, snapshot_dir: str, out_root: str, salt: str, extra: dict
          ) -> tuple[str, bool]:
    """The feature set, built and written partition by partition (memory holds one); (path, reused)."""
    cfg, _ = prepare(config_path)
    builder = dataset_builder(cfg, Path(snapshot_dir))  # fitted to the snapshot (e.g. MEDS codes)
    definitions = contracts.outcome_definitions(kind=cfg.source.kind)
    keys = KeyCheck()
    with lake.SnapshotWriter(Path(out_root), salt=salt, extra=extra) as out:
        for tables in lake.iter_partitions(Path(snapshot_dir)):
            frames = build_partition(tables, cfg, builder, definitions)
            keys.add(frames)
            out.add(frames)
        keys.check()
        path, reused = out.commit()
    return str(path), reused


@flow(name="build_features", log_prints=True)
def build_features(config_path: str, snapshot_dir: str | None = None) -> str:
    """Features for the snapshot (latest when not given); returns the feature set's folder."""
    cfg, ws = prepare(config_path)
    snapshot_dir = snapshot_dir or str(lake.latest(ws / "lake") or "")
    if not snapshot_dir:
        raise DataError(f"no lake snapshot in {ws / 'lake'}: run `cmtl ingest` first")
    made_by = lake.read_manifest(Path(snapshot_dir)).get("source_kind", cfg.source.kind)
    if made_by != cfg.source.kind:
        raise DataError(f"lake snapshot {snapshot_dir} holds a '{made_by}' source, but the config's "
                        f"source.kind is '{cfg.source.kind}': run `cmtl ingest` with this config first")
    salt = Path(snapshot_dir).name + cfg.digest("source", "cohort", "outcomes", "features", "code_features",
                                                 "split")
    path, reused = build(config_path, snapshot_dir, str(ws / "features"), salt,
                         {"snapshot": Path(snapshot_dir).name, "outcomes": cfg.outcomes})
    get_run_logger().info("%s feature set %s (%d admissions)", "Reused" if reused else "Wrote", path,
                          lake.read_manifest(Path(path))["tables"]["features"]["rows"])
    return path

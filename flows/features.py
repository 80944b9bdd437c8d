"""Flow `build_features`: lake snapshot -> validated feature matrix + labels with a patient-level split."""
from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.runtime import policy
from flows.runtime.engine import engine
from flows.runtime.workspace import prepare
from mtl_core.config import Config
from mtl_core.data import contracts, lake
from mtl_core.data.partitions import KeyCheck, keys_of
from mtl_core.dataset.features import DatasetBuilder
from mtl_core.dataset.structure import OutcomeStructure
from mtl_core.errors import DataError
from mtl_core.sources.layouts import dataset_builder, fitted_builder


def build_partition(tables: dict, cfg: Config, builder: DatasetBuilder, definitions: dict) -> dict | None:
    """Validated features, labels (and truth) of one partition: all rows of its patients; None when the
    partition has no admission in the cohort."""
    features, labels = builder.build(tables, cfg, definitions)
    if features.empty:
        return None
    contracts.validate(features, builder.features_contract)
    contracts.validate(labels, builder.labels_contract)
    structure = OutcomeStructure.from_config(cfg)
    if structure is not None:  # a = 1 with b = 0 breaks a declared implication
        structure.check_labels(labels)
    out = {"features": features, "labels": labels}
    if "truth" in tables:  # a synthetic cohort's true probabilities, kept apart from features
        truth = tables["truth"]
        known = [o for o in cfg.outcomes if o in truth.columns]
        out["truth"] = truth.set_index("hadm_id").reindex(features["hadm_id"])[known].reset_index()
    return out


@task(name="Build cohort, features and labels of partition", cache_policy=NO_CACHE, **policy.DATA)
def featurise_partition(cfg: Config, snapshot_dir: str, index: int, folder: str,
                        fit: dict | None = None) -> dict:
    """One lake partition's features, labels (and truth), written into the feature set's temporary folder."""
    builder = fitted_builder(cfg, fit)
    frames = build_partition(lake.read_partition(Path(snapshot_dir), index), cfg, builder,
                             contracts.outcome_definitions(kind=cfg.source.kind))
    if frames is None:
        return {"index": index, "info": None, "keys": {}}
    return {"index": index, "info": lake.write_part(Path(folder), index, frames), "keys": keys_of(frames)}


@task(name="Write feature set", cache_policy=NO_CACHE, **policy.DATA)
def commit_features(out: lake.SnapshotWriter, keys: KeyCheck) -> tuple[str, bool]:
    if not out.parts:
        raise DataError("table 'features' is empty: no admission of the source is in the cohort "
                        "(see the `cohort` section of the config)")
    keys.check()
    path, reused = out.commit()
    return str(path), reused


@flow(name="build_features", log_prints=True)
def build_features(config_path: str, snapshot_dir: str | None = None) -> str:
    """Features for the snapshot (latest when not given); returns the feature set's folder. Partitions
    are featurised by the configured engine (in this process, or on Dask workers)."""
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
    if cfg.outcome_structure.declared:  # labels were checked against it: a set built without is not reused
        salt += cfg.digest("outcome_structure")
    extra = {"snapshot": Path(snapshot_dir).name, "outcomes": cfg.outcomes}
    builder = dataset_builder(cfg)
    # what every partition must share, learned once from the whole snapshot (e.g. MEDS codes of the
    # training split): a vocabulary, no patient data, handed to each partition's task
    fit = builder.fit(Path(snapshot_dir), cfg) if builder.fit is not None else None
    n, keys = lake.n_partitions(Path(snapshot_dir)), KeyCheck()
    with lake.SnapshotWriter(ws / "features", salt=salt, extra=extra) as out, engine(cfg) as eng:
        calls = ({"cfg": cfg, "snapshot_dir": snapshot_dir, "index": i,
                  "folder": str(out.folder), "fit": fit} for i in range(n))
        for result in eng.run(featurise_partition, calls):
            if result["info"] is not None:
                out.record(result["index"], result["info"])
                keys.merge(result["keys"])
        path, reused = commit_features(out, keys)
    get_run_logger().info("%s feature set %s (%d admissions)", "Reused" if reused else "Wrote", path,
                          lake.read_manifest(Path(path))["tables"]["features"]["rows"])
    return path

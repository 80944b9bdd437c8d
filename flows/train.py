"""Flow `train`: feature set -> fitted multi-task model in the workspace, logged to the MLflow run."""
from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows import policy, tracking
from flows.progress import bar
from flows.workspace import prepare
from mtl_core import lake
from mtl_core.baselines import fit_baselines
from mtl_core.errors import DataError
from mtl_core.estimator import estimator_from_config
from mtl_core.features import model_columns, typical_row


def latest_features(ws: Path) -> str:
    found = lake.latest(ws / "features")
    if found is None:
        raise DataError(f"no feature set in {ws / 'features'}: run `cmtl features` first")
    return str(found)


@task(name="Fit multi-task model", cache_policy=NO_CACHE, **policy.FIT)
def fit(config_path: str, features_dir: str, model_dir: str) -> dict:
    cfg, _ = prepare(config_path)
    frames = lake.read_tables(Path(features_dir), ["features", "labels"])
    f, y = frames["features"], frames["labels"][cfg.outcomes]
    cols = model_columns(f)
    train, val = (f["split"] == "train").to_numpy(), (f["split"] == "val").to_numpy()
    est = estimator_from_config(cfg)
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    checkpoint = out / "checkpoint.pt"  # a retried task resumes from the last finished epoch
    with bar("Training (epochs)", total=cfg.train.epochs) as update:
        est.fit(f.loc[train, cols], y[train], f.loc[val, cols], y[val],
                callbacks=[lambda e, logs: update(e, info=f"val mean AUROC {logs['val_mean_auroc']:.3f}")],
                checkpoint_path=str(checkpoint), resume=True)
    joblib.dump(est, out / "estimator.joblib")
    checkpoint.unlink(missing_ok=True)
    typical_row(f.loc[train, cols]).to_parquet(out / "input_example.parquet", index=False)
    meta = {"features_dir": features_dir, "outcomes": est.outcomes_, "feature_columns": cols,
            "best_epoch": est.best_epoch_, "epochs_run": len(est.history_),
            "n_train": int(train.sum()), "n_val": int(val.sum())}
    (out / "history.json").write_text(json.dumps(est.history_, indent=1))
    (out / "model.json").write_text(json.dumps(meta, indent=2))
    return meta


@task(name="Fit single-task baselines", cache_policy=NO_CACHE, **policy.FIT)
def baselines(config_path: str, features_dir: str, model_dir: str) -> None:
    """Logistic regression, HistGradientBoosting and a same-size single-task network per outcome,
    on the same split: the bar the multi-task model has to clear (predictions on the test rows)."""
    import pandas as pd

    cfg, _ = prepare(config_path)
    kinds = cfg.evaluation.baselines
    if not kinds:
        return
    frames = lake.read_tables(Path(features_dir), ["features", "labels"])
    f, y = frames["features"], frames["labels"][cfg.outcomes]
    cols = model_columns(f)
    rows = {s: (f["split"] == s).to_numpy() for s in ("train", "val", "test")}
    params = estimator_from_config(cfg).get_params()
    with bar("Single-task baselines", total=len(kinds) * len(cfg.outcomes)) as update:
        done = iter(range(1, 10_000))
        preds = fit_baselines(f.loc[rows["train"], cols], y[rows["train"]], f.loc[rows["val"], cols],
                              y[rows["val"]], f.loc[rows["test"], cols], cfg.outcomes, network_params=params,
                              kinds=kinds, seed=cfg.train.seed,
                              progress=lambda kind, o, info: update(next(done), info=f"{kind}: {o}"))
    n_test = int(rows["test"].sum())
    table = pd.DataFrame({f"{kind}/{o}": (p if p is not None else [float("nan")] * n_test)
                          for kind, per in preds.items() for o, p in per.items()})
    table.to_parquet(Path(model_dir) / "baselines.parquet", index=False)


def read_baselines(model_dir: str | Path) -> dict[str, dict[str, np.ndarray | None]]:
    """{kind: {outcome: test probabilities, or None when that baseline could not be fitted}} from
    baselines.parquet (empty when the run fitted none)."""
    import pandas as pd

    path = Path(model_dir) / "baselines.parquet"
    preds: dict = {}
    if path.is_file():
        for col, values in pd.read_parquet(path).items():
            kind, outcome = col.split("/", 1)
            p = values.to_numpy(float)
            preds.setdefault(kind, {})[outcome] = None if np.isnan(p).all() else p
    return preds


@task(name="Log model to MLflow", cache_policy=NO_CACHE, **policy.TRACKING)
def log_model(config_path: str, model_dir: str, run_id: str) -> str:
    import pandas as pd

    cfg, ws = prepare(config_path)
    out = Path(model_dir)
    meta = json.loads((out / "model.json").read_text())
    tracking.log_history(cfg, ws, run_id, json.loads((out / "history.json").read_text()))
    tracking.log_metrics(cfg, ws, run_id, {"train/best_epoch": meta["best_epoch"],
                                           "train/n_train": meta["n_train"], "train/n_val": meta["n_val"]})
    example = pd.read_parquet(out / "input_example.parquet")
    uri = tracking.log_pyfunc(cfg, ws, run_id, out / "estimator.joblib", example)
    meta.update(run_id=run_id, model_uri=uri)
    (out / "model.json").write_text(json.dumps(meta, indent=2))
    return uri


@flow(name="train", log_prints=True)
def train(config_path: str, features_dir: str | None = None, run_id: str | None = None) -> str:
    """Fit the configured model on the train split (early stopping on val); returns the model folder."""
    cfg, ws = prepare(config_path)
    features_dir = features_dir or latest_features(ws)
    own_run = run_id is None
    run_id = run_id or tracking.start_run(cfg, ws, run_name=f"train-{cfg.name}")
    model_dir = str(ws / "models" / run_id)
    tracking.client(cfg, ws).set_tag(run_id, "cmtl.feature_set", Path(features_dir).name)
    fit(config_path, features_dir, model_dir)
    baselines(config_path, features_dir, model_dir)
    log_model(config_path, model_dir, run_id)
    if own_run:
        tracking.end_run(cfg, ws, run_id, ok=True)
    return model_dir

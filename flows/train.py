"""Flow `train`: feature set -> fitted multi-task model in the workspace, logged to the MLflow run."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import joblib
import numpy as np
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.runtime import policy, resume

from flows import tracking
from flows.runtime.interrupt import run_status
from flows.model_extras import pyfunc_artifacts, ship_with_model, thresholds
from flows.runtime.progress import bar
from flows.runtime.workspace import prepare
from mtl_core.data import contracts, lake, owner
from mtl_core.ensemble.stacked import stack
from mtl_core.errors import DataError
from mtl_core.network.estimator import estimator_from_config
from mtl_core.dataset.features import dataset_builder, model_columns, typical_row
from mtl_core.ensemble.fitting import fit_learner, fit_network, fold_plan, learner_params, split_rows
from mtl_core.evaluation.operating_points import with_flags


def latest_features(ws: Path) -> str:
    found = lake.latest(ws / "features")
    if found is None:
        raise DataError(f"no feature set in {ws / 'features'}: run `cmtl features` first")
    return str(found)


def _frames(cfg, features_dir: str):
    """Features, labels, model columns and the train / val / test row masks of a feature set."""
    frames = lake.read_tables(Path(features_dir), ["features", "labels"])
    f, y = frames["features"], frames["labels"][cfg.outcomes]
    return f, y, model_columns(f), split_rows(f)


def _members_dir(model_dir: str) -> Path:
    out = Path(model_dir) / "members"
    out.mkdir(parents=True, exist_ok=True)
    return out


@task(name="Fit multi-task network", cache_policy=NO_CACHE, **policy.FIT)
def fit(config_path: str, features_dir: str, model_dir: str) -> dict:
    """The multi-task network: on the train split (early stopping on val), or once per fold when
    cross-fitting. With `model.ensemble: none` it is the registered model itself. Checkpoints live
    outside the model folder (flows/runtime/resume.py): a rerun of the same config resumes a killed fit."""
    cfg, ws = prepare(config_path)
    f, y, cols, rows = _frames(cfg, features_dir)
    out = Path(model_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckdir = resume.checkpoint_dir(cfg, ws, features_dir)
    ckdir.mkdir(parents=True, exist_ok=True)
    resumed = resume.progress_in(ckdir)
    if resumed:
        get_run_logger().info("Resuming training from epoch %d (%d fold(s) already done), checkpoint %s",
                              resumed["epoch"] + 1, resumed["folds_done"], ckdir)
    plan = fold_plan(cfg, f, y, rows)
    tv = rows["train"] | rows["val"]
    n_fits = plan.n_fits
    example = typical_row(f.loc[rows["train"], cols])
    if cfg.model.ensemble == "none":
        data = {"X": f.loc[rows["train"], cols], "X_val": f.loc[rows["val"], cols]}
    else:
        data = {"X": f.loc[tv, cols]}
    del f  # the whole feature frame is not needed while the network trains (GiBs at a million rows)
    with bar("Multi-task network (epochs)", total=cfg.train.epochs, stops_early=True) as update:
        def callbacks_for(i: int):
            fold = f"fold {i + 1}/{n_fits}: " if n_fits > 1 else ""
            return [lambda e, logs: update(e, info=f"{fold}val mean AUROC {logs['val_mean_auroc']:.3f}")]
        if cfg.model.ensemble == "none":  # the plain network, fitted exactly as before ensembles existed
            est = estimator_from_config(cfg)
            checkpoint = ckdir / "checkpoint.pt"  # a retry or rerun resumes from the last finished epoch
            est.fit(data.pop("X"), y[rows["train"]], data.pop("X_val"), y[rows["val"]],
                    callbacks=callbacks_for(0), checkpoint_path=str(checkpoint), resume=True)
            joblib.dump(est, out / "estimator.joblib")  # the checkpoint goes when the train flow ends
            fits = [est]
        else:
            member, search = fit_network(cfg, data.pop("X"), y[tv], plan, callbacks_for=callbacks_for,
                                         checkpoint_dir=ckdir / "mtl",
                                         progress=lambda what, done, total: update(done, total=total, info=what))
            if search:
                (out / "search.json").write_text(json.dumps(search, indent=1, default=str))
            joblib.dump(member, _members_dir(model_dir) / "mtl.joblib")
            fits = member.fits
    joblib.dump(plan, _members_dir(model_dir) / "plan.joblib")
    example.to_parquet(out / "input_example.parquet", index=False)
    meta = {"features_dir": features_dir, "outcomes": list(cfg.outcomes), "feature_columns": cols,
            "best_epoch": fits[0].best_epoch_, "epochs_run": len(fits[0].history_),
            "best_epochs": [e.best_epoch_ for e in fits],
            "n_train": int(rows["train"].sum()), "n_val": int(rows["val"].sum()),
            "fitting": {"mode": plan.mode, "fits": plan.n_fits, "reason": plan.reason},
            "ensemble": cfg.model.ensemble,
            "resumed": resumed and {"from_epoch": resumed["epoch"] + 1, "folds_done": resumed["folds_done"]}}
    (out / "history.json").write_text(json.dumps(fits[0].history_, indent=1))
    (out / "model.json").write_text(json.dumps(meta, indent=2))
    return meta


@task(name="Fit single-task learners", cache_policy=NO_CACHE, **policy.FIT)
def baselines(config_path: str, features_dir: str, model_dir: str) -> None:
    """Logistic regression, HistGradientBoosting and a same-size single-task network per outcome, on
    the same rows and folds as the network: the bar it has to clear, and the ensemble's other members
    (test predictions go to baselines.parquet for the report)."""
    import pandas as pd

    cfg, _ = prepare(config_path)
    kinds = cfg.evaluation.baselines
    if not kinds:
        return
    f, y, cols, rows = _frames(cfg, features_dir)
    plan = joblib.load(_members_dir(model_dir) / "plan.joblib")
    tv = rows["train"] | rows["val"]
    searched = Path(model_dir) / "search.json"  # the single-task net keeps the searched shape
    params = learner_params(cfg, json.loads(searched.read_text()) if searched.is_file() else None)
    test, X_tv = f.loc[rows["test"], cols], f.loc[tv, cols]
    del f  # only the train + val and test rows' model columns are needed from here on
    table = {}
    with bar("Single-task learners", total=len(kinds) * len(cfg.outcomes) * plan.n_fits) as update:
        for n, kind in enumerate(kinds):
            offset = n * len(cfg.outcomes) * plan.n_fits
            member = fit_learner(cfg, kind, X_tv, y[tv], plan, params,
                                 progress=lambda what, done, _: update(offset + done, info=what))
            joblib.dump(member, _members_dir(model_dir) / f"{kind}.joblib")
            P = member.predict_proba(test)
            table.update({f"{kind}/{o}": P[:, k] for k, o in enumerate(cfg.outcomes)})
    pd.DataFrame(table).to_parquet(Path(model_dir) / "baselines.parquet", index=False)
    cap, largest = cfg.evaluation.baseline_max_rows, max(len(r) for r in plan.fit_rows)
    meta = json.loads((Path(model_dir) / "model.json").read_text())
    meta["learner_rows"] = {"cap": cap, "capped": cap is not None and largest > cap, "largest_fit": largest}
    (Path(model_dir) / "model.json").write_text(json.dumps(meta, indent=2))


@task(name="Stack members per outcome", cache_policy=NO_CACHE, **policy.FIT)
def stack_members(config_path: str, features_dir: str, model_dir: str) -> dict | None:
    """Per outcome, non-negative weights over the members' held-out predictions, then calibration
    (mtl_core/ensemble/stacking.py): the registered model. Nothing to do with `model.ensemble: none`."""
    cfg, _ = prepare(config_path)
    if cfg.model.ensemble == "none":
        return None
    f, y, _, rows = _frames(cfg, features_dir)
    tv = rows["train"] | rows["val"]
    folder = _members_dir(model_dir)
    members = [joblib.load(folder / "mtl.joblib")]
    members += [joblib.load(folder / f"{kind}.joblib") for kind in cfg.evaluation.baselines]
    model = stack(members, y[tv], joblib.load(folder / "plan.joblib"), index=f.index[tv])
    joblib.dump(model, Path(model_dir) / "estimator.joblib")
    meta = json.loads((Path(model_dir) / "model.json").read_text())
    meta["weights"] = model.weights()
    (Path(model_dir) / "model.json").write_text(json.dumps(meta, indent=2))
    return meta["weights"]


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


def composition(meta: dict) -> str:
    """How the registered model was put together, in words a reviewer can check (Markdown)."""
    fitting = meta["fitting"]
    lines = ["# How this model was built", "",
             f"- Fitting: **{fitting['mode']}** ({fitting['fits']} fit(s) per learner): {fitting['reason']}."]
    rows = meta.get("learner_rows") or {}
    if rows.get("capped"):
        lines.append(f"- Single-task learners trained on a seeded sample of {rows['cap']:,} of the "
                     f"{rows['largest_fit']:,} rows per fit (`evaluation.baseline_max_rows`); the multi-task "
                     "network on all of them.")
    weights = meta.get("weights")
    if not weights:
        lines.append("- The registered model is the multi-task network alone (`model.ensemble: none`).")
        return "\n".join(lines) + "\n"
    kinds = list(next(iter(weights.values())))
    lines += ["- Per outcome, the members' held-out predictions were combined with non-negative weights that "
              "sum to one, then calibrated; `mtl` is the shared multi-task network.", "",
              "| outcome | " + " | ".join(kinds) + " |", "|---|" + "---|" * len(kinds)]
    lines += [f"| {o} | " + " | ".join(f"{w[k]:.2f}" for k in kinds) + " |" for o, w in weights.items()]
    return "\n".join(lines) + "\n"


@task(name="Log model to MLflow", cache_policy=NO_CACHE, **policy.TRACKING)
def log_model(config_path: str, model_dir: str, run_id: str) -> str:
    import pandas as pd

    cfg, ws = prepare(config_path)
    out = Path(model_dir)
    meta = json.loads((out / "model.json").read_text())
    tracking.log_history(cfg, ws, run_id, json.loads((out / "history.json").read_text()))
    values = {"train/best_epoch": meta["best_epoch"], "train/n_train": meta["n_train"],
              "train/n_val": meta["n_val"], "train/fits": meta["fitting"]["fits"]}
    for outcome, weights in (meta.get("weights") or {}).items():  # the ensemble, per outcome
        values.update({f"ensemble/weight/{kind}/{outcome}": w for kind, w in weights.items()})
    tracking.log_metrics(cfg, ws, run_id, values)
    tracking.client(cfg, ws).set_tag(run_id, "cmtl.fitting", meta["fitting"]["mode"])
    tracking.log_text(cfg, ws, run_id, composition(meta), "model_composition.md")
    if (out / "search.json").is_file():
        tracking.log_artifact(cfg, ws, run_id, out / "search.json", "training")
    example = pd.read_parquet(out / "input_example.parquet")
    answer = with_flags(joblib.load(out / "estimator.joblib").predict_proba_frame(example), thresholds(out))
    contract = contracts.CONTRACTS_DIR / f"{dataset_builder(cfg).features_contract}.yaml"
    uri = tracking.log_pyfunc(cfg, ws, run_id, out / "estimator.joblib", example,
                              {**pyfunc_artifacts(out), "feature_contract": str(contract)}, answer)
    meta.update(run_id=run_id, model_uri=uri)
    (out / "model.json").write_text(json.dumps(meta, indent=2))
    return uri


def partial_model_dir(ws: Path, run_id: str) -> Path:
    """The temporary folder a model is written to; renamed to models/<run_id> once complete
    (flows/ops/cleanup.py removes one whose writer is gone)."""
    return ws / "models" / f"{owner.prefix('.partial')}{run_id}"


def finish_model_dir(work: str | Path, ws: Path, run_id: str) -> str:
    final = ws / "models" / run_id
    os.replace(work, final)
    return str(final)


@flow(name="train", log_prints=True)
def train(config_path: str, features_dir: str | None = None, run_id: str | None = None,
          model_dir: str | None = None) -> str:
    """Fit the configured model on the train split (early stopping on val); returns the model folder.

    model_dir: where to write (the pipeline passes a temporary folder it renames when the run is
    done); without it, a temporary folder renamed to models/<run_id> when training is complete."""
    cfg, ws = prepare(config_path)
    features_dir = features_dir or latest_features(ws)
    own_run = run_id is None
    run_id = run_id or tracking.start_run(cfg, ws, run_name=f"train-{cfg.name}")
    own_dir = model_dir is None
    model_dir = model_dir or str(partial_model_dir(ws, run_id))
    try:
        tracking.client(cfg, ws).set_tag(run_id, "cmtl.feature_set", Path(features_dir).name)
        fit(config_path, features_dir, model_dir)
        baselines(config_path, features_dir, model_dir)
        stack_members(config_path, features_dir, model_dir)
        ship_with_model(config_path, features_dir, model_dir)  # operating points of the final model + drift reference
        log_model(config_path, model_dir, run_id)
        if own_dir:  # the pipeline keeps the checkpoint until its run is complete, then removes it
            resume.remove(resume.checkpoint_dir(cfg, ws, features_dir))
            model_dir = finish_model_dir(model_dir, ws, run_id)
    except BaseException as exc:
        if own_dir:
            shutil.rmtree(model_dir, ignore_errors=True)
        if own_run:
            tracking.end_run(cfg, ws, run_id, run_status(exc))
            exc.cmtl_run_id = run_id
        raise
    if own_run:
        tracking.end_run(cfg, ws, run_id, ok=True)
    return model_dir

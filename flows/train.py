"""Flow `train`: feature set -> fitted multi-task model in the workspace, logged to the MLflow run.

The tasks take the loaded config and return their small results (the fit's facts, the learners' row cap,
the ensemble weights); the flow writes model.json once, from them (mtl_core/data/model_folder.py).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import tracking
from flows.runtime import policy, resume
from flows.runtime.interrupt import run_status
from flows.runtime.progress import bar
from flows.runtime.workspace import prepare
from mtl_core.config import Config
from mtl_core.data import contracts, feature_set
from mtl_core.data.model_folder import ModelFolder, ModelMeta
from mtl_core.dataset.features import model_columns, typical_row
from mtl_core.dataset.structure import OutcomeStructure, attach
from mtl_core.ensemble.fitting import fit_learner, fit_network_member, fold_plan, learner_params
from mtl_core.ensemble.stacked import stack
from mtl_core.evaluation.drift import profile
from mtl_core.evaluation.explain import config_groups
from mtl_core.evaluation.operating_points import choose_threshold, with_flags
from mtl_core.network.estimator import estimator_from_config, validation_proba
from mtl_core.reports.composition import composition
from mtl_core.sources.layouts import dataset_builder


def _frames(cfg: Config, features_dir: str):
    """Features, labels, model columns and the train / val / test row masks of a feature set."""
    f, y = feature_set.features_and_labels(features_dir, cfg.outcomes)
    return f, y, model_columns(f), feature_set.split_rows(f)


@task(name="Fit multi-task network", cache_policy=NO_CACHE, **policy.FIT)
def fit(cfg: Config, ws: Path, features_dir: str, folder: ModelFolder) -> ModelMeta:
    """The multi-task network: on the train split (early stopping on val), or once per fold when
    cross-fitting. With `model.ensemble: none` it is the registered model itself. Checkpoints live
    outside the model folder (flows/runtime/resume.py): a rerun of the same config resumes a killed fit."""
    f, y, cols, rows = _frames(cfg, features_dir)
    folder.path.mkdir(parents=True, exist_ok=True)
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
            # coherent nested outcomes; the checkpoint goes when the train flow ends
            folder.save_estimator(attach(est, OutcomeStructure.from_config(cfg)))
            fits = [est]
        else:
            member, search = fit_network_member(cfg, data.pop("X"), y[tv], plan, callbacks_for=callbacks_for,
                                         checkpoint_dir=ckdir / "mtl",
                                         progress=lambda what, done, total: update(done, total=total, info=what))
            if search:
                folder.save_search(search)
            folder.save_member("mtl", member)
            fits = member.fits
    folder.save_plan(plan)
    folder.save_input_example(example)
    folder.save_history(fits[0].history_)
    return ModelMeta(
        features_dir=features_dir, outcomes=list(cfg.outcomes), feature_columns=cols,
        best_epoch=fits[0].best_epoch_, epochs_run=len(fits[0].history_), best_epochs=[e.best_epoch_ for e in fits],
        n_train=int(rows["train"].sum()), n_val=int(rows["val"].sum()),
        fitting={"mode": plan.mode, "fits": plan.n_fits, "reason": plan.reason}, ensemble=cfg.model.ensemble,
        resumed=resumed and {"from_epoch": resumed["epoch"] + 1, "folds_done": resumed["folds_done"]})


@task(name="Fit single-task learners", cache_policy=NO_CACHE, **policy.FIT)
def baselines(cfg: Config, features_dir: str, folder: ModelFolder) -> dict | None:
    """Logistic regression, HistGradientBoosting, LightGBM and a same-size single-task network per outcome, on
    the same rows and folds as the network: the bar it has to clear, and the ensemble's other members
    (test predictions go to baselines.parquet for the report). Returns the learners' row cap."""
    kinds = cfg.evaluation.baselines
    if not kinds:
        return None
    f, y, cols, rows = _frames(cfg, features_dir)
    plan = folder.plan()
    tv = rows["train"] | rows["val"]
    params = learner_params(cfg, folder.search())  # the single-task net keeps the searched shape
    test, X_tv = f.loc[rows["test"], cols], f.loc[tv, cols]
    del f  # only the train + val and test rows' model columns are needed from here on
    table = {}
    with bar("Single-task learners", total=len(kinds) * len(cfg.outcomes) * plan.n_fits) as update:
        for n, kind in enumerate(kinds):
            offset = n * len(cfg.outcomes) * plan.n_fits
            member = fit_learner(cfg, kind, X_tv, y[tv], plan, params,
                                 progress=lambda what, done, _, offset=offset: update(offset + done, info=what))
            if not member.any_fitted():  # applies to no outcome here (lightgbm: no category of 10+ levels)
                continue
            folder.save_member(kind, member)
            P = member.predict_proba(test)
            table.update({f"{kind}/{o}": P[:, k] for k, o in enumerate(cfg.outcomes)})
    folder.save_baselines(table)
    cap, largest = cfg.evaluation.baseline_max_rows, max(len(r) for r in plan.fit_rows)
    return {"cap": cap, "capped": cap is not None and largest > cap, "largest_fit": largest}


@task(name="Stack members per outcome", cache_policy=NO_CACHE, **policy.FIT)
def stack_members(cfg: Config, features_dir: str, folder: ModelFolder) -> dict | None:
    """Per outcome, non-negative weights over the members' held-out predictions, then calibration
    (mtl_core/ensemble/stacking.py): the registered model. Returns the weights; nothing to do with
    `model.ensemble: none`."""
    if cfg.model.ensemble == "none":
        return None
    f, y, _, rows = _frames(cfg, features_dir)
    tv = rows["train"] | rows["val"]
    members = [folder.member("mtl")] + [folder.member(kind) for kind in cfg.evaluation.baselines
                                        if folder.has_member(kind)]
    model = stack(members, y[tv], folder.plan(), index=f.index[tv])
    folder.save_estimator(attach(model, OutcomeStructure.from_config(cfg)))  # coherent nested outcomes
    return model.weights()


@task(name="Choose operating points on validation; profile training data", cache_policy=NO_CACHE, **policy.FIT)
def ship_with_model(cfg: Config, features_dir: str, folder: ModelFolder) -> dict:
    """What ships beside the estimator: each outcome's alert threshold, chosen on the validation split
    (never on test), and the training data's drift profile (aggregates only)."""
    f, labels = feature_set.features_and_labels(features_dir, cfg.outcomes)
    est = folder.estimator()
    cols = list(est.feature_names_in_) if hasattr(est, "feature_names_in_") else model_columns(f)
    val, train = (f["split"] == "val").to_numpy(), (f["split"] == "train").to_numpy()
    P = validation_proba(est, f.loc[val, cols])
    points = {}
    for k, outcome in enumerate(est.outcomes_):
        rule = cfg.evaluation.operating_points.rule(outcome)
        points[outcome] = choose_threshold(labels.loc[val, outcome].to_numpy(float), P[:, k], rule.rule,
                                           rule.target, outcome).to_dict()
    folder.save_operating_points(points)
    folder.save_drift_reference(profile(f.loc[train, cols], labels.loc[train, est.outcomes_]))
    return points


@task(name="Log model to MLflow", cache_policy=NO_CACHE, **policy.TRACKING)
def log_model(cfg: Config, ws: Path, folder: ModelFolder, meta: ModelMeta, run_id: str) -> str:
    tracking.log_history(cfg, ws, run_id, folder.history())
    values = {"train/best_epoch": meta.best_epoch, "train/n_train": meta.n_train,
              "train/n_val": meta.n_val, "train/fits": meta.fitting["fits"]}
    for outcome, weights in (meta.weights or {}).items():  # the ensemble, per outcome
        values.update({f"ensemble/weight/{kind}/{outcome}": w for kind, w in weights.items()})
    tracking.log_metrics(cfg, ws, run_id, values)
    tracking.set_run_tag(cfg, ws, run_id, "cmtl.fitting", meta.fitting["mode"])
    tracking.log_text(cfg, ws, run_id, composition(meta.to_json()), "model_composition.md")
    if folder.search() is not None:
        tracking.log_artifact(cfg, ws, run_id, folder.file("search.json"), "training")
    example = folder.input_example()
    folder.save_predictor_groups(config_groups(cfg, list(example.columns)))  # what a served --explain groups
    answer = with_flags(folder.estimator().predict_proba_frame(example), folder.thresholds())
    contract = contracts.CONTRACTS_DIR / f"{dataset_builder(cfg).features_contract}.yaml"
    return tracking.log_pyfunc(cfg, ws, run_id, folder.file("estimator.joblib"), example,
                               {**folder.pyfunc_artifacts(), "feature_contract": str(contract)}, answer)


def fit_and_log(cfg: Config, ws: Path, features_dir: str, folder: ModelFolder, run_id: str) -> ModelMeta:
    """The train flow's steps into `folder`; model.json is written once, at the end, from their results."""
    tracking.set_run_tag(cfg, ws, run_id, "cmtl.feature_set", Path(features_dir).name)
    meta = fit(cfg, ws, features_dir, folder)
    meta.learner_rows = baselines(cfg, features_dir, folder)
    meta.weights = stack_members(cfg, features_dir, folder)
    ship_with_model(cfg, features_dir, folder)  # operating points of the final model + drift reference
    meta.model_uri = log_model(cfg, ws, folder, meta, run_id)
    meta.run_id = run_id
    folder.write_meta(meta)
    return meta


@flow(name="train", log_prints=True)
def train(config_path: str, features_dir: str | None = None, run_id: str | None = None,
          model_dir: str | None = None) -> str:
    """Fit the configured model on the train split (early stopping on val); returns the model folder.

    model_dir: where to write (the pipeline passes a temporary folder it renames when the run is
    done); without it, a temporary folder renamed to models/<run_id> when training is complete."""
    cfg, ws = prepare(config_path)
    features_dir = features_dir or feature_set.latest(ws)
    own_run = run_id is None
    run_id = run_id or tracking.start_run(cfg, ws, run_name=f"train-{cfg.name}")
    own_dir = model_dir is None
    folder = ModelFolder(model_dir) if model_dir else ModelFolder.partial(ws, run_id)
    try:
        fit_and_log(cfg, ws, features_dir, folder, run_id)
        if own_dir:  # the pipeline keeps the checkpoint until its run is complete, then removes it
            resume.remove(resume.checkpoint_dir(cfg, ws, features_dir))
            folder = folder.finish(ws, run_id)
    except BaseException as exc:
        if own_dir:
            shutil.rmtree(folder.path, ignore_errors=True)
        if own_run:
            tracking.end_run(cfg, ws, run_id, run_status(exc))
            exc.cmtl_run_id = run_id
        raise
    if own_run:
        tracking.end_run(cfg, ws, run_id, ok=True)
    return str(folder)

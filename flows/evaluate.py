"""Flow `evaluate`: per-outcome clinical metrics of a trained model, its single-task baselines and
whether sharing helps each outcome; everything logged to the model's MLflow run."""
from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import tracking
from flows.runtime import policy
from flows.runtime.workspace import prepare
from mtl_core.config import Config
from mtl_core.data import feature_set
from mtl_core.data.meds_predictions import prediction_tables, write_tables
from mtl_core.data.model_folder import ModelFolder
from mtl_core.dataset.structure import coherence_summary, coherent, unprojected_proba
from mtl_core.evaluation.explain import explain
from mtl_core.evaluation.metric_list import metric_values
from mtl_core.evaluation.metrics import auroc, clinical_report
from mtl_core.evaluation.review import clinical_review
from mtl_core.evaluation.subgroups import subgroup_frame
from mtl_core.evaluation.transfer import transfer_report
from mtl_core.network.affinity import gradient_affinity
from mtl_core.reports.explain_plots import write_effects, write_heatmap


def _network(est):
    """The pure multi-task network inside the registered model, and one fitted instance of it."""
    net = est.mtl_
    return net, (net.fits[0] if hasattr(net, "fits") else net)


@task(name="Score test split: metrics, baselines, transfer", cache_policy=NO_CACHE, **policy.FIT)
def score(cfg: Config, features_dir: str, folder: ModelFolder) -> dict:
    """Clinical metrics of the registered model; what sharing bought (the pure network against each
    single-task baseline); and the registered model against the best baseline."""
    e = cfg.evaluation
    est = folder.estimator()
    outcomes = est.outcomes_
    f, Y, truth = feature_set.test_split(features_dir, outcomes)
    raw = unprojected_proba(est, f)  # the same model without its outcome structure, to count what it fixed
    P = coherent(est, raw)
    groups = subgroup_frame(f, e.subgroups)
    report = clinical_report(Y, P, outcomes, truth=truth, n_boot=e.n_boot, seed=cfg.train.seed,
                             ece_bins=e.ece_bins, ci_level=e.ci_level)
    net, first = _network(est)
    P_net = P if net is est else net.predict_proba(f)
    out = {"report": report, "transfer": [], "model_vs_baselines": [], "affinity": None,
           "network_auroc": {o: auroc(Y[:, k], P_net[:, k]) for k, o in enumerate(outcomes)},
           "weights": est.weights() if hasattr(est, "weights") else None,
           "fitting": getattr(est, "reason_", None),
           "structure": None}
    structure = getattr(est, "structure_", None)
    if structure is not None:
        out["structure"] = coherence_summary(structure, raw, P, outcomes)
    preds = folder.baselines()
    if preds:
        kw = {"n_boot": e.n_boot, "seed": cfg.train.seed, "margin": e.transfer_margin}
        out["transfer"] = transfer_report(Y, P_net, preds, outcomes, **kw)
        out["model_vs_baselines"] = (out["transfer"] if net is est
                                     else transfer_report(Y, P, preds, outcomes, **kw))
    best = {t["outcome"]: t.get("best_baseline") for t in out["model_vs_baselines"]}
    c = e.decision_curve
    found, curves = clinical_review(Y, P, outcomes, groups, folder.operating_points(), preds, best,
                                    (c.start, c.stop, c.step), e.n_boot, cfg.train.seed, e.ci_level,
                                    cfg.registry.subgroup_min_events)
    for row in report:  # subgroups with CIs, calibration and rates at the operating point
        row["subgroups"] = found["subgroups"].get(row["outcome"], [])
    out.update(operating_points=found["operating_points"], decision_curves=found["decision_curves"],
               rate_gaps=found["rate_gaps"])
    folder.save_decision_curves(curves)
    if getattr(first.network_, "trunk", None) is not None:
        out["affinity"] = gradient_affinity(first.network_, first._transform(f), Y).round(4).tolist()
    return out


@task(name="Explain the model on held-out rows", cache_policy=NO_CACHE, **policy.FIT)
def explain_model(cfg: Config, features_dir: str, folder: ModelFolder) -> dict | None:
    """Per outcome, which predictors drive the registered model (permutation importance with bootstrap
    intervals, mtl_core/evaluation/explain.py), on validation or out-of-fold rows, never test rows;
    explanations.json and its heat map beside evaluation.json. None when switched off."""
    if not cfg.evaluation.explanations.enabled:
        return None
    if not folder.has_plan():  # a model folder written before fold plans were kept: no held-out rows known
        folder.save_explanations({"skipped": "the model folder has no fold plan, so no held-out rows are known"})
        return None
    est = folder.estimator()
    f, y = feature_set.features_and_labels(features_dir, est.outcomes_)
    rows = feature_set.split_rows(f)
    tv = rows["train"] | rows["val"]  # the rows the fold plan's positions index
    items = list(cfg.features.items) if cfg.source.layout == "canonical" else []  # as config_groups
    result = explain(est, folder.plan(), f.loc[tv, list(est.feature_names_in_)], y.loc[tv].to_numpy(float),
                     est.outcomes_, cfg.evaluation.explanations, items, seed=cfg.train.seed,
                     level=cfg.evaluation.ci_level)
    folder.save_explanations(result)
    if "skipped" not in result:
        write_heatmap(result, folder.explanations_plot)
        write_effects(result, folder.effects_plot)
    else:
        get_run_logger().info("Explanations skipped: %s", result["skipped"])
    return result


@task(name="Log evaluation to MLflow", cache_policy=NO_CACHE, **policy.TRACKING)
def log_result(cfg: Config, ws: Path, run_id: str, folder: ModelFolder) -> None:
    tracking.log_metrics(cfg, ws, run_id, metric_values(folder.evaluation()))
    for path in folder.evaluation_files():
        tracking.log_artifact(cfg, ws, run_id, path, "evaluation")


@task(name="Write test predictions (MEDS schema)", cache_policy=NO_CACHE, **policy.DATA)
def write_test_predictions(features_dir: str, folder: ModelFolder) -> str | None:
    """<model folder>/meds_predictions/<outcome>.parquet for feature sets that know each row's
    prediction time (MEDS sources), for meds-evaluation and MEDS-DEV; None for the others. They hold
    subject ids and prediction times, so they stay in the workspace and never reach MLflow."""
    est = folder.estimator()
    f, y = feature_set.features_and_labels(features_dir, est.outcomes_)
    if "prediction_time" not in f:
        return None
    test = (f["split"] == "test").to_numpy()
    ids, labels = f.loc[test].reset_index(drop=True), y.loc[test].reset_index(drop=True)
    write_tables(prediction_tables(ids, est.predict_proba(ids), est.outcomes_, labels), folder.meds_dir)
    get_run_logger().info("MEDS predictions of the test split (%d rows) in %s", len(ids), folder.meds_dir)
    return str(folder.meds_dir)


@flow(name="evaluate", log_prints=True)
def evaluate(config_path: str, features_dir: str | None = None, model_dir: str | None = None,
             run_id: str | None = None) -> dict:
    """Score the model's test split; writes metrics.json and evaluation.json beside the model."""
    cfg, ws = prepare(config_path)
    folder = ModelFolder(model_dir) if model_dir else ModelFolder.latest(ws)
    meta = folder.meta()
    features_dir = features_dir or meta.features_dir
    result = score(cfg, features_dir, folder)
    folder.save_evaluation(result)
    explain_model(cfg, features_dir, folder)
    write_test_predictions(features_dir, folder)
    run_id = run_id or meta.run_id
    if run_id:
        log_result(cfg, ws, run_id, folder)
    return result

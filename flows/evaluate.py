"""Flow `evaluate`: per-outcome clinical metrics of a trained model, its single-task baselines and
whether sharing helps each outcome; everything logged to the model's MLflow run."""
from __future__ import annotations

import json
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.runtime import policy

from flows import tracking
from flows.model_extras import OPERATING_POINTS, read_points
from flows.meds_out import write_test_predictions
from flows.train import read_baselines
from flows.runtime.workspace import prepare
from mtl_core.data import lake
from mtl_core.errors import DataError
from mtl_core.evaluation.metrics import age_bands, auroc, clinical_report
from mtl_core.evaluation.review import clinical_review
from mtl_core.evaluation.transfer import gradient_affinity, transfer_report


DECISION_CURVES = "decision_curves.csv"


def latest_model(ws: Path) -> str:
    done = sorted((p for p in (ws / "models").glob("*/model.json") if not p.parent.name.startswith(".")),
                  key=lambda p: p.stat().st_mtime)  # a .partial~ folder is still being written
    if not done:
        raise DataError(f"no trained model in {ws / 'models'}: run `cmtl train` first")
    return str(done[-1].parent)


def test_split(features_dir: str, outcomes: list[str]):
    """Test-split features, labels (n, K) and, when the source has one, the truth (n, K) or None."""
    frames = lake.read_tables(Path(features_dir))
    f = frames["features"]
    test = (f["split"] == "test").to_numpy()
    Y = frames["labels"].loc[test, outcomes].to_numpy(float)
    truth = None
    if "truth" in frames and all(o in frames["truth"] for o in outcomes):
        t = frames["truth"].set_index("hadm_id").reindex(f.loc[test, "hadm_id"])
        truth = t[outcomes].to_numpy(float)
    return f.loc[test].reset_index(drop=True), Y, truth


def subgroup_frame(f: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = {}
    for c in columns:
        if c == "age_band":
            out[c] = age_bands(f["age"].to_numpy())
        elif c in f:
            out[c] = f[c].to_numpy()
        else:
            raise DataError(f"evaluation.subgroups: column '{c}' is not in the feature set")
    return pd.DataFrame(out)


def _network(est):
    """The pure multi-task network inside the registered model, and one fitted instance of it."""
    net = est.mtl_
    return net, (net.fits[0] if hasattr(net, "fits") else net)


@task(name="Score test split: metrics, baselines, transfer", cache_policy=NO_CACHE, **policy.FIT)
def score(config_path: str, features_dir: str, model_dir: str) -> dict:
    """Clinical metrics of the registered model; what sharing bought (the pure network against each
    single-task baseline); and the registered model against the best baseline."""
    cfg, _ = prepare(config_path)
    e = cfg.evaluation
    est = joblib.load(Path(model_dir) / "estimator.joblib")
    outcomes = est.outcomes_
    f, Y, truth = test_split(features_dir, outcomes)
    P = est.predict_proba(f)
    groups = subgroup_frame(f, e.subgroups)
    report = clinical_report(Y, P, outcomes, truth=truth, n_boot=e.n_boot, seed=cfg.train.seed,
                             ece_bins=e.ece_bins, ci_level=e.ci_level)
    net, first = _network(est)
    P_net = P if net is est else net.predict_proba(f)
    out = {"report": report, "transfer": [], "model_vs_baselines": [], "affinity": None,
           "network_auroc": {o: auroc(Y[:, k], P_net[:, k]) for k, o in enumerate(outcomes)},
           "weights": est.weights() if hasattr(est, "weights") else None,
           "fitting": getattr(est, "reason_", None)}
    preds = read_baselines(model_dir)
    if preds:
        kw = {"n_boot": e.n_boot, "seed": cfg.train.seed, "margin": e.transfer_margin}
        out["transfer"] = transfer_report(Y, P_net, preds, outcomes, **kw)
        out["model_vs_baselines"] = (out["transfer"] if net is est
                                     else transfer_report(Y, P, preds, outcomes, **kw))
    best = {t["outcome"]: t.get("best_baseline") for t in out["model_vs_baselines"]}
    c = e.decision_curve
    found, curves = clinical_review(Y, P, outcomes, groups, read_points(model_dir), preds, best,
                                    (c.start, c.stop, c.step), e.n_boot, cfg.train.seed, e.ci_level,
                                    cfg.registry.subgroup_min_events)
    for row in report:  # subgroups with CIs, calibration and rates at the operating point
        row["subgroups"] = found["subgroups"].get(row["outcome"], [])
    out.update(operating_points=found["operating_points"], decision_curves=found["decision_curves"],
               rate_gaps=found["rate_gaps"])
    curves.round(6).to_csv(Path(model_dir) / DECISION_CURVES, index=False)
    if getattr(first.network_, "trunk", None) is not None:
        out["affinity"] = gradient_affinity(first.network_, first._transform(f), Y).round(4).tolist()
    return out


def metric_values(result: dict) -> dict[str, float | None]:
    """Flat MLflow metrics: test/<metric>/<outcome>, subgroups, baselines and transfer."""
    values = {}
    for r in result["report"]:
        o = r["outcome"]
        for key in ("auroc", "auprc", "brier", "ece", "calibration_slope", "calibration_intercept",
                    "prevalence", "n", "bayes_auroc", "auroc_ci_low", "auroc_ci_high", "auprc_ci_low",
                    "auprc_ci_high"):
            values[f"test/{key}/{o}"] = r.get(key)
        for g in r.get("subgroups", []):
            values[f"test/subgroup_auroc/{g['column']}:{g['group']}/{o}"] = g["auroc"]
            values[f"test/subgroup_auroc_ci_low/{g['column']}:{g['group']}/{o}"] = g.get("auroc_ci_low")
    values.update(review_values(result))
    for t in result["transfer"]:
        o = t["outcome"]
        for kind, a in t["baseline_auroc"].items():
            values[f"test/baseline_auroc/{kind}/{o}"] = a
        values[f"test/mtl_minus_best_baseline/{o}"] = t["delta"]
    for t in result.get("model_vs_baselines", []):
        values[f"test/model_minus_best_baseline/{t['outcome']}"] = t["delta"]
    for o, a in result.get("network_auroc", {}).items():
        values[f"test/network_auroc/{o}"] = a
    estimable = [r["auroc"] for r in result["report"] if r["auroc"] is not None]
    values["test/mean_auroc"] = float(np.mean(estimable)) if estimable else None
    return values


OP_METRICS = ("sensitivity", "specificity", "ppv", "npv", "f1", "accuracy", "alert_rate")


def review_values(result: dict) -> dict[str, float | None]:
    """Operating points (threshold and test metrics with CIs), net benefit and rate gaps as metrics."""
    values = {}
    for r in result.get("operating_points", []):
        o = r["outcome"]
        values[f"op/threshold/{o}"] = r.get("threshold")
        values[f"test/op/net_benefit/{o}"] = r.get("net_benefit")
        for k in OP_METRICS:
            values[f"test/op/{k}/{o}"] = r.get(k)
            values[f"test/op/{k}_ci_low/{o}"] = r.get(f"{k}_ci_low")
            values[f"test/op/{k}_ci_high/{o}"] = r.get(f"{k}_ci_high")
    for d in result.get("decision_curves", []):
        values[f"test/dca/useful_from/{d['outcome']}"] = d.get("useful_from")
        values[f"test/dca/useful_to/{d['outcome']}"] = d.get("useful_to")
    for g in result.get("rate_gaps", []):
        for rate in ("tpr", "fpr"):
            values[f"test/{rate}_gap/{g['column']}/{g['outcome']}"] = g.get(f"{rate}_gap")
    return values


@task(name="Log evaluation to MLflow", cache_policy=NO_CACHE, **policy.TRACKING)
def log_result(config_path: str, run_id: str, model_dir: str) -> None:
    cfg, ws = prepare(config_path)
    result = json.loads((Path(model_dir) / "evaluation.json").read_text())
    tracking.log_metrics(cfg, ws, run_id, metric_values(result))
    tracking.log_artifact(cfg, ws, run_id, Path(model_dir) / "evaluation.json", "evaluation")
    for name in (OPERATING_POINTS, DECISION_CURVES):
        if (Path(model_dir) / name).is_file():
            tracking.log_artifact(cfg, ws, run_id, Path(model_dir) / name, "evaluation")


@flow(name="evaluate", log_prints=True)
def evaluate(config_path: str, features_dir: str | None = None, model_dir: str | None = None,
             run_id: str | None = None) -> dict:
    """Score the model's test split; writes metrics.json and evaluation.json beside the model."""
    cfg, ws = prepare(config_path)
    model_dir = model_dir or latest_model(ws)
    meta = json.loads((Path(model_dir) / "model.json").read_text())
    features_dir = features_dir or meta["features_dir"]
    result = score(config_path, features_dir, model_dir)
    (Path(model_dir) / "metrics.json").write_text(json.dumps(result["report"], indent=2))
    (Path(model_dir) / "evaluation.json").write_text(json.dumps(result, indent=2))
    write_test_predictions(features_dir, model_dir)  # MEDS sources: for meds-evaluation and MEDS-DEV
    run_id = run_id or meta.get("run_id")
    if run_id:
        log_result(config_path, run_id, model_dir)
    return result

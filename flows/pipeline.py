"""Flow `pipeline`: ingest -> features -> train -> evaluate -> register and promote, as one MLflow run that
also holds its dataset inputs, plots and model card; the Prefect run gets a metrics table and a run link."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from flows import tracking
from flows.compare import log_comparison
from flows.drift import pipeline_drift
from flows.evaluate import evaluate
from flows.features import build_features
from flows.ingest import ingest
from flows.monitor import monitor
from flows.promote import register_and_promote
from flows.runtime import policy, resume
from flows.runtime.interrupt import run_status
from flows.runtime.workspace import prepare
from flows.train import train
from mtl_core.config import Config
from mtl_core.data import contracts, feature_set, lake
from mtl_core.data.model_folder import ModelFolder
from mtl_core.data.quarantine import report_metrics
from mtl_core.evaluation.metric_list import table_row
from mtl_core.evaluation.subgroups import check_subgroup_columns
from mtl_core.monitoring.timing import parse_time
from mtl_core.provenance import changed_keys, code_version, describe, fingerprint
from mtl_core.reports.model_card import cohort_summary, model_card
from mtl_core.reports.plots import blend_label, write_plots
from mtl_core.reports.registry_view import run_description

CONTEXT = {"train": "training", "val": "validation", "test": "testing"}


def _fingerprint(cfg: Config, snapshot_dir: str) -> dict:
    return fingerprint(Path(snapshot_dir).name, cfg.model_dump(mode="json"), code_version())


@task(name="Open MLflow run", **policy.TRACKING)
def open_run(cfg: Config, ws: Path, snapshot_dir: str) -> str:
    tags = {"cmtl.lake_snapshot": Path(snapshot_dir).name,
            **{f"cmtl.fingerprint.{k}": v for k, v in _fingerprint(cfg, snapshot_dir).items()}}
    return tracking.start_run(cfg, ws, run_name=f"pipeline-{cfg.name}", tags=tags)


@task(name="Check whether anything changed since the champion", cache_policy=NO_CACHE, **policy.TRACKING)
def nothing_changed(cfg: Config, ws: Path, snapshot_dir: str) -> dict | None:
    """The version (champion, else challenger) whose run had this very lake snapshot, config and code
    version, as {"version", "alias", "run_id"}; None when something differs or there is none."""
    mine = _fingerprint(cfg, snapshot_dir)
    for alias in ("champion", "challenger"):
        mv = tracking.version_by_alias(cfg, ws, alias)
        if mv is None:
            continue
        tags = tracking.run_tags(cfg, ws, mv.run_id)
        theirs = {k: tags.get(f"cmtl.fingerprint.{k}") for k in mine}
        if not changed_keys(mine, theirs):
            return {"version": str(mv.version), "alias": alias, "run_id": mv.run_id}
    return None


@task(name="Record that nothing changed", cache_policy=NO_CACHE, **policy.TRACKING)
def record_unchanged(cfg: Config, ws: Path, snapshot_dir: str, same: dict) -> dict:
    """A short run saying so (nothing is trained or registered); returns what `cmtl run` prints."""
    reason = (f"nothing changed since v{same['version']} ({same['alias']}): same lake snapshot "
              f"{Path(snapshot_dir).name}, config and code version; nothing trained or registered "
              "(--force retrains anyway)")
    tags = {"cmtl.lake_snapshot": Path(snapshot_dir).name, "cmtl.result": "nothing changed",
            "cmtl.same_as_version": same["version"], "cmtl.same_as_run": same["run_id"],
            **{f"cmtl.fingerprint.{k}": v for k, v in _fingerprint(cfg, snapshot_dir).items()}}
    run_id = tracking.start_run(cfg, ws, run_name=f"pipeline-{cfg.name}-unchanged", tags=tags)
    tracking.end_run(cfg, ws, run_id, True)
    get_run_logger().info(reason)
    return {"run_id": run_id, "unchanged": True, "model_name": cfg.registry.model_name, "version": same["version"],
            "promoted": False, "reasons": [reason], "same_as": same}


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


@task(name="Log dataset inputs (snapshot and splits)", cache_policy=NO_CACHE, **policy.TRACKING)
def log_inputs(cfg: Config, ws: Path, run_id: str, snapshot_dir: str, features_dir: str) -> pd.DataFrame:
    """The lake snapshot and each split as MLflow dataset inputs: source = workspace path, digest = hash
    of the manifest's table hashes (and, per split, of which admissions it holds); the profile is built
    from a frame of counts and prevalences only. Returns that frame (the cohort summary, per split)."""
    tables = lake.read_manifest(Path(snapshot_dir))["tables"]
    inputs = [{"name": f"lake-{Path(snapshot_dir).name}", "source": snapshot_dir, "context": "source",
               "digest": _digest(json.dumps(tables, sort_keys=True)),
               "summary": pd.DataFrame([{"table": t, "rows": float(v["rows"]), "columns": float(len(v["columns"]))}
                                        for t, v in tables.items()])}]
    frames = lake.read_tables(Path(features_dir), ["features", "labels"])
    f = frames["features"]
    check_subgroup_columns(cfg.registry.subgroup_margins, f.columns)
    summary = cohort_summary(f, frames["labels"], cfg.outcomes).set_index("split")
    data = {f"data/rows/{t}": v["rows"] for t, v in tables.items()}
    data.update({f"data/prevalence/{o}": summary.loc["all", f"{o}_prevalence"] for o in cfg.outcomes})
    data.update({f"data/labelled/{o}": summary.loc["all", f"{o}_labelled"] for o in cfg.outcomes})
    tracking.log_metrics(cfg, ws, run_id, {k: v for k, v in data.items() if v == v})  # NaN: unlabelled
    fs_tables = json.dumps(lake.read_manifest(Path(features_dir))["tables"], sort_keys=True)
    for split, context in CONTEXT.items():
        rows = f.loc[f["split"] == split, ["hadm_id", "subject_id"]]
        inputs.append({"name": f"features-{Path(features_dir).name}-{split}", "source": features_dir,
                       "context": context, "digest": _digest(fs_tables, split, lake.table_hash(rows)),
                       "summary": summary.loc[[split]].reset_index()})
    tracking.log_datasets(cfg, ws, run_id, inputs)
    rejects = Path(snapshot_dir) / "rejects.json"
    if rejects.is_file():  # quarantine mode: counts and shares only, never the rejected rows
        tracking.log_metrics(cfg, ws, run_id, report_metrics(json.loads(rejects.read_text())))
    return summary.reset_index()


@task(name="Plots and model card", cache_policy=NO_CACHE, **policy.TRACKING)
def review_files(cfg: Config, ws: Path, run_id: str, folder: ModelFolder, registry: dict, cohort: pd.DataFrame
                 ) -> list[str]:
    """ROC / precision-recall / calibration PNGs per outcome, the AUROC chart and model_card.md, written
    beside the model and logged to the run (aggregates only)."""
    meta = folder.meta()
    evaluation = folder.evaluation()
    outcomes = meta.outcomes
    f, Y, _ = feature_set.test_split(meta.features_dir, outcomes)
    P = folder.estimator().predict_proba(f)
    plots = write_plots(folder.plots_dir, outcomes, Y, P, folder.baselines(), evaluation["report"],
                        evaluation["transfer"], cfg.evaluation.ece_bins, folder.thresholds(),
                        folder.decision_curves(), blend_label(meta.weights),
                        evaluation.get("network_auroc") if meta.weights else None)
    definitions = contracts.outcome_definitions(kind=cfg.source.kind)
    card = model_card(cfg, meta.to_json(), evaluation, cohort, definitions,
                      lake.read_manifest(Path(meta.features_dir)).get("snapshot", "unknown"), registry,
                      folder.drift_reference(), describe(code_version()), explanations=folder.explanations())
    card_path = folder.save_model_card(card)
    tracking.log_artifacts(cfg, ws, run_id, folder.plots_dir, "plots")
    tracking.log_artifact(cfg, ws, run_id, card_path)
    return [str(p) for p in plots]


@task(name="Publish Prefect artifacts (metrics table, MLflow link)", cache_policy=NO_CACHE,
      **policy.TRACKING)
def publish(cfg: Config, ws: Path, run_id: str, evaluation: dict, verdict: dict) -> None:
    transfer = {t["outcome"]: t for t in evaluation.get("transfer", [])}
    gate = verdict.get("outcome_status", {})

    def r(x):
        return None if x is None else round(float(x), 4)

    rows = [{"outcome": e["outcome"], **table_row(e),
             "best_baseline": transfer.get(e["outcome"], {}).get("best_baseline"),
             "mtl_minus_best": r(transfer.get(e["outcome"], {}).get("delta")),
             "gate": gate.get(e["outcome"], "n/a")} for e in evaluation["report"]]
    name, v = verdict["model_name"], verdict["version"]
    state = "promoted to champion" if verdict["promoted"] else "rejected, stays challenger"
    description = (f"**{name} v{v}: {state}**" + (f" (compared with v{verdict['compared_to']})"
                                                    if verdict.get("compared_to") else "") + "\n\n"
                   + "\n".join(f"- {line}" for line in verdict["reasons"]))
    experiment = tracking.run_experiment(cfg, ws, run_id)
    tracking.set_run_tag(cfg, ws, run_id, "mlflow.note.content",  # the run page's description
                         run_description(verdict, evaluation["report"], experiment, run_id))
    url, text = tracking.run_link(cfg, ws, run_id)
    if not url.startswith(("http://", "https://")):  # a file or database store: no page to link to
        description += f"\n\n{text}"
    create_table_artifact(table=rows, key="cmtl-test-metrics", description=description)
    if url.startswith(("http://", "https://")):
        create_link_artifact(link=url, link_text=text, key="cmtl-mlflow-run",
                             description=f"MLflow run of this pipeline ({name} v{v}): metrics, plots, model card, "
                                         "promotion.md")


@flow(name="pipeline", log_prints=True)
def pipeline(config_path: str, force: bool = False) -> dict:
    """The whole job on one config; returns run id, the evaluation (report, transfer, affinity, operating
    points, decision curves, rate gaps) and the promotion verdict. When the lake snapshot, config and
    code version equal those of the champion's (or challenger's) run, it records "nothing changed" and
    stops before building features, unless force."""
    cfg, ws = prepare(config_path)
    snapshot_dir = ingest(config_path, reread=force)
    same = None if force else nothing_changed(cfg, ws, snapshot_dir)
    if same is not None:
        return record_unchanged(cfg, ws, snapshot_dir, same)
    features_dir = build_features(config_path, snapshot_dir)
    run_id = open_run(cfg, ws, snapshot_dir)
    work = ModelFolder.partial(ws, run_id)  # renamed to models/<run_id> once everything is in it
    try:
        cohort = log_inputs(cfg, ws, run_id, snapshot_dir, features_dir)
        pipeline_drift(cfg, ws, run_id, features_dir, work)
        train(config_path, features_dir, run_id, model_dir=str(work))
        evaluation = evaluate(config_path, features_dir, str(work), run_id)
        verdict = register_and_promote(config_path, str(work))
        log_comparison(cfg, ws, verdict["compared_to"], verdict["version"], run_id, work)  # comparison.md
        review_files(cfg, ws, run_id, work, verdict, cohort)
        model_dir = str(work.finish(ws, run_id))
        resume.remove(resume.checkpoint_dir(cfg, ws, features_dir))  # kept till now: a rerun refits fast
        publish(cfg, ws, run_id, evaluation, verdict)
    except BaseException as exc:
        shutil.rmtree(work.path, ignore_errors=True)
        try:
            tracking.end_run(cfg, ws, run_id, run_status(exc))
            exc.cmtl_run_id = run_id  # `cmtl run` names the run it marked KILLED
        except Exception:  # noqa: BLE001 - e.g. the disk is full for the store too: report the first error
            get_run_logger().warning("could not mark MLflow run %s as ended; `cmtl doctor` will", run_id)
        raise
    tracking.end_run(cfg, ws, run_id, True)
    return {"run_id": run_id, **evaluation, **verdict, "model_dir": model_dir}


@flow(name="monitor-pipeline", log_prints=True)
def monitor_pipeline(config_path: str, snapshot_dir: str | None = None, model: str = "champion",
                     after: str | None = None, as_of: str | None = None, retrain: bool | None = None) -> dict:
    """The scheduled check (deployment `monitor`, `cmtl monitor`): ingest the source (unless a snapshot is
    given), build its features, monitor the version on the admissions it has not seen; on a degraded
    verdict, run the retraining pipeline when `retrain` (default: monitoring.retrain_on_degraded)."""
    cfg, _ = prepare(config_path)
    for given, what in ((after, "--after"), (as_of or cfg.monitoring.as_of, "monitoring.as_of / --as-of")):
        if given:
            parse_time(given, what)  # bad input fails before the ingest
    snapshot_dir = snapshot_dir or ingest(config_path)
    result = monitor(config_path, build_features(config_path, snapshot_dir), snapshot_dir, model, after, as_of)
    if result["overall"] == "degraded" and (cfg.monitoring.retrain_on_degraded if retrain is None else retrain):
        get_run_logger().warning("degraded (%s): retraining", ", ".join(result["degraded"]))
        result["retrained"] = pipeline(config_path)
    return result

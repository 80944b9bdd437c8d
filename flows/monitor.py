"""Flow `monitor`: the champion (or any version) on admissions of a lake snapshot it was never trained or
evaluated on, window by window, against what its card promised; one MLflow run per check, linked to the
version, a `monitoring` tag on the version and the Prefect event `cmtl.monitor.<verdict>`.

Identifiers stay here: rows are matched by hadm_id in memory; MLflow gets counts, rates and metrics.
"""
from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import tracking
from flows.runtime import policy
from flows.runtime.interrupt import run_status
from flows.runtime.workspace import prepare
from mtl_core.config import Config
from mtl_core.data import contracts, feature_set, lake
from mtl_core.data.model_folder import ModelFolder
from mtl_core.errors import CmtlError, DataError
from mtl_core.evaluation.drift import drift_report
from mtl_core.evaluation.subgroups import subgroup_frame
from mtl_core.monitoring.assess import assess, series
from mtl_core.monitoring.checks import STATUSES
from mtl_core.monitoring.report import monitoring_markdown
from mtl_core.monitoring.timing import extract_time, mask_unknown, parse_time, windows
from mtl_core.reports.registry_view import monitoring_note, with_note

EVENT = "cmtl.monitor"  # + .stable / .watch / .degraded: what automations (flows/ops/automations.py) match


def card(cfg: Config, metrics: dict, outcomes: list[str]) -> dict[str, dict]:
    """What the version's card promised per outcome, from its training run's test metrics."""
    r = cfg.registry
    keys = {"auroc": "test/auroc/{o}", "auroc_ci_low": "test/auroc_ci_low/{o}",
            "sensitivity": "test/op/sensitivity/{o}", "sensitivity_ci_low": "test/op/sensitivity_ci_low/{o}",
            "alert_rate": "test/op/alert_rate/{o}"}
    return {o: {"floor": r.auroc_floors.get(o, r.default_auroc_floor),
                **{k: metrics[v.format(o=o)] for k, v in keys.items() if v.format(o=o) in metrics}} for o in outcomes}


@task(name="Find the version to monitor and its card", cache_policy=NO_CACHE, **policy.TRACKING)
def find_version(cfg: Config, ws: Path, model: str) -> dict:
    mv = tracking.find_version(cfg, ws, model, "--model")[0]
    folder = ModelFolder.of_run(ws, mv.run_id)
    seen = folder.meta().features_dir if folder.exists() else None
    return {"version": str(mv.version), "run_id": mv.run_id, "metrics": tracking.run_metrics(cfg, ws, mv.run_id),
            "seen_features": seen if seen and Path(seen).is_dir() else None}


def admission_times(cfg: Config, snapshot_dir: str) -> pd.DataFrame:
    if cfg.source.layout != "canonical":
        raise CmtlError(f"cmtl monitor needs admission and discharge times: source kind '{cfg.source.kind}' has "
                        "none in its lake snapshot (synthetic, mimic_iv and omop do)")
    adm = lake.read_tables(Path(snapshot_dir), ["admissions"])["admissions"]
    return adm[["hadm_id", "admittime", "dischtime"]]


def new_rows(f: pd.DataFrame, adm: pd.DataFrame, seen_features: str | None, after: str | None) -> np.ndarray:
    """Rows the version has not seen: not in its feature set (any split), admitted after `after`."""
    if seen_features is None and after is None:
        raise CmtlError("the version's feature set is not in this workspace, so the admissions it was trained on "
                        "are unknown: give --after (its data cut-off, e.g. 2021-12-31)")
    keep = np.ones(len(f), bool)
    if seen_features is not None:
        seen = lake.read_tables(Path(seen_features), ["features"])["features"]["hadm_id"]
        keep &= ~f["hadm_id"].isin(seen).to_numpy()
    if after is not None:
        cut = parse_time(after, "--after")
        keep &= (f["hadm_id"].map(adm.set_index("hadm_id")["admittime"]) > cut).to_numpy()
    return keep


@task(name="Score new admissions and judge each outcome", cache_policy=NO_CACHE, **policy.FIT)
def check(cfg: Config, ws: Path, features_dir: str, snapshot_dir: str, found: dict, after: str | None,
          as_of: str | None) -> dict:
    uri = f"models:/{cfg.registry.model_name}/{found['version']}"
    model = tracking.load_model(cfg, ws, uri)
    names = model.metadata.get_input_schema().input_names()
    outcomes = [o for o in cfg.outcomes if f"test/auroc/{o}" in found["metrics"]] or list(cfg.outcomes)
    f, labels = feature_set.features_and_labels(features_dir, cfg.outcomes)
    adm = admission_times(cfg, snapshot_dir)
    keep = new_rows(f, adm, found["seen_features"], after)
    if not keep.any():
        raise DataError(f"lake snapshot {Path(snapshot_dir).name} holds no admission v{found['version']} was not "
                        "trained or evaluated on: ingest a newer extract first")
    f, labels = f.loc[keep].reset_index(drop=True), labels.loc[keep].reset_index(drop=True)
    times = f[["hadm_id"]].merge(adm, on="hadm_id", how="left")
    times["index_time"] = times["admittime"] + pd.Timedelta(hours=cfg.cohort.observation_hours)
    stamp = extract_time(adm, as_of or cfg.monitoring.as_of)
    P = tracking.predict(model, f[names], f"lake snapshot {Path(snapshot_dir).name}", uri)
    P = P.reset_index(drop=True)
    outcomes = [o for o in outcomes if o in P.columns]
    known, masked = mask_unknown(labels[outcomes], times, contracts.outcome_definitions(kind=cfg.source.kind),
                                 stamp, cfg.monitoring.coding_lag_days)
    flags = {o: P[f"{o}_flag"].to_numpy() if f"{o}_flag" in P else None for o in outcomes}
    e = cfg.evaluation
    result = assess(known, masked, P[outcomes], flags, windows(times["index_time"], cfg.monitoring.window),
                    card(cfg, found["metrics"], outcomes), cfg.monitoring, e.n_boot, cfg.train.seed, e.ci_level,
                    subgroup_frame(f, e.subgroups))
    reference = getattr(model.unwrap_python_model(), "drift_reference", None)
    d = e.drift
    drift = None if reference is None else drift_report(reference, f[names], known, d.psi, d.missing, d.prevalence)
    result["heading"] = {"model": cfg.registry.model_name, "version": found["version"],
                         "snapshot": Path(snapshot_dir).name, "as_of": str(stamp), "rows": int(keep.sum()),
                         "excluded": int((~keep).sum()), "cutoff": after or "none given",
                         "window": cfg.monitoring.window,
                         "judge_windows": cfg.monitoring.judge_windows, "level": e.ci_level,
                         "drift": None if drift is None else {"max_psi": drift["max_psi"],
                                                              "drifted": drift["drifted"][:20]}}
    return result


def _ms(t: pd.Timestamp) -> int:
    return int(pd.Timestamp(t).tz_localize(None).value // 1_000_000)


def _jsonable(result: dict) -> dict:
    return json.loads(json.dumps({k: v for k, v in result.items() if k != "windows"}, default=str)) | {
        "windows": [{**w, "end": str(w["end"].date())} for w in result["windows"]]}


@task(name="Log the check to MLflow and tag the version", cache_policy=NO_CACHE, **policy.TRACKING)
def log_check(cfg: Config, ws: Path, result: dict, found: dict) -> str:
    h, version = result["heading"], found["version"]
    run_id = tracking.start_run(cfg, ws, run_name=f"monitor-v{version}", tags={
        "cmtl.kind": "monitoring", "cmtl.model_version": version, "cmtl.model_run": found["run_id"],
        "cmtl.lake_snapshot": h["snapshot"], "cmtl.monitor.as_of": h["as_of"]})
    try:
        tracking.link_model_version(cfg, ws, run_id, version)
        tracking.log_series(cfg, ws, run_id, [(k, v, _ms(end), int(end.strftime("%Y%m%d")))
                                              for k, v, end in series(result)])
        final = {f"monitor/verdict/{o}": STATUSES.index(v["status"]) for o, v in result["verdicts"].items()}
        final.update({f"monitor/subgroup_auroc/{g['column']}:{g['group']}/{o}": g["auroc"]
                      for o, v in result["verdicts"].items() for g in v["subgroups"] if g["auroc"] is not None})
        if h["drift"]:
            final["monitor/drift/max_psi"] = h["drift"]["max_psi"]
        tracking.log_metrics(cfg, ws, run_id, {**final, "monitor/rows": h["rows"]})
        tracking.log_text(cfg, ws, run_id, monitoring_markdown(result, h), "monitoring.md")
        tracking.log_text(cfg, ws, run_id, json.dumps(_jsonable(result), indent=1), "monitoring.json")
        line = f"{result['overall']}" + (f": {', '.join(result['degraded'])} degraded" if result["degraded"] else "")
        if result["watch"]:
            line += f"; watch {', '.join(result['watch'])}"
        tracking.set_run_tag(cfg, ws, run_id, "cmtl.monitor.verdict", line)
        for o, v in result["verdicts"].items():
            tracking.set_run_tag(cfg, ws, run_id, f"cmtl.monitor.{tracking.metric_name(o)}",
                                 f"{v['status']}: {v['reason']}")
        at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        tracking.tag_version(cfg, ws, version, {"monitoring": f"{line} (as of {h['as_of']}, checked {at})",
                                                "monitoring.run": run_id})
        mv = tracking.model_version(cfg, ws, version)
        note = monitoring_note(line, h["as_of"], at, tracking.run_experiment(cfg, ws, run_id), run_id)
        tracking.describe_version(cfg, ws, version, with_note(note, mv.description if mv else None))
    except BaseException as exc:
        tracking.end_run(cfg, ws, run_id, run_status(exc))
        raise
    tracking.end_run(cfg, ws, run_id, True)
    return run_id


def announce(cfg: Config, result: dict, version: str, run_id: str) -> None:
    """The Prefect event cmtl.monitor.<overall verdict>, for automations (a notification, a retrain)."""
    from prefect.events import emit_event

    emit_event(event=f"{EVENT}.{result['overall']}",
               resource={"prefect.resource.id": f"cmtl.model.{cfg.registry.model_name}", "cmtl.version": version},
               payload={"degraded": result["degraded"], "watch": result["watch"], "mlflow_run": run_id,
                        "reasons": {o: v["reason"] for o, v in result["verdicts"].items() if v["status"] != "stable"}})


@flow(name="monitor", log_prints=True)
def monitor(config_path: str, features_dir: str | None = None, snapshot_dir: str | None = None,
            model: str = "champion", after: str | None = None, as_of: str | None = None) -> dict:
    """Check a registered version (default: the champion) on the feature set of a lake snapshot (default:
    the latest of each): returns the verdict per outcome, the overall verdict and the MLflow run."""
    cfg, ws = prepare(config_path)
    for given, what in ((after, "--after"), (as_of or cfg.monitoring.as_of, "monitoring.as_of / --as-of")):
        if given:
            parse_time(given, what)  # before any work
    snapshot_dir = snapshot_dir or str(lake.latest(ws / "lake") or "")
    features_dir = features_dir or feature_set.latest(ws)
    if not snapshot_dir:
        raise DataError(f"no lake snapshot in {ws / 'lake'}: run `cmtl ingest` first")
    found = find_version(cfg, ws, model)
    result = check(cfg, ws, features_dir, snapshot_dir, found, after, as_of)
    run_id = log_check(cfg, ws, result, found)
    announce(cfg, result, found["version"], run_id)
    logger = get_run_logger()
    for o, v in result["verdicts"].items():
        (logger.warning if v["status"] == "degraded" else logger.info)("%s: %s (%s)", o, v["status"], v["reason"])
    return {"run_id": run_id, "version": found["version"], "model_name": cfg.registry.model_name,
            "overall": result["overall"], "degraded": result["degraded"], "watch": result["watch"],
            "verdicts": {o: {"status": v["status"], "reason": v["reason"]} for o, v in result["verdicts"].items()},
            "heading": result["heading"]}

"""Drift reports: new data (a pipeline run's feature set, or a batch-scoring input) against the training
data of the model in charge, from the reference profile that ships with it (flows/model_extras.py).

Beyond the configured thresholds (`evaluation.drift`) a report warns and, from batch scoring, emits
the Prefect event `cmtl.drift.detected`; the `pipeline/retrain-on-drift` deployment in deployment.yaml
has a trigger on it, so drift seen at scoring time can start a retraining run.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.runtime import policy

from flows import tracking
from flows.model_extras import read_reference
from flows.runtime.workspace import prepare
from mtl_core.data import lake
from mtl_core.evaluation.drift import drift_markdown, drift_report

EVENT = "cmtl.drift.detected"


def champion_reference(cfg, ws: Path) -> tuple[str | None, dict | None]:
    """(champion version, its training-data profile) or (None, None) without a champion or profile."""
    champ = tracking.version_by_alias(cfg, ws, "champion")
    if champ is None:
        return None, None
    reference = read_reference(ws / "models" / str(champ.run_id))
    if reference is None:  # champion trained elsewhere: the profile travels inside the logged model
        try:
            model = tracking.load_model(cfg, ws, f"models:/{cfg.registry.model_name}/{champ.version}")
            reference = getattr(model.unwrap_python_model(), "drift_reference", None)
        except Exception:  # noqa: BLE001 - an old or unloadable champion simply has no profile
            reference = None
    return str(champ.version), reference


def write_report(report: dict, folder: Path, stem: str, title: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.json", folder / f"{stem}.md"]
    paths[0].write_text(json.dumps(report, indent=1))
    paths[1].write_text(drift_markdown(report, title))
    return paths


def warn(report: dict, what: str) -> None:
    if report["warn"]:
        get_run_logger().warning("Drift in %s beyond the thresholds: %s (max PSI %.3f)", what,
                                 ", ".join(report["drifted"]), report["max_psi"] or 0)


@task(name="Drift against the champion's training data", cache_policy=NO_CACHE, **policy.TRACKING)
def pipeline_drift(config_path: str, run_id: str, features_dir: str, model_dir: str | None = None) -> dict | None:
    """The new feature set (all splits) against the champion's training data: drift/drift.{md,json} in
    the run, drift/* metrics and tag cmtl.drift. None without a champion (or a champion without profile)."""
    cfg, ws = prepare(config_path)
    version, reference = champion_reference(cfg, ws)
    if reference is None:
        tracking.client(cfg, ws).set_tag(run_id, "cmtl.drift", "no champion profile to compare with")
        return None
    frames = lake.read_tables(Path(features_dir), ["features", "labels"])
    d = cfg.evaluation.drift
    labels = frames["labels"][[o for o in cfg.outcomes if o in frames["labels"]]]
    report = drift_report(reference, frames["features"], labels, d.psi, d.missing, d.prevalence)
    report["champion"] = version
    folder = Path(model_dir or ws / "models" / run_id) / "drift"
    write_report(report, folder, "drift", f"Drift: this run's data vs champion v{version}'s training data")
    tracking.log_artifacts(cfg, ws, run_id, folder, "drift")
    tracking.log_metrics(cfg, ws, run_id, {"drift/max_psi": report["max_psi"], "drift/n_drifted": len(report["drifted"])})
    tracking.client(cfg, ws).set_tag(run_id, "cmtl.drift", ("warn: " + ", ".join(report["drifted"]))[:5000]
                                     if report["warn"] else f"ok (vs champion v{version})")
    warn(report, f"this run's data vs champion v{version}")
    return report


def scoring_drift(cfg, frame: pd.DataFrame, reference: dict | None, output_path: str, version: str) -> dict | None:
    """Drift of a scoring input against the model's training data, written beside the predictions
    (`<output>.drift.md` / `.json`: aggregates only); emits the drift event when beyond thresholds."""
    if reference is None:
        return None
    d = cfg.evaluation.drift
    report = drift_report(reference, frame, None, d.psi, d.missing, d.prevalence)
    out = Path(output_path)
    write_report(report, out.parent, f"{out.name}.drift", f"Drift: scoring input vs v{version}'s training data")
    warn(report, f"the scoring input vs v{version}")
    if report["warn"]:
        from prefect.events import emit_event

        emit_event(event=EVENT, resource={"prefect.resource.id": f"cmtl.model.{cfg.registry.model_name}",
                                          "cmtl.version": str(version)},
                   payload={"drifted": report["drifted"][:50], "max_psi": report["max_psi"]})
    return report

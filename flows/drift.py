"""Task: a pipeline run's new feature set against the training data of the champion, from the reference
profile that ships with it. Beyond the configured thresholds (`evaluation.drift`) the run is tagged and
warns; batch scoring measures its input the same way (flows/score.py) and emits `cmtl.drift.detected`.
"""
from __future__ import annotations

from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import tracking
from flows.runtime import policy
from mtl_core.config import Config
from mtl_core.data import feature_set
from mtl_core.data.model_folder import ModelFolder
from mtl_core.evaluation.drift import drift_report, write_drift_report


def champion_reference(cfg: Config, ws: Path) -> tuple[str | None, dict | None]:
    """(champion version, its training-data profile) or (None, None) without a champion or profile."""
    champ = tracking.version_by_alias(cfg, ws, "champion")
    if champ is None:
        return None, None
    reference = ModelFolder.of_run(ws, champ.run_id).drift_reference()
    if reference is None:  # champion trained elsewhere: the profile travels inside the logged model
        try:
            model = tracking.load_model(cfg, ws, f"models:/{cfg.registry.model_name}/{champ.version}")
            reference = getattr(model.unwrap_python_model(), "drift_reference", None)
        except Exception:  # noqa: BLE001 - an old or unloadable champion simply has no profile
            reference = None
    return str(champ.version), reference


@task(name="Drift against the champion's training data", cache_policy=NO_CACHE, **policy.TRACKING)
def pipeline_drift(cfg: Config, ws: Path, run_id: str, features_dir: str, folder: ModelFolder) -> dict | None:
    """The new feature set (all splits) against the champion's training data: drift/drift.{md,json} in
    the run, drift/* metrics and tag cmtl.drift. None without a champion (or a champion without profile)."""
    version, reference = champion_reference(cfg, ws)
    if reference is None:
        tracking.set_run_tag(cfg, ws, run_id, "cmtl.drift", "no champion profile to compare with")
        return None
    f, labels = feature_set.features_and_labels(features_dir, cfg.outcomes)
    d = cfg.evaluation.drift
    report = drift_report(reference, f, labels, d.psi, d.missing, d.prevalence)
    report["champion"] = version
    write_drift_report(report, folder.drift_dir, "drift",
                       f"Drift: this run's data vs champion v{version}'s training data")
    tracking.log_artifacts(cfg, ws, run_id, folder.drift_dir, "drift")
    tracking.log_metrics(cfg, ws, run_id, {"drift/max_psi": report["max_psi"],
                                           "drift/n_drifted": len(report["drifted"])})
    tracking.set_run_tag(cfg, ws, run_id, "cmtl.drift", ("warn: " + ", ".join(report["drifted"]))
                         if report["warn"] else f"ok (vs champion v{version})")
    if report["warn"]:
        get_run_logger().warning("Drift in %s beyond the thresholds: %s (max PSI %.3f)",
                                 f"this run's data vs champion v{version}", ", ".join(report["drifted"]),
                                 report["max_psi"] or 0)
    return report

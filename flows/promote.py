"""Flow `register_and_promote`: register the model, alias it challenger, and gate the champion alias."""
from __future__ import annotations

import json
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows import tracking
from flows.evaluate import latest_model, test_split
from flows.workspace import prepare
from mtl_core.metrics import auroc
from mtl_core.promotion import Verdict, decide


@task(name="Register model version", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def register(config_path: str, model_dir: str) -> str:
    cfg, ws = prepare(config_path)
    meta = json.loads((Path(model_dir) / "model.json").read_text())
    version = tracking.register(cfg, ws, meta["model_uri"], meta["run_id"])
    tracking.set_alias(cfg, ws, "challenger", version)
    return version


def recorded_aurocs(cfg, ws, champ, outcomes: list[str], feature_set: str) -> dict | None:
    """The champion's logged test AUROCs, if its run was evaluated on this very feature set."""
    run = tracking.client(cfg, ws).get_run(champ.run_id)
    if run.data.tags.get("cmtl.feature_set") != feature_set:
        return None
    return {o: run.data.metrics.get(f"test/auroc/{o}") for o in outcomes}


@task(name="Compare challenger with champion", cache_policy=NO_CACHE)
def judge(config_path: str, model_dir: str, version: str) -> tuple[Verdict, str | None]:
    """Score the current champion on the challenger's own test rows, then apply the gate.

    A champion that cannot be loaded by this code (e.g. pickled by an older release) is compared
    through its recorded test AUROCs instead, but only when those came from the same feature set
    (same snapshot, cohort, features and split); otherwise the challenger is not promoted.
    """
    cfg, ws = prepare(config_path)
    meta = json.loads((Path(model_dir) / "model.json").read_text())
    challenger = {r["outcome"]: r["auroc"]
                  for r in json.loads((Path(model_dir) / "metrics.json").read_text())}
    champ = tracking.version_by_alias(cfg, ws, "champion")
    if champ is None or str(champ.version) == version:
        return decide(challenger, None, cfg.registry.auroc_margin), None
    f, Y, _ = test_split(meta["features_dir"], meta["outcomes"])
    try:
        model = tracking.load_model(cfg, ws, f"models:/{cfg.registry.model_name}/{champ.version}")
        P = model.predict(f[meta["feature_columns"]])
        champion = {o: (auroc(Y[:, k], P[o].to_numpy()) if o in P else None)
                    for k, o in enumerate(meta["outcomes"])}
    except Exception as exc:  # never replace a champion we cannot compare with
        champion = recorded_aurocs(cfg, ws, champ, meta["outcomes"], Path(meta["features_dir"]).name)
        if champion is None:
            reason = (f"champion v{champ.version} could not score this test set "
                      f"({type(exc).__name__}: {exc}) and has no recorded AUROCs on it")
            return Verdict(False, [reason[:500]]), str(champ.version)
    return decide(challenger, champion, cfg.registry.auroc_margin), str(champ.version)


@task(name="Move aliases and record verdict", retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def record(config_path: str, version: str, verdict: Verdict, compared_to: str | None) -> None:
    cfg, ws = prepare(config_path)
    tracking.tag_version(cfg, ws, version, {
        "cmtl.verdict": "promoted" if verdict.promote else "rejected",
        "cmtl.reasons": "\n".join(verdict.reasons),
        "cmtl.compared_to": compared_to or "none"})
    if verdict.promote:
        tracking.set_alias(cfg, ws, "champion", version)
    get_run_logger().info("version %s %s", version, verdict.summary)


@flow(name="register_and_promote", log_prints=True)
def register_and_promote(config_path: str, model_dir: str | None = None) -> dict:
    """Register the evaluated model as a new version (alias challenger) and promote it if it passes."""
    cfg, ws = prepare(config_path)
    model_dir = model_dir or latest_model(ws)
    version = register(config_path, model_dir)
    verdict, compared_to = judge(config_path, model_dir, version)
    record(config_path, version, verdict, compared_to)
    return {"model_name": cfg.registry.model_name, "version": version, "promoted": verdict.promote,
            "reasons": verdict.reasons, "compared_to": compared_to}

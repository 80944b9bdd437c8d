"""deployment.yaml stays in step with the flows it points at."""
from __future__ import annotations

import importlib
import inspect
from datetime import UTC, datetime
from pathlib import Path

import yaml
from cronsim import CronSim

ROOT = Path(__file__).resolve().parents[2]


def _deployments() -> list[dict]:
    return yaml.safe_load((ROOT / "deployment.yaml").read_text())["deployments"]


def test_nightly_retraining_is_scheduled_on_a_valid_cron():
    nightly = next(d for d in _deployments() if d["name"] == "nightly-retrain")
    cron = nightly["schedules"][0]["cron"]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    runs = CronSim(cron, start)
    first, second = next(runs), next(runs)
    assert (second - first).total_seconds() == 24 * 3600  # once a day


def test_every_entrypoint_is_a_flow_whose_parameters_exist():
    for dep in _deployments():
        path, name = dep["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        fn = getattr(module, name)
        assert hasattr(fn, "fn"), f"{dep['entrypoint']} is not a Prefect flow"
        accepted = set(inspect.signature(fn.fn).parameters)
        assert set(dep.get("parameters", {})) <= accepted, dep["name"]
        for value in dep.get("parameters", {}).values():
            if str(value).endswith(".yaml"):
                assert (ROOT / value).is_file(), value


def test_drift_event_triggers_the_retraining_deployment():
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    from flows.score import EVENT

    dep = next(d for d in _deployments() if d["name"] == "retrain-on-drift")
    assert dep["entrypoint"] == "flows/pipeline.py:pipeline"
    trigger = DeploymentEventTrigger.model_validate(dep["triggers"][0])
    assert trigger.enabled and EVENT in trigger.expect
    # the resource the scoring flow names matches the trigger's pattern
    assert dep["triggers"][0]["match"]["prefect.resource.id"].rstrip("*") in "cmtl.model.clinical-multi-outcome"


def test_monitoring_is_scheduled_weekly_and_can_retrain():
    dep = next(d for d in _deployments() if d["name"] == "monitor")
    assert dep["entrypoint"] == "flows/pipeline.py:monitor_pipeline" and "retrain" in dep["parameters"]
    runs = CronSim(dep["schedules"][0]["cron"], datetime(2026, 1, 1, tzinfo=UTC))
    first, second = next(runs), next(runs)
    assert (second - first).total_seconds() == 7 * 24 * 3600

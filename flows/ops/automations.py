"""The Prefect automations `make up` creates: a notification when a monitoring check finds an outcome
degraded (event cmtl.monitor.degraded, flows/monitor.py) and when any flow run fails or crashes.

The message goes through a Prefect notification block: a webhook (Slack, Teams or any URL taking a JSON
POST) named by CMTL_ALERT_WEBHOOK. Without it the automations still fire and show in the Prefect UI's
event feed, with nothing sent.

With CMTL_RETRAIN_ON_DEGRADED=1 a third automation runs the retraining deployment (pipeline/nightly-retrain,
deployed from deployment.yaml first) on the same degraded event: retraining on evidence, not only on the
calendar. Off by default (README "Monitoring" says why); switched off, an earlier copy is removed. Run as
`python -m flows.ops.automations` against PREFECT_API_URL.
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

WEBHOOK_ENV = "CMTL_ALERT_WEBHOOK"
RETRAIN_ENV = "CMTL_RETRAIN_ON_DEGRADED"
BLOCK = "cmtl-alerts"
DEGRADED = "cmtl: monitoring verdict degraded"
FAILED = "cmtl: flow run failed or crashed"
RETRAIN = "cmtl: retrain on a degraded verdict"
RETRAIN_DEPLOYMENT = "pipeline/nightly-retrain"  # flow name / deployment name in deployment.yaml
DEGRADED_EVENT = "cmtl.monitor.degraded"  # flows/monitor.py: EVENT + ".degraded"


def triggers() -> dict:
    from prefect.events.schemas.automations import EventTrigger, Posture

    def on(events: set[str], resource: str) -> EventTrigger:
        return EventTrigger(expect=events, match={"prefect.resource.id": resource}, posture=Posture.Reactive,
                            threshold=1, within=timedelta(0))

    return {
        DEGRADED: (on({DEGRADED_EVENT}, "cmtl.model.*"),
                   "{{ event.resource['prefect.resource.id'] }} v{{ event.resource['cmtl.version'] }} degraded",
                   "Degraded outcomes: {{ event.payload.degraded | join(', ') }}\n"
                   "{% for o, r in event.payload.reasons.items() %}- {{ o }}: {{ r }}\n{% endfor %}"
                   "MLflow monitoring run: {{ event.payload.mlflow_run }}"),
        FAILED: (on({"prefect.flow-run.Failed", "prefect.flow-run.Crashed"}, "prefect.flow-run.*"),
                 "Flow run {{ flow.name }}/{{ flow_run.name }}: {{ flow_run.state.name }}",
                 "Flow run {{ flow_run.name }} of {{ flow.name }} ended {{ flow_run.state.name }}: "
                 "{{ flow_run.state.message }}"),
    }


def notification_block(url: str):
    """The webhook block (saved as cmtl-alerts); its id for SendNotification."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    block = CustomWebhookNotificationBlock(url=url, name="cmtl", json_data={"text": "{{subject}}\n{{body}}"})
    return block.save(BLOCK, overwrite=True)


def switched_on(value: str | None) -> bool:
    """CMTL_RETRAIN_ON_DEGRADED: 1 / true / yes / on (any case) switch it on; unset or anything else, off."""
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _remove(name: str) -> None:
    from prefect.automations import Automation

    try:
        Automation.read(name=name).delete()
    except ValueError:
        pass  # not there yet


def retrain_deployment_id(name: str = RETRAIN_DEPLOYMENT):
    """The id of the deployment a degraded verdict runs; a clear error when it was never deployed."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    from mtl_core.errors import CmtlError

    with get_client(sync_client=True) as client:
        try:
            return client.read_deployment_by_name(name).id
        except ObjectNotFound:
            raise CmtlError(f"{RETRAIN_ENV} is on but deployment {name} is not on the Prefect server: deploy "
                            "deployment.yaml first (`make up` does, before the automations)") from None


def install(webhook: str | None = None, retrain: bool = False) -> list[str]:
    """(Re)create the notification automations, and the retraining one when `retrain`; returns their
    names. Idempotent: an earlier copy is replaced (the retraining one removed when `retrain` is off)."""
    from prefect.automations import Automation
    from prefect.events.actions import DoNothing, RunDeployment, SendNotification

    deployment_id = retrain_deployment_id() if retrain else None  # before anything changes
    block_id = notification_block(webhook) if webhook else None
    made = []
    for name, (trigger, subject, body) in triggers().items():
        _remove(name)
        actions = ([SendNotification(block_document_id=block_id, subject=subject, body=body)] if block_id
                   else [DoNothing()])
        Automation(name=name, description="created by `make up` (flows/ops/automations.py)", trigger=trigger,
                   actions=actions).create()
        made.append(name)
    _remove(RETRAIN)
    if deployment_id is not None:
        trigger = triggers()[DEGRADED][0]
        Automation(name=RETRAIN, trigger=trigger, actions=[RunDeployment(source="selected",
                                                                         deployment_id=deployment_id)],
                   description=f"created by `make up` with {RETRAIN_ENV}=1 (flows/ops/automations.py): runs "
                               f"{RETRAIN_DEPLOYMENT}; the gate still decides any promotion").create()
        made.append(RETRAIN)
    return made


def install_against(env: dict, cwd: Path) -> str:
    """Run install in a child process with env's PREFECT_API_URL (how `make up` calls it); its output."""
    done = subprocess.run([sys.executable, "-m", "flows.ops.automations"], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    if done.returncode != 0:
        from mtl_core.errors import CmtlError
        raise CmtlError(f"creating the Prefect automations failed:\n{(done.stdout + done.stderr)[-3000:]}")
    return done.stdout


if __name__ == "__main__":
    url = os.environ.get(WEBHOOK_ENV)
    for made in install(url, switched_on(os.environ.get(RETRAIN_ENV))):
        quiet = made != RETRAIN and not url
        print(f"automation: {made}" + (f" (no {WEBHOOK_ENV}: fires, sends nothing)" if quiet else ""))

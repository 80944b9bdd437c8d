"""The Prefect automations `make up` creates: a notification when a monitoring check finds an outcome
degraded (event cmtl.monitor.degraded, flows/monitor.py) and when any flow run fails or crashes.

The message goes through a Prefect notification block: a webhook (Slack, Teams or any URL taking a JSON
POST) named by CMTL_ALERT_WEBHOOK. Without it the automations still fire and show in the Prefect UI's
event feed, with nothing sent. Run as `python -m flows.ops.automations` against PREFECT_API_URL.
"""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

WEBHOOK_ENV = "CMTL_ALERT_WEBHOOK"
BLOCK = "cmtl-alerts"
DEGRADED = "cmtl: monitoring verdict degraded"
FAILED = "cmtl: flow run failed or crashed"


def triggers() -> dict:
    from prefect.events.schemas.automations import EventTrigger, Posture

    def on(events: set[str], resource: str) -> EventTrigger:
        return EventTrigger(expect=events, match={"prefect.resource.id": resource}, posture=Posture.Reactive,
                            threshold=1, within=timedelta(0))

    return {
        DEGRADED: (on({"cmtl.monitor.degraded"}, "cmtl.model.*"),
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


def install(webhook: str | None = None) -> list[str]:
    """(Re)create both automations; returns their names. Idempotent: an earlier copy is replaced."""
    from prefect.automations import Automation
    from prefect.events.actions import DoNothing, SendNotification

    block_id = notification_block(webhook) if webhook else None
    made = []
    for name, (trigger, subject, body) in triggers().items():
        try:
            Automation.read(name=name).delete()
        except ValueError:
            pass  # not there yet
        actions = ([SendNotification(block_document_id=block_id, subject=subject, body=body)] if block_id
                   else [DoNothing()])
        Automation(name=name, description="created by `make up` (flows/ops/automations.py)", trigger=trigger,
                   actions=actions).create()
        made.append(name)
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
    for made in install(url):
        print(f"automation: {made}" + ("" if url else f" (no {WEBHOOK_ENV}: fires, sends nothing)"))

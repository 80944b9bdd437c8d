"""flows/runtime/direct.py: inside plain_calls, Prefect flows and tasks run as plain function calls (no
flow run, no task run, so no API and no temporary server), get_run_logger works, and all is restored."""
from __future__ import annotations

import sys
import types

from prefect import flow, get_run_logger, task
from prefect.flows import Flow
from prefect.tasks import Task

from flows.runtime import direct

calls: list[str] = []


@task(retries=2)
def add_one(x: int) -> int:
    get_run_logger().info("adding one to %s", x)
    from prefect.context import FlowRunContext, TaskRunContext

    calls.append("plain" if FlowRunContext.get() is None and TaskRunContext.get() is None else "prefect run")
    return x + 1


@flow
def twice(x: int) -> int:
    get_run_logger().info("flow starts")
    return add_one(add_one(x))


def test_plain_calls_run_flows_and_tasks_as_functions_and_restore(monkeypatch):
    module = types.ModuleType("flows._direct_probe")  # a flow module of the project, as the patch sees it
    module.get_run_logger = get_run_logger
    monkeypatch.setitem(sys.modules, "flows._direct_probe", module)
    before = (Flow.__call__, Task.__call__)
    calls.clear()
    with direct.plain_calls():
        assert direct.active()
        assert module.get_run_logger is not get_run_logger
        module.get_run_logger().info("a plain logger")
        with direct.plain_calls():  # nested: a no-op
            assert direct.active()
        assert calls == []
    assert not direct.active()
    assert (Flow.__call__, Task.__call__) == before and module.get_run_logger is get_run_logger
    with direct.plain_calls(enabled=False):
        assert not direct.active()


def test_a_flow_of_tasks_runs_without_any_prefect_api(monkeypatch):
    import prefect.client.orchestration as orchestration

    def refuse(*_a, **_k):
        raise AssertionError("a Prefect client was asked for")

    monkeypatch.setattr(orchestration, "get_client", refuse)
    calls.clear()
    # this module is no flows.* module, whose get_run_logger plain_calls replaces: replace it by hand
    monkeypatch.setitem(globals(), "get_run_logger", direct._run_logger)
    with direct.plain_calls():
        assert twice(1) == 3
    assert calls == ["plain", "plain"]  # no flow run, no task run: nothing for a Prefect API to record


def test_wanted_only_without_an_api_and_unless_asked(monkeypatch):
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delenv(direct.ASK, raising=False)
    assert direct.wanted()
    monkeypatch.setenv(direct.ASK, "1")
    assert not direct.wanted()
    monkeypatch.delenv(direct.ASK)
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    assert not direct.wanted()

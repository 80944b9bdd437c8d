"""Every task a person sees in the Prefect UI has a readable name, a time limit, and retries only where a
retry can help (tracking calls), never on bad input."""
from __future__ import annotations

import importlib
import pkgutil

import pytest
from prefect import Task
from prefect.client.schemas.objects import State, StateType

import flows
from flows.runtime import policy
from mtl_core.errors import DataError


def all_tasks() -> list[Task]:
    found = {}
    for info in pkgutil.iter_modules(flows.__path__):
        module = importlib.import_module(f"flows.{info.name}")
        for obj in vars(module).values():
            if isinstance(obj, Task):
                found[obj.name] = obj
    return list(found.values())


def test_tasks_exist_in_every_stage():
    names = {t.name for t in all_tasks()}
    assert len(names) >= 15
    assert {"Fit multi-task network", "Fit single-task learners", "Stack members per outcome",
            "Register model version", "Log model to MLflow"} <= names


@pytest.mark.parametrize("t", all_tasks(), ids=lambda t: t.name)
def test_task_has_a_readable_name_and_a_time_limit(t):
    assert t.name != t.fn.__name__ and " " in t.name, "name a person understands, not the function name"
    assert t.timeout_seconds and t.timeout_seconds > 0


@pytest.mark.parametrize("t", [t for t in all_tasks() if "MLflow" in t.name or "model version" in t.name
                               or "champion" in t.name], ids=lambda t: t.name)
def test_tracking_tasks_retry_transient_failures_only(t):
    assert t.retries >= 2 and t.retry_condition_fn is policy.transient


def _failed(exc: BaseException) -> State:
    return State(type=StateType.FAILED, data=exc)


def test_transient_retries_server_errors_not_bad_input():
    assert policy.transient(None, None, _failed(ConnectionError("tracking server away"))) is True
    assert policy.transient(None, None, _failed(TimeoutError("slow"))) is True
    assert policy.transient(None, None, _failed(DataError("table 'admissions': bad"))) is False


def test_deterministic_failures_are_not_retried():
    """Issue 13: +-inf features crashed with a ValueError that a FIT retry repeated; a full disk too."""
    import errno

    from mtl_core.errors import UnavailableError

    for exc in (ValueError("Input contains infinity"), TypeError("unhashable type: 'list'"),
                UnavailableError("tracking store down"), OSError(errno.ENOSPC, "No space left on device")):
        assert policy.transient(None, None, _failed(exc)) is False, exc
    assert policy.transient(None, None, _failed(OSError(errno.ECONNRESET, "reset"))) is True

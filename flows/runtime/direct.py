"""Registry-only commands without a Prefect server.

Prefect with no PREFECT_API_URL starts a temporary server (uvicorn, 20-40 s on a busy machine) for any
flow or task call, and throws its records away when the command ends. `cmtl score`, `compare`,
`promote --dry-run` and `rollback` only read the registry (or move one alias), so unless a Prefect API is
configured (PREFECT_API_URL: the runs are then recorded there, no server is started) or one is asked for
(CMTL_TEMPORARY_PREFECT=1), their flows run here as plain calls: the same functions, in the same order,
in this process, with nothing sent to any Prefect API.

What a plain call does not have: Prefect's task retries (MLflow's own HTTP retries still apply,
MLFLOW_HTTP_REQUEST_MAX_RETRIES), task time limits, and events (nothing could act on one emitted to a
server that stops with the command). `get_run_logger()` in the flows' modules gives the logger
`prefect.cmtl`, printed by Prefect's console handler and sent to no API.
"""
from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

ASK = "CMTL_TEMPORARY_PREFECT"


def wanted() -> bool:
    """True when a command's flows should run as plain calls: no Prefect API configured, none asked for."""
    return not os.environ.get("PREFECT_API_URL") and os.environ.get(ASK, "").lower() not in ("1", "true", "yes")


def active() -> bool:
    return _DEPTH > 0


_DEPTH = 0
LOGGER = logging.getLogger("prefect.cmtl")


def _run_logger(*_args, **_kwargs) -> logging.Logger:
    return LOGGER


@contextmanager
def plain_calls(enabled: bool = True) -> Iterator[None]:
    """Within the block, calling a Prefect flow or task runs its function directly (see the module's
    docstring); `get_run_logger` in the project's flow modules (imported before the block) returns a
    plain logger. Restored after."""
    global _DEPTH
    if not enabled or _DEPTH:
        yield
        return
    from prefect import get_run_logger
    from prefect.flows import Flow
    from prefect.tasks import Task

    calls = {Flow: Flow.__call__, Task: Task.__call__}
    patched = [m for name, m in list(sys.modules.items())
               if name.startswith("flows.") and getattr(m, "get_run_logger", None) is get_run_logger]

    def flow_call(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def task_call(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    Flow.__call__, Task.__call__ = flow_call, task_call
    for module in patched:
        module.get_run_logger = _run_logger
    _DEPTH += 1
    try:
        yield
    finally:
        _DEPTH -= 1
        Flow.__call__, Task.__call__ = calls[Flow], calls[Task]
        for module in patched:
            module.get_run_logger = get_run_logger

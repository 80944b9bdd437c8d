"""Where per-partition tasks run: one at a time in the flow's process (`engine: {kind: local}`), or as
Prefect tasks on a Dask cluster through prefect-dask's DaskTaskRunner (`engine: {kind: dask}`).

Either way the flow gets each partition's result in partition order, so what it writes is the same. On
Dask a few partitions per worker are in flight at a time (memory stays bounded on the workers and in
the flow); when one fails no more are started, those running are waited for, and the first failure in
partition order is raised, so nothing still writes into a folder the flow is about to remove.
"""
from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from prefect import get_run_logger

from mtl_core.config import Config

IN_FLIGHT_PER_WORKER = 2


class Local:
    """Each task called in turn, in this process."""
    workers = 1

    def run(self, task, calls: Iterable[dict[str, Any]]) -> Iterator[Any]:
        for kwargs in calls:
            yield task(**kwargs)


class Dask:
    """Tasks submitted to a started DaskTaskRunner, a bounded number at a time."""

    def __init__(self, runner):
        self.runner = runner
        self.workers = max(1, sum(runner.client.nthreads().values()))

    def run(self, task, calls: Iterable[dict[str, Any]]) -> Iterator[Any]:
        calls, pending = iter(calls), deque()

        def fill() -> None:
            while len(pending) < IN_FLIGHT_PER_WORKER * self.workers:
                kwargs = next(calls, None)
                if kwargs is None:
                    return
                pending.append(self.runner.submit(task, parameters=kwargs))

        try:
            fill()
            while pending:
                result = pending[0].result()  # raises the task's own error
                pending.popleft()
                fill()
                yield result
        finally:
            for future in pending:  # failed, or the caller stopped: let running ones end first
                future.wait()


def dask_runner(cfg: Config):
    from prefect_dask import DaskTaskRunner

    if cfg.engine.address:
        return DaskTaskRunner(address=cfg.engine.address)
    return DaskTaskRunner(cluster_kwargs={
        "n_workers": cfg.engine.n_workers or os.cpu_count() or 1, "threads_per_worker": 1,
        "processes": True, "dashboard_address": None})


@contextmanager
def engine(cfg: Config) -> Iterator[Local | Dask]:
    """The configured engine, started for the block (a local Dask cluster is torn down after it)."""
    if cfg.engine.kind == "local":
        yield Local()
        return
    with dask_runner(cfg) as runner:
        eng = Dask(runner)
        where = cfg.engine.address or "a local cluster"
        get_run_logger().info("Per-partition tasks run on Dask (%s, %d workers)", where, eng.workers)
        yield eng

"""What the flow tests that run whole pipelines in one workspace share: a fast evaluation, a clean store
environment while module fixtures run, and a client on the workspace's store."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import mlflow
import pytest

NAME = "clinical-multi-outcome"
FAST = {"n_boot": 200, "baselines": ["logistic"]}  # evaluation settings of a quick pipeline run


@contextmanager
def own_store():
    """Module fixtures run before the per-test environment clean-up: no store URI or workspace leaked by
    earlier tests may redirect the pipelines they run."""
    env = pytest.MonkeyPatch()
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "CMTL_WORKSPACE"):
        env.delenv(key, raising=False)
    try:
        yield
    finally:
        env.undo()


def store_client(ws: Path) -> mlflow.MlflowClient:
    uri = f"sqlite:///{ws / 'mlflow.db'}"
    return mlflow.MlflowClient(uri, registry_uri=uri)

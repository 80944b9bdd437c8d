"""The MLflow store: created and migrated once per store, the client pointed at the workspace's store, the
config's experiment."""
from __future__ import annotations

import os
import random
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from flows.runtime.workspace import tracking_uri
from mtl_core.config import Config
from mtl_core.errors import UnavailableError

ROOT = Path(__file__).resolve().parents[2]


REQUIREMENTS = ("torch", "scikit-learn", "pandas", "numpy", "pyarrow", "joblib", "pydantic", "pyyaml",
                "pandera", "mlflow", "shap", "captum")


# Database stores this process has seen created (or found complete): each is opened under the lock once.
_READY: set[str] = set()


_READY_LOCK = threading.Lock()


# pg_advisory_lock key held while a PostgreSQL store is created (advisory locks are per database)
PG_INIT_KEY = 0x636D746C_6D6C666C  # "cmtlmlfl"


DATABASE_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mssql")


@contextmanager
def _creation_lock(uri: str, timeout: float = 600):
    """Held while a new store's tables are created and migrated: an flock on `<db>.init.lock` beside a
    SQLite file (the kernel releases it when the holder dies, even by kill -9), a session-level
    pg_advisory_lock on PostgreSQL (released when the session ends). Other stores: no lock."""
    if uri.startswith("sqlite:///") and uri.removeprefix("sqlite:///") not in ("", ":memory:"):
        import fcntl

        db = Path(uri.removeprefix("sqlite:///"))
        lock = db.with_name(f"{db.name}.init.lock")
        if not db.parent.is_dir():
            raise UnavailableError(f"tracking store {uri}: folder {db.parent} does not exist (check "
                                   "MLFLOW_TRACKING_URI or the workspace)")
        deadline = time.monotonic() + timeout
        with open(lock, "a") as fh:
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise UnavailableError(f"MLflow store {uri}: another process has been creating it for "
                                               f"more than {timeout:.0f} s (lock {lock})") from None
                    time.sleep(0.1 + 0.1 * random.random())
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return
    if uri.split(":", 1)[0].split("+")[0] in ("postgresql", "postgres"):
        import sqlalchemy

        engine = sqlalchemy.create_engine(uri, poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.connect() as con:
                con.execute(sqlalchemy.text(f"SET lock_timeout = '{int(timeout * 1000)}ms'"))
                con.execute(sqlalchemy.text("SELECT pg_advisory_lock(:k)"), {"k": PG_INIT_KEY})
                try:
                    yield
                finally:
                    con.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:k)"), {"k": PG_INIT_KEY})
                    con.commit()
        finally:
            engine.dispose()
        return
    yield


def ensure_store(uri: str) -> None:
    """Create and migrate a new database store exactly once, however many processes and threads open it
    at the same moment. MLflow creates missing tables in every store object it opens; two openers of a
    fresh store both ran the migrations (`duplicate column name: step`, `table registered_models already
    exists`). Here the first opener in each process takes the store's creation lock, opens the tracking
    and registry stores under it (creating the tables if missing), and releases it; later openers find
    every table and skip creation. Cheap when the store exists: one lock round trip per process."""
    if uri in _READY or uri.split(":", 1)[0].split("+")[0] not in DATABASE_SCHEMES:
        return
    with _READY_LOCK:
        if uri in _READY:
            return
        with _creation_lock(uri):
            c = MlflowClient(uri, registry_uri=uri)
            c.search_experiments(max_results=1)  # the tracking store: creates and migrates missing tables
            c.search_registered_models(max_results=1)  # the registry store (finds them all)
        _READY.add(uri)


def account(ws: Path) -> str | None:
    """The MLflow user this process authenticates as (MLFLOW_TRACKING_USERNAME) when the store is a
    tracking server; None for a store opened directly (no login there)."""
    if not tracking_uri(ws).startswith(("http://", "https://")):
        return None
    return os.environ.get("MLFLOW_TRACKING_USERNAME") or None


def client(cfg: Config, ws: Path) -> MlflowClient:
    """Point MLflow at the workspace store (unless MLFLOW_TRACKING_URI says otherwise)."""
    uri = tracking_uri(ws)
    ensure_store(uri)
    user_choice = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    # The setters also export these variables; undo that so they keep meaning "the user's choice"
    # and the next config's workspace is honoured within the same process.
    for key, value in user_choice.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    return MlflowClient(uri, registry_uri=uri)


# MLflow 3's UI opens an experiment by its kind: GenAI experiments on a traces overview, this kind on its
# training runs (and without the tag it asks the reviewer which kind the experiment is)
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def experiment_id(c: MlflowClient, cfg: Config, ws: Path) -> str:
    exp = c.get_experiment_by_name(cfg.registry.experiment)
    if exp is not None:
        if "mlflow.experimentKind" not in exp.tags:  # an experiment created before the tag was set
            c.set_experiment_tag(exp.experiment_id, *next(iter(EXPERIMENT_KIND.items())))
        return exp.experiment_id
    location = (ws / "mlartifacts").as_uri() if c.tracking_uri.startswith("sqlite:") else None
    try:
        return c.create_experiment(cfg.registry.experiment, artifact_location=location, tags=EXPERIMENT_KIND)
    except MlflowException:  # created concurrently by another run
        return c.get_experiment_by_name(cfg.registry.experiment).experiment_id

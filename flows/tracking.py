"""The only module that talks to MLflow: runs, metrics, dataset inputs, artifacts, the pyfunc model and the
registry (versions, aliases, tags)."""
from __future__ import annotations

import importlib.metadata as md
import os
import random
import re
import socket
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import mlflow
import pandas as pd
import yaml
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from flows.runtime.identity import identity
from flows.runtime.workspace import tracking_uri
from mtl_core.config import Config
from mtl_core.errors import CmtlError, DataError, UnavailableError
from mtl_core.provenance import code_version, describe

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ("torch", "scikit-learn", "pandas", "numpy", "pyarrow", "joblib", "pydantic", "pyyaml",
                "pandera", "mlflow")


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


def start_run(cfg: Config, ws: Path, run_name: str, tags: dict[str, str] | None = None) -> str:
    """A new MLflow run holding the whole config (params, flattened, and config.yaml) and the code
    version (package, git commit, source digest) it ran."""
    c = client(cfg, ws)
    code = code_version()
    run = c.create_run(experiment_id(c, cfg, ws), run_name=run_name,
                       tags={"cmtl.config": cfg.name, "cmtl.source": cfg.source.kind, **identity(),
                             "cmtl.code_version": describe(code),
                             **{f"cmtl.code.{k}": str(v) for k, v in code.items()}, **(tags or {})})
    params = [Param(k, str(v)[:6000]) for k, v in cfg.flat().items()]
    for i in range(0, len(params), 100):
        c.log_batch(run.info.run_id, params=params[i:i + 100])
    c.log_text(run.info.run_id, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False),
               "config.yaml")
    return run.info.run_id


def set_run_tag(cfg: Config, ws: Path, run_id: str, key: str, value: str) -> None:
    client(cfg, ws).set_tag(run_id, key, str(value)[:5000])


def run_tags(cfg: Config, ws: Path, run_id: str) -> dict[str, str]:
    return dict(client(cfg, ws).get_run(run_id).data.tags)


def run_metrics(cfg: Config, ws: Path, run_id: str) -> dict[str, float]:
    return dict(client(cfg, ws).get_run(run_id).data.metrics)


def run_started(cfg: Config, ws: Path, run_id: str) -> int:
    """When a run started (milliseconds since the epoch)."""
    return int(client(cfg, ws).get_run(run_id).info.start_time)


def running_runs(cfg: Config, ws: Path) -> list[tuple[str, dict[str, str], int]]:
    """(run id, tags, start in ms) of every RUNNING run of the config's experiment."""
    c = client(cfg, ws)
    exp = c.get_experiment_by_name(cfg.registry.experiment)
    if exp is None:
        return []
    return [(r.info.run_id, dict(r.data.tags), int(r.info.start_time))
            for r in c.search_runs([exp.experiment_id], filter_string="attributes.status = 'RUNNING'",
                                   max_results=1000)]


def end_run(cfg: Config, ws: Path, run_id: str, ok: bool | str) -> None:
    """ok: True (FINISHED), False (FAILED) or an MLflow status (KILLED for a signal)."""
    status = ok if isinstance(ok, str) else ("FINISHED" if ok else "FAILED")
    client(cfg, ws).set_terminated(run_id, status)


def metric_name(name: str) -> str:
    """MLflow accepts letters, digits and _ - . / : and spaces; subgroup values may hold others (80+)."""
    return re.sub(r"[^\w.\- /:]", "_", name.replace("+", "plus"))


def log_metrics(cfg: Config, ws: Path, run_id: str, values: dict[str, float], step: int = 0) -> None:
    ms = [Metric(metric_name(k), float(v), 0, step) for k, v in values.items() if v is not None]
    for i in range(0, len(ms), 1000):
        client(cfg, ws).log_batch(run_id, metrics=ms[i:i + 1000])


def log_history(cfg: Config, ws: Path, run_id: str, history: list[dict]) -> None:
    """Per-epoch curves, logged once after training (a retried task cannot duplicate them)."""
    c = client(cfg, ws)
    ms = [Metric(f"epoch/{k}", float(v), 0, row["epoch"]) for row in history
          for k, v in row.items() if k != "epoch"]
    for i in range(0, len(ms), 1000):
        c.log_batch(run_id, metrics=ms[i:i + 1000])


def log_artifact(cfg: Config, ws: Path, run_id: str, path: Path, folder: str | None = None) -> None:
    client(cfg, ws).log_artifact(run_id, str(path), folder)


def signature(example: pd.DataFrame, output: pd.DataFrame):
    """The model's signature with every input optional to MLflow: a missing column then reaches the
    model's own check, which names it, instead of MLflow's, whose message (as the scoring server wraps
    it) quotes the request's values back. `cmtl score` still requires every input (input_names)."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema

    inferred = infer_signature(example, output)
    inputs = Schema([ColSpec(c.type, c.name, required=False) for c in inferred.inputs.inputs])
    return ModelSignature(inputs=inputs, outputs=inferred.outputs)


def log_pyfunc(cfg: Config, ws: Path, run_id: str, estimator_path: Path, example: pd.DataFrame,
               extra: dict[str, str] | None = None, output: pd.DataFrame | None = None) -> str:
    """Log the estimator (and extra artifacts: name -> file) as a pyfunc in the run; returns the model URI.
    output: the model's answer to the example (for the signature's outputs); without it MLflow infers both."""
    client(cfg, ws)
    reqs = [f"{p}=={md.version(p)}" for p in REQUIREMENTS]
    with mlflow.start_run(run_id=run_id), warnings.catch_warnings():
        # MLflow nudges towards type-hinted predict(); the signature comes from the example instead.
        warnings.filterwarnings("ignore", message=".*type hints.*")
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(ROOT / "flows" / "pyfunc_model.py"),
            artifacts={"estimator": str(estimator_path), **(extra or {})}, code_paths=[str(ROOT / "mtl_core")],
            input_example=example, pip_requirements=reqs,
            signature=signature(example, output) if output is not None else None)
    return info.model_uri


def register(cfg: Config, ws: Path, model_uri: str, run_id: str) -> str:
    c = client(cfg, ws)
    try:
        c.create_registered_model(cfg.registry.model_name,
                                  description="Multi-outcome clinical risk model (one probability per outcome).")
    except MlflowException:
        pass  # already exists
    # A tracking server (REST store) accepts a `models:/m-...` source only with its logged model id.
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    mv = c.create_model_version(cfg.registry.model_name, model_uri, run_id=run_id, model_id=model_id)
    return str(mv.version)


@contextmanager
def registry_lock(cfg: Config, ws: Path, timeout: float = 900, stale_after: float = 1800):
    """Mutual exclusion between promotions in any process or machine sharing the registry: a registered
    model named `<model>.promotion-lock` exists while one is held (model names are unique in every
    store, so creating it is an atomic test-and-set); deleted on release. A lock left by a crashed
    holder is taken over after `stale_after` seconds."""
    c, name = client(cfg, ws), f"{cfg.registry.model_name}.promotion-lock"
    deadline = time.monotonic() + timeout
    while True:
        try:
            c.create_registered_model(name, tags={"cmtl.lock.holder": f"{socket.gethostname()}:{os.getpid()}",
                                                  "cmtl.lock.since": str(time.time())},
                                      description="Held while a promotion moves the champion alias.")
            break
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        try:
            since = float(c.get_registered_model(name).tags.get("cmtl.lock.since", "0"))
            if time.time() - since > stale_after:
                c.delete_registered_model(name)
                continue
        except MlflowException:
            continue  # released meanwhile
        if time.monotonic() > deadline:
            raise TimeoutError(f"registry lock {name} still held after {timeout:.0f} s")
        time.sleep(0.5 + random.random())
    try:
        yield
    finally:
        try:
            c.delete_registered_model(name)
        except MlflowException:
            pass


def version_by_alias(cfg: Config, ws: Path, alias: str):
    try:
        return client(cfg, ws).get_model_version_by_alias(cfg.registry.model_name, alias)
    except MlflowException:
        return None


def set_alias(cfg: Config, ws: Path, alias: str, version: str) -> None:
    client(cfg, ws).set_registered_model_alias(cfg.registry.model_name, alias, version)


def tag_version(cfg: Config, ws: Path, version: str, tags: dict[str, str]) -> None:
    c = client(cfg, ws)
    for k, v in tags.items():
        c.set_model_version_tag(cfg.registry.model_name, version, k, str(v)[:5000])


def describe_version(cfg: Config, ws: Path, version: str, text: str) -> None:
    """The version's description (Markdown, shown on its page in the MLflow UI)."""
    client(cfg, ws).update_model_version(cfg.registry.model_name, str(version), description=text[:60000])


def run_experiment(cfg: Config, ws: Path, run_id: str | None) -> str | None:
    """The experiment id of a run (for links in the UI); None when there is no such run."""
    if not run_id:
        return None
    try:
        return client(cfg, ws).get_run(run_id).info.experiment_id
    except MlflowException:
        return None


def load_model(cfg: Config, ws: Path, uri: str):
    client(cfg, ws)
    with warnings.catch_warnings():  # MLflow's nudge towards a type-hinted predict(), at every load
        warnings.filterwarnings("ignore", message=".*type hints.*")
        return mlflow.pyfunc.load_model(uri)


def input_example(model) -> pd.DataFrame:
    """The logged model's input example: one made-up typical row (the training split's medians and modes)."""
    example = model.input_example
    return example if isinstance(example, pd.DataFrame) else pd.DataFrame(example)


def predict(model, frame: pd.DataFrame, what: str, uri: str) -> pd.DataFrame:
    """A loaded pyfunc's answer; MLflow's refusal of the input (its signature check) as a DataError."""
    try:
        return model.predict(frame)
    except MlflowException as exc:
        raise DataError(f"{what} does not match the signature of {uri}: {exc.message}") from None


def log_text(cfg: Config, ws: Path, run_id: str, text: str, artifact_file: str) -> None:
    client(cfg, ws).log_text(run_id, text, artifact_file)


def read_artifact_text(cfg: Config, ws: Path, run_id: str, path: str) -> str | None:
    """A text artifact of a run, or None when the run has no such file."""
    import tempfile

    try:
        with tempfile.TemporaryDirectory() as tmp:
            return Path(client(cfg, ws).download_artifacts(run_id, path, tmp)).read_text()
    except (MlflowException, OSError):
        return None


def log_artifacts(cfg: Config, ws: Path, run_id: str, local_dir: Path, folder: str | None = None) -> None:
    client(cfg, ws).log_artifacts(run_id, str(local_dir), folder)


def list_artifacts(cfg: Config, ws: Path, run_id: str, folder: str | None = None) -> list[str]:
    return [f.path for f in client(cfg, ws).list_artifacts(run_id, folder)]


def log_datasets(cfg: Config, ws: Path, run_id: str, datasets: list[dict]) -> None:
    """Dataset inputs of a run: each dict has name, source (a workspace path), digest (<= 36 chars),
    context and summary (a small frame of aggregates: its schema and size become the profile)."""
    from mlflow.data import from_pandas
    from mlflow.data.sources import LocalArtifactDatasetSource
    from mlflow.entities import Dataset, DatasetInput, InputTag

    inputs = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ii]nteger column.*")
        for d in datasets:
            ds = from_pandas(d["summary"], source=LocalArtifactDatasetSource(str(d["source"])),
                             name=d["name"], digest=d["digest"][:36])
            inputs.append(DatasetInput(Dataset(**ds.to_dict()),
                                       tags=[InputTag("mlflow.data.context", d["context"])]))
    client(cfg, ws).log_inputs(run_id, datasets=inputs)


def ui_url(tracking_uri: str, experiment_id: str, run_id: str) -> str | None:
    """The MLflow UI page of a run on a tracking server; None for a file or database store."""
    if not tracking_uri.startswith(("http://", "https://")):
        return None
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"


def experiment_page(ui: str, experiment_id: str) -> str:
    """An experiment's page on its training runs. MLflow 3's UI opens experiments in its GenAI view
    (overview, traces) unless the URL asks for the model-training one; the experimentKind tag alone
    does not change that (checked in 3.17.2's UI)."""
    return f"{ui.rstrip('/')}/#/experiments/{experiment_id}?workflowType=machine_learning"


def run_link(cfg: Config, ws: Path, run_id: str) -> tuple[str, str]:
    """(URL, description) of a run: the MLflow UI page on a tracking server, else its artifact folder."""
    c = client(cfg, ws)
    run = c.get_run(run_id)
    url = ui_url(c.tracking_uri, run.info.experiment_id, run_id)
    if url:
        return url, f"MLflow run {run_id}"
    return run.info.artifact_uri, (f"MLflow run {run_id} (experiment {run.info.experiment_id}) in "
                                   f"{c.tracking_uri}: browse it with `mlflow ui --backend-store-uri "
                                   f"{c.tracking_uri}`, then http://127.0.0.1:5000/#/experiments/"
                                   f"{run.info.experiment_id}/runs/{run_id}")


def parse_reference(name: str, ref: str, what: str) -> tuple[str | None, str | None]:
    """(alias, version) from what a user typed: `3`, `v3`, `models:/<name>/3`, or an alias."""
    text = str(ref).strip().removeprefix(f"models:/{name}").lstrip("/@")
    if text.lower().startswith("v") and text[1:].isdigit():
        text = text[1:]
    if not text:
        raise CmtlError(f"{what}: give an alias (champion, challenger) or a version number (3, v3), not {ref!r}")
    return (None, text) if text.isdigit() else (text, None)


def find_version(cfg: Config, ws: Path, ref: str, what: str):
    """The registered version an alias or number names; CmtlError naming the store when there is none."""
    name = cfg.registry.model_name
    alias, version = parse_reference(name, ref, what)
    mv = version_by_alias(cfg, ws, alias) if alias else model_version(cfg, ws, version)
    if mv is None:
        which = f"alias '{alias}'" if alias else f"version {version}"
        raise CmtlError(f"model {name} has no {which} in {tracking_uri(ws)}{_next_step(cfg, ws, alias, what)}")
    return mv, alias


def _next_step(cfg: Config, ws: Path, alias: str | None, what: str) -> str:
    """What to do instead when there is no champion: the challenger the gate kept, and how to use it."""
    if alias != "champion":
        return ""
    challenger = version_by_alias(cfg, ws, "challenger")
    if challenger is None:
        return ": no version is registered yet (`cmtl run` trains and registers one)"
    v = challenger.version
    use = "--model challenger" if what == "--model" else "challenger"
    return (f": the gate has promoted no version yet; v{v} is challenger: use {use} (or `{v}`) to score "
            f"with it, `cmtl promote --version {v} --dry-run` says why it stays challenger")


def run_record(cfg: Config, ws: Path, run_id: str) -> dict:
    """A run as a comparison needs it: start time (ms), tags, metrics."""
    run = client(cfg, ws).get_run(run_id)
    return {"start_time": int(run.info.start_time), "tags": dict(run.data.tags), "metrics": dict(run.data.metrics)}


def model_version(cfg: Config, ws: Path, version: str):
    try:
        return client(cfg, ws).get_model_version(cfg.registry.model_name, str(version))
    except MlflowException:
        return None


def model_versions(cfg: Config, ws: Path) -> list:
    return list(client(cfg, ws).search_model_versions(f"name='{cfg.registry.model_name}'"))


def model_tags(cfg: Config, ws: Path) -> dict[str, str]:
    try:
        return dict(client(cfg, ws).get_registered_model(cfg.registry.model_name).tags)
    except MlflowException:
        return {}


def set_model_tags(cfg: Config, ws: Path, tags: dict[str, str]) -> None:
    c = client(cfg, ws)
    for k, v in tags.items():
        c.set_registered_model_tag(cfg.registry.model_name, k, str(v)[:5000])


def log_series(cfg: Config, ws: Path, run_id: str, points: list[tuple[str, float, int, int]]) -> None:
    """Metrics over time: (name, value, timestamp in ms, step) each, e.g. a monitoring window's end as both
    its timestamp and its step (YYYYMMDD), so the run's chart of a metric is its series."""
    ms = [Metric(metric_name(k), float(v), ts, step) for k, v, ts, step in points]
    for i in range(0, len(ms), 1000):
        client(cfg, ws).log_batch(run_id, metrics=ms[i:i + 1000])


def link_model_version(cfg: Config, ws: Path, run_id: str, version: str) -> bool:
    """The version's logged model as an input of the run (MLflow 3 shows the run on the model's page);
    False when the version has no logged model (registered from a plain artifact path). A file or database
    store leaves the version's model_id empty; its source (models:/m-...) names the logged model."""
    from mlflow.entities import LoggedModelInput

    mv = client(cfg, ws).get_model_version(cfg.registry.model_name, str(version))
    source = str(mv.source or "")
    model_id = getattr(mv, "model_id", None) or (source.removeprefix("models:/") if source.startswith("models:/m-")
                                                 else None)
    if not model_id:
        return False
    client(cfg, ws).log_inputs(run_id, models=[LoggedModelInput(model_id)])
    return True

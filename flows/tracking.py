"""The only module that talks to MLflow: runs, metrics, the pyfunc model and the registry."""
from __future__ import annotations

import importlib.metadata as md
import os
import re
import warnings
from pathlib import Path

import mlflow
import pandas as pd
import yaml
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from flows.workspace import tracking_uri
from mtl_core.config import Config

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ("torch", "scikit-learn", "pandas", "numpy", "pyarrow", "joblib", "pydantic", "pyyaml",
                "pandera", "mlflow")


def client(cfg: Config, ws: Path) -> MlflowClient:
    """Point MLflow at the workspace store (unless MLFLOW_TRACKING_URI says otherwise)."""
    uri = tracking_uri(ws)
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


def experiment_id(c: MlflowClient, cfg: Config, ws: Path) -> str:
    exp = c.get_experiment_by_name(cfg.registry.experiment)
    if exp is not None:
        return exp.experiment_id
    location = (ws / "mlartifacts").as_uri() if c.tracking_uri.startswith("sqlite:") else None
    try:
        return c.create_experiment(cfg.registry.experiment, artifact_location=location)
    except MlflowException:  # created concurrently by another run
        return c.get_experiment_by_name(cfg.registry.experiment).experiment_id


def start_run(cfg: Config, ws: Path, run_name: str) -> str:
    """A new MLflow run holding the whole config (params, flattened, and config.yaml)."""
    c = client(cfg, ws)
    run = c.create_run(experiment_id(c, cfg, ws), run_name=run_name,
                       tags={"cmtl.config": cfg.name, "cmtl.source": cfg.source.kind})
    params = [Param(k, str(v)[:6000]) for k, v in cfg.flat().items()]
    for i in range(0, len(params), 100):
        c.log_batch(run.info.run_id, params=params[i:i + 100])
    c.log_text(run.info.run_id, yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False),
               "config.yaml")
    return run.info.run_id


def end_run(cfg: Config, ws: Path, run_id: str, ok: bool) -> None:
    client(cfg, ws).set_terminated(run_id, "FINISHED" if ok else "FAILED")


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


def log_pyfunc(cfg: Config, ws: Path, run_id: str, estimator_path: Path, example: pd.DataFrame) -> str:
    """Log the estimator as a pyfunc in the run; returns the model URI."""
    client(cfg, ws)
    reqs = [f"{p}=={md.version(p)}" for p in REQUIREMENTS]
    with mlflow.start_run(run_id=run_id), warnings.catch_warnings():
        # MLflow nudges towards type-hinted predict(); the signature comes from the example instead.
        warnings.filterwarnings("ignore", message=".*type hints.*")
        info = mlflow.pyfunc.log_model(
            name="model", python_model=str(ROOT / "flows" / "pyfunc_model.py"),
            artifacts={"estimator": str(estimator_path)}, code_paths=[str(ROOT / "mtl_core")],
            input_example=example, pip_requirements=reqs)
    return info.model_uri


def register(cfg: Config, ws: Path, model_uri: str, run_id: str) -> str:
    c = client(cfg, ws)
    try:
        c.create_registered_model(cfg.registry.model_name,
                                  description="Multi-outcome clinical risk model (one probability per outcome).")
    except MlflowException:
        pass  # already exists
    mv = c.create_model_version(cfg.registry.model_name, model_uri, run_id=run_id)
    return str(mv.version)


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


def load_model(cfg: Config, ws: Path, uri: str):
    client(cfg, ws)
    return mlflow.pyfunc.load_model(uri)

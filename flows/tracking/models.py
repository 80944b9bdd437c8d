"""The pyfunc model: its signature, logging it in a run, loading and calling it, linking a version's
logged model to a run."""
from __future__ import annotations

import importlib.metadata as md
import warnings
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException

from flows.tracking.store import REQUIREMENTS, ROOT, client
from mtl_core.config import Config
from mtl_core.errors import DataError


def signature(example: pd.DataFrame, output: pd.DataFrame):
    """The model's signature with every input optional to MLflow: a missing column then reaches the
    model's own check, which names it, instead of MLflow's, whose message (as the scoring server wraps
    it) quotes the request's values back. `cmtl score` still requires every input (input_names)."""
    from mlflow.models import ModelSignature, infer_signature
    from mlflow.types import ColSpec, Schema

    inferred = infer_signature(example, output, params={"explain": 0})  # explain: top factors per outcome
    inputs = Schema([ColSpec(c.type, c.name, required=False) for c in inferred.inputs.inputs])
    return ModelSignature(inputs=inputs, outputs=inferred.outputs, params=inferred.params)


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

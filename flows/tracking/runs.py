"""MLflow runs: start and end them, their params, tags, metrics (and series over time), artifacts and
dataset inputs."""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import yaml
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException

from flows.runtime.identity import identity
from flows.tracking.store import client, experiment_id
from mtl_core.config import Config
from mtl_core.provenance import code_version, describe


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


def run_experiment(cfg: Config, ws: Path, run_id: str | None) -> str | None:
    """The experiment id of a run (for links in the UI); None when there is no such run."""
    if not run_id:
        return None
    try:
        return client(cfg, ws).get_run(run_id).info.experiment_id
    except MlflowException:
        return None


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


def run_record(cfg: Config, ws: Path, run_id: str) -> dict:
    """A run as a comparison needs it: start time (ms), tags, metrics."""
    run = client(cfg, ws).get_run(run_id)
    return {"start_time": int(run.info.start_time), "tags": dict(run.data.tags), "metrics": dict(run.data.metrics)}


def log_series(cfg: Config, ws: Path, run_id: str, points: list[tuple[str, float, int, int]]) -> None:
    """Metrics over time: (name, value, timestamp in ms, step) each, e.g. a monitoring window's end as both
    its timestamp and its step (YYYYMMDD), so the run's chart of a metric is its series."""
    ms = [Metric(metric_name(k), float(v), ts, step) for k, v, ts, step in points]
    for i in range(0, len(ms), 1000):
        client(cfg, ws).log_batch(run_id, metrics=ms[i:i + 1000])

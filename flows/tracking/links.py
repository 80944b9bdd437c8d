"""Where a reviewer finds a run: its MLflow UI page on a tracking server, else its artifact folder."""
from __future__ import annotations

from pathlib import Path

from flows.tracking.store import client
from mtl_core.config import Config


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

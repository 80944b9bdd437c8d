"""`make run` then `make up`: the MLflow server `make up` starts serves the store `make run` wrote, so its
UI lists the workspace's experiment, runs (with their artifacts) and registered models."""
from __future__ import annotations

import json

from mlflow import MlflowClient

from flows import tracking
from flows.ops import accounts, credentials, services
from flows.runtime.workspace import prepare, tracking_uri
from tests.conftest import ROOT, write_config


def _get(url: str, auth: str) -> dict:
    code, text = accounts.request(url, auth=auth, timeout=30)
    assert code == 200, (code, text[:300])
    return json.loads(text)


def test_make_up_serves_the_store_make_run_wrote(tmp_path, monkeypatch):
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "CMTL_WORKSPACE", "PREFECT_API_URL",
                "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", credentials.PATH_ENV):
        monkeypatch.delenv(key, raising=False)
    ws = tmp_path / "workspace"
    cfg, ws = prepare(write_config(tmp_path / "config.yaml", ws))
    assert services.mlflow_backend(ws) == tracking_uri(ws) == f"sqlite:///{ws / 'mlflow.db'}"
    # what `make run` leaves, in brief: a run with its config artifact and a registered version
    run_id = tracking.start_run(cfg, ws, "written-without-the-server")
    tracking.end_run(cfg, ws, run_id, True)
    direct = MlflowClient(tracking_uri(ws), registry_uri=tracking_uri(ws))
    direct.create_registered_model(cfg.registry.model_name)
    direct.create_model_version(cfg.registry.model_name, f"runs:/{run_id}/model", run_id=run_id)

    info = services.up(project_dir=ROOT, workspace=ws, prefect_port=services.free_port(),
                       mlflow_port=services.free_port(), deploy=False,
                       credentials_file=tmp_path / "secrets" / "credentials")
    creds = credentials.load(info["credentials"], create=False)
    reviewer = f"{creds.reviewer_user}:{creds.reviewer_password}"  # what a reviewer's browser sees
    try:
        assert info["mlflow_store"] == tracking_uri(ws)
        api = f"{info['mlflow_ui']}/api/2.0/mlflow"
        model = _get(f"{api}/registered-models/get?name={cfg.registry.model_name}", reviewer)["registered_model"]
        assert model["latest_versions"][0]["run_id"] == run_id
        run = _get(f"{api}/runs/get?run_id={run_id}", reviewer)["run"]
        assert run["info"]["status"] == "FINISHED"
        files = [f["path"] for f in _get(f"{api}/artifacts/list?run_id={run_id}", reviewer).get("files", [])]
        assert "config.yaml" in files
        # and a run through the server (as the pipeline's service account) lands in the same store,
        # readable without it
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", creds.service_user)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", creds.service_password)
        server = MlflowClient(info["mlflow_ui"], registry_uri=info["mlflow_ui"])
        exp = server.get_experiment_by_name(cfg.registry.experiment)
        through = server.create_run(exp.experiment_id, run_name="through-the-server").info.run_id
        server.log_text(through, "hello", "note.txt")
        assert direct.get_run(through).info.run_name == "through-the-server"
        assert [p.name for p in (ws / "mlartifacts").rglob("note.txt")] == ["note.txt"]
    finally:
        services.down(ws)

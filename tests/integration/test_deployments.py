"""`make up` for real: Prefect server, work pool + worker and MLflow server started by flows/ops/services.py,
deployment.yaml deployed; the pipeline and batch-score deployments run through the Prefect API; `down`
stops exactly the processes `up` started."""
from __future__ import annotations

import pandas as pd
from mlflow import MlflowClient

from flows.ops import credentials, services
from tests.conftest import ROOT
from tests.integration.conftest import OUTCOMES, fast_config

MODEL = "clinical-multi-outcome"


def _run(api_url: str, name: str, parameters: dict, auth: str):
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url, PREFECT_API_AUTH_STRING: auth}):
        return run_deployment(name, parameters=parameters, timeout=900, poll_interval=3)


def _deployment_names(api_url: str, auth: str) -> set[str]:
    from prefect import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api_url, PREFECT_API_AUTH_STRING: auth}):
        with get_client(sync_client=True) as client:
            flows = {f.id: f.name for f in client.read_flows()}
            return {f"{flows[d.flow_id]}/{d.name}" for d in client.read_deployments()}


def test_up_deploys_runs_pipeline_and_scoring_deployments_then_down(tmp_path, monkeypatch):
    ws = tmp_path / "workspace"
    config = fast_config(tmp_path / "config.yaml", ws)
    info = services.up(project_dir=ROOT, workspace=ws, prefect_port=services.free_port(),
                       mlflow_port=services.free_port(), backend="sqlite",
                       credentials_file=tmp_path / "secrets" / "credentials")
    creds = credentials.load(info["credentials"], create=False)
    auth = creds.prefect_auth
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", creds.service_user)  # this test reads as the pipeline
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", creds.service_password)
    run_dir = ws / "run"
    pids = {name: int((run_dir / f"{name}.pid").read_text()) for name in services.ORDER}
    try:
        assert all(services.alive(pid) for pid in pids.values())
        assert (run_dir / "env.sh").read_text().count("export") == 7  # 4 places, 3 read from the credentials
        api = info["env"]["PREFECT_API_URL"]
        assert {"pipeline/nightly-retrain", "pipeline/on-demand", "score/batch-score"} <= _deployment_names(api, auth)

        flow_run = _run(api, "pipeline/on-demand", {"config_path": str(config)}, auth)
        assert flow_run.state.is_completed(), (flow_run.state, (run_dir / "worker.log").read_text()[-4000:])

        client = MlflowClient(info["mlflow_ui"], registry_uri=info["mlflow_ui"])
        champion = client.get_model_version_by_alias(MODEL, "champion")
        assert champion.version == "1"
        run = client.get_run(champion.run_id)
        assert run.info.status == "FINISHED"
        assert {f"test/auroc/{o}" for o in OUTCOMES} <= set(run.data.metrics)
        assert any((ws / "mlartifacts").rglob("MLmodel"))  # artifacts went through the server's proxy

        features = pd.read_parquet(next((ws / "features").glob("*/features.parquet"))).head(25)
        source, target = tmp_path / "to_score.parquet", tmp_path / "scored" / "predictions.csv"
        features.to_parquet(source, index=False)
        scored = _run(api, "score/batch-score", {"config_path": str(config), "input_path": str(source),
                                                  "output_path": str(target), "model": "champion"}, auth)
        assert scored.state.is_completed(), (scored.state, (run_dir / "worker.log").read_text()[-4000:])
        pred = pd.read_csv(target)
        assert pred["hadm_id"].tolist() == features["hadm_id"].tolist()
        assert pred[OUTCOMES].apply(lambda c: c.between(0, 1)).all().all()
        assert (pred["model_version"] == 1).all()
    finally:
        stopped = services.down(ws)
    assert stopped == list(services.ORDER)
    assert not any(services.alive(pid) for pid in pids.values())
    assert not list(run_dir.glob("*.pid")) and not (run_dir / "env.sh").exists()

"""Two pipeline runs at once against one MLflow tracking server on PostgreSQL: both fully logged, two
versions, exactly one champion, and no champion replaced without being compared with it."""
from __future__ import annotations

import subprocess
import time

from mlflow import MlflowClient

from tests.integration.conftest import CMTL, OUTCOMES, cmtl_env, fast_config

MODEL = "clinical-multi-outcome"


def test_two_concurrent_pipeline_runs_on_postgres(prefect_server, postgres_db, mlflow_server_factory, tmp_path):
    url = mlflow_server_factory(postgres_db)
    env = cmtl_env(prefect_server, MLFLOW_TRACKING_URI=url)
    procs = []
    for k in range(2):  # own workspaces, one tracking server and model name; seeds differ
        config = fast_config(tmp_path / f"run{k}.yaml", tmp_path / f"ws{k}", train={"seed": k})
        log = open(tmp_path / f"run{k}.log", "w")
        procs.append((subprocess.Popen([CMTL, "run", "--config", str(config)], stdout=log,
                                       stderr=subprocess.STDOUT, env=env, text=True), log))
    deadline = time.monotonic() + 900
    for proc, log in procs:
        proc.wait(max(1, deadline - time.monotonic()))
        log.close()
    for k, (proc, _) in enumerate(procs):
        assert proc.returncode == 0, (tmp_path / f"run{k}.log").read_text()[-4000:]

    client = MlflowClient(url, registry_uri=url)
    exp = client.get_experiment_by_name("clinical-mtl")
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 2
    for run in runs:
        assert run.info.status == "FINISHED"
        for outcome in OUTCOMES:
            assert 0.5 < run.data.metrics[f"test/auroc/{outcome}"] <= 1
            assert f"epoch/val_auroc/{outcome}" in run.data.metrics or any(
                k.startswith("epoch/") and outcome in k for k in run.data.metrics)
        assert run.data.params["registry.model_name"] == MODEL
        assert "config.yaml" in [a.path for a in client.list_artifacts(run.info.run_id)]

    versions = {str(v.version): client.get_model_version(MODEL, v.version)
                for v in client.search_model_versions(f"name='{MODEL}'")}
    assert sorted(versions) == ["1", "2"]
    assert {v.run_id for v in versions.values()} == {r.info.run_id for r in runs}
    champions = [n for n, v in versions.items() if "champion" in v.aliases]
    assert len(champions) == 1
    champion = champions[0]
    assert client.get_model_version_by_alias(MODEL, "champion").version == champion

    # The gate's promise holds under concurrency: the champion history ends at the champion, and a
    # version that replaced another champion was compared with that champion.
    history = client.get_registered_model(MODEL).tags["cmtl.champion_history"].split(",")
    assert history[-1] == champion
    for earlier, later in zip(history, history[1:]):
        assert versions[later].tags["cmtl.compared_to"] == earlier, (history, versions[later].tags)
    other = "1" if champion == "2" else "2"
    if other not in history:
        assert versions[other].tags["cmtl.verdict"] == "rejected"
        assert versions[other].tags["cmtl.compared_to"] == champion

"""`make up`'s servers refuse anyone without credentials: the MLflow and Prefect servers started by
flows/ops/services.py (free ports, temporary store and credentials file), then real clients. An anonymous
alias move is refused (401), the reviewer's too (403), the pipeline's service account's succeeds; an
anonymous Prefect API call is refused (401), an authenticated one answers; a refused login is one line."""
from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from flows.ops import accounts, credentials, preflight, services
from mtl_core.errors import UnavailableError
from tests.conftest import ROOT, write_config
from tests.integration.conftest import CMTL

MODEL = "clinical-multi-outcome"
ALIAS = "/api/2.0/mlflow/registered-models/alias"
CLIENT_VARS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
               "PREFECT_API_AUTH_STRING", "PREFECT_API_KEY", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI",
               "CMTL_WORKSPACE", "PREFECT_API_URL", credentials.PATH_ENV, *(v for v, _ in credentials.KEYS.values()))


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """`make up` (without deployments) on free ports; a model written to the store directly, as `make run`
    does, before the servers start; the servers stopped afterwards."""
    tmp = tmp_path_factory.mktemp("auth")
    ws, creds_file = tmp / "workspace", tmp / "home" / ".config" / "cmtl" / "credentials"
    with pytest.MonkeyPatch.context() as mp:
        for key in CLIENT_VARS:
            mp.delenv(key, raising=False)
        ws.mkdir()
        store = f"sqlite:///{ws / 'mlflow.db'}"
        direct = MlflowClient(store, registry_uri=store)
        exp = direct.create_experiment("cmtl-auth", artifact_location=(ws / "mlartifacts").as_uri())
        run_id = direct.create_run(exp).info.run_id
        direct.create_registered_model(MODEL)
        direct.create_model_version(MODEL, f"runs:/{run_id}/model", run_id=run_id)
        direct.create_model_version(MODEL, f"runs:/{run_id}/model", run_id=run_id)
        info = services.up(project_dir=ROOT, workspace=ws, prefect_port=services.free_port(),
                           mlflow_port=services.free_port(), deploy=False, credentials_file=creds_file)
        try:
            yield info, credentials.load(creds_file, create=False), ws, tmp
        finally:
            services.down(ws)


def _as(monkeypatch, user: str | None = None, password: str | None = None) -> None:
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    if user:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", password)


def test_credentials_live_outside_the_repository_private_and_random(stack):
    info, creds, ws, _ = stack
    path = creds.path
    assert ROOT not in path.parents and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert creds.admin_password != credentials.BUILTIN_ADMIN_PASSWORD and len(creds.admin_password) >= 32
    assert len({creds.admin_password, creds.service_password, creds.reviewer_password}) == 3
    ini = next(path.parent.glob("mlflow-basic-auth-*.ini"))
    assert stat.S_IMODE(ini.stat().st_mode) == 0o600 and (ws / "mlflow-auth.db").is_file()
    env_sh = (ws / "run" / "env.sh").read_text()
    text = env_sh + "".join(p.read_text() for p in (ROOT / "configs").glob("*.yaml"))
    assert not any(secret in text for secret in creds.secrets())  # no secret in env.sh or a config
    shell = subprocess.run(["bash", "-c", f". {ws / 'run' / 'env.sh'}; printf '%s\\n%s\\n%s' "
                            "\"$MLFLOW_TRACKING_USERNAME\" \"$MLFLOW_TRACKING_PASSWORD\" \"$PREFECT_API_AUTH_STRING\""],
                           capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
    assert shell.stdout.split("\n") == [creds.service_user, creds.service_password, creds.prefect_auth]


def test_mlflow_alias_move_anonymous_401_reviewer_403_service_account_succeeds(stack, monkeypatch):
    info, creds, _, _ = stack
    url = info["mlflow_ui"]
    body = {"name": MODEL, "alias": "champion", "version": "1"}
    assert accounts.request(url + ALIAS, "POST", body)[0] == 401
    assert accounts.request(url + ALIAS, "POST", body, f"{creds.reviewer_user}:{creds.reviewer_password}")[0] == 403
    assert accounts.request(url + ALIAS, "POST", body, f"{creds.service_user}:wrong")[0] == 401
    assert accounts.request(url + ALIAS, "POST", body, f"{creds.admin_user}:password1234")[0] == 401

    def move(user=None, password=None):
        _as(monkeypatch, user, password)
        MlflowClient(url, registry_uri=url).set_registered_model_alias(MODEL, "champion", "2")

    with pytest.raises(MlflowException) as anonymous:
        move()
    assert anonymous.value.error_code == "UNAUTHENTICATED" and "401" in str(anonymous.value)
    with pytest.raises(MlflowException) as reviewer:
        move(creds.reviewer_user, creds.reviewer_password)
    assert reviewer.value.error_code == "PERMISSION_DENIED" and "403" in str(reviewer.value)
    # the reviewer reads the model (and its versions' tags and descriptions) but changes nothing
    _as(monkeypatch, creds.reviewer_user, creds.reviewer_password)
    assert MlflowClient(url, registry_uri=url).get_registered_model(MODEL).name == MODEL
    for forbidden in (lambda c: c.set_model_version_tag(MODEL, "1", "cmtl.verdict", "promoted"),
                      lambda c: c.delete_model_version(MODEL, "1")):
        with pytest.raises(MlflowException, match="403"):
            forbidden(MlflowClient(url, registry_uri=url))

    move(creds.service_user, creds.service_password)  # the model `make run` wrote without the server
    service = MlflowClient(url, registry_uri=url)
    assert service.get_model_version_by_alias(MODEL, "champion").version == "2"
    service.set_model_version_tag(MODEL, "2", "cmtl.verdict", "promoted")
    assert service.get_model_version(MODEL, "2").tags["cmtl.verdict"] == "promoted"
    with pytest.raises(MlflowException, match="403"):  # EDIT, not MANAGE: it never deletes a version
        service.delete_model_version(MODEL, "1")


def test_prefect_api_anonymous_401_authenticated_succeeds(stack):
    info, creds, _, _ = stack
    api = info["env"]["PREFECT_API_URL"]
    assert accounts.request(f"{api}/health")[0] == 200  # liveness probes stay open
    assert accounts.request(f"{api}/flows/filter", "POST", {})[0] == 401
    assert accounts.request(f"{api}/flows/filter", "POST", {}, "cmtl:wrong")[0] == 401
    code, text = accounts.request(f"{api}/flows/filter", "POST", {}, creds.prefect_auth)
    assert code == 200 and isinstance(json.loads(text), list)
    from prefect import get_client
    from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: api, PREFECT_API_AUTH_STRING: creds.prefect_auth}):
        with get_client(sync_client=True) as client:  # the client every flow run and worker uses
            assert client.read_work_pool(services.POOL).name == services.POOL


def test_refused_credentials_are_one_line_without_the_password(stack, monkeypatch):
    info, creds, ws, tmp = stack
    url, api = info["mlflow_ui"], info["env"]["PREFECT_API_URL"]
    _as(monkeypatch)
    with pytest.raises(UnavailableError, match="credentials refused by the tracking server"):
        preflight.check_services(url, None, budget=1)
    _as(monkeypatch, creds.service_user, "not-the-password")
    with pytest.raises(UnavailableError, match=f"HTTP 401, user {creds.service_user}") as wrong:
        preflight.check_services(url, None, budget=1)
    assert "not-the-password" not in str(wrong.value)
    _as(monkeypatch, creds.service_user, creds.service_password)
    monkeypatch.delenv("PREFECT_API_AUTH_STRING", raising=False)
    with pytest.raises(UnavailableError, match="credentials refused by the Prefect API"):
        preflight.check_services(url, api, budget=1)
    monkeypatch.setenv("PREFECT_API_AUTH_STRING", creds.prefect_auth)
    preflight.check_services(url, api, budget=1)  # both accept the service account

    # the CLI: exit 2, one line, no traceback, no password
    config = write_config(tmp / "config.yaml", ws)
    env = {**os.environ, "MLFLOW_TRACKING_URI": url, "PREFECT_API_URL": api,
           "MLFLOW_TRACKING_USERNAME": creds.service_user, "MLFLOW_TRACKING_PASSWORD": "typo-in-the-password"}
    done = subprocess.run([CMTL, "doctor", "--config", str(config)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "credentials refused" in done.stderr and "Traceback" not in done.stdout + done.stderr
    assert "typo-in-the-password" not in done.stdout + done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_an_added_reviewer_reads_and_cannot_move_the_alias(stack):
    info, creds, _, _ = stack
    url = info["mlflow_ui"]
    password = accounts.add_reviewer(url, creds, "dr-lee")
    auth = f"dr-lee:{password}"
    assert accounts.request(f"{url}/api/2.0/mlflow/registered-models/get?name={MODEL}", auth=auth)[0] == 200
    assert accounts.request(url + ALIAS, "POST", {"name": MODEL, "alias": "champion", "version": "1"}, auth)[0] == 403

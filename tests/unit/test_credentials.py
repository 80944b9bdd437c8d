"""`make up`'s credentials: generated once, private, outside the repository, overridable from the
environment, never printed; MLflow's basic-auth config written beside them."""
from __future__ import annotations

import stat

import pytest

from flows.ops import credentials
from mtl_core.errors import CmtlError
from tests.conftest import ROOT


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for var, _ in credentials.KEYS.values():
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv(credentials.PATH_ENV, raising=False)


def test_first_load_creates_a_private_file_with_random_secrets_then_reads_it(tmp_path):
    path = tmp_path / "cmtl" / "credentials"
    first = credentials.load(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert credentials.load(path) == first  # the second `make up` finds the same accounts
    assert first.admin_password != credentials.BUILTIN_ADMIN_PASSWORD and first.prefect_auth.startswith("cmtl:")
    assert not any(s in repr(first) + str(first) for s in first.secrets())
    env = credentials.client_env(first)
    assert env["MLFLOW_TRACKING_USERNAME"] == first.service_user != first.admin_user


def test_environment_wins_and_the_default_admin_password_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("CMTL_MLFLOW_SERVICE_PASSWORD", "from-a-vault")
    assert credentials.load(tmp_path / "c").service_password == "from-a-vault"
    monkeypatch.setenv("CMTL_MLFLOW_ADMIN_PASSWORD", "password1234")
    with pytest.raises(CmtlError, match="documented default"):
        credentials.load(tmp_path / "c")


def test_refuses_a_file_in_the_repository_or_readable_by_others(tmp_path):
    with pytest.raises(CmtlError, match="inside the repository"):
        credentials.load(ROOT / "credentials", create=False)
    path = tmp_path / "credentials"
    credentials.load(path)
    path.chmod(0o644)
    with pytest.raises(CmtlError, match="chmod 600"):
        credentials.load(path)
    with pytest.raises(CmtlError, match="make up"):
        credentials.load(tmp_path / "missing", create=False)


def test_basic_auth_config_is_private_and_keeps_users_beside_the_store(tmp_path):
    creds = credentials.load(tmp_path / "cfg" / "credentials")
    server = credentials.server_env(creds, tmp_path / "ws")
    ini = tmp_path / "cfg" / next(p.name for p in (tmp_path / "cfg").glob("mlflow-basic-auth-*.ini"))
    assert server["MLFLOW_AUTH_CONFIG_PATH"] == str(ini) and stat.S_IMODE(ini.stat().st_mode) == 0o600
    text = ini.read_text()
    assert f"database_uri = sqlite:///{tmp_path / 'ws' / 'mlflow-auth.db'}" in text
    assert "default_permission = NO_PERMISSIONS" in text and f"admin_username = {creds.admin_user}" in text
    assert server["PREFECT_SERVER_API_AUTH_STRING"] == creds.prefect_auth
    assert not any(s in "\n".join(credentials.shell_exports(creds)) for s in creds.secrets())

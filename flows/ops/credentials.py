"""The accounts `make up` runs with: read from CMTL_* environment variables or a file outside the
repository (created with random passwords, mode 0600, on first use), and the environments they become.

Nothing here is ever written to a config file, an MLflow param or tag, or a log line: a Credentials
object prints as its user names only, and the env.sh that `make up` writes reads the secrets from the
file when it is sourced instead of holding them.
"""
from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from mtl_core.errors import CmtlError

ROOT = Path(__file__).resolve().parents[2]
PATH_ENV = "CMTL_CREDENTIALS"

# field -> (variable in the file or the environment, default for a user name; None: a generated secret)
KEYS = {"admin_user": ("CMTL_MLFLOW_ADMIN_USER", "cmtl-admin"),
        "admin_password": ("CMTL_MLFLOW_ADMIN_PASSWORD", None),
        "service_user": ("CMTL_MLFLOW_SERVICE_USER", "cmtl-pipeline"),
        "service_password": ("CMTL_MLFLOW_SERVICE_PASSWORD", None),
        "reviewer_user": ("CMTL_MLFLOW_REVIEWER_USER", "cmtl-reviewer"),
        "reviewer_password": ("CMTL_MLFLOW_REVIEWER_PASSWORD", None),
        "prefect_auth": ("CMTL_PREFECT_AUTH_STRING", None),
        "flask_secret": ("CMTL_MLFLOW_SECRET_KEY", None)}
BUILTIN_ADMIN_PASSWORD = "password1234"  # MLflow's old documented default: never accepted


@dataclass(frozen=True)
class Credentials:
    admin_user: str
    admin_password: str
    service_user: str
    service_password: str
    reviewer_user: str
    reviewer_password: str
    prefect_auth: str  # the whole Prefect auth string, "user:password"
    flask_secret: str  # MLflow's CSRF key: the same in every worker of the server
    path: Path

    def __repr__(self) -> str:  # a traceback or a debug print never shows a secret
        return (f"Credentials(admin={self.admin_user}, service={self.service_user}, "
                f"reviewer={self.reviewer_user}, file={self.path})")

    __str__ = __repr__

    def secrets(self) -> list[str]:
        return [self.admin_password, self.service_password, self.reviewer_password, self.prefect_auth,
                self.flask_secret]


def default_path() -> Path:
    """$CMTL_CREDENTIALS, else $XDG_CONFIG_HOME/cmtl/credentials (~/.config/cmtl/credentials)."""
    if os.environ.get(PATH_ENV):
        return Path(os.environ[PATH_ENV]).expanduser().resolve()
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return (base / "cmtl" / "credentials").resolve()


def _read(path: Path) -> dict[str, str]:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise CmtlError(f"credentials file {path} is readable by other users (mode {mode:o}): "
                        f"`chmod 600 {path}` and run again")
    values = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip()
    return values


def _write(path: Path, values: dict[str, str]) -> None:
    """The file, created 0600 in a 0700 folder before any secret is written to it, replaced atomically."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("# clinical-mtl service accounts for `make up` (flows/ops/credentials.py). Keep private.\n")
        fh.writelines(f"{k}={v}\n" for k, v in values.items())
    os.replace(tmp, path)


def _inside_repository(path: Path) -> bool:
    return path == ROOT or ROOT in path.parents


def load(path: Path | None = None, create: bool = True) -> Credentials:
    """The accounts: each value from its CMTL_* environment variable, else from the file; values in
    neither are generated (random, 32 bytes) and written to the file when create. The file may not
    live inside the repository and must be private to its owner."""
    path = Path(path).expanduser().resolve() if path else default_path()
    if _inside_repository(path):
        raise CmtlError(f"credentials file {path} is inside the repository {ROOT}: keep it outside "
                        f"(default ~/.config/cmtl/credentials, or set {PATH_ENV})")
    stored = _read(path) if path.is_file() else {}
    values, missing = {}, []
    for name, (var, default) in KEYS.items():
        value = os.environ.get(var) or stored.get(var)
        if not value:
            if default is None and not create:
                raise CmtlError(f"no {var} in the environment or in {path} (`make up` creates it)")
            value = default or secrets.token_urlsafe(32)
            if name == "prefect_auth":  # Prefect's UI asks for "user:password"
                value = f"cmtl:{value}"
            missing.append(var)
        values[name] = value
    if values["admin_password"] == BUILTIN_ADMIN_PASSWORD:
        raise CmtlError("the MLflow admin password is MLflow's documented default: set another one in "
                        f"CMTL_MLFLOW_ADMIN_PASSWORD or {path}")
    users = {values["admin_user"], values["service_user"], values["reviewer_user"]}
    if len(users) != 3:
        raise CmtlError("the MLflow admin, service and reviewer accounts need three different user names")
    if missing and create:
        _write(path, {**stored, **{KEYS[n][0]: values[n] for n in KEYS if KEYS[n][0] in missing}})
    return Credentials(**values, path=path)


def basic(user_password: str) -> str:
    """An HTTP Authorization header value for "user:password"."""
    return "Basic " + base64.b64encode(user_password.encode("utf-8")).decode("ascii")


def client_env(creds: Credentials) -> dict[str, str]:
    """What a pipeline process (worker, flow runs, `prefect deploy`, a `cmtl` in the shell) authenticates
    with: the service account on MLflow, the auth string on Prefect."""
    return {"MLFLOW_TRACKING_USERNAME": creds.service_user, "MLFLOW_TRACKING_PASSWORD": creds.service_password,
            "PREFECT_API_AUTH_STRING": creds.prefect_auth}


def auth_config(creds: Credentials, ws: Path) -> Path:
    """MLflow's basic-auth config for this workspace, written beside the credentials file (0600: it
    holds the admin password, which MLflow reads once, when it creates the admin in a new auth DB).
    Users and grants live in <workspace>/mlflow-auth.db, beside the store; nobody gets any permission
    that was not granted (flows/ops/accounts.py grants the two accounts theirs)."""
    ws = Path(ws).resolve()
    tag = hashlib.sha256(str(ws).encode()).hexdigest()[:10]
    path = creds.path.parent / f"mlflow-basic-auth-{tag}.ini"
    text = ("[mlflow]\n"
            "default_permission = NO_PERMISSIONS\n"
            f"database_uri = sqlite:///{ws / 'mlflow-auth.db'}\n"
            f"admin_username = {creds.admin_user}\n"
            f"admin_password = {creds.admin_password}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(path, 0o600)  # an older file of wider mode keeps its mode through O_TRUNC
    return path


def server_env(creds: Credentials, ws: Path) -> dict[str, str]:
    """What the servers need: MLflow its auth config and CSRF key, Prefect the auth string it checks."""
    return {"MLFLOW_AUTH_CONFIG_PATH": str(auth_config(creds, ws)),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": creds.flask_secret,
            "PREFECT_SERVER_API_AUTH_STRING": creds.prefect_auth}


def shell_exports(creds: Credentials) -> list[str]:
    """Lines for env.sh that give a shell the service account without holding a secret: each value is
    read, when the file is sourced, from its CMTL_* variable or else from the credentials file."""
    names = {"MLFLOW_TRACKING_USERNAME": "CMTL_MLFLOW_SERVICE_USER",
             "MLFLOW_TRACKING_PASSWORD": "CMTL_MLFLOW_SERVICE_PASSWORD",
             "PREFECT_API_AUTH_STRING": "CMTL_PREFECT_AUTH_STRING"}
    quoted = "'" + str(creds.path).replace("'", "'\\''") + "'"
    return [f'export {k}="${{{v}:-$(sed -n \'s/^{v}=//p\' {quoted})}}"' for k, v in names.items()]


def redact(text: str, creds: Credentials | None) -> str:
    """text with every secret of creds replaced by ***, for messages that quote a server's log."""
    for secret in (creds.secrets() if creds else []):
        text = text.replace(secret, "***")
    return text

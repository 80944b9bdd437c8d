"""The MLflow accounts of a `make up` server, set through its basic-auth REST API as the admin: the
pipeline's service account (EDIT: register versions, set tags, move aliases) and reviewers (READ: view)."""
from __future__ import annotations

import json
import secrets
import urllib.error
import urllib.request

from flows.ops.credentials import Credentials, basic
from mtl_core.errors import CmtlError, UnavailableError

API = "/api/2.0/mlflow"
GRANT = "/api/3.0/mlflow/users/permissions/grant"
RESOURCES = ("experiment", "registered_model")  # every experiment and registered model ("*")


def request(url: str, method: str = "GET", body: dict | None = None, auth: str | None = None,
            timeout: float = 10) -> tuple[int, str]:
    """(HTTP status, body text); status 0 when nothing answered. auth: "user:password"."""
    headers = {"Content-Type": "application/json"}
    if auth:
        headers["Authorization"] = basic(auth)
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(getattr(exc, "reason", exc))


class _Admin:
    def __init__(self, url: str, creds: Credentials):
        self.url, self.auth, self.creds = url.rstrip("/"), f"{creds.admin_user}:{creds.admin_password}", creds

    def call(self, path: str, method: str = "GET", body: dict | None = None, ok=(200,)) -> tuple[int, str]:
        for _ in range(3):  # a new server's workers start slowly on a busy machine
            code, text = request(self.url + path, method, body, self.auth, timeout=60)
            if code != 0:
                break
        if code == 401:
            raise UnavailableError(
                f"MLflow at {self.url}: credentials refused for admin {self.creds.admin_user} (HTTP 401). Its "
                f"auth database was created with other credentials than {self.creds.path}: restore that file, "
                "or remove <workspace>/mlflow-auth.db to start over (its users and grants are lost)")
        if code not in ok:
            raise UnavailableError(f"MLflow at {self.url}: {method} {path} answered HTTP {code}: {text[:200]}")
        return code, text

    def ensure_user(self, user: str, password: str) -> None:
        """The user with this password: created, or its password set to this one (the file is the truth)."""
        code, _ = self.call(f"{API}/users/get?username={user}", ok=(200, 404, 400))
        if code == 200:
            self.call(f"{API}/users/update-password", "PATCH", {"username": user, "password": password})
        else:
            self.call(f"{API}/users/create", "POST", {"username": user, "password": password})

    def grant(self, user: str, permission: str) -> None:
        for resource in RESOURCES:  # an existing grant (RESOURCE_ALREADY_EXISTS, HTTP 400) is kept
            self.call(GRANT, "POST", {"username": user, "resource_type": resource, "resource_id": "*",
                                      "permission": permission}, ok=(200, 400))


def ensure_accounts(url: str, creds: Credentials) -> None:
    """The service account with EDIT and the reviewer with READ on every experiment and registered
    model, including those `make run` writes to the store directly (no creator grant exists for them)."""
    admin = _Admin(url, creds)
    admin.ensure_user(creds.service_user, creds.service_password)
    admin.grant(creds.service_user, "EDIT")
    admin.ensure_user(creds.reviewer_user, creds.reviewer_password)
    admin.grant(creds.reviewer_user, "READ")


def add_reviewer(url: str, creds: Credentials, user: str) -> str:
    """A new reviewer account with READ on every experiment and registered model; its generated password
    (shown once to the operator who asked, stored nowhere by the pipeline)."""
    if not user or not user.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise CmtlError(f"reviewer name {user!r}: use letters, digits, '-', '_' or '.'")
    if user in (creds.admin_user, creds.service_user):
        raise CmtlError(f"{user} is the {'admin' if user == creds.admin_user else 'service'} account, not a reviewer")
    password = secrets.token_urlsafe(18)
    admin = _Admin(url, creds)
    admin.ensure_user(user, password)
    admin.grant(user, "READ")
    return password

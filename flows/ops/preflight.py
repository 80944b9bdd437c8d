"""Checks before any data work: the tracking store (and a configured Prefect API) answer and accept this
process's credentials, so a run that cannot record its result fails in seconds with one line naming the
URI instead of after ingest (a refused login says so; the password is never printed)."""
from __future__ import annotations

import os
import sqlite3
import time
import urllib.error
import urllib.request
from base64 import b64encode
from pathlib import Path
from urllib.parse import urlparse

from mtl_core.errors import UnavailableError

BUDGET_SECONDS = 6.0   # total time for transient blips (a restarting server) before giving up
PROBE_TIMEOUT = 2.0


def _redact(uri: str) -> str:
    """The URI without a password (user:secret@host -> user:***@host)."""
    p = urlparse(uri)
    if p.password:
        return uri.replace(f":{p.password}@", ":***@", 1)
    return uri


def _http_ok(url: str) -> str | None:
    """None when the server answers (any status below 500), else why not."""
    try:
        with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT):
            return None
    except urllib.error.HTTPError as exc:
        return None if exc.code < 500 else f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return str(reason) or type(exc).__name__


def _auth_status(url: str, header: str | None) -> int | None:
    """The HTTP status of an authenticated GET (None: answered 2xx or not at all, left to the health probe)."""
    req = urllib.request.Request(url, headers={"Authorization": header} if header else {})
    try:
        with urllib.request.urlopen(req, timeout=PROBE_TIMEOUT * 2):
            return None
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return None


def _basic(user: str, password: str) -> str:
    return "Basic " + b64encode(f"{user}:{password}".encode()).decode("ascii")


def mlflow_auth_problem(uri: str) -> str | None:
    """Why the tracking server refuses this process (MLFLOW_TRACKING_USERNAME / _PASSWORD, or _TOKEN)."""
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    header = _basic(user, password or "") if user else (f"Bearer {token}" if token else None)
    code = _auth_status(uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1", header)
    if code not in (401, 403):
        return None
    who = f"user {user}" if user else ("a token" if token else "no user (MLFLOW_TRACKING_USERNAME is not set)")
    return (f"credentials refused by the tracking server {_redact(uri)} (HTTP {code}, {who}): set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (after `make up`: source "
            "workspace/run/env.sh); nothing was run")


def prefect_auth_problem(api: str) -> str | None:
    """Why the Prefect API refuses this process (PREFECT_API_AUTH_STRING, or PREFECT_API_KEY)."""
    auth, key = os.environ.get("PREFECT_API_AUTH_STRING"), os.environ.get("PREFECT_API_KEY")
    header = ("Basic " + b64encode(auth.encode()).decode("ascii")) if auth else (f"Bearer {key}" if key else None)
    code = _auth_status(api.rstrip("/") + "/admin/version", header)
    if code not in (401, 403):
        return None
    given = "PREFECT_API_AUTH_STRING given" if auth else "PREFECT_API_AUTH_STRING is not set"
    return (f"credentials refused by the Prefect API {_redact(api)} (HTTP {code}, {given}): set "
            "PREFECT_API_AUTH_STRING (after `make up`: source workspace/run/env.sh); nothing was run")


def _retry(probe, budget: float = BUDGET_SECONDS) -> str | None:
    """Call probe until it returns None or the budget is spent; the last reason otherwise."""
    deadline, delay = time.monotonic() + budget, 0.5
    while True:
        why = probe()
        if why is None or time.monotonic() + delay > deadline:
            return why
        time.sleep(delay)
        delay = min(delay * 2, 2.0)


def _sqlite(uri: str) -> str | None:
    path = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if path is None or str(path) in ("", ":memory:"):
        return None
    if not path.parent.is_dir():
        return f"folder {path.parent} does not exist"
    if path.exists() and not path.is_file():
        return f"{path} is not a file"
    if not os.access(path.parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        return f"{path} is not writable"
    if path.exists():
        try:
            with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=PROBE_TIMEOUT) as con:
                con.execute("select count(*) from sqlite_master").fetchone()
        except sqlite3.Error as exc:
            return f"not a readable SQLite database ({exc})"
    return None


def _database(uri: str) -> str | None:
    """A SQLAlchemy URL (postgresql, mysql, mssql): connect and run `select 1`."""
    import sqlalchemy

    try:
        args = {"connect_timeout": int(PROBE_TIMEOUT)} if uri.startswith("postgres") else {}
        engine = sqlalchemy.create_engine(uri, connect_args=args, poolclass=sqlalchemy.pool.NullPool)
        with engine.connect() as con:
            con.execute(sqlalchemy.text("select 1"))
        return None
    except Exception as exc:  # noqa: BLE001 - any driver error means "not reachable"
        return str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__


def _file_store(uri: str) -> str | None:
    path = Path(uri.removeprefix("file://")) if uri.startswith("file:") else Path(uri)
    if path.exists() and not path.is_dir():
        return f"{path} is not a folder"
    parent = path if path.exists() else path.parent
    return None if os.access(parent, os.W_OK) else f"{parent} is not writable"


def tracking_problem(uri: str, budget: float = BUDGET_SECONDS) -> str | None:
    """Why the tracking store at uri cannot be used, or None when it can."""
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        return _retry(lambda: _http_ok(uri.rstrip("/") + "/health"), budget)
    if scheme == "sqlite":
        return _sqlite(uri)
    if scheme in ("", "file"):
        return _file_store(uri)
    if scheme.split("+")[0] in ("postgresql", "postgres", "mysql", "mssql"):
        return _retry(lambda: _database(uri), budget)
    return None  # databricks, plugins: left to MLflow


def check_source(cfg, budget: float = BUDGET_SECONDS) -> None:
    """UnavailableError (exit 2) when a database source's server does not answer or refuses the
    credentials, before Prefect or any reading starts. The message never holds a password."""
    from mtl_core.sources import database

    path = getattr(cfg.source, "path", None)
    if path is None or not database.is_database(path):
        return
    why = _retry(lambda: database.probe(path), budget)
    if why:
        raise UnavailableError(f"source: {why}")


def check_services(uri: str, prefect_api: str | None = None, budget: float = BUDGET_SECONDS) -> None:
    """UnavailableError naming the first unreachable service: the tracking store at uri, then the
    Prefect API when one is configured (none: each command starts its own temporary server)."""
    why = tracking_problem(uri, budget)
    if why:
        raise UnavailableError(f"tracking store {_redact(uri)} is not reachable: {why} "
                               "(check MLFLOW_TRACKING_URI or start the server; nothing was run)")
    if urlparse(uri).scheme in ("http", "https") and (why := mlflow_auth_problem(uri)):
        raise UnavailableError(why)
    if prefect_api:
        why = _retry(lambda: _http_ok(prefect_api.rstrip("/") + "/health"), budget)
        if why:
            raise UnavailableError(f"Prefect API {_redact(prefect_api)} is not reachable: {why} "
                                   "(check PREFECT_API_URL or start the server; nothing was run)")
        if why := prefect_auth_problem(prefect_api):
            raise UnavailableError(why)

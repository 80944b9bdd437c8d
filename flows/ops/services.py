"""`make up` / `make down`: a local Prefect server, work pool and worker, an MLflow tracking server, deployments.

Every process is started in its own session with its PID in <workspace>/run/<name>.pid and its output in
<workspace>/run/<name>.log; `down` signals exactly those process groups and nothing else. The MLflow
server serves, by default, the store `make run` writes (the workspace's mlflow.db, or MLFLOW_TRACKING_URI
when that names a database), so runs and models of either show in its UI; `--backend auto` (or
CMTL_MLFLOW_BACKEND=auto) keeps them in PostgreSQL (database cmtl_mlflow on 127.0.0.1:5432) when that
answers, else in SQLite in the workspace. Artifacts go to <workspace>/mlartifacts either way.

Both servers authenticate every API call (flows/ops/credentials.py, flows/ops/accounts.py): MLflow runs
its basic-auth app (users and grants in <workspace>/mlflow-auth.db), Prefect checks its auth string. The
worker, `prefect deploy` and every flow run use the pipeline's service account; env.sh gives a shell
the same, read from the credentials file when sourced.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from flows.ops import accounts, automations, credentials
from flows.runtime.identity import alive
from mtl_core.errors import CmtlError

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
POOL = "cmtl-process"
POSTGRES = os.environ.get("CMTL_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
DATABASE = "cmtl_mlflow"
ORDER = ("worker", "prefect-server", "mlflow-server")  # stop order: the worker first, it feeds on the rest


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        return s.connect_ex((host, port)) != 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str, data: bytes | None = None, auth: str | None = None) -> bool:
    """The URL answers 2xx (auth: "user:password" sent as HTTP basic auth); a 401 is a CmtlError."""
    headers = {"Content-Type": "application/json", **({"Authorization": credentials.basic(auth)} if auth else {})}
    try:
        req = urllib.request.Request(url, data=data, headers=headers)
        with urllib.request.urlopen(req, timeout=5) as r:
            return 200 <= r.status < 300
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            raise CmtlError(f"{url.split('/api/')[0]}: credentials refused (HTTP 401)") from None
        return False
    except (urllib.error.URLError, OSError):
        return False


def start(name: str, argv: list[str], run_dir: Path, env: dict, cwd: Path) -> int:
    """Start argv in a new session (so its children can be stopped with it); record its PID."""
    pidfile = run_dir / f"{name}.pid"
    if pidfile.is_file() and alive(int(pidfile.read_text())):
        raise CmtlError(f"{name} is already running (pid {pidfile.read_text().strip()}): run `make down` first")
    with open(run_dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=cwd, start_new_session=True)
    pidfile.write_text(str(proc.pid))
    return proc.pid


def wait_until(name: str, ready, run_dir: Path, timeout: float) -> None:
    pid = int((run_dir / f"{name}.pid").read_text())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return
        if not alive(pid) or _zombie(pid):
            raise CmtlError(f"{name} exited while starting; see {run_dir / f'{name}.log'}:\n"
                            + _tail(run_dir / f"{name}.log"))
        time.sleep(1)
    raise CmtlError(f"{name} did not answer within {timeout:.0f} s; see {run_dir / f'{name}.log'}:\n"
                    + _tail(run_dir / f"{name}.log"))


def _zombie(pid: int) -> bool:
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid  # our own child that has exited
    except ChildProcessError:
        return False


def _tail(path: Path, n: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.is_file() else ""


BACKENDS = ("workspace", "auto", "postgres", "sqlite")


def workspace_store(ws: Path) -> str:
    """The store `cmtl run` / `make run` write to for this workspace: MLFLOW_TRACKING_URI when it names a
    database, else <workspace>/mlflow.db. `make up`'s default, so both show the same runs and models."""
    from flows.runtime.workspace import tracking_uri

    uri = tracking_uri(ws)
    if uri.startswith(("http://", "https://")):  # an env.sh of an earlier `make up` still sourced
        return f"sqlite:///{ws / 'mlflow.db'}"
    return uri


def mlflow_backend(ws: Path, backend: str = "workspace") -> str:
    """workspace (default): the store `make run` uses (workspace_store); auto: PostgreSQL database
    cmtl_mlflow (created if missing) when the server answers, else SQLite; postgres; sqlite."""
    if backend not in BACKENDS:
        raise CmtlError(f"--backend {backend}: use one of {', '.join(BACKENDS)}")
    if backend == "workspace":
        return workspace_store(ws)
    if backend == "sqlite":
        return f"sqlite:///{ws / 'mlflow.db'}"
    try:
        import psycopg2

        conn = psycopg2.connect(f"{POSTGRES}/postgres", connect_timeout=3)
    except Exception as exc:  # no driver or no server: fall back unless PostgreSQL was asked for
        if backend == "postgres":
            raise CmtlError(f"PostgreSQL at {POSTGRES} is not reachable: {exc}") from None
        return f"sqlite:///{ws / 'mlflow.db'}"
    conn.autocommit = True  # CREATE DATABASE cannot run in a transaction (so no `with conn:` either)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{DATABASE}"')
    finally:
        conn.close()
    return store_uri(DATABASE)


def store_uri(database: str) -> str:
    """SQLAlchemy URI of a database on the PostgreSQL server (psycopg2: SQLAlchemy 2.1 defaults to psycopg 3)."""
    return f"{POSTGRES.replace('postgresql://', 'postgresql+psycopg2://', 1)}/{database}"


def mlflow_server_argv(store: str, ws: Path, port: int) -> list[str]:
    """`mlflow server` on the store. A file or SQLite store shared with `make run` keeps artifacts where
    direct clients put them (file:// <workspace>/mlartifacts, which the server reads for the UI): a
    `mlflow-artifacts:/` location would be unreadable to a run that writes to the store without the server."""
    artifacts = (["--default-artifact-root", (ws / "mlartifacts").as_uri()] if store.startswith("sqlite:")
                 else ["--artifacts-destination", str(ws / "mlartifacts")])
    return [str(BIN / "mlflow"), "server", "--app-name", "basic-auth", "--backend-store-uri", store, *artifacts,
            "--serve-artifacts",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]


def up(project_dir: Path = ROOT, workspace: Path | None = None, prefect_port: int = 4200,
       mlflow_port: int = 5000, backend: str = "workspace", deploy: bool = True, timeout: float = 180,
       credentials_file: Path | None = None) -> dict:
    """Start the servers and the worker, deploy deployment.yaml; returns the URLs and the env file.
    credentials_file: default $CMTL_CREDENTIALS or ~/.config/cmtl/credentials (created when missing)."""
    project_dir = Path(project_dir).resolve()
    ws = Path(workspace or os.environ.get("CMTL_WORKSPACE") or project_dir / "workspace").resolve()
    run_dir = ws / "run"
    for sub in (run_dir, ws / "prefect", ws / "mlartifacts"):
        sub.mkdir(parents=True, exist_ok=True)
    for name, port in (("Prefect server", prefect_port), ("MLflow server", mlflow_port)):
        if not port_free(port):
            raise CmtlError(f"port {port} for the {name} is taken (another `make up`?); free it or pick "
                            f"another port")
    prefect_url, mlflow_url = f"http://127.0.0.1:{prefect_port}", f"http://127.0.0.1:{mlflow_port}"
    creds = credentials.load(credentials_file)
    store = mlflow_backend(ws, backend)
    from flows.tracking import ensure_store

    ensure_store(store)  # created and migrated once, before the server's workers or any client open it
    env = {**os.environ, "PREFECT_HOME": str(ws / "prefect"), "PREFECT_API_URL": f"{prefect_url}/api",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "CMTL_PROJECT_DIR": str(project_dir),
           "MLFLOW_TRACKING_URI": mlflow_url, "PATH": os.pathsep.join([str(BIN), os.environ.get("PATH", "")])}
    env.pop("MLFLOW_REGISTRY_URI", None)
    for key in ("MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_FLASK_SERVER_SECRET_KEY", "PREFECT_SERVER_API_AUTH_STRING"):
        env.pop(key, None)  # each server gets its own below, no client gets a server's
    servers = credentials.server_env(creds, ws)
    prefect_env = {**env, "PREFECT_SERVER_API_AUTH_STRING": servers["PREFECT_SERVER_API_AUTH_STRING"]}
    mlflow_env = {**env, **{k: servers[k] for k in ("MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_FLASK_SERVER_SECRET_KEY")}}
    for key in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "PREFECT_API_AUTH_STRING"):
        mlflow_env.pop(key, None)
    env.update(credentials.client_env(creds))  # the worker, its flow runs, deploy: the service account
    auth = creds.prefect_auth
    try:
        start("prefect-server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1",
                                 "--port", str(prefect_port)], run_dir, prefect_env, project_dir)
        start("mlflow-server", mlflow_server_argv(store, ws, mlflow_port), run_dir, mlflow_env, project_dir)
        wait_until("prefect-server", lambda: answers(f"{prefect_url}/api/health"), run_dir, timeout)
        wait_until("mlflow-server", lambda: answers(f"{mlflow_url}/health"), run_dir, timeout)
        accounts.ensure_accounts(mlflow_url, creds)
        if not answers(f"{prefect_url}/api/admin/version", auth=auth):
            raise CmtlError(f"Prefect API {prefect_url}/api does not answer an authenticated call")
        if not answers(f"{prefect_url}/api/work_pools/{POOL}", auth=auth):
            _prefect(["work-pool", "create", POOL, "--type", "process"], env, project_dir)
        start("worker", [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--type", "process",
                         "--name", f"cmtl-worker-{os.getpid()}"], run_dir, env, project_dir)
        wait_until("worker", lambda: _worker_online(prefect_url, auth), run_dir, timeout)
        if deploy:
            _prefect(["--no-prompt", "deploy", "--all", "--prefect-file",
                      str(project_dir / "deployment.yaml")], env, project_dir)
            automations.install_against(env, project_dir)  # degraded verdict, failed or crashed flow runs
    except BaseException:
        down(ws)
        raise
    exports = {k: env[k] for k in ("PREFECT_API_URL", "PREFECT_HOME", "MLFLOW_TRACKING_URI", "CMTL_PROJECT_DIR")}
    lines = [f"export {k}={v}" for k, v in exports.items()]
    lines += [f"# the service account {creds.service_user}, read from {creds.path} (no secret in this file)",
              *credentials.shell_exports(creds)]
    (run_dir / "env.sh").write_text("\n".join(lines) + "\n")
    return {"prefect_ui": prefect_url, "mlflow_ui": mlflow_url, "mlflow_store": store,
            "env_file": str(run_dir / "env.sh"), "run_dir": str(run_dir), "env": exports,
            "credentials": creds.path, "accounts": {"admin": creds.admin_user, "service": creds.service_user,
                                                    "reviewer": creds.reviewer_user}}


def _prefect(args: list[str], env: dict, cwd: Path) -> None:
    done = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    if done.returncode != 0:
        raise CmtlError(f"`prefect {' '.join(args)}` failed:\n{(done.stdout + done.stderr)[-3000:]}")


def _worker_online(prefect_url: str, auth: str | None = None) -> bool:
    headers = {"Content-Type": "application/json", **({"Authorization": credentials.basic(auth)} if auth else {})}
    try:
        req = urllib.request.Request(f"{prefect_url}/api/work_pools/{POOL}/workers/filter", data=b"{}",
                                     headers=headers)
        with urllib.request.urlopen(req, timeout=5) as r:
            return any(w.get("status") == "ONLINE" for w in json.load(r))
    except (urllib.error.URLError, OSError, ValueError):
        return False


def down(workspace: Path | None = None, project_dir: Path = ROOT, timeout: float = 30) -> list[str]:
    """Stop the process groups recorded by `up` (TERM, then KILL after `timeout`); returns their names."""
    ws = Path(workspace or os.environ.get("CMTL_WORKSPACE") or Path(project_dir) / "workspace").resolve()
    run_dir, stopped = ws / "run", []
    for name in ORDER:
        pidfile = run_dir / f"{name}.pid"
        if not pidfile.is_file():
            continue
        pid = int(pidfile.read_text())
        if alive(pid):
            _signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while alive(pid) and not _zombie(pid) and time.monotonic() < deadline:
                time.sleep(0.5)
            stopped.append(name)
        _signal_group(pid, signal.SIGKILL)  # stragglers of the group (uvicorn workers, flow runs)
        pidfile.unlink()
    (run_dir / "env.sh").unlink(missing_ok=True)
    return stopped


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # start_new_session made the recorded PID its group's leader
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m flows.ops.services", description=__doc__.splitlines()[0])
    p.add_argument("action", choices=["up", "down", "add-reviewer"])
    p.add_argument("name", nargs="?", help="add-reviewer: the new reviewer's user name")
    p.add_argument("--workspace", default=None, help="default: $CMTL_WORKSPACE or ./workspace")
    p.add_argument("--prefect-port", type=int, default=int(os.environ.get("CMTL_PREFECT_PORT", 4200)))
    p.add_argument("--mlflow-port", type=int, default=int(os.environ.get("CMTL_MLFLOW_PORT", 5000)))
    p.add_argument("--backend", choices=list(BACKENDS), default=os.environ.get("CMTL_MLFLOW_BACKEND", "workspace"),
                   help="workspace (default): the store make run uses; auto: PostgreSQL if reachable, else SQLite")
    p.add_argument("--credentials", type=Path, default=None,
                   help=f"the accounts file (default ${credentials.PATH_ENV} or ~/.config/cmtl/credentials)")
    a = p.parse_args(argv)
    try:
        if a.action == "down":
            stopped = down(a.workspace)
            print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
            return
        if a.action == "add-reviewer":
            url = f"http://127.0.0.1:{a.mlflow_port}"
            password = accounts.add_reviewer(url, credentials.load(a.credentials, create=False), a.name or "")
            print(f"reviewer {a.name} on {url}: READ on every experiment and registered model\n"
                  f"password (shown once, stored nowhere): {password}")
            return
        info = up(workspace=a.workspace, prefect_port=a.prefect_port, mlflow_port=a.mlflow_port,
                  backend=a.backend, credentials_file=a.credentials)
    except CmtlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"Prefect UI   {info['prefect_ui']}  (work pool {POOL}, one worker, deployments from deployment.yaml)")
    print(f"MLflow UI    {info['mlflow_ui']}  (store {info['mlflow_store']})")
    acc = info["accounts"]
    print(f"accounts     MLflow admin {acc['admin']}, service {acc['service']} (the pipeline), reviewer "
          f"{acc['reviewer']} (read only); Prefect auth string; all in {info['credentials']}")
    print(f"logs, PIDs   {info['run_dir']}")
    print(f"\n  source {info['env_file']}\n  {BIN / 'prefect'} deployment run pipeline/on-demand --watch\n"
          f"  make down")


if __name__ == "__main__":
    main()

"""PostgreSQL for the database-source tests: the local cluster (started if down), throwaway databases and roles,
and a private password-checking server, each removed after use."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from flows.ops import services

ADMIN = os.environ.get("CMTL_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def admin(db: str = "postgres"):
    import psycopg2

    con = psycopg2.connect(f"{ADMIN}/{db}", connect_timeout=5)
    con.autocommit = True
    return con


def sql(db: str, statement: str, params: tuple = ()) -> list[tuple]:
    con = admin(db)
    try:
        with con.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []
    finally:
        con.close()


def ensure_running() -> None:
    """Start the machine's cluster when it does not answer: no PostgreSQL is a failure, not a skip."""
    try:
        admin().close()
        return
    except Exception:  # noqa: BLE001
        pass
    if shutil.which("pg_ctlcluster") and Path("/etc/postgresql").is_dir():
        for version in os.listdir("/etc/postgresql"):
            subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                           capture_output=True, timeout=60)
    admin().close()


@contextmanager
def database():
    """A fresh database on the local server: (its postgresql:// URL, its name); dropped afterwards."""
    ensure_running()
    name = f"cmtl_dbsrc_{uuid.uuid4().hex[:10]}"
    sql("postgres", f'CREATE DATABASE "{name}"')
    try:
        yield f"{ADMIN}/{name}", name
    finally:
        sql("postgres", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def url_as(url: str, user: str) -> str:
    return url.replace("://postgres@", f"://{user}@", 1)


def _as_postgres(argv: list[str], **kw) -> subprocess.CompletedProcess:
    """initdb and pg_ctl refuse to run as root: as the postgres user then."""
    if os.geteuid() == 0:
        argv = ["runuser", "-u", "postgres", "--", *argv]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)


@contextmanager
def password_server(user: str, password: str):
    """A private PostgreSQL instance (initdb in a temporary folder, a free port) that checks passwords
    (scram-sha-256), unlike the local trust-auth cluster: the URL of its `postgres` database for `user`.
    Stopped (pg_ctl stop on its own data folder) and removed afterwards."""
    bindir = Path("/usr/lib/postgresql") / sorted(os.listdir("/usr/lib/postgresql"))[-1] / "bin"
    root = Path(tempfile.mkdtemp(prefix="cmtl-pgpw-", dir="/tmp"))
    data, pwfile = root / "data", root / "pw"
    pwfile.write_text(password + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    port = services.free_port()
    try:
        done = _as_postgres([str(bindir / "initdb"), "-D", str(data), "-U", user, "--auth=scram-sha-256",
                             f"--pwfile={pwfile}"])
        assert done.returncode == 0, done.stderr[-2000:]
        done = _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
                             f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start"])
        assert done.returncode == 0, (root / "log").read_text()[-2000:] if (root / "log").exists() else done.stderr
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            _as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)


def wait_for_backend(db: str, application: str, timeout: float = 60, waiting: bool = False) -> int | None:
    """The pid of the session of `application` on database `db` (when `waiting`: blocked on a lock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = sql("postgres", "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s"
                   + (" AND wait_event_type = 'Lock'" if waiting else ""), (db, application))
        if rows:
            return rows[0][0]
        time.sleep(0.05)
    return None

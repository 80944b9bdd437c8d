"""Database sources: the URL in source.path (never with a password), and one reader class per engine."""
from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from urllib.parse import quote as quote_url

import pyarrow as pa

from mtl_core.config.urls import is_database, redact, refuse_password, scheme  # noqa: F401 - re-exported
from mtl_core.errors import ConfigError, DataError, UnavailableError

SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")
CONNECT_TIMEOUT = 5  # seconds: a server that is down or a wrong host fails the run in seconds


def check_url(path: str) -> str:
    """The URL, if an engine reads it and it holds no password; else ConfigError (password masked)."""
    kind = scheme(path)
    if kind not in ENGINES:
        raise ConfigError(f"no reader for {kind}:// URLs (supported: {', '.join(sorted(ENGINES))}); a new engine "
                          f"is one reader class in mtl_core/sources/database.py")
    return refuse_password(path)


def _failure(exc: Exception) -> tuple[str | None, str]:
    """(SQLSTATE, the server's one-line reason) of a driver error: never the query (it holds partition
    bounds, i.e. patient ids), never a data exception's text (it quotes the value)."""
    state = getattr(exc, "sqlstate", None)
    text = str(exc).split("\nQuery was:")[0]
    found = re.search(r"(?:ERROR|FATAL):\s+(.*)", text)
    reason = (found.group(1) if found else text.split("failed:", 1)[-1]).strip().splitlines()
    reason = reason[0].strip() if reason else type(exc).__name__
    if state and state.startswith("22"):  # data exception: "invalid input syntax ...: <the value>"
        reason = "a value the server cannot convert"
    return state, reason[:300]


class Postgres:
    """PostgreSQL through ADBC's libpq driver: a query's rows arrive as Arrow batches (COPY BINARY, no
    row-by-row cursor). Credentials come from libpq (PGPASSWORD, PGUSER, ~/.pgpass, ...); the session is
    read-only, and one REPEATABLE READ transaction makes every table of a read one consistent state.
    Parallel readers join that state: each imports the snapshot the first one exports (as pg_dump -j)."""
    engine = "postgresql"

    def __init__(self, url: str, purpose: str = "read", snapshot: str | None = None):
        import adbc_driver_postgresql.dbapi as pg  # only database sources need it

        self.shown = redact(url)
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        query.setdefault("connect_timeout", str(CONNECT_TIMEOUT))
        query.setdefault("application_name", f"clinical-mtl {purpose}")  # what a DBA sees in pg_stat_activity
        try:
            # %20, not +: libpq decodes percent escapes only
            self.con = pg.connect(urlunsplit(parts._replace(query=urlencode(query, quote_via=quote_url))),
                                  autocommit=True)
        except Exception as exc:  # noqa: BLE001 - every driver failure becomes one named line
            raise UnavailableError(f"database {self.shown} is not reachable: {_failure(exc)[1]} (check the "
                                   f"server, PGUSER / PGPASSWORD or ~/.pgpass; nothing was read)") from None
        # read-only for this session; parallel workers and synchronised scans would reorder rows
        # between runs, and the snapshot's content hash depends on the order
        for sql in ("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                    "SET max_parallel_workers_per_gather = 0", "SET synchronize_seqscans = off",
                    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"):
            self.execute(sql)
        if snapshot is not None:
            if not SNAPSHOT_ID.match(snapshot):
                raise ConfigError("not a PostgreSQL snapshot identifier")
            try:
                self.execute(f"SET TRANSACTION SNAPSHOT '{snapshot}'")  # the first statement of the transaction
            except (UnavailableError, DataError) as exc:
                self.close()
                if isinstance(exc, UnavailableError):
                    raise
                # the exporting session has ended: its transaction is gone
                raise UnavailableError(f"database {self.shown}: the read's consistent snapshot is gone (the "
                                       f"session that exported it ended); nothing was written") from None

    def export_snapshot(self) -> str:
        """An id other sessions can import, to see exactly what this transaction sees while it lasts."""
        return str(self.rows("SELECT pg_export_snapshot()")[0][0])

    def pages(self, schema: str, table: str) -> int | None:
        """Heap pages of a plain table (a slice of them is one parallel read), None for a view, a foreign
        or a partitioned table (read whole)."""
        found = self.rows("SELECT c.relkind, pg_relation_size(c.oid) / current_setting('block_size')::bigint "
                          "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
                          "WHERE n.nspname = $1 AND c.relname = $2", (schema, table))
        return int(found[0][1]) if found and found[0][0] in ("r", "m") else None

    @staticmethod
    def page_range(lo: int, hi: int | None) -> str:
        """The rows stored in pages [lo, hi) (hi None: to the end), read by a TID range scan: the slices of
        a table, concatenated in order, are its rows in a sequential scan's order."""
        return f"ctid >= '({int(lo)},0)'::tid" + ("" if hi is None else f" AND ctid < '({int(hi)},0)'::tid")

    def execute(self, sql: str, params: tuple = ()) -> None:
        self._run(sql, params, lambda cur: None)

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        return self._run(sql, params, lambda cur: cur.fetchall())

    def _run(self, sql: str, params: tuple, fetch):
        try:
            cur = self.con.cursor()
            cur.execute(sql, params or None)
            out = fetch(cur)
            cur.close()
            return out
        except Exception as exc:  # noqa: BLE001
            raise self.error(exc, "a catalog query") from None

    def stream(self, sql: str, what: str) -> Iterator[pa.RecordBatch]:
        """The query's rows as Arrow record batches; memory holds a batch at a time."""
        try:
            cur = self.con.cursor()
            cur.execute(sql)
            reader = cur.fetch_record_batch()
        except Exception as exc:  # noqa: BLE001
            raise self.error(exc, what) from None
        try:
            while True:
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    return
                except Exception as exc:  # noqa: BLE001 - e.g. the connection dropped mid-read
                    raise self.error(exc, what) from None
                yield batch
        finally:
            cur.close()

    def result_schema(self, sql: str, what: str) -> pa.Schema:
        """The columns a query gives (it is run with LIMIT 0: no row is read)."""
        try:
            cur = self.con.cursor()
            cur.execute(f"SELECT * FROM ({sql}) AS cmtl_q LIMIT 0")
            schema = cur.fetch_record_batch().schema
            cur.close()
            return schema
        except Exception as exc:  # noqa: BLE001
            raise self.error(exc, what) from None

    def error(self, exc: Exception, what: str) -> Exception:
        state, reason = _failure(exc)
        where = f"database {self.shown}: {what}"
        if state == "42501":
            return DataError(f"{where}: permission denied ({reason}); grant SELECT on it to this role")
        if state and state[:2] in ("08", "57", "53", "58", "XX") or state is None:
            return UnavailableError(f"{where}: the connection failed while reading ({reason}); nothing was "
                                    f"written")
        return DataError(f"{where}: the server refused it ({reason}; SQLSTATE {state})")

    def close(self) -> None:
        try:
            self.con.close()  # ends the transaction: nothing is left on the server
        except Exception:  # noqa: BLE001 - a connection already gone has nothing left to close
            pass

    # --- the catalog ---------------------------------------------------------------------------------

    def schemas(self) -> list[str]:
        return [r[0] for r in self.rows("SELECT nspname FROM pg_catalog.pg_namespace WHERE nspname NOT LIKE "
                                        "'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1")]

    def columns(self, schema: str) -> dict[str, dict[str, tuple[str, str, str, bool, bool]]]:
        """table (lower case) -> column (lower case) -> (table as spelt, column as spelt, type name, type
        category, may SELECT it). pg_catalog, not information_schema, which hides tables the role may
        not read: a table without the grant is then named as such, not as missing."""
        rows = self.rows(
            "SELECT c.relname, a.attname, format_type(a.atttypid, a.atttypmod), t.typcategory, "
            "has_column_privilege(c.oid, a.attnum, 'SELECT') FROM pg_catalog.pg_class c "
            "JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
            "JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
            "JOIN pg_catalog.pg_type t ON t.oid = a.atttypid "
            "WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p', 'f') ORDER BY c.relname, a.attnum",
            (schema,))
        out: dict[str, dict] = {}
        for table, column, typ, category, granted in rows:
            out.setdefault(table.lower(), {})[column.lower()] = (table, column, typ, category, granted)
        return out

    def checksum(self, sql: str) -> list[str]:
        """Row count and an order-free 64-bit hash sum of every row of a query (the server reads it; no
        row crosses the network)."""
        found = self.rows(f"SELECT count(*), CAST(sum(hashtextextended(CAST(cmtl_q AS text), 0)) AS text) "
                          f"FROM ({sql}) AS cmtl_q")[0]
        return [str(v) for v in found]

    def change_counters(self, schema: str, table: str) -> list[int]:
        """Inserts, updates and deletes the server has counted on the table (cumulative statistics): an
        in-place UPDATE moves them even where it changes no count or maximum."""
        found = self.rows("SELECT n_tup_ins, n_tup_upd, n_tup_del FROM pg_catalog.pg_stat_all_tables "
                          "WHERE schemaname = $1 AND relname = $2", (schema, table))
        return [int(v or 0) for v in found[0]] if found else []


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# URL scheme -> the engine's reader class. Another engine (SQL Server, Databricks, ...) is one class with
# Postgres's methods: connect read-only in one consistent transaction, rows / stream (Arrow batches) /
# result_schema for a query, columns (the catalog, types as the categories N, S, D), schemas, checksum,
# change_counters, error; the SQL the readers write around it is standard (CAST, count, max). Parallel
# slice reads are optional: export_snapshot, a snapshot= argument, pages and page_range; an engine
# whose pages() gives None is read one table at a time.
ENGINES: dict[str, type] = {"postgresql": Postgres, "postgres": Postgres}


def connect(url: str, purpose: str = "read", snapshot: str | None = None) -> Postgres:
    return ENGINES[scheme(url)](check_url(url), purpose, snapshot)


def probe(url: str) -> str | None:
    """Why the database cannot be read (server down, wrong credentials), or None: for the preflight."""
    try:
        connect(url, "preflight").close()
    except (UnavailableError, ConfigError) as exc:
        return str(exc)
    return None

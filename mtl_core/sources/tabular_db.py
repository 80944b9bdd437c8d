"""Source `tabular` from a database: a query's (or a table's) rows, streamed in Arrow chunks, as the flat table."""
from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from mtl_core.config import Config
from mtl_core.errors import ConfigError, DataError
from mtl_core.sources import database, tabular, tabular_read
from mtl_core.sources.database import quote

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def base_query(src) -> str:
    """The SELECT that gives the table: source.query, or every column of source.table."""
    if src.table is not None:
        parts = src.table.split(".")
        if len(parts) > 2 or not all(_IDENT.match(p) for p in parts):
            raise ConfigError(f"source.table {src.table!r}: expected [schema.]name (letters, digits, _)")
        return "SELECT * FROM " + ".".join(quote(p.lower()) for p in parts)  # unquoted SQL folds to lower
    return src.query.strip().rstrip(";").strip()


def _pg_type(field: pa.Field) -> str:
    meta = field.metadata or {}
    return (meta.get(b"POSTGRESQL:type") or meta.get(b"ADBC:postgresql:typname") or str(field.type).encode()).decode()


def _expression(field: pa.Field) -> str | None:
    """How the column is selected, or None for a type the flat table's rules refuse."""
    t, q = field.type, f"cmtl_q.{quote(field.name)}"
    if _pg_type(field) == "numeric":
        return f"CAST({q} AS DOUBLE PRECISION)"  # the driver hands NUMERIC over as text
    plain = (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_string(t)
             or pa.types.is_large_string(t) or pa.types.is_boolean(t) or pa.types.is_timestamp(t)
             or pa.types.is_date(t))
    return q if plain else None


def open_partitions(cfg: Config, staging: Path, progress: Callable[[int, int], None] | None = None):
    """{'tabular': the id, group, feature and outcome columns of the query}, in partitions of whole groups,
    read in one REPEATABLE READ transaction (the count and the rows agree)."""
    src = cfg.source
    sql = base_query(src)
    con = database.connect(src.path)
    what = f"source.{'table ' + src.table if src.table else 'query'}"
    where = f"table '{tabular.TABLE}' ({what} on {con.shown})"
    try:
        schema = con.result_schema(sql, what)
        names = schema.names
        dupes = sorted({c for c in names if names.count(c) > 1})
        if dupes:
            raise DataError(f"{where}: duplicate column name(s) {dupes} in the result")
        roles = tabular.resolve_roles(names, src, cfg.outcomes, where)
        fields = {f.name: f for f in schema}
        refused = [f"'{c}' ({_pg_type(fields[c])})" for c in roles.columns if _expression(fields[c]) is None]
        if refused:
            raise DataError(f"{where}: column(s) {', '.join(refused)}: type refused by the flat table's "
                            f"contract (a number, text, boolean, date or timestamp per row); cast them in "
                            f"the query, or leave them out (source.exclude_columns)")
        select = (f"SELECT {', '.join(f'{_expression(fields[c])} AS {quote(c)}' for c in roles.columns)} "
                  f"FROM ({sql}) AS cmtl_q")
        rows = int(con.rows(f"SELECT count(*) FROM ({sql}) AS cmtl_q")[0][0])
        out_schema = con.result_schema(select, what)
        out_schema = pa.schema([pa.field(f.name, f.type) for f in out_schema])  # the driver's metadata off
        batches = (pa.RecordBatch.from_arrays(b.columns, schema=out_schema)
                   for b in con.stream(select, f"reading {what}"))
        parts = tabular_read.open_batches(cfg, staging, rows, batches, out_schema, roles.columns)
    finally:
        con.close()
    if progress:
        progress(1, 1)
    return parts

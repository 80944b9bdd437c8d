"""Read tables of a database schema as typed Arrow batches: only the asked columns, matched case-insensitively."""
from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from mtl_core.errors import DataError, all_of
from mtl_core.sources import database, scan
from mtl_core.sources.database import quote

# column kind (files.TYPES) -> PostgreSQL type categories it reads: N numeric, S string, D date/time
ACCEPTS = {"int": "NS", "float": "NS", "time": "DS", "str": "SN"}
EXPECTED = {"int": "an integer (or text holding one)", "float": "a number (or text holding one)",
            "time": "a date or timestamp (or ISO 8601 text)", "str": "text"}
INTEGERS = ("smallint", "integer", "bigint")


def _expression(column: str, kind: str, typ: str, category: str) -> str:
    """The column as selected: NUMERIC arrives as text from the driver, so numbers are cast on the
    server (float8 for a float; text for an integer, whose converter then checks it is whole)."""
    q = quote(column)
    if typ.startswith("numeric") and kind == "float":
        return f"CAST({q} AS DOUBLE PRECISION)"
    if (typ.startswith("numeric") and kind == "int") or (kind == "str" and category != "S"):
        return f"CAST({q} AS VARCHAR)"
    return q


class Tables:
    """The tables of one schema on a database server (opened once per read; see database.Postgres)."""

    def __init__(self, con: database.Postgres, schema: str, kind: str):
        self.con, self.schema, self.kind = con, schema, kind
        self.catalog = con.columns(schema)
        if not self.catalog and schema not in con.schemas():
            shown = ", ".join(con.schemas()[:12]) or "none this role can see"
            raise DataError(f"{kind} source {con.shown}: schema '{schema}' not found (schemas there: {shown})")

    def has(self, table: str) -> bool:
        return table in self.catalog

    def header(self, table: str) -> dict[str, str]:
        """Lower-case column name -> the name as the table spells it."""
        return {c: info[1] for c, info in self.catalog[table].items()}

    def name(self, table: str) -> str:
        return f"{quote(self.schema)}.{quote(next(iter(self.catalog[table].values()))[0])}"

    def where(self, table: str, canonical: str | None = None) -> str:
        """How messages name the table: its canonical name (when it has another) and where it lives."""
        return f"table '{canonical or table}' ({self.schema}.{table})"

    def missing(self, table: str) -> DataError:
        return DataError(f"{self.kind} source {self.con.shown}: required table '{table}' not found in schema "
                         f"'{self.schema}'")

    def check(self, specs: dict[str, dict[str, tuple[str, bool]]]) -> None:
        """Before anything is read: each spec column's type and the role's right to read it, every
        problem of every table at once (types and grants only: no value is looked at)."""
        checks = []
        for table, spec in specs.items():
            for col, (kind, _) in spec.items():
                _, spelt, typ, category, granted = self.catalog[table][col]
                checks.append(lambda t=table, c=col, k=kind, ty=typ, cat=category, g=granted:
                              self._check_column(t, c, k, ty, cat, g))
        all_of(checks)

    def _check_column(self, table: str, col: str, kind: str, typ: str, category: str, granted: bool) -> None:
        where = f"{self.kind} source {self.con.shown}: {self.where(table)}: column '{col}'"
        if category not in ACCEPTS[kind] or (kind == "str" and category == "N" and typ not in INTEGERS):
            raise DataError(f"{where}: type {typ} is refused by the contract (expected {EXPECTED[kind]})")
        if not granted:
            raise DataError(f"{where}: permission denied: this role may not SELECT it; grant SELECT on "
                            f"{self.schema}.{table} (or on the column)")

    def select(self, table: str, spec: dict[str, tuple[str, bool]], drop_missing: str | None = None) -> str:
        cols = self.catalog[table]
        exprs = ", ".join(f"{_expression(cols[c][1], kind, cols[c][2], cols[c][3])} AS {quote(c)}"
                          for c, (kind, _) in spec.items())
        sql = f"SELECT {exprs} FROM {self.name(table)}"
        return sql + (f" WHERE {quote(cols[drop_missing][1])} IS NOT NULL" if drop_missing else "")

    def batches(self, table: str, spec: dict[str, tuple[str, bool]], drop_missing: str | None = None,
                canonical: str | None = None) -> Iterator[pa.Table]:
        """Typed batches of the table's spec columns (lower-case named), in the table's stored order."""
        self.check({table: spec})
        where = self.where(table, canonical)
        for batch in self.con.stream(self.select(table, spec, drop_missing), f"reading {where}"):
            yield scan.typed(pa.Table.from_batches([batch]), spec, where)

    def rows(self, table: str) -> int:
        return int(self.con.rows(f"SELECT count(*) FROM {self.name(table)}")[0][0])

    def fingerprint(self, table: str, spec: dict[str, tuple[str, bool]]) -> list:
        """What tells a changed table from an unchanged one without reading it: the row count, the
        largest value of each id and time column read, and the server's change counters."""
        cols = self.catalog[table]
        keys = [c for c, (kind, _) in spec.items() if kind in ("int", "time")]
        aggs = ", ".join(["count(*)"] + [f"CAST(max({quote(cols[c][1])}) AS VARCHAR)" for c in keys])
        found = self.con.rows(f"SELECT {aggs} FROM {self.name(table)}")[0]
        return [str(v) for v in found] + self.con.change_counters(self.schema, next(iter(cols.values()))[0])

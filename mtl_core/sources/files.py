"""Read CSV, gzipped CSV and Parquet source files; every unreadable file or value is a DataError naming it."""
from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mtl_core.errors import DataError

# preference order when several exist: Parquet is typed and fastest, then compressed CSV
SUFFIXES = (".parquet", ".csv.gz", ".csv")


def find(folder: Path, stem: str) -> Path | None:
    """folder/stem with the first suffix that exists, or None."""
    for suffix in SUFFIXES:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None


def kind_of(path: Path) -> str:
    name = path.name.lower()
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return suffix
    raise DataError(f"file {path}: unsupported type (expected one of {', '.join(SUFFIXES)})")


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if kind_of(path) == ".csv.gz" else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _bad_utf8_line(path: Path) -> int:
    raw = gzip.open(path, "rb") if kind_of(path) == ".csv.gz" else open(path, "rb")
    with raw:
        for n, line in enumerate(raw, 1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return n
    return 0


def unreadable(path: Path, exc: BaseException) -> DataError:
    """The DataError for a file a reader failed on: what is wrong with it, never the row's content."""
    if isinstance(exc, UnicodeDecodeError):
        return DataError(f"file {path}: not UTF-8 text (first bad byte on line {_bad_utf8_line(path)}); "
                         f"re-export it as UTF-8")
    if isinstance(exc, (EOFError, gzip.BadGzipFile, zlib.error)):
        return DataError(f"file {path}: the compressed file is truncated or corrupt ({exc})")
    if isinstance(exc, (pa.ArrowException, OSError)) and kind_of(path) == ".parquet":
        return DataError(f"file {path}: not a readable Parquet file, truncated or corrupt ({exc})")
    ragged = re.search(r"Expected (\d+) columns, got (\d+)", str(exc))
    if ragged:  # the parser's message quotes the row itself: patient data, so it is left out
        return DataError(f"file {path}: check same number of fields as the header failed: a row has "
                         f"{ragged.group(2)} fields, the header {ragged.group(1)} (an unquoted separator "
                         f"or a cut-off line?)")
    return DataError(f"file {path}: cannot be read ({type(exc).__name__}: {exc})")


def header(path: Path) -> list[str]:
    """Column names as written in the file (duplicates kept, so they can be reported)."""
    try:
        if kind_of(path) == ".parquet":
            return list(pq.read_schema(path).names)
        with _open_text(path) as fh:
            first = next(csv.reader(fh), None)
    except Exception as exc:  # noqa: BLE001 - every reader failure becomes a named DataError
        raise unreadable(path, exc) from None
    if not first or first == [""]:
        raise DataError(f"file {path} is empty (no header row)")
    return first


def check_flat(path: Path, columns: list[str] | None = None) -> None:
    """DataError naming every nested (list, struct, map) column of a Parquet file among `columns`: a
    table cell must be one number, text or time, and nested values crashed validation with a TypeError."""
    if kind_of(path) != ".parquet":
        return
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # noqa: BLE001
        raise unreadable(path, exc) from None
    wanted = set(schema.names if columns is None else columns)
    nested = [f"'{f.name}' ({f.type})" for f in schema if f.name in wanted and pa.types.is_nested(f.type)]
    if nested:
        raise DataError(f"file {path}: column(s) {', '.join(nested)}: check flat type failed (a nested "
                        f"list/struct/map per row); flatten them into columns of numbers or text, or leave "
                        f"them out (source.exclude_columns)")


def read(path: Path, columns: list[str] | None = None, optional: tuple[str, ...] = (),
         needed_for: str = "") -> pd.DataFrame:
    """The file's `columns` (all when None) plus whichever `optional` ones it has."""
    names = header(path)
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise DataError(f"file {path}: duplicate column name(s) {dupes} in the header")
    if columns is not None:
        missing = [c for c in columns if c not in names]
        if missing:
            what = f" (needed for {needed_for})" if needed_for else ""
            raise DataError(f"file {path}: required column(s) {missing} are missing{what}")
        columns = list(columns) + [c for c in optional if c in names and c not in columns]
    check_flat(path, columns)
    try:
        if kind_of(path) == ".parquet":
            return pd.read_parquet(path, columns=columns)
        # pyarrow: multi-threaded, and it rejects rows with the wrong field count even when only
        # some columns are read (the default parser then silently accepts them)
        df = pd.read_csv(path, usecols=columns, engine="pyarrow")
    except Exception as exc:  # noqa: BLE001
        raise unreadable(path, exc) from None
    for col in df.columns[df.dtypes == object]:  # noqa: E721 (an elementwise dtype comparison)
        if df[col].map(lambda v: isinstance(v, bytes)).any():  # pyarrow's way of saying "not UTF-8"
            raise unreadable(path, UnicodeDecodeError("utf-8", b"", 0, 1, "invalid"))
    return df


# --- typed columns: each failure names the table, file, column, rule and how many rows ---------------

def examples(values: pd.Series) -> str:
    """' (e.g. 'a', 'b', 'c')' from the first distinct non-missing values, or '' when all are missing."""
    values = values.dropna()
    if values.empty:
        return ""
    return f" (e.g. {', '.join(repr(str(v)) for v in pd.unique(values.astype(str))[:3])})"


def shapes(values: pd.Series) -> str:
    """' (shapes e.g. '99/99/9999', 'aaaa')': the first distinct bad values with every digit shown as 9
    and every letter as a (A in capitals), which tells the format without the value."""
    values = values.dropna()
    if values.empty:
        return ""
    masked = values.astype(str).str.replace(r"\d", "9", regex=True).str.replace(r"[a-z]", "a", regex=True)
    masked = masked.str.replace(r"[A-Z]", "A", regex=True)
    return f" (shapes e.g. {', '.join(repr(v) for v in pd.unique(masked)[:3])})"


def rows(n: int) -> str:
    return f"{n} row{'s' * (n != 1)}"


def _bad(where: str, col: str, s: pd.Series, bad: np.ndarray, rule: str, show: bool = True) -> DataError:
    """The rule's failure with row count; example values only where they cannot identify a patient,
    else their shapes (keys are identifiers, timestamps are dates of care)."""
    return DataError(f"{where}: column '{col}': check {rule} failed in {rows(int(bad.sum()))}"
                     f"{examples(s[bad]) if show else shapes(s[bad])}")


def as_int(s: pd.Series, where: str, col: str, nullable: bool = False) -> pd.Series:
    """int64; keys and codes are never missing, so `nullable` is accepted for symmetry only."""
    num = pd.to_numeric(s, errors="coerce") if not pd.api.types.is_numeric_dtype(s) else s
    num = num.astype(float) if num.dtype == bool else num
    bad = (s.notna() & num.isna()).to_numpy() | (num.notna() & (num % 1 != 0)).to_numpy()
    if bad.any():
        raise _bad(where, col, s, bad, "integer", show=False)
    if num.isna().any():
        raise _bad(where, col, s, num.isna().to_numpy(), "not_nullable", show=False)
    return num.astype("int64")


def as_float(s: pd.Series, where: str, col: str, nullable: bool = True) -> pd.Series:
    num = pd.to_numeric(s, errors="coerce") if not pd.api.types.is_numeric_dtype(s) else s
    bad = (s.notna() & num.isna()).to_numpy()
    if bad.any():
        raise _bad(where, col, s, bad, "numeric")
    if not nullable and num.isna().any():
        raise _bad(where, col, s, num.isna().to_numpy(), "not_nullable")
    return num.astype("float64")


def as_time(s: pd.Series, where: str, col: str, nullable: bool = True) -> pd.Series:
    """Naive datetime64[ns]; strings are ISO 8601, and values with an offset are converted to UTC."""
    if pd.api.types.is_datetime64_any_dtype(s):
        t = s.dt.tz_convert(None) if getattr(s.dt, "tz", None) is not None else s
    elif pd.api.types.is_numeric_dtype(s) and s.notna().any():
        raise _bad(where, col, s, s.notna().to_numpy(), f"timestamp (wrong dtype {s.dtype})", show=False)
    else:
        t = pd.to_datetime(s, errors="coerce", utc=True, format="ISO8601").dt.tz_convert(None)
    bad = (s.notna() & t.isna()).to_numpy()
    if bad.any():
        raise _bad(where, col, s, bad, "ISO 8601 timestamp", show=False)
    # nanosecond timestamps, as the contracts expect, cover 1677-09-22 to 2262-04-11
    out = ((t < pd.Timestamp.min) | (t > pd.Timestamp.max)).to_numpy()
    if out.any():
        raise _bad(where, col, s, out, "timestamp between 1677 and 2262", show=False)
    if not nullable and t.isna().any():
        raise _bad(where, col, s, t.isna().to_numpy(), "not_nullable", show=False)
    return t.astype("datetime64[ns]")


def as_str(s: pd.Series, where: str, col: str, nullable: bool = False) -> pd.Series:
    out = s.astype("str").str.strip()
    if not nullable and out.isna().any():
        raise _bad(where, col, s, out.isna().to_numpy(), "not_nullable")
    return out


TYPES = {"int": as_int, "float": as_float, "time": as_time, "str": as_str}


def sort_events(events: pd.DataFrame) -> pd.DataFrame:
    """Events by admission, then time; ties keep their order. np.lexsort on the raw keys: pandas'
    multi-key sort factorises both keys first, several times slower on millions of rows."""
    order = np.lexsort((events["charttime"].to_numpy().view(np.int64), events["hadm_id"].to_numpy()))
    return events.take(order).reset_index(drop=True)

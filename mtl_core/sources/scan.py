"""Stream a source file (CSV, gzipped CSV, Parquet) or query result as typed Arrow batches of named columns.

Each column has a kind (int, float, time, str) and a nullability, as in files.TYPES. Values are typed by
vectorised Arrow casts; a batch or file those casts cannot type exactly (an offset on a timestamp, 1.0
in an integer column, a bad value) goes through the row-checking converters of files.py instead, which
either type it the same way or raise the DataError naming table, file, column, rule and row count.
Memory holds a batch at a time, never the file.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pandas._libs.parsers import STR_NA_VALUES

from mtl_core.errors import DataError
from mtl_core.sources import files

Spec = dict[str, tuple[str, bool]]   # column -> (kind in files.TYPES, nullable)
ARROW = {"int": pa.int64(), "float": pa.float64(), "time": pa.timestamp("ns"), "str": pa.string()}
BLOCK_BYTES = 32 << 20         # CSV text parsed per block (the reader keeps a few in flight)
PARQUET_BATCH_ROWS = 1 << 20
NA_VALUES = sorted(STR_NA_VALUES)  # what pandas reads as missing, so both readers agree


def _is_text(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _fast(a: pa.ChunkedArray | pa.Array, kind: str, nullable: bool):
    """The column typed by an Arrow cast, or None where only the row-checking converter can say."""
    t = a.type
    if not nullable and a.null_count:
        return None
    try:
        if kind == "int" and (pa.types.is_integer(t) or _is_text(t)):
            return a.cast(pa.int64())
        if kind == "float" and (pa.types.is_integer(t) or pa.types.is_floating(t) or _is_text(t)):
            return a.cast(pa.float64())
        if kind == "time":
            if pa.types.is_timestamp(t) and t.tz is not None:
                a = a.cast(pa.timestamp(t.unit))  # the UTC instant, as naive time
            if pa.types.is_timestamp(a.type) or pa.types.is_date(a.type) or _is_text(a.type):
                return a.cast(pa.timestamp("ns"))  # out of the ns range raises: the converter names it
        if kind == "str" and _is_text(t):
            return pa.compute.utf8_trim_whitespace(a).cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    return None


def _careful(a, kind: str, nullable: bool, where: str, col: str) -> pa.Array:
    s = a.to_pandas()
    if kind == "int" and nullable:  # a nullable id (e.g. OMOP visit_occurrence_id): check the given ones
        given = s.notna().to_numpy()
        values = np.zeros(len(s), np.int64)
        values[given] = files.as_int(s[given], where, col).to_numpy()
        return pa.array(values, mask=~given)
    out = files.TYPES[kind](s, where, col, nullable)
    return pa.array(out, type=ARROW[kind], from_pandas=True)


def typed(batch: pa.Table, spec: Spec, where: str) -> pa.Table:
    """The batch's spec columns (those it has), typed; DataError on values no converter accepts."""
    cols, names = [], []
    for col, (kind, nullable) in spec.items():
        if col not in batch.column_names:
            continue
        a = batch.column(col)
        out = _fast(a, kind, nullable)
        cols.append(out if out is not None else _careful(a, kind, nullable, where, col))
        names.append(col)
    return pa.table(cols, names=names)


def _drop_missing(batch: pa.Table, column: str | None) -> pa.Table:
    return batch.filter(pa.compute.is_valid(batch.column(column))) if column else batch


def check_header(names: list[str], path: Path, columns: list[str], needed_for: str) -> None:
    dupes = sorted({c for c in names if names.count(c) > 1})
    if dupes:
        raise DataError(f"file {path}: duplicate column name(s) {dupes} in the header")
    missing = [c for c in columns if c not in names]
    if missing:
        what = f" (needed for {needed_for})" if needed_for else ""
        raise DataError(f"file {path}: required column(s) {missing} are missing{what}")


def _csv(path: Path, names: list[str], types: dict[str, pa.DataType]) -> pacsv.CSVStreamingReader:
    source = pa.input_stream(str(path), compression="gzip" if files.kind_of(path) == ".csv.gz" else None)
    return pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=BLOCK_BYTES),
                          convert_options=pacsv.ConvertOptions(
                              include_columns=names, column_types=types, null_values=NA_VALUES,
                              strings_can_be_null=True, quoted_strings_can_be_null=True))


def _csv_batches(path: Path, names: list[str], types: dict) -> Iterator[pa.Table]:
    reader = _csv(path, names, types)
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        yield pa.Table.from_batches([batch])


def unreadable(path: Path, exc: BaseException) -> DataError:
    if "invalid UTF8" in str(exc):  # Arrow's way of saying "not UTF-8"
        return files.unreadable(path, UnicodeDecodeError("utf-8", b"", 0, 1, "invalid"))
    if isinstance(exc, OSError) and files.kind_of(path) == ".csv.gz":
        return DataError(f"file {path}: the compressed file is truncated or corrupt ({exc})")
    return files.unreadable(path, exc)


class _Refused(Exception):
    """The typed CSV parser met a value it does not read as the column's type."""


def _guarded(path: Path, batches: Iterator[pa.Table], typed_parse: bool = False) -> Iterator[pa.Table]:
    """Reader failures as a DataError naming the file (typing failures are DataErrors already)."""
    it = iter(batches)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except pa.ArrowInvalid as exc:
            if typed_parse and "conversion error" in str(exc):
                raise _Refused() from None
            raise unreadable(path, exc) from None
        except Exception as exc:  # noqa: BLE001 - every reader failure becomes a named DataError
            raise unreadable(path, exc) from None
        yield batch


def file_batches(path: Path, spec: Spec, where: str, optional: tuple[str, ...] = (), needed_for: str = "",
                 drop_missing: str | None = None, restart: Callable[[], None] | None = None,
                 rename: dict[str, str] | None = None) -> Iterator[pa.Table]:
    """Typed batches of a file's spec columns (the required ones and whichever `optional` it has).

    Rows whose `drop_missing` column is empty are left out first. A CSV is parsed with the target types
    directly; if a value does not parse so, `restart()` is called (the caller forgets the batches it
    was given) and the file is read again as text, each batch through typed(). `rename` maps spec
    names to the file's own spelling of them (e.g. PERSON_ID)."""
    if rename:
        inner = file_batches(path, {rename[c]: v for c, v in spec.items()}, where,
                             tuple(rename[c] for c in optional if c in rename), needed_for,
                             rename.get(drop_missing, drop_missing), restart)
        back = {a: c for c, a in rename.items()}
        yield from (b.rename_columns([back[n] for n in b.column_names]) for b in inner)
        return
    names = files.header(path)
    check_header(names, path, [c for c in spec if c not in optional], needed_for)
    wanted = [c for c in spec if c in names]
    if files.kind_of(path) == ".parquet":
        try:
            pf = pq.ParquetFile(path)
        except Exception as exc:  # noqa: BLE001
            raise unreadable(path, exc) from None
        raw = (pa.Table.from_batches([b]) for b in pf.iter_batches(PARQUET_BATCH_ROWS, columns=wanted))
        for batch in _guarded(path, raw):
            yield typed(_drop_missing(batch, drop_missing), spec, where)
        return
    try:
        types = {c: ARROW[spec[c][0]] for c in wanted}
        for batch in _guarded(path, _csv_batches(path, wanted, types), typed_parse=True):
            yield typed(_drop_missing(batch, drop_missing), spec, where)
        return
    except _Refused:
        pass
    if restart:
        restart()
    for batch in _guarded(path, _csv_batches(path, wanted, {c: pa.string() for c in wanted})):
        yield typed(_drop_missing(batch, drop_missing), spec, where)


def reader_batches(reader: pa.RecordBatchReader, spec: Spec, where: str, on_error: Callable[[Exception], DataError]
                   ) -> Iterator[pa.Table]:
    """Typed batches from an Arrow stream (a database query); its columns already have their names."""
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001
            raise on_error(exc) from None
        yield typed(pa.Table.from_batches([batch]), spec, where)


def typed_schema(spec: Spec, names: list[str]) -> pa.Schema:
    """The typed schema of the spec columns a file has (for a file with no rows)."""
    return pa.schema([(c, ARROW[kind]) for c, (kind, _) in spec.items() if c in names])


def to_frame(table: pa.Table, spec: Spec) -> pd.DataFrame:
    """Typed Arrow columns as the pandas dtypes the contracts expect (int64, float64, datetime64[ns], str)."""
    df = table.to_pandas()
    for col, (kind, nullable) in spec.items():
        if col in df and kind == "int" and not nullable:
            df[col] = df[col].astype("int64")
    return df

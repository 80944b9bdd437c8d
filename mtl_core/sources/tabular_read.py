"""Read the flat table of source `tabular` in partitions of whole groups (patients), whatever its size.

A file that fits in one partition is read whole, as before. A larger one is streamed once into shards by
a hash of the group column, so every row of a patient lands in the same partition. Column types are
those the whole file would get: Parquet's own; for CSV, Arrow's inference on the first block, widened
(int -> float -> text) and the file read again if a later block holds a value that does not fit.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mtl_core.config import Config
from mtl_core.data.partitions import InMemory
from mtl_core.sources import files, scan, staging
from mtl_core.sources.staging import Stage, StagedPartitions

SHARD = "__shard__"
WIDER = {"int64": pa.float64(), "null": pa.float64()}   # anything else widens to text


def _hash_shard(keys: pa.ChunkedArray, k: int) -> np.ndarray:
    """A stable shard for each group key (its text), spread evenly over k shards."""
    h = pd.util.hash_pandas_object(keys.to_pandas().astype(str), index=False, hash_key="cmtl-tabular-key")
    return (h.to_numpy() % np.uint64(k)).astype(np.int32)


def _csv_reader(path: Path, columns: list[str], types: dict[str, pa.DataType]):
    source = pa.input_stream(str(path), compression="gzip" if files.kind_of(path) == ".csv.gz" else None)
    return pacsv.open_csv(source, read_options=pacsv.ReadOptions(block_size=scan.BLOCK_BYTES),
                          convert_options=pacsv.ConvertOptions(
                              include_columns=columns, column_types=types, null_values=scan.NA_VALUES,
                              strings_can_be_null=True, quoted_strings_can_be_null=True))


def _add(writer, table: pa.Table, group: str, k: int, nulls: dict[str, int]) -> None:
    for c in table.column_names:
        nulls[c] = nulls.get(c, 0) + table.column(c).null_count
    writer.add(table.append_column(SHARD, pa.array(_hash_shard(table.column(group), k))))


def _stage_csv(path: Path, names: list[str], columns: list[str], group: str, k: int, stage: Stage,
               nulls: dict[str, int]) -> pa.Schema:
    types: dict[str, pa.DataType] = {}
    while True:
        writer = stage.writer("tabular", "tabular", SHARD)
        writer.bounds = np.arange(k)
        reader = _csv_reader(path, columns, types)
        nulls.clear()
        try:
            for batch in reader:
                _add(writer, pa.Table.from_batches([batch]), group, k, nulls)
        except pa.ArrowInvalid as exc:
            bad = re.search(r"In CSV column #(\d+): CSV conversion error", str(exc))
            if not bad:
                raise scan.unreadable(path, exc) from None
            col = names[int(bad.group(1))]
            current = reader.schema.field(col).type
            types[col] = WIDER.get(str(current), pa.string())
            writer.reset()
            continue
        except Exception as exc:  # noqa: BLE001 - every reader failure becomes a named DataError
            raise scan.unreadable(path, exc) from None
        stage.finish("tabular", "tabular", writer, reader.schema)
        return reader.schema


def _stage_parquet(path: Path, columns: list[str], group: str, k: int, stage: Stage,
                   nulls: dict[str, int]) -> pa.Schema:
    writer = stage.writer("tabular", "tabular", SHARD)
    writer.bounds = np.arange(k)
    pf = pq.ParquetFile(path)
    for batch in pf.iter_batches(scan.PARQUET_BATCH_ROWS, columns=columns):
        _add(writer, pa.Table.from_batches([batch]), group, k, nulls)
    schema = pf.schema_arrow
    schema = pa.schema([schema.field(c) for c in columns])
    stage.finish("tabular", "tabular", writer, schema)
    return schema


class _Conform:
    """Partition frames with the dtypes the whole table has: an int (bool) column with a missing value
    in any partition is float64 (object) in every partition, as it would be read whole."""

    def __init__(self, columns: list[str], widen: dict[str, str]):
        self.columns, self.widen = columns, widen

    def __call__(self, tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
        df = tables["tabular"][self.columns]
        return {"tabular": df.astype(self.widen) if self.widen else df}


def open_partitions(cfg: Config, folder: Path, path: Path, columns: list[str]):
    """The file's `columns` as partitions of whole groups (one, read whole, when it is small)."""
    rows = staging.estimate_rows(path)
    if rows <= cfg.ingest.partition_rows:
        return InMemory({"tabular": files.read(path, columns)[columns]})
    group = cfg.source.group_column or cfg.source.id_column
    k = staging.n_shards(rows, rows, cfg.ingest.partition_rows)
    stage = Stage(Path(folder), np.arange(k))
    names = files.header(path)
    scan.check_header(names, path, columns, "table 'tabular'")
    nulls: dict[str, int] = {}
    try:
        if files.kind_of(path) == ".parquet":
            schema = _stage_parquet(path, columns, group, k, stage, nulls)
        else:
            schema = _stage_csv(path, names, columns, group, k, stage, nulls)
    except (OSError, pa.ArrowException) as exc:
        raise scan.unreadable(path, exc) from None
    return _conformed(cfg, stage, schema, nulls, columns)


def _conformed(cfg: Config, stage: Stage, schema: pa.Schema, nulls: dict[str, int], columns: list[str]):
    widen = {}
    for f in schema:
        if nulls.get(f.name) and pa.types.is_integer(f.type):
            widen[f.name] = "float64"
        elif nulls.get(f.name) and pa.types.is_boolean(f.type):
            widen[f.name] = "object"
    return StagedPartitions(stage, stage.plan(cfg.ingest.partition_rows), {"tabular": {}},
                            _Conform(columns, widen))


def open_batches(cfg: Config, folder: Path, rows: int, batches, schema: pa.Schema, columns: list[str]):
    """A query result's `columns` (Arrow batches of `schema`, `rows` of them) as partitions of whole
    groups, as a Parquet file of the same rows would be: one in memory when small, else hash shards."""
    if rows <= cfg.ingest.partition_rows:
        table = pa.Table.from_batches(list(batches), schema=schema)
        return InMemory({"tabular": table.to_pandas()[columns]})
    group = cfg.source.group_column or cfg.source.id_column
    k = staging.n_shards(rows, rows, cfg.ingest.partition_rows)
    stage, nulls = Stage(Path(folder), np.arange(k)), {}
    writer = stage.writer("tabular", "tabular", SHARD)
    writer.bounds = np.arange(k)
    for batch in batches:
        _add(writer, pa.Table.from_batches([batch], schema=schema), group, k, nulls)
    stage.finish("tabular", "tabular", writer, schema)
    return _conformed(cfg, stage, schema, nulls, columns)

"""Check Arrow tables against the `meds` package's schemas, with messages that count what is wrong.

The `meds` schemas (flexible_schema) say *that* a column is mistyped or holds nulls; a data engineer
also needs how many rows, in which file. So each problem is listed per column (missing, not allowed,
wrong type, nulls where the schema forbids them, with the row count), every column at once, and only
then is the table aligned by the schema itself (safe casts such as timestamp[ns] -> timestamp[us]).
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from flexible_schema import SchemaValidationError, TableValidationError
from flexible_schema.base import Nullability

from mtl_core.errors import DataError


def _rows(n: int) -> str:
    return f"{n} row{'s' * (n != 1)}"


def schema_problems(schema_cls, schema: pa.Schema) -> list[str]:
    """Column-level problems of an Arrow schema (no data read): missing, not allowed, uncastable type."""
    name = schema_cls.__name__
    problems = [f"column '{c}' is missing (meds {name}: required)"
                for c in schema_cls.required_columns() if c not in schema.names]
    if not schema_cls.allow_extra_columns:
        problems += [f"column '{c}' is not allowed (meds {name}: no extra columns)"
                     for c in schema.names if c not in schema_cls.columns()]
    for col in schema_cls._columns():
        if col.name in schema.names:
            found = schema.field(col.name).type
            if found != col.dtype and not _castable(found, col.dtype):
                problems.append(f"column '{col.name}': wrong dtype, expected {col.dtype}, found {found} "
                                f"(meds {name})")
    return problems


def _castable(found: pa.DataType, want: pa.DataType) -> bool:
    """Whether the schema's align() can cast: same kind of value, e.g. timestamp[ns] -> [us], int32 ->
    int64, double -> float (a float column of any width is a value, MEDS stores float32)."""
    kinds = (pa.types.is_timestamp, pa.types.is_integer, pa.types.is_floating, pa.types.is_string,
             pa.types.is_large_string, pa.types.is_boolean, pa.types.is_list)
    if pa.types.is_floating(want) and pa.types.is_integer(found):
        return True
    text = (pa.types.is_string, pa.types.is_large_string)
    if any(k(want) for k in text) and any(k(found) for k in text):
        return True
    return any(k(found) and k(want) for k in kinds)


def check_table(schema_cls, table: pa.Table, where: str) -> pa.Table:
    """The table aligned to the meds schema; DataError listing every problem (with row counts)."""
    problems = schema_problems(schema_cls, table.schema)
    for col in schema_cls._columns():
        if col.name not in table.column_names or col.nullable != Nullability.NONE:
            continue
        nulls = table.column(col.name).null_count
        if nulls:
            problems.append(f"column '{col.name}': check not_nullable (meds {schema_cls.__name__}) failed "
                            f"in {_rows(nulls)}")
    if problems:
        raise DataError(f"{where} breaks the MEDS schema:\n  - " + "\n  - ".join(problems))
    try:
        return schema_cls.align(table)
    except (SchemaValidationError, TableValidationError, pa.ArrowInvalid) as exc:
        raise DataError(f"{where} breaks the MEDS schema (meds {schema_cls.__name__}): "
                        f"{' '.join(str(exc).split())}") from None


def non_finite(table: pa.Table, column: str) -> int:
    """Rows whose float value is NaN or infinite (nulls are fine: a code without a value)."""
    if column not in table.column_names:
        return 0
    values = table.column(column)
    return int(pc.sum(pc.invert(pc.fill_null(pc.is_finite(values), True))).as_py() or 0)

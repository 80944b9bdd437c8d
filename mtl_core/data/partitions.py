"""Data in partitions of whole patients: what a source hands over, and the checks that span partitions.

A partition holds every row of its patients (their admissions, events, diagnoses), so each partition
is validated, featurised and labelled on its own, in any process; what is left to check across
partitions is that no key of a contract's unique column (a patient, an admission) turns up in two of
them, done on the key columns alone.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from mtl_core.data import contracts
from mtl_core.errors import DataError


@runtime_checkable
class Partitions(Protocol):
    """A source as numbered partitions of whole patients. read(i) returns partition i's tables (any i,
    in any process that sees the same files), so partitions can be read and validated in parallel."""

    def __len__(self) -> int: ...

    def read(self, i: int) -> dict[str, pd.DataFrame]: ...


class InMemory:
    """Tables already in memory, as one partition."""

    def __init__(self, tables: dict[str, pd.DataFrame]):
        self.tables = tables

    def __len__(self) -> int:
        return 1

    def read(self, i: int) -> dict[str, pd.DataFrame]:
        return self.tables


class Sequential:
    """An iterator of partitions (a loader that yields them): read once, in order, in the process that
    holds it; the partitions themselves can still be validated and featurised elsewhere."""

    def __init__(self, parts: Iterator[dict[str, pd.DataFrame]]):
        self.iterator = iter(parts)


def as_partitions(loaded) -> Partitions | Sequential:
    """What a source loader returned (Partitions, one dict of tables, or an iterator of them)."""
    if isinstance(loaded, dict):
        return InMemory(loaded)
    if isinstance(loaded, Partitions):
        return loaded
    return Sequential(loaded)


def unique_columns(table: str) -> list[str]:
    """Columns the table's contract declares unique (none for a table without a contract)."""
    try:
        schema = contracts.schema(table)
    except DataError:
        return []
    return [name for name, col in schema.columns.items() if col.unique and not col.regex]


class KeyCheck:
    """Collects the unique-key columns of each partition; check() fails on a key in two partitions."""

    def __init__(self) -> None:
        self.keys: dict[tuple[str, str], list[np.ndarray]] = {}

    def add(self, tables: dict[str, pd.DataFrame]) -> None:
        self.merge(keys_of(tables))

    def merge(self, keys: dict[tuple[str, str], np.ndarray]) -> None:
        """Add the keys of one partition, as keys_of gave them (e.g. computed on a worker)."""
        for key, values in keys.items():
            self.keys.setdefault(key, []).append(values)

    def check(self) -> None:
        problems = []
        for (name, column), parts in self.keys.items():
            if len(parts) < 2:
                continue  # within one partition its contract has checked uniqueness already
            _, counts = np.unique(np.concatenate(parts), return_counts=True)
            n = int(counts[counts > 1].sum())
            if n:
                problems.append(f"table '{name}' breaks its contract (data_contracts/{name}.yaml):\n"
                                f"  - column '{column}': check field_uniqueness failed in {n} "
                                f"row{'s' * (n != 1)} (the same key in two partitions)")
        if problems:
            raise DataError("\n".join(problems))


def keys_of(tables: dict[str, pd.DataFrame], extra: dict[str, list[str]] | None = None
            ) -> dict[tuple[str, str], np.ndarray]:
    """The unique-key columns of one partition's tables (and `extra` table -> columns), for KeyCheck."""
    out = {}
    for name, df in tables.items():
        for column in [*unique_columns(name), *(extra or {}).get(name, [])]:
            if column in df:
                out[(name, column)] = df[column].to_numpy()
    return out


def concat(parts: Iterable[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """All partitions as one dict of whole tables (for data that fits in memory)."""
    parts = list(parts)
    if len(parts) == 1:
        return parts[0]
    return {name: pd.concat([p[name] for p in parts], ignore_index=True) for name in parts[0]}


def in_partition(exc: DataError, index: int, total: int | None) -> DataError:
    """The error of one partition, saying which (a source read whole is one partition: said nothing)."""
    if total == 1:
        return exc
    of = f" of {total}" if total else ""
    return DataError(f"{exc}\n(in partition {index + 1}{of} of whole patients; rows counted there)")

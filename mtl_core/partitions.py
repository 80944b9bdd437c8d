"""Data in partitions of whole patients: the checks that span partitions, done on key columns alone.

A partition holds every row of its patients (their admissions, events, diagnoses), so each partition
is validated, featurised and labelled on its own; what is left to check across partitions is that no
key of a contract's unique column (a patient, an admission) turns up in two of them.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from mtl_core import contracts
from mtl_core.errors import DataError


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
        for name, df in tables.items():
            for column in unique_columns(name):
                if column in df:
                    self.keys.setdefault((name, column), []).append(df[column].to_numpy())

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


def concat(parts: Iterable[dict[str, pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """All partitions as one dict of whole tables (for data that fits in memory)."""
    parts = list(parts)
    if len(parts) == 1:
        return parts[0]
    return {name: pd.concat([p[name] for p in parts], ignore_index=True) for name in parts[0]}

"""The canonical layout's table rules (patients, admissions, events, diagnoses; MIMIC-IV, OMOP and the
synthetic source all arrive in it): contracts per table, references between them, and the rules that
need every partition."""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from mtl_core.config import Config
from mtl_core.data import contracts, quarantine
from mtl_core.errors import DataError, all_of


def validate_canonical(tables: dict[str, pd.DataFrame], cfg: Config,
                       progress: Callable[[int, str], None] | None = None) -> None:
    """Every canonical table against its contract in data_contracts/, then cross-table references.
    A table may be empty in one partition; summary/check_summary see that some partition has rows."""
    def one(i: int, name: str, df: pd.DataFrame) -> None:
        contracts.validate(df, name, allow_empty=True)
        if progress:
            progress(i, f"{name}: {len(df):,} rows")

    # every table's violations in one message; references only between tables that met their contracts
    all_of([lambda i=i, n=n, df=df: one(i, n, df) for i, (n, df) in enumerate(tables.items(), 1)])
    contracts.check_references(tables)


def canonical_summary(tables: dict[str, pd.DataFrame], cfg: Config) -> dict:
    return {"rows": {name: len(df) for name, df in tables.items()}}


def check_not_empty(rows: dict[str, int], cfg: Config) -> None:
    """A table with no rows in any partition (as read, before quarantine) is a table-wide defect."""
    for name, n in rows.items():
        if n == 0:
            raise DataError(f"table '{name}' is empty" + (" (a header but no rows)" if cfg.source.layout == "flat"
                                                          else ""))


def check_canonical_summary(total: dict, cfg: Config) -> None:
    check_not_empty(total["rows"], cfg)


def row_rejects(tables: dict[str, pd.DataFrame], cfg: Config) -> dict[str, pd.DataFrame]:
    return quarantine.canonical_reasons(tables)

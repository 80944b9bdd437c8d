"""Source adapters: each turns some raw input into the tables ingest validates, chosen by `source.kind`."""
from __future__ import annotations

from typing import Callable, Iterator

import pandas as pd

from mtl_core import contracts, partitions, quarantine
from mtl_core.config import Config
from mtl_core.sources import meds, mimic_iv, omop, synthetic, tabular

RAW_TABLES = ("patients", "admissions", "events", "diagnoses")

# kind -> loader(config, progress) -> {table name: frame}, or an iterator of such partitions, each
# holding every row of its patients (mtl_core/partitions.py); may add "truth" (never a feature) and
# other tables with a contract of their own
SOURCES: dict[str, Callable[..., dict[str, pd.DataFrame] | Iterator[dict[str, pd.DataFrame]]]] = {
    "synthetic": lambda cfg, progress=None: synthetic.partitions(
        cfg.source, cfg.cohort.observation_hours, progress),
    "mimic_iv": mimic_iv.load,
    "tabular": tabular.load,
    "omop": omop.load,   # also adds "conditions" and "observation_periods" (outcomes after discharge)
    "meds": meds.load,   # one partition per MEDS data shard: meds_events and meds_predictions
}


def iter_source(cfg: Config, progress=None) -> Iterator[dict[str, pd.DataFrame]]:
    """The source one partition at a time (a source without partitions is one)."""
    loaded = SOURCES[cfg.source.kind](cfg, progress)
    if isinstance(loaded, dict):
        yield loaded
    else:
        yield from loaded


def load_source(cfg: Config, progress=None) -> dict[str, pd.DataFrame]:
    """The whole source in memory (every partition concatenated)."""
    return partitions.concat(iter_source(cfg, progress))


def validate_canonical(tables: dict[str, pd.DataFrame], cfg: Config,
                       progress: Callable[[int, str], None] | None = None) -> None:
    """Every canonical table against its contract in data_contracts/, then cross-table references."""
    for i, (name, df) in enumerate(tables.items(), 1):
        contracts.validate(df, name)
        if progress:
            progress(i, f"{name}: {len(df):,} rows")
    contracts.check_references(tables)


# source layout (the config class's `layout`) -> validator(tables, config, progress); raises DataError
VALIDATORS: dict[str, Callable[..., None]] = {
    "canonical": validate_canonical,
    "flat": tabular.validate,
    "meds": meds.validate,
}


def validate_source(tables: dict[str, pd.DataFrame], cfg: Config, progress=None) -> None:
    VALIDATORS[cfg.source.layout](tables, cfg, progress)


# source layout -> row_rejects(tables, config) -> {table: (index: row position, reason)}, quarantine mode
ROW_REJECTS: dict[str, Callable[..., dict[str, pd.DataFrame]]] = {
    "canonical": lambda tables, cfg: quarantine.canonical_reasons(tables),
    "flat": tabular.row_rejects,
}


def ingest_tables(tables: dict[str, pd.DataFrame], cfg: Config, progress=None, check_share: bool = True
                  ) -> tuple[dict[str, pd.DataFrame], quarantine.Rejects | None]:
    """The tables to store and what was set aside (None in strict mode, where any violation is fatal).

    Quarantine: rejected rows come out first; the rest must then pass the full validation, so what is
    stored meets every contract exactly as in strict mode. With check_share=False the caller checks the
    rejected share itself (a source in partitions: over all of them, quarantine.combine)."""
    if cfg.ingest.mode == "strict":
        validate_source(tables, cfg, progress)
        return tables, None
    clean, rejects = quarantine.split_off(tables, ROW_REJECTS[cfg.source.layout](tables, cfg))
    if check_share:
        rejects.check(cfg.ingest.max_rejected_share)
    validate_source(clean, cfg, progress)
    return clean, rejects

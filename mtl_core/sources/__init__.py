"""Source adapters: each turns some raw input into the tables ingest validates, chosen by `source.kind`."""
from __future__ import annotations

import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd

from mtl_core.data import contracts, owner, partitions, quarantine
from mtl_core.config import Config
from mtl_core.errors import DataError, all_of
from mtl_core.data.partitions import Partitions, Sequential
from mtl_core.sources import meds, mimic_iv, omop, synthetic, tabular

RAW_TABLES = ("patients", "admissions", "events", "diagnoses")

# kind -> opener(config, staging folder, progress) -> partitions of whole patients (mtl_core/data/partitions.py:
# Partitions, readable by index in any process; or, from a simpler loader, one dict of tables or an
# iterator of them). A partition holds every row of its patients; it may add "truth" (never a feature)
# and other tables with a contract of their own. The staging folder is the opener's to fill (a file
# source streams its inputs there once) and is removed when the source is closed.
SOURCES: dict[str, Callable[..., Partitions | dict | Iterator[dict]]] = {
    "synthetic": lambda cfg, staging, progress=None: synthetic.SyntheticPartitions(
        cfg.source, cfg.cohort.observation_hours),
    "mimic_iv": mimic_iv.open_partitions,
    "tabular": tabular.open_partitions,
    "omop": omop.open_partitions,  # also adds "conditions" and "observation_periods" (outcomes after discharge)
    # one partition per MEDS data shard (a shard holds whole subjects): meds_events and meds_predictions
    "meds": lambda cfg, staging, progress=None: meds.load(cfg, progress),
}


def open_partitions(cfg: Config, folder: Path, progress=None) -> Partitions | Sequential:
    """The configured source as partitions, staged (if it needs to be) into `folder`, which the caller
    removes once every partition has been read."""
    return partitions.as_partitions(SOURCES[cfg.source.kind](cfg, Path(folder), progress))


@contextmanager
def open_source(cfg: Config, staging_root: Path | None = None, progress=None
                ) -> Iterator[Partitions | Sequential]:
    """open_partitions with a fresh staging folder (under staging_root, or the system's temporary
    folder) that is removed when the block ends, whatever happens."""
    if staging_root is not None:
        Path(staging_root).mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=owner.prefix(cfg.source.kind), dir=staging_root))
    try:
        yield open_partitions(cfg, folder, progress)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def unique_keys(cfg: Config) -> dict[str, list[str]]:
    """Columns unique across partitions besides those the contracts declare (tabular: the id column)."""
    return {tabular.TABLE: [cfg.source.id_column]} if cfg.source.layout == "flat" else {}


def each_partition(parts: Partitions | Sequential) -> Iterator[dict[str, pd.DataFrame]]:
    if isinstance(parts, Sequential):
        yield from parts.iterator
    else:
        for i in range(len(parts)):
            yield parts.read(i)


def iter_source(cfg: Config, progress=None, staging_root: Path | None = None
                ) -> Iterator[dict[str, pd.DataFrame]]:
    """The source one partition at a time (a source without partitions is one)."""
    with open_source(cfg, staging_root, progress) as parts:
        yield from each_partition(parts)


def load_source(cfg: Config, progress=None) -> dict[str, pd.DataFrame]:
    """The whole source in memory (every partition concatenated)."""
    return partitions.concat(iter_source(cfg, progress))


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


# source layout (the config class's `layout`) -> validator(tables, config, progress); raises DataError
VALIDATORS: dict[str, Callable[..., None]] = {
    "canonical": validate_canonical,
    "flat": tabular.validate,
    "meds": meds.validate,
}


def validate_source(tables: dict[str, pd.DataFrame], cfg: Config, progress=None, whole: bool = True) -> None:
    """Every rule, for tables that are the whole source; whole=False: one partition's rules only (the
    caller runs check_summary over every partition's summary())."""
    VALIDATORS[cfg.source.layout](tables, cfg, progress)
    if whole:
        check_summary([summary(tables, cfg)], cfg)


# source layout -> (summary(tables, config) -> counts of one partition, check(summed counts, config)):
# the rules that need every partition (a table with no rows at all, an outcome with one class)
SUMMARIES: dict[str, tuple[Callable[..., dict], Callable[..., None]]] = {
    "canonical": (canonical_summary, check_canonical_summary),
    "flat": (tabular.summary, tabular.check_summary),
    "meds": (canonical_summary, check_canonical_summary),  # every shard's own checks ran while reading
}


def summary(tables: dict[str, pd.DataFrame], cfg: Config) -> dict:
    return SUMMARIES[cfg.source.layout][0](tables, cfg)


def add_summaries(a: dict, b: dict) -> dict:
    """Counts of two partitions added up, key by key (nested dicts of numbers)."""
    out = dict(a)
    for k, v in b.items():
        out[k] = add_summaries(a.get(k, {}), v) if isinstance(v, dict) else a.get(k, 0) + v
    return out


def check_summary(summaries: list[dict], cfg: Config) -> None:
    total: dict = {}
    for s in summaries:
        total = add_summaries(total, s)
    SUMMARIES[cfg.source.layout][1](total, cfg)


# source layout -> row_rejects(tables, config) -> {table: (index: row position, reason)}, quarantine mode
ROW_REJECTS: dict[str, Callable[..., dict[str, pd.DataFrame]]] = {
    "canonical": lambda tables, cfg: quarantine.canonical_reasons(tables),
    "flat": tabular.row_rejects,
}


def ingest_tables(tables: dict[str, pd.DataFrame], cfg: Config, progress=None, check_share: bool = True
                  ) -> tuple[dict[str, pd.DataFrame], quarantine.Rejects | None]:
    """The tables to store and what was set aside (None in strict mode, where any violation is fatal).

    Quarantine: rejected rows come out first; the rest must then pass the full validation, so what is
    stored meets every contract exactly as in strict mode. With check_share=False the tables are one
    partition of several: the caller checks the rejected share (quarantine.combine) and the rules that
    need every partition (check_summary) over all of them."""
    if check_share:
        check_not_empty({name: len(df) for name, df in tables.items()}, cfg)
    if cfg.ingest.mode == "strict":
        validate_source(tables, cfg, progress, whole=check_share)
        return tables, None
    clean, rejects = quarantine.split_off(tables, ROW_REJECTS[cfg.source.layout](tables, cfg))
    if check_share:
        rejects.check(cfg.ingest.max_rejected_share)
    validate_source(clean, cfg, progress, whole=check_share)
    return clean, rejects

"""Source adapters: each turns some raw input into the tables ingest validates, chosen by `source.kind`."""
from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from mtl_core.config import Config
from mtl_core.config.urls import is_database
from mtl_core.data import owner, partitions, quarantine
from mtl_core.data.partitions import Partitions, Sequential
from mtl_core.sources import meds, mimic_db, mimic_iv, omop, synthetic, tabular, tabular_db
from mtl_core.sources.canonical import check_not_empty, validate_canonical  # noqa: F401 (public names)
from mtl_core.sources.layouts import LAYOUTS, ROW_REJECTS, SUMMARIES, VALIDATORS  # noqa: F401

RAW_TABLES = ("patients", "admissions", "events", "diagnoses")

# kind -> opener(config, staging folder, progress, pool) -> partitions of whole patients (mtl_core/data/partitions.py:
# Partitions, readable by index in any process; or, from a simpler loader, one dict of tables or an
# iterator of them). A partition holds every row of its patients; it may add "truth" (never a feature)
# and other tables with a contract of their own. The staging folder is the opener's to fill (a file
# source streams its inputs there once) and is removed when the source is closed. `pool` (None: in
# this process, in turn) is where a database source's table slices are read (db_read.InTurn's members).
SOURCES: dict[str, Callable[..., Partitions | dict | Iterator[dict]]] = {
    "synthetic": lambda cfg, staging, progress=None, pool=None: synthetic.SyntheticPartitions(
        cfg.source, cfg.cohort.observation_hours),
    "mimic_iv": lambda cfg, staging, progress=None, pool=None: (
        mimic_db.open_partitions(cfg, staging, progress, pool) if is_database(cfg.source.path)
        else mimic_iv.open_partitions(cfg, staging, progress)),
    "tabular": lambda cfg, staging, progress=None, pool=None: (tabular_db if is_database(cfg.source.path) else tabular
                                                               ).open_partitions(cfg, staging, progress),
    "omop": omop.open_partitions,  # also adds "conditions" and "observation_periods" (outcomes after discharge)
    # one partition per MEDS data shard (a shard holds whole subjects): meds_events and meds_predictions
    "meds": lambda cfg, staging, progress=None, pool=None: meds.load(cfg, progress),
}


def open_partitions(cfg: Config, folder: Path, progress=None, pool=None) -> Partitions | Sequential:
    """The configured source as partitions, staged (if it needs to be) into `folder`, which the caller
    removes once every partition has been read."""
    return partitions.as_partitions(SOURCES[cfg.source.kind](cfg, Path(folder), progress, pool))


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


def validate_source(tables: dict[str, pd.DataFrame], cfg: Config, progress=None, whole: bool = True) -> None:
    """Every rule, for tables that are the whole source; whole=False: one partition's rules only (the
    caller runs check_summary over every partition's summary())."""
    LAYOUTS[cfg.source.layout].validate(tables, cfg, progress)
    if whole:
        check_summary([summary(tables, cfg)], cfg)


def summary(tables: dict[str, pd.DataFrame], cfg: Config) -> dict:
    return LAYOUTS[cfg.source.layout].summary(tables, cfg)


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
    LAYOUTS[cfg.source.layout].check_summary(total, cfg)


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

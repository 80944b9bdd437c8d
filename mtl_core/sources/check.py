"""Every data rule of ingest on the configured source, without writing anything (`cmtl validate`)."""
from __future__ import annotations

from pathlib import Path

from mtl_core.config import Config
from mtl_core.data.partitions import KeyCheck, in_partition, keys_of
from mtl_core.data.quarantine import combine
from mtl_core.errors import DataError
from mtl_core.sources import (
    add_summaries,
    check_not_empty,
    check_summary,
    each_partition,
    ingest_tables,
    open_source,
    summary,
    unique_keys,
)


def check_source(cfg: Config, staging_root: Path | None = None) -> dict:
    """Read the source partition by partition and apply the rules ingest applies (contracts, keys across
    partitions, the whole-table rules, the quarantine share); DataError/ConfigError on the first
    partition that breaks them. Returns counts only: partitions, rows per table, rejected rows."""
    keys, summaries, rows_in, rejects = KeyCheck(), [], {}, []
    with open_source(cfg, staging_root) as parts:
        if hasattr(parts, "prepare"):
            parts.prepare()
        total = None if not hasattr(parts, "read") else len(parts)
        n = 0
        for n, tables in enumerate(each_partition(parts), 1):
            rows_in = add_summaries(rows_in, {name: len(df) for name, df in tables.items()})
            try:
                clean, rejected = ingest_tables(tables, cfg, check_share=False)
            except DataError as exc:
                raise in_partition(exc, n - 1, total) from None
            keys.merge(keys_of(clean, unique_keys(cfg)))
            summaries.append(summary(clean, cfg))
            if rejected is not None:
                rejects.append(rejected)
    check_not_empty(rows_in, cfg)
    rejected_rows = {}
    if rejects:
        both = combine(rejects)
        both.check(cfg.ingest.max_rejected_share)
        rejected_rows = {name: len(df) for name, df in both.rejected.items()}
    keys.check()
    check_summary(summaries, cfg)
    return {"partitions": n, "rows": rows_in, "rejected": rejected_rows}

"""A database source's fingerprint: an unchanged database is told from a changed one without reading it.

The lake stays content-addressed (a snapshot's id is the hash of what was read); the fingerprint only
lets a rerun on an unchanged database skip the read and reuse the snapshot it gave last time. Per table
read: the row count, the largest value of every id and time column read, and the server's cumulative
insert/update/delete counters (pg_stat_all_tables), which an in-place UPDATE moves too; a flat table
from a query: the row count and the sum of a 64-bit hash of every row (an exact checksum, affordable for
one row per prediction). With it go the source and ingest config, the code's source digest and the
server's address, so a new code version, config or server reads again. Whatever is not known to be the
same is read again, never the reverse: the fingerprint is taken before the read, and a change between
the two makes the next run's fingerprint differ.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from mtl_core.config import Config
from mtl_core.sources import database
from mtl_core.sources.db_read import Tables

FOLDER = "fingerprints"


def _omop(con, src) -> dict:
    from mtl_core.sources.omop import OPTIONAL_TABLES, TABLES, _kind

    tables = Tables(con, src.cdm_schema, "omop")
    out = {}
    for table, columns, optional in TABLES:
        if table in OPTIONAL_TABLES and (table in src.skip_tables or not tables.has(table)):
            continue
        if not tables.has(table):
            raise tables.missing(table)
        header = tables.header(table)
        spec = {c: _kind(c) for c in [*columns, *optional] if c in header}
        out[table] = tables.fingerprint(table, spec)
    return out


def _mimic(con, src) -> dict:
    from mtl_core.sources.mimic_db import _found
    from mtl_core.sources.mimic_iv import FILES

    return {name: tables.fingerprint(name, spec) for _, name, tables, spec in _found(con, src, FILES)}


def _tabular(con, src) -> dict:
    from mtl_core.sources.tabular_db import base_query

    return {"rows": con.checksum(base_query(src))}


KINDS = {"omop": _omop, "mimic_iv": _mimic, "tabular": _tabular}


def fingerprint(cfg: Config) -> dict | None:
    """The fingerprint of a database source (None for a file or generated source)."""
    from mtl_core.provenance import source_digest

    src = cfg.source
    if src.kind not in KINDS or not database.is_database(src.path):
        return None
    con = database.connect(src.path, "fingerprint")
    try:
        tables = KINDS[src.kind](con, src)
    finally:
        con.close()
    return {"server": con.shown, "source": src.model_dump(mode="json"), "ingest": cfg.ingest.model_dump(mode="json"),
            "code": source_digest(), "tables": tables}


def _file(lake_root: Path, fp: dict) -> Path:
    key = hashlib.sha256(json.dumps(fp, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return Path(lake_root) / FOLDER / f"{key}.json"


def key(fp: dict) -> str:
    return _file(Path("."), fp).stem


def reuse(lake_root: Path, fp: dict | None) -> Path | None:
    """The snapshot an identical fingerprint gave, if it is still in the lake (marked as the latest)."""
    if fp is None or not _file(lake_root, fp).is_file():
        return None
    snapshot = Path(lake_root) / json.loads(_file(lake_root, fp).read_text())["snapshot"]
    if not (snapshot / "manifest.json").is_file():
        return None
    os.utime(snapshot / "manifest.json")  # the latest snapshot in use, as a reused commit marks it
    return snapshot


def remember(lake_root: Path, fp: dict | None, snapshot: Path) -> None:
    """Record which snapshot this fingerprint gave (written whole or not at all)."""
    if fp is None:
        return
    target = _file(lake_root, fp)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as fh:
        json.dump({"snapshot": Path(snapshot).name}, fh)  # the key is the fingerprint's hash: no values here
    os.replace(tmp, target)

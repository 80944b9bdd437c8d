"""Quarantine mode of ingest: rows that break a row-level rule leave their table, each with its reason.

A row is rejected when it fails a row-level check of its contract, shares a key with another row (all
rows of a duplicated key go: which one is right cannot be told), or references a patient or admission
that is unknown or itself rejected, so removing an admission takes its events and diagnoses with it.
Table-wide defects (a missing column, a wrong dtype, an empty table) stay fatal. The run goes on only
if no table loses more than `ingest.max_rejected_share` of its rows.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mtl_core.data import contracts
from mtl_core.errors import DataError

# (child table, key column, parent table, what the key names), parents before their children
REFERENCES = (("admissions", "subject_id", "patients", "patient"),
              ("events", "hadm_id", "admissions", "admission"),
              ("diagnoses", "hadm_id", "admissions", "admission"))
FOLDER = "quarantine"


def canonical_reasons(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Per table, its rejected rows as (index: row position, reason); DataError on table-wide defects."""
    reasons = {name: contracts.row_failures(df, name) for name, df in tables.items()}
    for child, column, parent, what in REFERENCES:
        if child not in tables or parent not in tables:
            continue
        keys = tables[parent][column].reset_index(drop=True)
        kept = keys.drop(reasons[parent]["index"])
        refs = tables[child][column].reset_index(drop=True)
        bad = ~refs.isin(kept)
        label = np.where(refs[bad].isin(keys), f"{column}: references a rejected {what}",
                         f"{column}: references an unknown {what}")
        found = pd.DataFrame({"index": np.flatnonzero(bad.to_numpy()), "reason": label})
        reasons[child] = pd.concat([reasons[child], found], ignore_index=True)
    return reasons


@dataclass
class Rejects:
    """What quarantine took out: per table, input rows, rejected rows (original columns) and their reasons."""
    rows: dict[str, int]
    rejected: dict[str, pd.DataFrame]
    reasons: dict[str, pd.Series]  # aligned with rejected; several reasons of one row joined by "; "

    def frame(self, table: str) -> pd.DataFrame:
        """The rejected rows plus a `reason` column (`quarantine_reason` if the table has a `reason`)."""
        q = self.rejected[table]
        column = "reason" if "reason" not in q.columns else "quarantine_reason"
        return q.assign(**{column: self.reasons[table].to_numpy()})

    def share(self, table: str) -> float:
        return len(self.rejected[table]) / self.rows[table] if self.rows[table] else 0.0

    def report(self, limit: float) -> dict:
        """Counts only (no row values): per table, rows in, rejected, share, and rows per column/check."""
        tables = {}
        for name, n in self.rows.items():
            why = self.reasons[name]
            checks = why.str.split("; ").explode().value_counts() if len(why) else pd.Series(dtype=int)
            tables[name] = {"rows": n, "rejected": len(why), "share": round(self.share(name), 6),
                            "checks": [{"column": str(r).split(": ", 1)[0], "check": str(r).split(": ", 1)[1],
                                        "rows": int(c), "share": round(c / n, 6)} for r, c in checks.items()]}
        return {"mode": "quarantine", "max_rejected_share": limit, "tables": tables}

    def markdown(self, limit: float) -> str:
        rep = self.report(limit)
        lines = ["# Ingest rejects (quarantine mode)", "",
                 f"Limit: at most {limit:.2%} of any table's rows. Rejected rows, with a `reason` column, "
                 f"are in `{FOLDER}/<table>.parquet`.", "",
                 "| table | column | check | rows | share |", "|---|---|---|---:|---:|"]
        for name, t in rep["tables"].items():
            lines.append(f"| {name} | (all) | (any) | {t['rejected']:,} of {t['rows']:,} | {t['share']:.2%} |")
            lines += [f"| {name} | {c['column']} | {c['check']} | {c['rows']:,} | {c['share']:.2%} |"
                      for c in t["checks"]]
        return "\n".join(lines) + "\n"

    def files(self, limit: float) -> dict[str, pd.DataFrame | str]:
        """Snapshot-relative path -> content: a Parquet per table with rejects, rejects.json, rejects.md."""
        out: dict[str, pd.DataFrame | str] = {f"{FOLDER}/{name}.parquet": self.frame(name)
                                              for name, q in self.rejected.items() if len(q)}
        out["rejects.json"] = json.dumps(self.report(limit), indent=2) + "\n"
        out["rejects.md"] = self.markdown(limit)
        return out

    def check(self, limit: float) -> None:
        """DataError naming every table that loses more than `limit` of its rows, or all of them."""
        over = [n for n in self.rows if self.share(n) > limit or (self.rows[n] and
                                                                  len(self.rejected[n]) == self.rows[n])]
        if not over:
            return
        lines, report = [], self.report(limit)["tables"]
        for name in over:
            n, k = self.rows[name], len(self.rejected[name])
            why = "; ".join(f"{c['column']}: {c['check']} ({c['rows']:,} rows)" for c in report[name]["checks"][:3])
            what = "nothing left to ingest" if k == n else f"above ingest.max_rejected_share {limit:.2%}"
            lines.append(f"  - table '{name}': {k:,} of {n:,} rows rejected ({self.share(name):.2%}), {what}: {why}")
        raise DataError("quarantine: too many rejected rows, nothing written to the lake:\n"
                        + "\n".join(lines))


def split_off(tables: dict[str, pd.DataFrame], reasons: dict[str, pd.DataFrame]
              ) -> tuple[dict[str, pd.DataFrame], Rejects]:
    """(kept rows per table, Rejects); a row with several reasons is rejected once, reasons joined."""
    clean, rejected, why, rows = {}, {}, {}, {}
    for name, df in tables.items():
        df = df.reset_index(drop=True)
        r = reasons.get(name)
        joined = (r.groupby("index")["reason"].agg(lambda x: "; ".join(sorted(set(x))))
                  if r is not None and len(r) else pd.Series(dtype=str))
        rejected[name] = df.loc[joined.index].reset_index(drop=True)
        why[name] = joined.reset_index(drop=True)
        clean[name] = df.drop(index=joined.index).reset_index(drop=True)
        rows[name] = len(df)
    return clean, Rejects(rows, rejected, why)


def report_metrics(report: dict) -> dict[str, float]:
    """Counts for tracking from a rejects.json report (never row values): rejected rows and share per table."""
    out = {}
    for name, t in report["tables"].items():
        out[f"ingest/rejected/{name}"] = float(t["rejected"])
        out[f"ingest/rejected_share/{name}"] = float(t["share"])
    return out


def combine(parts: list[Rejects]) -> Rejects:
    """The rejects of a source read in partitions (whole patients each), as one, table by table."""
    names = list(dict.fromkeys(n for p in parts for n in p.rows))
    rows = {n: sum(p.rows.get(n, 0) for p in parts) for n in names}
    rejected = {n: pd.concat([p.rejected[n] for p in parts if n in p.rejected], ignore_index=True)
                for n in names}
    reasons = {n: pd.concat([p.reasons[n] for p in parts if n in p.reasons], ignore_index=True)
               for n in names}
    return Rejects(rows, rejected, reasons)

"""README benchmark rows on scale and sources: synthetic cohorts, MIMIC-IV exports, PostgreSQL, Dask, DuckDB."""
from __future__ import annotations

import re
import statistics

import numpy as np

from bench.readme_text import size, verdict, where
from bench.targets import EXPONENT_TARGET, MINUTES_TARGET, RSS_LIMIT_GIB, stage_exponents


def scale(res) -> list[str]:
    data = res("scale")
    big = data["rows"][-1]
    return [f"scale: `cmtl ingest` + `cmtl features`, synthetic, {size(big['target_admissions'])} admissions "
            f"({big['events'] / 1e6:.1f}M events)",
            f"{big['peak_rss_gib']:.1f} GiB peak RSS, {big['seconds'] / 60:.1f} min "
            f"({big['flow_seconds'] / 60:.1f} min in the flows) {where(data['machine'])}; time exponent "
            f"{data['exponent']['flow']:.2f} over "
            f"{'/'.join(size(r['target_admissions']) for r in data['rows'])} (`bench/results/scale.md`)",
            f"< {RSS_LIMIT_GIB:g} GiB, < {EXPONENT_TARGET}"]


def scale_run(res) -> list[str]:
    rows = res("scale_run")["rows"]
    big, adm = rows[-1], [r["admissions"] for r in rows]
    st = big["stages"]
    exps = stage_exponents(rows)  # as bench.scale_run fits them
    flow = exps.pop("flow")
    exps = list(exps.values())
    fast, small = big["seconds"] / 60 < MINUTES_TARGET, big["peak_rss_gib"] < RSS_LIMIT_GIB
    limits = (f"< {MINUTES_TARGET} min, < {RSS_LIMIT_GIB:g} GiB: {verdict(fast)}" if fast == small else
              f"< {MINUTES_TARGET} min: {verdict(fast)}, < {RSS_LIMIT_GIB:g} GiB: {verdict(small)}")
    return [f"scale: the whole `cmtl run`, synthetic, {' / '.join(size(a) for a in adm)} admissions "
            f"(`bench/results/scale_run.md`; one run, {size(big['admissions'])} at load average "
            f"{max(big['load_before'][0], big['load_after'][0]):.1f} on 2 cores)",
            f"{size(big['admissions'])}: {big['seconds'] / 60:.1f} min, peak RSS {big['peak_rss_gib']:.2f} GiB "
            f"(evaluation {st['evaluate'] / 60:.1f} min, baselines on capped rows {st['baselines'] / 60:.1f} min, "
            f"network {st['network'] / 60:.1f} min, ingest + features {(st['ingest'] + st['features']) / 60:.1f} min); "
            f"growth exponents {min(exps):.2f} to {max(exps):.2f} per stage (flow {flow:.2f})",
            f"{limits}; exponents < {EXPONENT_TARGET}: {verdict(max(exps + [flow]) < EXPONENT_TARGET)}"]


def sources(res) -> list[str]:
    runs = res("scale_sources")["runs"]
    syn, csv, parquet = runs["synthetic"], runs["mimic_iv csv.gz"], runs["mimic_iv parquet"]
    loads = [ld[2] for r in (syn, csv, parquet) for step in ("ingest", "features")
             for ld in (r[step]["load_before"], r[step]["load_after"])]  # 15-min load averages
    keys = lambda r: (r["features_hash"], r["labels_hash"])  # noqa: E731
    same = all(keys(r) == keys(syn) for r in (csv, parquet))
    return [f"sources at scale: the {size(syn['admissions'])}-admission cohort ({syn['events'] / 1e6:.1f}M events) "
            "as a MIMIC-IV export, `cmtl ingest` + `cmtl features` (`bench/results/scale_sources.md`, one run at load "
            f"average {int(min(loads))}-{int(np.ceil(max(loads)))})",
            f"csv.gz {csv['seconds'] / syn['seconds']:.2f}x and Parquet {parquet['seconds'] / syn['seconds']:.2f}x the "
            f"synthetic path's wall time, {max(csv['peak_rss_gib'], parquet['peak_rss_gib']):.2f} GiB peak RSS, "
            f"{'the same' if same else 'NOT the same'} features and labels as the synthetic path",
            "<= 1.5x, < 4 GiB"]


def database(res) -> list[str]:
    data = res("scale_db")
    runs = data["runs"]
    files, db = runs["mimic_iv parquet"], runs["mimic_iv postgresql"]
    dask_run = next((r for n, r in runs.items() if "dask" in n), None)
    same = all(r["snapshot"] == files["snapshot"] and r["features_hash"] == files["features_hash"]
               and r["labels_hash"] == files["labels_hash"] for r in runs.values())
    rss = max(r["peak_rss_gib"] for r in runs.values())
    dask_text = f"; on Dask (2 workers) {dask_run['seconds'] / files['seconds']:.2f}x" if dask_run else ""
    return [f"database: the {size(db['admissions'])}-admission cohort ({db['events'] / 1e6:.1f}M events) read from "
            "PostgreSQL (mimic-code's schemas) vs its Parquet export, `cmtl ingest` + `cmtl features` "
            f"(`bench/results/scale_db.md`, one run {where(data['machine'])})",
            f"{db['seconds'] / files['seconds']:.2f}x the Parquet wall time{dask_text}, {rss:.2f} GiB peak RSS, "
            f"{'the same' if same else 'NOT the same'} snapshot id, features and labels; an unchanged rerun of "
            f"`cmtl ingest` {db['rerun_ingest']['seconds']:.0f} s "
            f"({'snapshot reused without a read' if db['rerun_reused'] else 'read again'})",
            "<= 1.5x, < 4 GiB"]


def dask(res) -> list[str]:
    data = res("scale_sources")
    name = next(n for n in data["runs"] if "dask" in n)
    syn, run = data["runs"]["synthetic"], data["runs"][name]
    same = (run["snapshot"], run["feature_set"]) == (syn["snapshot"], syn["feature_set"])
    workers = re.search(r"(\d+) workers", name)
    return [f"Dask, {workers.group(1) + ' ' if workers else ''}local workers vs the local engine, same cohort",
            f"{syn['seconds'] / run['seconds']:.2f}x faster ({data['machine']['cpus']} cores, both busy with other "
            f"work), {'identical' if same else 'DIFFERENT'} snapshot and feature set ids",
            "speed-up, identical outputs"]


def duckdb(res) -> list[str]:
    syn = res("scale_sources")["runs"]["synthetic"]
    feat, duck = syn["features"]["flow_seconds"], syn["duckdb"]["seconds"]
    return ["features vs one DuckDB windowed group-by over the same lake, same run",
            f"{feat:.0f} s vs {duck:.0f} s: {feat / duck:.1f}x (under that load; on a quiet machine the gap is wider)",
            "within 3x"]


def validation(res) -> list[str]:
    val = res("scale_sources")["runs"]["synthetic"]["validation"]
    return ["ingest validation (contracts as vectorised column expressions, pandera only to report a failure)",
            f"{val['rows_per_second'] / 1e6:.1f}M event rows/s",
            ">= 5M rows/s"]


def default_cohort(res) -> list[str]:
    runs = res("scale_sources")["default_cohort"]
    base = next(k for k in runs if k != "head")
    median = lambda k, key: statistics.median(r[key] for r in runs[k])  # noqa: E731
    return ["default cohort, `cmtl ingest` + `cmtl features`, vs the code before streaming",
            f"{median('head', 'seconds') / median(base, 'seconds'):.2f}x wall time (median of {len(runs['head'])}), "
            f"{median('head', 'flow_seconds') / median(base, 'flow_seconds'):.2f}x in the flows",
            "within 1.1x"]

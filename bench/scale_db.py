"""Scale from a database: `cmtl ingest` + `cmtl features` on a MIMIC-IV cohort read from PostgreSQL (mimic-code's
schemas, on this machine) against the Parquet export of the same data, on the local engine and on Dask.

The cohort is bench/scale_sources.py's (1M admissions, ~100M events by default): exported as Parquet
(without truth.parquet, which a database does not hold), loaded into a throwaway database by
bench/pg_load.py, dropped at the end. Each path runs in a fresh workspace with bench/scale.py's runner
(wall time, peak RSS of the command's process tree; the PostgreSQL backend is a process of the server,
not of the command, and shares the same 2 cores). A rerun on the unchanged database is timed too: its
fingerprint lets it reuse the snapshot without reading.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import uuid
from pathlib import Path

import yaml

from bench.common import ROOT, Timer, table, write
from bench.scale import ADMISSIONS_PER_PATIENT, CHART_DENSITY, run
from bench.scale_sources import _config, _outputs, _pair, prefect_server

RSS_LIMIT_GIB, TIME_RATIO = 4.0, 1.5
ADMIN = os.environ.get("CMTL_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def _admin(statement: str) -> None:
    import psycopg2

    con = psycopg2.connect(f"{ADMIN}/postgres", connect_timeout=5)
    con.autocommit = True
    with con.cursor() as cur:
        cur.execute(statement)
    con.close()


def measure(work: Path, env: dict, args, url: str) -> dict:
    from bench.pg_load import load_mimic
    from mtl_core.config import Config
    from mtl_core.sources.export_mimic import write_mimic

    base = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    synthetic = {**base["source"], "n_patients": round(args.admissions / ADMISSIONS_PER_PATIENT),
                 "chart_density": CHART_DENSITY}
    cfg = Config.model_validate({**base, "source": synthetic})
    with Timer() as t:
        folder = write_mimic(cfg.source, cfg.cohort.observation_hours, work / "mimic-parquet", "parquet")
    (folder / "truth.parquet").unlink()
    export = {"seconds": t.seconds, "gib": sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**30}
    print("export", export, flush=True)
    with Timer() as t:
        rows = load_mimic(url, folder)
    loaded = {"seconds": t.seconds, "rows": rows, "load": os.getloadavg()}
    print("loaded", loaded, flush=True)
    db = {"kind": "mimic_iv", "path": url}
    plan = {"mimic_iv parquet": ({"kind": "mimic_iv", "path": str(folder)}, None),
            "mimic_iv postgresql": (db, None),
            "mimic_iv postgresql, dask 2 workers": (db, {"kind": "dask", "n_workers": 2})}
    runs = {}
    for name, (source, engine) in plan.items():
        slug = name.replace(" ", "_").replace(",", "")
        config = _config(work, slug, base, source, engine)
        runs[name] = {**_pair(config, env), **_outputs(work / f"ws-{slug}")}
        for stage in ("ingest", "features"):
            runs[name][stage].pop("output", None)
        if name == "mimic_iv postgresql":  # unchanged database: the fingerprint, then the snapshot reused
            rerun = run([sys.executable, "-c", "from flows.cli import main; main()", "ingest", "--config",
                         str(config)], env)
            runs[name]["rerun_ingest"] = {k: v for k, v in rerun.items() if k != "output"}
            runs[name]["rerun_reused"] = "without reading it" in rerun["output"]
        shutil.rmtree(work / f"ws-{slug}", ignore_errors=True)
        print(name, {k: v for k, v in runs[name].items() if k not in ("ingest", "features")}, flush=True)
    return {"runs": runs, "export": export, "loaded": loaded}


def _load(r: dict) -> str:
    return "/".join(f"{v:.1f}" for v in r["load_before"])


def report(data: dict, args) -> None:
    runs, files = data["runs"], data["runs"]["mimic_iv parquet"]
    same = lambda r: r["features_hash"] == files["features_hash"] and r["labels_hash"] == files["labels_hash"]  # noqa: E731
    rows = [[name, f"{r['events']:,}", r["partitions"], f"{r['ingest']['seconds']:.1f} ({r['ingest']['flow_seconds']:.1f})",
             f"{r['features']['seconds']:.1f} ({r['features']['flow_seconds']:.1f})", f"{r['seconds']:.1f}",
             f"{r['seconds'] / files['seconds']:.2f}x", round(r["peak_rss_gib"], 2),
             "yes" if r["snapshot"] == files["snapshot"] else "NO", "yes" if same(r) else "NO",
             f"{_load(r['ingest'])} / {_load(r['features'])}"] for name, r in runs.items()]
    body = table(["path", "events", "partitions", "ingest s (flow)", "features s (flow)", "total s", "vs parquet",
                  "peak RSS GiB", "same snapshot id", "same features + labels", "load before ingest / features"], rows)
    ok = lambda good: "met" if good else "NOT met"  # noqa: E731
    db = runs["mimic_iv postgresql"]
    ratio = db["seconds"] / files["seconds"]
    rss = max(r["peak_rss_gib"] for r in runs.values())
    loaded = data["loaded"]
    notes = [
        f"Cohort: {db['admissions']:,} admissions, {db['events']:,} events. Parquet export "
        f"{data['export']['gib']:.2f} GiB written in {data['export']['seconds']:.0f} s; loaded into PostgreSQL "
        f"(mimic-code's mimiciv_hosp / mimiciv_icu, COPY BINARY through ADBC) in {loaded['seconds']:.0f} s.",
        f"PostgreSQL vs Parquet, ingest + features: {ratio:.2f}x the wall time (at most {TIME_RATIO}x: "
        f"{ok(ratio <= TIME_RATIO)}); peak RSS {rss:.2f} GiB (limit {RSS_LIMIT_GIB} GiB: {ok(rss < RSS_LIMIT_GIB)}).",
        f"Rerun of `cmtl ingest` on the unchanged database: {db['rerun_ingest']['seconds']:.1f} s "
        f"({db['rerun_ingest']['flow_seconds']:.1f} s in the flow), snapshot reused without a read: "
        f"{'yes' if db['rerun_reused'] else 'NO'}.",
    ]
    write("scale_db", "python -m bench.scale_db " + " ".join(sys.argv[1:]),
          body + "\n\n" + "  \n".join(notes) + "\n\nEach path: `cmtl ingest` then `cmtl features` in a fresh "
          "workspace on the same cohort (chart_density 2.9, about 100 events per admission). The database is "
          "read with one sequential scan per table into the subject-range staging shards (mimic-code indexes no "
          "table by subject); on Dask each worker reads slices of the big tables' pages (TID range scans, one "
          "exported snapshot) in parallel, then validates and featurises the partitions. "
          "*flow* time runs from a flow's first log line to its last. RSS is summed over every process the "
          "command starts (not the PostgreSQL server's).", data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--admissions", type=int, default=1_000_000)
    ap.add_argument("--work", default=None, help="folder for the export and workspaces (default: a temp folder)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cmtl-db-", dir=args.work))
    name = f"cmtl_bench_{uuid.uuid4().hex[:8]}"
    _admin(f'CREATE DATABASE "{name}"')
    try:
        with prefect_server(work) as api:
            env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "160",
                   "PREFECT_API_URL": api}
            report(measure(work, env, args, f"{ADMIN}/{name}"), args)
    finally:
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Scale across sources and engines: one synthetic cohort through `cmtl ingest` + `cmtl features` as generated,
as a MIMIC-IV export (csv.gz and Parquet), and on Dask; features against one DuckDB query over the same lake;
validation throughput; and the default cohort against the code before streaming (--base).

Every run is a pair of CLI commands in a fresh workspace, timed, with the peak RSS of the whole process
tree (Dask workers included) polled from /proc (bench/scale.py's runner). The ratios are from one run of
this script; the machine is shared, so the load average is recorded next to every timing.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import yaml

from bench.common import ROOT, Timer, table, write
from bench.scale import ADMISSIONS_PER_PATIENT, CHART_DENSITY, run

RSS_LIMIT_GIB, TIME_RATIO, DUCKDB_RATIO, VALIDATION_TARGET = 4.0, 1.5, 3.0, 5e6
WINDOW_SQL = """
SELECT e.hadm_id, e.itemid, avg(e.valuenum), min(e.valuenum), max(e.valuenum),
       arg_max(e.valuenum, e.charttime), count(*)
FROM read_parquet('{lake}/events.parquet/*.parquet') e
JOIN read_parquet('{lake}/admissions.parquet/*.parquet') a USING (hadm_id)
WHERE e.itemid IN ({items}) AND e.valuenum IS NOT NULL
  AND e.charttime >= a.admittime AND e.charttime < a.admittime + INTERVAL {hours} HOUR
GROUP BY 1, 2"""


def _config(work: Path, name: str, base: dict, source: dict, engine: dict | None = None) -> Path:
    cfg = {**base, "workspace": str(work / f"ws-{name}"), "source": source}
    if engine:
        cfg["engine"] = engine
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _pair(config: Path, env: dict, cwd: Path = ROOT) -> dict:
    cmtl = [sys.executable, "-c", "from flows.cli import main; main()"]  # the flows of the tree at cwd
    ingest = run([*cmtl, "ingest", "--config", str(config)], env, cwd)
    features = run([*cmtl, "features", "--config", str(config)], env, cwd)
    return {"ingest": ingest, "features": features, "seconds": ingest["seconds"] + features["seconds"],
            "flow_seconds": ingest["flow_seconds"] + features["flow_seconds"],
            "peak_rss_gib": max(ingest["peak_rss"], features["peak_rss"]) / 2**30}


def _outputs(ws: Path) -> dict:
    """Content of a run's lake and feature set: row counts and a hash of the features sorted by admission
    (partitioning differs between sources, so manifests' hashes would; the rows must not)."""
    from mtl_core.data import lake

    snap, feats = lake.latest(ws / "lake"), lake.latest(ws / "features")
    frames = lake.read_tables(feats, ["features", "labels"])
    return {"snapshot": snap.name, "feature_set": feats.name, "partitions": lake.n_partitions(snap),
            "events": lake.read_manifest(snap)["tables"]["events"]["rows"],
            "admissions": lake.read_manifest(snap)["tables"]["admissions"]["rows"],
            **{f"{n}_hash": lake.table_hash(df.sort_values("hadm_id").reset_index(drop=True))
               for n, df in frames.items()}}


def _duckdb(lake_dir: Path, cfg) -> dict:
    import duckdb

    sql = WINDOW_SQL.format(lake=lake_dir, items=", ".join(map(str, cfg.features.items.values())),
                            hours=cfg.cohort.observation_hours)
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    load = os.getloadavg()
    with Timer() as t:
        rows = con.execute(sql).fetchall()
    return {"seconds": t.seconds, "groups": len(rows), "load": load}


def _validation(lake_dir: Path, config: Path, n: int = 6) -> dict:
    """Contract checks alone (what ingest does per partition before writing), over stored partitions."""
    from mtl_core.config import load_config
    from mtl_core.data import lake
    from mtl_core.sources import validate_source

    cfg = load_config(config)
    seconds, events = 0.0, 0
    for i in range(min(n, lake.n_partitions(lake_dir))):
        tables = lake.read_partition(lake_dir, i, ["patients", "admissions", "events", "diagnoses"])
        with Timer() as t:
            validate_source(tables, cfg, whole=False)
        seconds, events = seconds + t.seconds, events + len(tables["events"])
    return {"seconds": seconds, "events": events, "rows_per_second": events / seconds, "load": os.getloadavg()}


def _base_tree(commit: str, work: Path) -> Path:
    """The code at `commit` (git archive: no checkout, no worktree), to run the default cohort on it."""
    out = work / f"base-{commit}"
    out.mkdir()
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    tar = work / "base.tar"
    tar.write_bytes(archive)
    with tarfile.open(tar) as t:
        t.extractall(out, filter="data")
    return out


def default_cohort(work: Path, env: dict, base_commit: str, repeats: int) -> dict:
    """`cmtl ingest` + `cmtl features` on configs/default.yaml, this code and `base_commit` alternating."""
    trees = {"head": ROOT, base_commit: _base_tree(base_commit, work)}
    times: dict[str, list] = {k: [] for k in trees}
    for r in range(repeats):
        for name, tree in trees.items():
            cfg = yaml.safe_load((tree / "configs" / "default.yaml").read_text())
            cfg["workspace"] = str(work / f"default-{name}-{r}")
            path = work / f"default-{name}-{r}.yaml"
            path.write_text(yaml.safe_dump(cfg, sort_keys=False))
            times[name].append(_pair(path, {**env, "PYTHONPATH": str(tree)}, cwd=tree))
            shutil.rmtree(work / f"default-{name}-{r}", ignore_errors=True)
    return times


@contextmanager
def prefect_server(work: Path):
    """One Prefect server (free port) for every command of the run: each command would otherwise start a
    temporary one, which on a loaded machine costs tens of seconds or times out."""
    from flows.ops import services

    run_dir = work / "prefect-server"
    run_dir.mkdir()
    port = services.free_port()
    env = {**os.environ, "PREFECT_HOME": str(run_dir), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    pid = services.start("prefect-server", [str(Path(sys.executable).parent / "prefect"), "server", "start",
                                            "--host", "127.0.0.1", "--port", str(port)], run_dir, env, ROOT)
    try:
        url = f"http://127.0.0.1:{port}/api"
        services.wait_until("prefect-server", lambda: services.answers(f"{url}/health"), run_dir, 300)
        yield url
    finally:
        services._signal_group(pid, signal.SIGTERM)
        for _ in range(30):
            if not services.alive(pid) or services._zombie(pid):
                break
            time.sleep(1)
        services._signal_group(pid, signal.SIGKILL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--admissions", type=int, default=1_000_000)
    ap.add_argument("--base", default="febccb4", help="commit before streaming, for the default cohort")
    ap.add_argument("--repeats", type=int, default=3, help="default-cohort runs per code version")
    ap.add_argument("--work", default=None, help="folder for exports and workspaces (default: a temp folder)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cmtl-sources-", dir=args.work))
    try:
        with prefect_server(work) as api:
            env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "160",
                   "PREFECT_API_URL": api}
            measure(work, env, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the exports and workspaces (GiBs at 1M admissions)


def measure(work: Path, env: dict, args) -> None:
    from mtl_core.config import Config
    from mtl_core.sources.export_mimic import write_mimic

    base = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    n_patients = round(args.admissions / ADMISSIONS_PER_PATIENT)
    synthetic = {**base["source"], "n_patients": n_patients, "chart_density": CHART_DENSITY}
    cfg = Config.model_validate({**base, "source": synthetic})
    runs, exports = {}, {}
    for fmt in ("csv.gz", "parquet"):
        with Timer() as t:
            folder = write_mimic(cfg.source, cfg.cohort.observation_hours, work / f"mimic-{fmt}", fmt)
        exports[fmt] = {"seconds": t.seconds, "gib": sum(f.stat().st_size for f in folder.rglob("*")
                                                         if f.is_file()) / 2**30}
        print("export", fmt, exports[fmt], flush=True)
    plan = {"synthetic": (synthetic, None),
            "mimic_iv csv.gz": ({"kind": "mimic_iv", "path": str(work / "mimic-csv.gz")}, None),
            "mimic_iv parquet": ({"kind": "mimic_iv", "path": str(work / "mimic-parquet")}, None),
            "synthetic, dask 2 workers": (synthetic, {"kind": "dask", "n_workers": 2})}
    for name, (source, engine) in plan.items():
        slug = name.replace(" ", "_").replace(",", "")
        config = _config(work, slug, base, source, engine)
        runs[name] = {**_pair(config, env), **_outputs(work / f"ws-{slug}")}
        if name == "synthetic":
            from mtl_core.data import lake

            snap = lake.latest(work / f"ws-{slug}" / "lake")
            runs[name]["duckdb"] = _duckdb(snap, cfg)
            runs[name]["validation"] = _validation(snap, config)
        else:
            shutil.rmtree(work / f"ws-{slug}", ignore_errors=True)
        print(name, {k: v for k, v in runs[name].items() if k not in ("ingest", "features")}, flush=True)
    defaults = default_cohort(work, env, args.base, args.repeats)
    report(runs, exports, defaults, args)


def _load(r: dict) -> str:
    return "/".join(f"{v:.1f}" for v in r["load_before"])


def report(runs: dict, exports: dict, defaults: dict, args) -> None:
    syn = runs["synthetic"]
    rows = [[name, f"{r['events']:,}", r["partitions"], f"{r['ingest']['seconds']:.1f} ({r['ingest']['flow_seconds']:.1f})",
             f"{r['features']['seconds']:.1f} ({r['features']['flow_seconds']:.1f})", f"{r['seconds']:.1f}",
             f"{r['seconds'] / syn['seconds']:.2f}x", round(r["peak_rss_gib"], 2),
             "yes" if r["features_hash"] == syn["features_hash"] and r["labels_hash"] == syn["labels_hash"] else "NO",
             f"{_load(r['ingest'])} / {_load(r['features'])}"] for name, r in runs.items()]
    body = table(["path", "events", "partitions", "ingest s (flow)", "features s (flow)", "total s",
                  "vs synthetic", "peak RSS GiB", "same features + labels", "load before ingest / features"], rows)
    ok = lambda good: "met" if good else "NOT met"  # noqa: E731
    mimic = [r for n, r in runs.items() if n.startswith("mimic")]
    dask = runs["synthetic, dask 2 workers"]
    duck, val = syn["duckdb"], syn["validation"]
    feat = syn["features"]["flow_seconds"]
    base = args.base
    med = {k: sorted(x["seconds"] for x in v)[len(v) // 2] for k, v in defaults.items()}
    flow = {k: sorted(x["flow_seconds"] for x in v)[len(v) // 2] for k, v in defaults.items()}
    notes = [
        "MIMIC-IV exports of the cohort: " + ", ".join(f"{k} {v['gib']:.2f} GiB written in {v['seconds']:.0f} s"
                                                        for k, v in exports.items()) + ".",
        f"MIMIC-IV layout, ingest + features: peak RSS {max(r['peak_rss_gib'] for r in mimic):.2f} GiB (limit "
        f"{RSS_LIMIT_GIB} GiB: {ok(all(r['peak_rss_gib'] < RSS_LIMIT_GIB for r in mimic))}); wall time "
        + ", ".join(f"{n} {r['seconds'] / syn['seconds']:.2f}x" for n, r in runs.items() if n.startswith("mimic"))
        + f" the synthetic path's (at most {TIME_RATIO}x: {ok(all(r['seconds'] <= TIME_RATIO * syn['seconds'] for r in mimic))}).",
        f"Dask, 2 local workers vs the local engine (synthetic): {syn['seconds'] / dask['seconds']:.2f}x speed-up "
        f"in wall time ({syn['flow_seconds'] / dask['flow_seconds']:.2f}x in flow time); identical outputs: "
        f"{'yes' if (dask['snapshot'], dask['feature_set']) == (syn['snapshot'], syn['feature_set']) else 'NO'} "
        f"(same content-addressed snapshot and feature set ids).",
        f"Features flow {feat:.1f} s vs one DuckDB windowed group-by (mean/min/max/last/count per admission "
        f"and item over [admittime, admittime + 24 h), 2 threads) over the same lake {duck['seconds']:.1f} s "
        f"({duck['groups']:,} groups; load {'/'.join(f'{v:.1f}' for v in duck['load'])}): "
        f"{feat / duck['seconds']:.1f}x (within {DUCKDB_RATIO}x: {ok(feat <= DUCKDB_RATIO * duck['seconds'])}).",
        f"Ingest validation (every contract and reference check of a partition, no I/O): {val['events']:,} event "
        f"rows in {val['seconds']:.2f} s = {val['rows_per_second'] / 1e6:.1f}M rows/s (target >= "
        f"{VALIDATION_TARGET / 1e6:.0f}M: {ok(val['rows_per_second'] >= VALIDATION_TARGET)}).",
        f"Default cohort (configs/default.yaml), `cmtl ingest` + `cmtl features`, median of {args.repeats} "
        f"alternating runs: this code {med['head']:.1f} s, commit {base} (before streaming) {med[base]:.1f} s: "
        f"{med['head'] / med[base]:.2f}x (within 1.1x: {ok(med['head'] <= 1.1 * med[base])}); in the flows "
        f"alone {flow['head']:.1f} s vs {flow[base]:.1f} s: {flow['head'] / flow[base]:.2f}x (the rest is "
        f"process start-up, the same code on both sides).",
    ]
    write("scale_sources", "python -m bench.scale_sources " + " ".join(sys.argv[1:]),
          body + "\n\n" + "  \n".join(notes) + "\n\nEach path: `cmtl ingest` then `cmtl features` in a fresh "
          "workspace on the same cohort (chart_density 2.9, about 100 events per admission). *flow* time runs "
          "from a flow's first log line to its last. RSS is summed over every process the command starts.",
          {"runs": runs, "exports": exports, "default_cohort": defaults})


if __name__ == "__main__":
    main()

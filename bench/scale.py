"""Scale: `cmtl ingest` then `cmtl features` on the synthetic source at 10k, 100k and 1M admissions.

Each size runs the two commands as a user would, in a fresh workspace, and records wall time, events
per second, the peak RSS of the whole process tree (every process the command starts, summed, polled
from /proc) and the growth exponent of time against size (slope of a log-log fit; linear is 1.0).
The machine is shared, so the load average is recorded next to each timing.
"""
from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

from bench.common import ROOT, table, write
from bench.targets import EXPONENT_TARGET, RSS_LIMIT_GIB, slope

ADMISSIONS_PER_PATIENT = 1.6  # default cohort at chart_density 2.9: 19,975 admissions of 12,500 patients
CHART_DENSITY = 2.9           # ~100 events per admission
PAGE = os.sysconf("SC_PAGE_SIZE")
FLOW_LOG = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) \| \w+ +\| Flow run '[^']+' - "
                      r"(Beginning flow run|Finished in state Completed)", re.M)


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants."""
    total = 0
    for pid in _tree(root):
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except OSError:
            pass
    return total


class watch_peak(threading.Thread):
    """Polls the peak resident bytes of a running process's tree every 0.1 s until it exits."""

    def __init__(self, proc: subprocess.Popen):
        super().__init__(daemon=True)
        self.proc, self.bytes = proc, 0
        self.start()

    def run(self) -> None:
        while self.proc.poll() is None:
            self.bytes = max(self.bytes, tree_rss(self.proc.pid))
            time.sleep(0.1)


def flow_seconds(output: str) -> float:
    """From the flow's own log lines: its run time without process start-up and Prefect's server."""
    stamps = {kind: 3600 * int(h) + 60 * int(m) + float(s) for h, m, s, kind in FLOW_LOG.findall(output)}
    if len(stamps) != 2:
        raise RuntimeError(f"flow start/end log lines not found in:\n{output[-3000:]}")
    return (stamps["Finished in state Completed"] - stamps["Beginning flow run"]) % 86400


def run(args: list[str], env: dict, cwd: Path = ROOT) -> dict:
    """Run a command; wall seconds, peak tree RSS (polled every 0.1 s) and load average around it."""
    load_before = os.getloadavg()
    start = time.perf_counter()
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    peak = watch_peak(proc)
    out, _ = proc.communicate()
    seconds = time.perf_counter() - start
    peak.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n{out[-4000:]}")
    return {"seconds": seconds, "flow_seconds": flow_seconds(out), "peak_rss": peak.bytes,
            "load_before": load_before,
            "load_after": os.getloadavg(), "output": out}


def one_size(admissions: int, work: Path, env: dict) -> dict:
    cfg = yaml.safe_load((ROOT / "configs" / "default.yaml").read_text())
    cfg["workspace"] = str(work / "ws")
    n_patients = round(admissions / ADMISSIONS_PER_PATIENT)
    cfg["source"].update(n_patients=n_patients, chart_density=CHART_DENSITY)
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    cmtl = str(Path(sys.executable).parent / "cmtl")
    ingest = run([cmtl, "ingest", "--config", str(path)], env)
    features = run([cmtl, "features", "--config", str(path)], env)
    from mtl_core.data import lake

    raw = lake.read_manifest(lake.latest(work / "ws" / "lake"))["tables"]
    feats = lake.read_manifest(lake.latest(work / "ws" / "features"))["tables"]
    seconds = ingest["seconds"] + features["seconds"]
    flow = ingest["flow_seconds"] + features["flow_seconds"]
    return {"target_admissions": admissions, "patients": n_patients,
            "admissions": raw["admissions"]["rows"], "events": raw["events"]["rows"],
            "partitions": len(raw["events"].get("partitions", [1])),
            "feature_rows": feats["features"]["rows"], "ingest": _quiet(ingest), "features": _quiet(features),
            "seconds": seconds, "flow_seconds": flow, "events_per_second": raw["events"]["rows"] / seconds,
            "events_per_flow_second": raw["events"]["rows"] / flow,
            "peak_rss_gib": max(ingest["peak_rss"], features["peak_rss"]) / 2**30,
            "max_process_rss_gib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20,
            "lake_gib": sum(f.stat().st_size for f in (work / "ws" / "lake").rglob("*") if f.is_file()) / 2**30}


def _quiet(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "output"}


def report(rows: list[dict], command: str) -> None:
    load = lambda r: "/".join(f"{v:.1f}" for v in r["load_before"])  # noqa: E731
    body = table(["admissions", "patients", "events", "partitions", "ingest s (flow)", "features s (flow)",
                  "total s (flow)", "events/s (flow)", "peak RSS GiB", "load avg before ingest / features"],
                 [[f"{r['admissions']:,}", f"{r['patients']:,}", f"{r['events']:,}", r["partitions"],
                   f"{r['ingest']['seconds']:.1f} ({r['ingest']['flow_seconds']:.1f})",
                   f"{r['features']['seconds']:.1f} ({r['features']['flow_seconds']:.1f})",
                   f"{r['seconds']:.1f} ({r['flow_seconds']:.1f})",
                   f"{r['events_per_second']:,.0f} ({r['events_per_flow_second']:,.0f})",
                   round(r["peak_rss_gib"], 2), f"{load(r['ingest'])} / {load(r['features'])}"]
                  for r in rows])
    adm = [r["admissions"] for r in rows]
    fits = {"total": slope(adm, [r["seconds"] for r in rows]),
            "flow": slope(adm, [r["flow_seconds"] for r in rows]),
            "ingest_flow": slope(adm, [r["ingest"]["flow_seconds"] for r in rows]),
            "features_flow": slope(adm, [r["features"]["flow_seconds"] for r in rows])}
    top = slope(adm[-2:], [r["flow_seconds"] for r in rows[-2:]])
    peak = max(r["peak_rss_gib"] for r in rows)
    ok = lambda good: "met" if good else "NOT met"  # noqa: E731
    notes = (
        f"\n\nGrowth exponent (slope of log time vs log admissions, fitted over all sizes): command wall "
        f"time **{fits['total']:.3f}**, flow time **{fits['flow']:.3f}** (target < {EXPONENT_TARGET}: "
        f"{ok(fits['flow'] < EXPONENT_TARGET)}); flow time of ingest {fits['ingest_flow']:.3f}, of features "
        f"{fits['features_flow']:.3f}; flow time between the two largest sizes {top:.3f}.  \n"
        f"Peak RSS of the whole process tree: **{peak:.2f} GiB** (limit {RSS_LIMIT_GIB} GiB: "
        f"{ok(peak < RSS_LIMIT_GIB)}); largest single process "
        f"{max(r['max_process_rss_gib'] for r in rows):.2f} GiB (getrusage).\n\n"
        f"Each size: `cmtl ingest` then `cmtl features` in a fresh workspace, synthetic source with "
        f"chart_density {CHART_DENSITY} (about 100 events per admission), n_patients = admissions / "
        f"{ADMISSIONS_PER_PATIENT}. *Command* time is the wall time of the two commands, including "
        f"process start-up and Prefect's temporary server (a fixed cost of tens of seconds on a loaded "
        f"machine); *flow* time runs from the flow's first log line to its last (from Prefect's log "
        f"timestamps). Events per second = event rows / time. RSS is the sum over every process the "
        f"command starts, polled every 0.1 s. The machine has 2 cores shared with other work while this "
        f"ran: the load averages (1/5/15 min) stand next to each timing.")
    write("scale", command, body + notes, {"rows": rows, "exponent": fits, "exponent_top_two_flow": top,
                                           "peak_rss_gib": peak})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="admissions, comma-separated")
    ap.add_argument("--keep", action="store_true", help="keep the workspaces (in a temp folder)")
    args = ap.parse_args()
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "COLUMNS": "160"}
    rows = []
    for size in [int(s) for s in args.sizes.split(",")]:
        work = Path(tempfile.mkdtemp(prefix=f"cmtl-scale-{size}-"))
        try:
            rows.append(one_size(size, work, env))
            print({k: v for k, v in rows[-1].items() if k not in ("ingest", "features")}, flush=True)
        finally:
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
    argv = " ".join(sys.argv[1:])
    report(rows, "python -m bench.scale" + (f" {argv}" if argv else ""))


if __name__ == "__main__":
    main()

"""Side by side with MEDS-Tab on the same MEDS data and the same held-out subjects, in one run.

The synthetic cohort is written as a MEDS dataset with ACES-style label files (one per outcome) and
subject splits (mtl_core/sources/export_meds.py). Then, each in a fresh process tree:
  - MEDS-Tab 0.2.0 (its own virtual environment, bench/.venvs/meds_tab, built here from
    bench/meds_tab_constraints.txt: its polars, pyarrow and meds-evaluation pins differ from ours),
    its documented pipeline: describe and tabularise (static + time series) once, then cache each
    task's rows and tune XGBoost (optuna sweep) per outcome, since it trains one model per task;
  - one `cmtl run` for all outcomes (configs/meds_example.yaml pointed at the export).
Both are scored on the held_out subjects by sklearn's AUROC over their MEDS prediction files; the
ceiling is the AUROC of the true probabilities the generator knows. Wall time and peak RSS of each
process tree (polled every 0.1 s) are recorded with the load average.

    python -m bench.meds_tab [--patients 2500] [--trials 10]
"""
from __future__ import annotations

import argparse
import glob
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score

from bench.common import ROOT, write
from bench.scale import watch_peak
from mtl_core.config import SyntheticSource
from mtl_core.sources.export_meds import write_synthetic
from mtl_core.sources.synthetic_spec import OUTCOMES

VENV = ROOT / "bench" / ".venvs" / "meds_tab"
CONSTRAINTS = ROOT / "bench" / "meds_tab_constraints.txt"
WINDOWS_MEDS_TAB = "[1d,30d,full]"  # the same look-back as cmtl's [24h, 30d, all]
AGGS = "[static/present,code/count,value/count,value/sum,value/sum_sqd,value/min,value/max]"
TOP_CODES = 300


def ensure_venv() -> Path:
    """MEDS-Tab's own virtual environment, with the pins recorded beside this file."""
    binary = VENV / "bin" / "meds-tab-xgboost"
    if not binary.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "-c", str(CONSTRAINTS), "meds-tab==0.2.0"],
                       check=True)
    return VENV / "bin"


def run(args: list[str], log: Path, env: dict | None = None) -> dict:
    """Wall seconds and peak RSS of the command's whole process tree; output to `log`."""
    start = time.perf_counter()
    with open(log, "a") as out:
        proc = subprocess.Popen(args, cwd=ROOT, env=env or os.environ.copy(), stdout=out, stderr=subprocess.STDOUT)
        peak = watch_peak(proc)
        proc.wait()
        peak.join()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}); see {log}")
    return {"seconds": time.perf_counter() - start, "peak_rss": peak.bytes}


def meds_tab(bin_dir: Path, data: Path, labels: Path, out: Path, outcomes: list[str], trials: int) -> dict:
    """MEDS-Tab's documented pipeline: describe and tabularise once (every event time), then per outcome
    cache the task's rows and tune XGBoost. Returns step times, peak RSS and held_out predictions.

    (Tabularising only at the label times, `input_label_dir`, as MEDS-DEV's recipe does, gave features
    that missed most earlier events on this export, e.g. 1 event counted in the 24 h before a label where
    the shard holds 40; so this path is not used.)"""
    log = out / "meds_tab.log"
    out.mkdir(parents=True, exist_ok=True)
    common = [f"tabularization.aggs={AGGS}", f"tabularization.window_sizes={WINDOWS_MEDS_TAB}",
              f"tabularization.max_included_codes={TOP_CODES}", "tabularization.min_code_inclusion_count=null"]
    base = [f"input_dir={data}/data", f"output_dir={out}", "do_overwrite=False", *common]
    steps = {"describe": run([str(bin_dir / "meds-tab-describe"), f"input_dir={data}/data", f"output_dir={out}"], log),
             "tabularise static": run([str(bin_dir / "meds-tab-tabularize-static"), *base], log),
             "tabularise time series": run([str(bin_dir / "meds-tab-tabularize-time-series"), "--multirun",
                                            "worker=range(0,1)", "hydra/launcher=joblib", *base], log)}
    preds = {}
    for o in outcomes:
        steps[f"{o}: cache task"] = run([str(bin_dir / "meds-tab-cache-task"), *base, f"input_label_dir={labels / o}",
                                         f"task_name={o}"], log)
        steps[f"{o}: tune XGBoost"] = run([
            str(bin_dir / "meds-tab-xgboost"), "--multirun", *base, f"task_name={o}",
            f"output_model_dir={out / o / 'results'}", f"hydra.sweeper.n_trials={trials}", "hydra.sweeper.n_jobs=1"],
            log)
        found = sorted(glob.glob(str(out / o / "results" / "*" / "best_trial" / "held_out_predictions.parquet")))
        preds[o] = pd.read_parquet(found[-1])
    return {"steps": steps, "predictions": preds, "check": feature_check(bin_dir, out, data, outcomes[0])}


FEATURE_CHECK = """
import sys, numpy as np, pandas as pd, scipy.sparse as sp
from MEDS_tabular_automl.utils import load_matrix
cache, shard = sys.argv[1], sys.argv[2]
lab = pd.read_parquet(f"{cache}/labels/held_out/0.parquet")
ev = pd.read_parquet(shard).dropna(subset=["time"])
full = sp.csr_array(load_matrix(f"{cache}/task_cache/held_out/0/full/code/count.npz"))
got = np.asarray(full.sum(axis=1)).ravel()
t = ev.groupby("subject_id")["time"].apply(np.sort)
want = np.array([np.searchsorted(t[s], np.datetime64(x, "us"), side="right") for s, x in zip(lab.subject_id, lab.time)])
print(float(np.median(got)), float(np.median(want)), float(np.mean(got / np.maximum(want, 1))))
"""


def feature_check(bin_dir: Path, out: Path, data: Path, outcome: str) -> dict:
    """MEDS-Tab's own full-history event count at each held_out label row (its cached features) against the
    events the shard holds at or before the prediction time: does its tabularisation see the history?"""
    res = subprocess.run([str(bin_dir / "python"), "-c", FEATURE_CHECK, str(out / outcome),
                          str(data / "data" / "held_out" / "0.parquet")], capture_output=True, text=True, check=True)
    got, want, ratio = map(float, res.stdout.split())
    return {"outcome": outcome, "median_events_counted_by_meds_tab": got, "median_events_in_data": want,
            "mean_ratio": ratio}


def cmtl(data: Path, labels: Path, work: Path, outcomes: list[str]) -> dict:
    """One `cmtl run` for every outcome, configs/meds_example.yaml pointed at the export."""
    cfg = yaml.safe_load((ROOT / "configs" / "meds_example.yaml").read_text())
    cfg["workspace"] = str(work / "ws")
    cfg["source"].update(path=str(data), labels_dir=str(labels))
    cfg["source"].pop("generate_if_missing")
    cfg["outcomes"] = outcomes
    work.mkdir(parents=True, exist_ok=True)
    path = work / "cmtl.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    # a shared, loaded machine can take longer than Prefect's 20 s default to start its temporary server
    env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
    env.pop("MLFLOW_TRACKING_URI", None)
    timing = run([str(Path(sys.executable).parent / "cmtl"), "run", "--config", str(path)], work / "cmtl.log", env)
    folder = next((work / "ws" / "models").glob("*/meds_predictions"))
    return {"steps": {"cmtl run (all outcomes)": timing},
            "predictions": {o: pd.read_parquet(folder / f"{o}.parquet") for o in outcomes}}


def auroc(pred: pd.DataFrame) -> float:
    return float(roc_auc_score(pred["boolean_value"], pred["predicted_boolean_probability"]))


def score(outcomes: list[str], truth: pd.DataFrame, tools: dict, held_out: set) -> list[dict]:
    rows = []
    keys = ["subject_id", "prediction_time"]
    for o in outcomes:
        row = {"outcome": o}
        for name, result in tools.items():
            p = result["predictions"][o]
            assert set(p["subject_id"]) <= held_out, f"{name} scored subjects outside held_out"
            row[f"{name}_auroc"], row[f"{name}_n"] = auroc(p), len(p)
        p = tools["cmtl"]["predictions"][o][[*keys, "boolean_value"]]
        t = p.merge(truth[[*keys, o]], on=keys, how="left")
        row["ceiling_auroc"] = float(roc_auc_score(t["boolean_value"], t[o]))
        row["prevalence"] = float(p["boolean_value"].mean())
        rows.append(row)
    return rows


def report(rows, tools, args, counts, load_before) -> None:
    check = tools["meds_tab"]["check"]
    lines = ["| outcome | prevalence | held-out n (cmtl / MEDS-Tab) | cmtl AUROC | MEDS-Tab AUROC | ceiling AUROC | cmtl - MEDS-Tab |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['outcome']} | {r['prevalence']:.1%} | {r['cmtl_n']:,} / {r['meds_tab_n']:,} | "
                     f"{r['cmtl_auroc']:.3f} | {r['meds_tab_auroc']:.3f} | {r['ceiling_auroc']:.3f} | "
                     f"{r['cmtl_auroc'] - r['meds_tab_auroc']:+.3f} |")
    wall = {k: sum(s["seconds"] for s in v["steps"].values()) for k, v in tools.items()}
    peak = {k: max(s["peak_rss"] for s in v["steps"].values()) / 2**30 for k, v in tools.items()}
    better = all(r["cmtl_auroc"] >= r["meds_tab_auroc"] for r in rows)
    lines += ["", f"Wall time, end to end: **cmtl {wall['cmtl']:.0f} s** (one run: ingest, features, training, "
              f"baselines, evaluation, registry) vs **MEDS-Tab {wall['meds_tab']:.0f} s** (describe, tabularise, "
              f"then cache + tune per outcome): ratio {wall['meds_tab'] / wall['cmtl']:.2f}x "
              f"(target: cmtl faster: {'met' if wall['cmtl'] < wall['meds_tab'] else 'not met'}).",
              f"Peak RSS of the process tree: cmtl {peak['cmtl']:.2f} GiB, MEDS-Tab {peak['meds_tab']:.2f} GiB.",
              f"AUROC target (cmtl >= MEDS-Tab on every outcome): {'met' if better else 'not met'}.", "",
              "**Caveat on MEDS-Tab's AUROC.** At the held_out label rows of "
              f"{check['outcome']}, MEDS-Tab's own tabularised full-history code count has median "
              f"{check['median_events_counted_by_meds_tab']:.0f} events where the shard holds a median of "
              f"{check['median_events_in_data']:.0f} at or before the prediction time (mean ratio "
              f"{check['mean_ratio']:.2f}): its features miss most of each subject's history on this export "
              "(the same with tabularisation at the label times, MEDS-DEV's recipe), so its AUROC here is not a "
              "fair reading of MEDS-Tab; why (a MEDS-Tab 0.2.0 / polars 1.44 issue, or our use of it) is not "
              "resolved. The time and memory comparison stands.", "",
              "| step | seconds | peak RSS GiB |", "|---|---|---|"]
    for name, result in tools.items():
        for step, s in result["steps"].items():
            lines.append(f"| {name}: {step} | {s['seconds']:.1f} | {s['peak_rss'] / 2**30:.2f} |")
    lines += ["", f"Data: synthetic cohort of {args.patients:,} patients as MEDS ({counts['events']:,} events in "
              f"{counts['shards']} shards), ACES-style labels per outcome, the dataset's subject splits "
              f"(train / tuning / held_out) used by both. MEDS-Tab 0.2.0: windows {WINDOWS_MEDS_TAB}, "
              f"aggregates {AGGS}, the {TOP_CODES} most frequent codes, {args.trials} optuna trials of XGBoost per "
              f"outcome (MEDS-DEV's recipe uses 10), min_code_inclusion_count off. cmtl: configs/meds_example.yaml (windows [24h, 30d, all], "
              f"top {TOP_CODES} codes). Both scored by sklearn AUROC on their held_out prediction files; the "
              f"ceiling is the AUROC of the generator's true probabilities on the same rows. Load average "
              f"before: {' / '.join(f'{v:.2f}' for v in load_before)} (1 / 5 / 15 min); 2 shared cores."]
    data = {"rows": rows, "wall_seconds": wall, "peak_rss_gib": peak, "patients": args.patients,
            "trials": args.trials, "load_before": load_before, "meds_tab_feature_check": check,
            "steps": {k: v["steps"] for k, v in tools.items()}}
    write("meds_tab", f"python -m bench.meds_tab --patients {args.patients} --trials {args.trials}",
          "\n".join(lines), data)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=2500)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--outcomes", nargs="*", default=list(OUTCOMES))
    args = ap.parse_args()
    bin_dir = ensure_venv()
    work = Path(tempfile.mkdtemp(prefix="cmtl-meds-tab-"))
    data, labels = work / "dataset", work / "labels"
    counts = write_synthetic(SyntheticSource(n_patients=args.patients, seed=7), 24, data, labels,
                             args.outcomes, truth_path=work / "truth.parquet", subjects_per_shard=1000)
    splits = pd.read_parquet(data / "metadata" / "subject_splits.parquet")
    held_out = set(splits.loc[splits["split"] == "held_out", "subject_id"])
    load_before = list(os.getloadavg())
    tools = {"cmtl": cmtl(data, labels, work / "cmtl", args.outcomes),
             "meds_tab": meds_tab(bin_dir, data, labels, work / "meds_tab", args.outcomes, args.trials)}
    rows = score(args.outcomes, pd.read_parquet(work / "truth.parquet"), tools, held_out)
    report(rows, tools, args, counts, load_before)
    print(f"work folder (logs): {work}")


if __name__ == "__main__":
    main()

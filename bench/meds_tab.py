"""Side by side with MEDS-Tab on the same MEDS data and the same held-out subjects, in one run.

The synthetic cohort is written as a MEDS dataset with ACES-style label files (one per outcome) and
subject splits (mtl_core/sources/export_meds.py). Then, each in a fresh process tree:
  - MEDS-Tab 0.2.0 (its own virtual environment, bench/.venvs/meds_tab, built here from
    bench/meds_tab_constraints.txt: its polars, pyarrow and meds-evaluation pins differ from ours),
    its documented pipeline: describe and tabularise (static + time series) once, then cache each
    task's rows and tune XGBoost (optuna sweep) per outcome, since it trains one model per task.
    Its time-series tabulariser and task cache run through bench/meds_tab_patch.py, which corrects three
    faults of 0.2.0 that hid nearly all history and every value (bench/meds_tab_repro.py); bench/checks
    (a pytest run in MEDS-Tab's venv) then checks its cached features against the events of the shard;
  - one `cmtl run` for all outcomes (configs/meds_example.yaml pointed at the export);
  - XGBoost tuned as MEDS-Tab tunes it (bench/xgb_as_meds_tab.py) on cmtl's own feature matrix: the
    same learner as MEDS-Tab, cmtl's featurisation.
All are scored on the held_out subjects by sklearn's AUROC; the ceiling is the AUROC of the true
probabilities the generator knows. Wall time and peak RSS of each process tree (polled every 0.1 s)
are recorded with the load average.

    python -m bench.meds_tab [--patients 2500] [--trials 10] [--seeds 7,8,9]

With several generator seeds, each is a fresh cohort (its own subjects, splits and held_out rows) and
every tool runs on each; the target is read on the mean over seeds, as bench.peers reads the real
cohorts' (one held_out split of 2,500 patients holds about 20 sepsis cases: an AUROC there moves by
more than 0.03 from one split to the next). Each seed's cmtl members are also refitted from cmtl's
feature matrix (the same fit_model as `cmtl run`) and cached for bench.restack as meds-seed<seed>.
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

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import roc_auc_score

from bench.common import ROOT, bench_venv
from bench.meds_tab_report import AGGS, TOP_CODES, WINDOWS_MEDS_TAB, report
from bench.peers import save_members
from bench.scale import watch_peak
from mtl_core.config import SyntheticSource
from mtl_core.config.loader import load_config
from mtl_core.data import lake
from mtl_core.dataset.features import model_columns
from mtl_core.ensemble.fitting import fit_model
from mtl_core.sources.export_meds import write_synthetic
from mtl_core.sources.synthetic_spec import OUTCOMES

CONSTRAINTS = ROOT / "bench" / "meds_tab_constraints.txt"
PATCH = ROOT / "bench" / "meds_tab_patch.py"


def ensure_venv() -> Path:
    """MEDS-Tab's own virtual environment, with the pins recorded beside this file; its bin directory."""
    return bench_venv("meds_tab", ["meds-tab==0.2.0"], CONSTRAINTS).parent


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
    The tabulariser and the task cache run through bench/meds_tab_patch.py (one process each, as
    MEDS-Tab's own joblib launcher would start a fresh interpreter without the correction)."""
    log = out / "meds_tab.log"
    out.mkdir(parents=True, exist_ok=True)
    common = [f"tabularization.aggs={AGGS}", f"tabularization.window_sizes={WINDOWS_MEDS_TAB}",
              f"tabularization.max_included_codes={TOP_CODES}", "tabularization.min_code_inclusion_count=null"]
    base = [f"input_dir={data}/data", f"output_dir={out}", "do_overwrite=False", *common]
    steps = {"describe": run([str(bin_dir / "meds-tab-describe"), f"input_dir={data}/data", f"output_dir={out}"], log),
             "tabularise static": run([str(bin_dir / "meds-tab-tabularize-static"), *base], log),
             "tabularise time series": run([str(bin_dir / "python"), str(PATCH), "tabularize-time-series", *base],
                                           log)}
    preds = {}
    for o in outcomes:
        steps[f"{o}: cache task"] = run([str(bin_dir / "python"), str(PATCH), "cache-task", *base,
                                         f"input_label_dir={labels / o}", f"task_name={o}"], log)
        steps[f"{o}: tune XGBoost"] = run([
            str(bin_dir / "meds-tab-xgboost"), "--multirun", *base, f"task_name={o}",
            f"output_model_dir={out / o / 'results'}", f"hydra.sweeper.n_trials={trials}", "hydra.sweeper.n_jobs=1"],
            log)
        found = sorted(glob.glob(str(out / o / "results" / "*" / "best_trial" / "held_out_predictions.parquet")))
        preds[o] = pd.read_parquet(found[-1])
    return {"steps": steps, "predictions": preds, "check": feature_check(bin_dir, out, data, labels, outcomes)}


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
print(float(np.median(got)), float(np.median(want)), float(np.mean(got / np.maximum(want, 1))), int((got == want).sum()), len(want))
"""


def feature_check(bin_dir: Path, out: Path, data: Path, labels: Path, outcomes: list[str]) -> dict:
    """Does MEDS-Tab's tabularisation see the history? bench/checks (pytest in its venv) compares its
    cached features, per held_out label row and code, with the shard's events for the first outcome;
    and for every outcome, its full-history event count at each label row against the events the shard
    holds at or before the prediction time. Raises when either disagrees."""
    env = {**os.environ, "CMTL_MEDS_CHECK_DATA": str(data), "CMTL_MEDS_CHECK_LABELS": str(labels),
           "CMTL_MEDS_CHECK_TASK": outcomes[0], "CMTL_MEDS_CHECK_CACHE": str(out)}
    tests = subprocess.run([str(bin_dir / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            str(ROOT / "bench" / "checks")], capture_output=True, text=True, env=env, cwd=ROOT)
    if tests.returncode != 0:
        raise RuntimeError(f"bench/checks failed on this export:\n{tests.stdout[-3000:]}")
    rows = {}
    for o in outcomes:
        res = subprocess.run([str(bin_dir / "python"), "-c", FEATURE_CHECK, str(out / o),
                              str(data / "data" / "held_out" / "0.parquet")], capture_output=True, text=True, check=True)
        got, want, ratio, equal, n = res.stdout.split()
        rows[o] = {"median_events_counted_by_meds_tab": float(got), "median_events_in_data": float(want),
                   "mean_ratio": float(ratio), "rows_equal": int(equal), "rows": int(n)}
        if int(equal) != int(n):
            raise RuntimeError(f"{o}: MEDS-Tab's history count differs from the shard on {int(n) - int(equal)} rows")
    return {"tests": tests.stdout.strip().splitlines()[-1], "outcomes": rows}


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
            "predictions": {o: pd.read_parquet(folder / f"{o}.parquet") for o in outcomes},
            "features": lake.latest(work / "ws" / "features")}


def xgb_on_cmtl_features(bin_dir: Path, feature_set: Path, work: Path, outcomes: list[str], trials: int) -> dict:
    """XGBoost tuned as MEDS-Tab does (bench/xgb_as_meds_tab.py, in its venv) on cmtl's feature matrix:
    categories one-hot, the dataset's splits; held_out predictions keyed like the MEDS prediction files."""
    t = lake.read_tables(feature_set, ["features", "labels"])
    f, y = t["features"], t["labels"]
    X = pd.get_dummies(f[model_columns(f)], dummy_na=True).astype(np.float32)
    frame = pd.concat([X.reset_index(drop=True), y[outcomes].reset_index(drop=True).astype(float)], axis=1)
    frame["split"] = f["split"].to_numpy()
    work.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(work / "features.parquet")
    timing = run([str(bin_dir / "python"), str(ROOT / "bench" / "xgb_as_meds_tab.py"), str(work / "features.parquet"),
                  str(work / "pred.parquet"), "--outcomes", ",".join(outcomes), "--trials", str(trials)], work / "xgb.log")
    pred = pd.read_parquet(work / "pred.parquet")
    test = (f["split"] == "test").to_numpy()
    keys = f.loc[test, ["subject_id", "prediction_time"]].reset_index(drop=True)
    out = {}
    for o in outcomes:
        lab = y.loc[test, o].to_numpy(float)
        ok = ~np.isnan(lab)
        out[o] = keys[ok].assign(boolean_value=lab[ok] == 1, predicted_boolean_probability=pred[o].to_numpy()[ok])
    return {"steps": {"tune XGBoost per outcome": timing}, "predictions": out}


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


def cache_members(seed: int, work: Path, feature_set: Path, outcomes: list[str]) -> dict[str, float]:
    """cmtl's members fitted again on its own feature matrix (fit_model, what `cmtl run` fits) and cached
    for bench.restack as meds-seed<seed>; returns the refitted model's held_out AUROC per outcome (the
    run's own, when the fit is deterministic)."""
    cfg = load_config(work / "cmtl.yaml")
    t = lake.read_tables(feature_set, ["features", "labels"])
    f, y = t["features"].reset_index(drop=True), t["labels"].reset_index(drop=True)
    fitted = fit_model(cfg, f, y)
    test = (f["split"] == "test").to_numpy()
    X, Y = f.loc[test, model_columns(f)], y.loc[test, outcomes].to_numpy(float)
    save_members("meds", seed, fitted, X, y.loc[~test, outcomes].to_numpy(float), Y)
    P = fitted.model.predict_proba(X)
    return {o: float(roc_auc_score(Y[~np.isnan(Y[:, k]), k], P[~np.isnan(Y[:, k]), k])) for k, o in enumerate(outcomes)}


def one_seed(bin_dir: Path, seed: int, args) -> tuple[list[dict], dict, dict, dict]:
    """Export the seed's cohort, run every tool on it, score them; (rows, steps, check, counts)."""
    work = Path(tempfile.mkdtemp(prefix=f"cmtl-meds-tab-{seed}-"))
    data, labels = work / "dataset", work / "labels"
    counts = write_synthetic(SyntheticSource(n_patients=args.patients, seed=seed), 24, data, labels,
                             args.outcomes, truth_path=work / "truth.parquet", subjects_per_shard=1000)
    splits = pd.read_parquet(data / "metadata" / "subject_splits.parquet")
    held_out = set(splits.loc[splits["split"] == "held_out", "subject_id"])
    tools = {"cmtl": cmtl(data, labels, work / "cmtl", args.outcomes),
             "meds_tab": meds_tab(bin_dir, data, labels, work / "meds_tab", args.outcomes, args.trials)}
    tools["xgb_cmtl"] = xgb_on_cmtl_features(bin_dir, tools["cmtl"]["features"], work / "xgb", args.outcomes,
                                             args.trials)
    rows = score(args.outcomes, pd.read_parquet(work / "truth.parquet"), tools, held_out)
    for r in rows:
        r["positives"] = int(tools["cmtl"]["predictions"][r["outcome"]]["boolean_value"].sum())
    if args.members:
        refit = cache_members(seed, work / "cmtl", tools["cmtl"]["features"], args.outcomes)
        for r in rows:
            r["cmtl_refit_auroc"] = refit[r["outcome"]]
    print(f"seed {seed}: work folder (logs) {work}", flush=True)
    return rows, {k: v["steps"] for k, v in tools.items()}, tools["meds_tab"]["check"], counts


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--patients", type=int, default=2500)
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seeds", default="7", help="generator seeds, comma-separated: one cohort each")
    ap.add_argument("--outcomes", nargs="*", default=list(OUTCOMES))
    ap.add_argument("--no-members", dest="members", action="store_false",
                    help="skip refitting cmtl's members for bench.restack")
    args = ap.parse_args()
    bin_dir = ensure_venv()
    load_before = list(os.getloadavg())
    per_seed, steps, checks, counts = {}, {}, {}, {}
    for seed in (int(s) for s in args.seeds.split(",")):
        per_seed[seed], steps[seed], checks[seed], counts[seed] = one_seed(bin_dir, seed, args)
    report(per_seed, steps, checks, args, counts, load_before)


if __name__ == "__main__":
    main()

"""Benchmark: cmtl against AutoGluon-Tabular and a plain logistic regression on public real cohorts.

    .venv/bin/python -m bench.peers [--cohorts flchain,pbc] [--seeds 1,2,3] [--report-only] [--refit-cmtl]

Per cohort (bench/cohorts.py: the 8 of bench.real_data and 4 of other kinds) and split seed, in one run:
cmtl's default model through the same fitting code as `cmtl run` (mtl_core.ensemble.fitting.fit_model, timed);
its logistic-regression member (fitted on the same folds); then AutoGluon-Tabular 1.6.3 in its own venv
(bench/.venvs/autogluon, built here from bench/autogluon_constraints.txt) per outcome on the same
train+val rows and the same feature columns, with preset `medium_quality` (no time limit, what most users
run) and `best_quality` with a time limit of cmtl's wall time for that cohort-seed on each outcome's fit
(so AutoGluon's total is that times the number of outcomes: generous to it; with the whole time split
across outcomes, best_quality trained no model at all on flchain). All are scored on the same test rows by mtl_core's auroc
and brier. Each cohort-seed is cached in bench/results/peers/, so an interrupted run continues.
After a model change, --refit-cmtl fits cmtl again on the cached cohort-seeds and keeps AutoGluon's
scores and times (same rows; its best_quality time limit stays the one it ran with).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.cohorts import ALL_COHORTS
from bench.common import RESULTS, ROOT, bench_venv, machine, write
from bench.peers_report import report
from bench.real_data import cohort_config
from mtl_core.config import Config
from mtl_core.dataset.features import model_columns
from mtl_core.ensemble.fitting import fit_model
from mtl_core.evaluation.metrics import auroc, brier
from mtl_core.sources import tabular

CONSTRAINTS = ROOT / "bench" / "autogluon_constraints.txt"
PARTS = RESULTS / "peers"
MEMBERS = ROOT / "bench" / ".cache" / "peers"  # members' held-out and test probabilities (gitignored)
PRESETS = ("medium_quality", "best_quality")


def ensure_venv() -> Path:
    """AutoGluon's own virtual environment, with the pins recorded beside this file (torch: the CPU build)."""
    return bench_venv("autogluon", ["autogluon.tabular[all]==1.6.3", "torch==2.13.0"], CONSTRAINTS)


def _score(y: np.ndarray, p: np.ndarray) -> dict:
    ok = ~np.isnan(y)
    if np.isnan(p[ok]).any():  # a peer that fitted no model for this outcome
        return {"auroc": None, "brier": None}
    return {"auroc": auroc(y[ok], p[ok]), "brier": brier(y[ok], p[ok])}


def autogluon(python: Path, train: pd.DataFrame, test: pd.DataFrame, outcomes: list[str], preset: str,
              time_limit: float | None) -> tuple[np.ndarray, dict, float]:
    """(test probabilities, per-outcome fit info, wall seconds of the whole process)."""
    with tempfile.TemporaryDirectory(prefix="cmtl-peers-") as tmp:
        train.to_parquet(Path(tmp) / "train.parquet")
        test.to_parquet(Path(tmp) / "test.parquet")
        out = Path(tmp) / "out.parquet"
        cmd = [str(python), str(ROOT / "bench" / "autogluon_fit.py"), str(Path(tmp) / "train.parquet"),
               str(Path(tmp) / "test.parquet"), str(out), "--outcomes", ",".join(outcomes), "--preset", preset]
        if time_limit is not None:
            cmd += ["--time-limit", f"{time_limit:.1f}"]
        start = time.perf_counter()
        # AutoGluon's model folders go under TMPDIR: inside tmp, removed with it
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "TMPDIR": tmp})
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"AutoGluon {preset} failed:\n{done.stderr[-3000:]}")
        return pd.read_parquet(out)[outcomes].to_numpy(float), json.loads(Path(str(out) + ".json").read_text()), seconds


def save_members(name: str, seed: int, fitted, X: pd.DataFrame, Y_tv: np.ndarray, Y_test: np.ndarray) -> None:
    """Each member's out-of-fold probabilities (train+val rows), its test probabilities, the labels and
    the fold each row was held out in: a stacking rule can then be judged on every cohort of the benchmark
    without refitting (bench/restack.py)."""
    MEMBERS.mkdir(parents=True, exist_ok=True)
    fold = np.full(len(Y_tv), -1)
    for i, rows in enumerate(fitted.plan.held_rows):
        fold[rows] = i
    arrays = {"y_tv": Y_tv, "y_test": Y_test, "fold": fold, "default_test": fitted.model.predict_proba(X)}
    for m in fitted.members:
        arrays[f"held_{m.kind}"], arrays[f"test_{m.kind}"] = m.held, m.predict_proba(X)
    np.savez_compressed(MEMBERS / f"{name}-seed{seed}.npz", kinds=np.array([m.kind for m in fitted.members]),
                        **arrays)


def run_one(python: Path | None, name: str, seed: int, reuse: dict | None = None) -> dict:
    """One cohort-seed: cmtl, its logistic member and AutoGluon's two presets on the same rows. With
    `reuse` (an earlier result of this cohort-seed), AutoGluon's scores and times are taken from it:
    its rows are the same (the split depends on the seed only), so only cmtl is fitted again."""
    cfg = Config.model_validate(cohort_config(name, seed))
    f, labels = tabular.build_dataset({"tabular": ALL_COHORTS[name].load()}, cfg)
    outcomes, cols = cfg.outcomes, model_columns(f)
    start = time.perf_counter()
    fitted = fit_model(cfg, f, labels)
    cmtl_seconds = time.perf_counter() - start
    test = (f["split"] == "test").to_numpy()
    X, Y = f.loc[test, cols], labels.loc[test, outcomes].to_numpy(float)
    scores = {"cmtl": fitted.model.predict_proba(X),
              "logistic": next(m for m in fitted.members if m.kind == "logistic").predict_proba(X)}
    save_members(name, seed, fitted, X, labels.loc[~test, outcomes].to_numpy(float), Y)
    train = f.loc[~test, cols].reset_index(drop=True)
    train[outcomes] = labels.loc[~test, outcomes].to_numpy(float)
    runs = {}
    for preset in PRESETS if reuse is None else ():
        limit = cmtl_seconds if preset == "best_quality" else None
        P, info, wall = autogluon(python, train, X.reset_index(drop=True), outcomes, preset, limit)
        scores[f"ag_{preset}"] = P
        runs[preset] = {"wall_seconds": wall, "time_limit_per_outcome": limit, "per_outcome": info}
    rows = []
    for k, o in enumerate(outcomes):
        row = {"outcome": o, "n_test": int((~np.isnan(Y[:, k])).sum()), "positives": int(np.nansum(Y[:, k]))}
        for tool, P in scores.items():
            row.update({f"{tool}_{m}": v for m, v in _score(Y[:, k], P[:, k]).items()})
        if reuse is not None:
            old = reuse["outcomes"][k]
            if (old["outcome"], old["n_test"], old["positives"]) != (o, row["n_test"], row["positives"]):
                raise RuntimeError(f"{name} seed {seed}: the cached test rows differ; run it afresh")
            row.update({key: v for key, v in old.items() if key.startswith("ag_")})
        rows.append(row)
    out = {"cohort": name, "seed": seed, "kind": ALL_COHORTS[name].kind, "rows_total": len(f),
           "n_features": len(cols), "cmtl_seconds": cmtl_seconds, "fitting": fitted.plan.mode,
           "autogluon": runs if reuse is None else reuse["autogluon"], "outcomes": rows, "machine": machine()}
    if reuse is not None:  # where AutoGluon's numbers were measured
        out["autogluon_machine"] = reuse.get("autogluon_machine", reuse["machine"])
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cohorts", default=",".join(ALL_COHORTS))
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--report-only", action="store_true", help="write the report from the cached parts")
    ap.add_argument("--out", default="peers",
                    help="report name under bench/results (another name for extra seeds, so the 3-seed report stays)")
    ap.add_argument("--refit-cmtl", action="store_true",
                    help="fit cmtl again on every cached cohort-seed, keeping AutoGluon's cached results")
    args = ap.parse_args(argv)
    names, seeds = args.cohorts.split(","), [int(s) for s in args.seeds.split(",")]
    PARTS.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        for seed in seeds:  # every cohort once before any second seed: a partial run still covers them all
            for name in names:
                part = PARTS / f"{name}-seed{seed}.json"
                if part.exists() and not args.refit_cmtl:
                    continue
                start = time.perf_counter()
                reuse = json.loads(part.read_text()) if part.exists() else None
                if reuse is not None and reuse["machine"]["commit"] == machine()["commit"]:
                    continue  # already fitted at this commit (a resumed --refit-cmtl)
                # AutoGluon's venv is built only when a part needs AutoGluon (a refit reuses its results)
                result = run_one(ensure_venv() if reuse is None else None, name, seed, reuse)
                part.write_text(json.dumps(result, indent=1))
                print(f"{name} seed {seed}: {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    parts = [json.loads((PARTS / f"{n}-seed{s}.json").read_text()) for s in seeds for n in names
             if (PARTS / f"{n}-seed{s}.json").exists()]
    command = "python -m bench.peers " + " ".join(argv if argv is not None else sys.argv[1:])
    extra = [json.loads(q.read_text()) for q in sorted(PARTS.glob("*-seed*.json"))
             if q.stem.rsplit("-seed", 1)[0] in names and int(q.stem.rsplit("-seed", 1)[1]) not in seeds]
    markdown, data = report(parts, names, seeds, extra)
    write(args.out, command.strip(), markdown, data)


if __name__ == "__main__":
    main()

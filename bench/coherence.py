"""Benchmark: coherent nested outcomes on the public multi-horizon cohorts (issue 19).

    python -m bench.coherence [--cohorts colon,pbc] [--seeds 1,2,3]

Each cohort of bench/cohorts.py with "event by horizon" outcomes is fitted as `cmtl run` would
(mtl_core.ensemble.fitting.fit_model), with its horizons declared as chains (and a cause-specific
death implying death by the same horizon). One fit gives both answers: the registered model's risks
before the projection onto the declared order, and after it. Per cohort and split seed: the share of
test rows with a later horizon below an earlier one, the largest reversal, and per outcome the test
AUROC and Brier before and after.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from bench.cohorts import ALL_COHORTS
from bench.common import write
from bench.real_data import cohort_config
from mtl_core.config import Config
from mtl_core.dataset.features import model_columns
from mtl_core.dataset.structure import coherent, unprojected_proba
from mtl_core.ensemble.fitting import fit_model
from mtl_core.evaluation.metrics import auroc
from mtl_core.sources import tabular

STRUCTURES = {
    "flchain": {"chains": [["death_1y", "death_3y", "death_5y", "death_10y"]],
                "implies": [["circulatory_death_5y", "death_5y"], ["neoplasm_death_5y", "death_5y"]]},
    "nafld": {"chains": [["death_3y", "death_5y", "death_10y"]]},
    "nwtco": {"chains": [["relapse_1y", "relapse_3y"]]},
    "rotterdam": {"chains": [["recurrence_2y", "recurrence_5y"], ["death_5y", "death_10y"]]},
    "aids": {"chains": [["death_6m", "death_1y", "death_2y"]]},
    "mgus": {"chains": [["death_2y", "death_5y", "death_10y"]]},
    "colon": {"chains": [["recurrence_1y", "recurrence_3y"], ["death_3y", "death_5y"]]},
    "pbc": {"chains": [["death_2y", "death_5y"]]},
    "prostate": {"chains": [["prostate_death_2y", "prostate_death_5y"]],
                 "implies": [["prostate_death_2y", "death_2y"]]},
}
DEFAULT = ("colon", "pbc", "aids", "mgus", "nwtco", "rotterdam")  # the smaller ones: minutes, not hours


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    ok = ~np.isnan(y)
    return float(np.mean((p[ok] - y[ok]) ** 2))


def run_one(name: str, seed: int) -> tuple[dict, list[dict]]:
    cfg = Config.model_validate({**cohort_config(name, seed), "outcome_structure": STRUCTURES[name]})
    f, labels = tabular.build_dataset({"tabular": ALL_COHORTS[name].load()}, cfg)
    start = time.perf_counter()
    model = fit_model(cfg, f, labels).model
    seconds = time.perf_counter() - start
    test = (f["split"] == "test").to_numpy()
    X, Y = f.loc[test, model_columns(f)], labels.loc[test, cfg.outcomes].to_numpy(float)
    raw = unprojected_proba(model, X)
    P = coherent(model, raw)
    s = model.structure_
    gaps = [raw[:, a] - raw[:, b] for a, b in s.edges(cfg.outcomes)]
    summary = {"cohort": name, "seed": seed, "rows": int(len(X)), "seconds": seconds,
               "incoherent_before": float(s.incoherent(raw, cfg.outcomes).mean()),
               "incoherent_after": float(s.incoherent(P, cfg.outcomes).mean()),
               "max_reversal": float(max(g.max() for g in gaps))}
    rows = []
    for k, o in enumerate(cfg.outcomes):
        y = Y[:, k]
        ok = ~np.isnan(y)
        rows.append({"cohort": name, "seed": seed, "outcome": o,
                     "auroc_before": auroc(y[ok], raw[ok, k]), "auroc_after": auroc(y[ok], P[ok, k]),
                     "brier_before": _brier(y, raw[:, k]), "brier_after": _brier(y, P[:, k])})
    return summary, rows


def _reversal(x: float) -> str:
    return f"{100 * x:.2f} points" if x > 0 else "none"


def report(summaries: list[dict], rows: list[dict]) -> str:
    s = pd.DataFrame(summaries)
    lines = ["Share of test rows where a risk the declared structure says must be higher came out lower "
             "(the registered model's risks before the projection), and after it; per split seed.", "",
             "| cohort | seed | test rows | incoherent before | incoherent after | largest reversal | fit |",
             "|---|---|---|---|---|---|---|"]
    lines += [f"| {r.cohort} | {r.seed} | {r.rows:,} | {r.incoherent_before:.1%} | {r.incoherent_after:.1%} | "
              f"{_reversal(r.max_reversal)} | {r.seconds:.0f} s |" for r in s.itertuples()]
    d = pd.DataFrame(rows)
    d["auroc_delta"], d["brier_delta"] = d["auroc_after"] - d["auroc_before"], d["brier_after"] - d["brier_before"]
    g = d.groupby(["cohort", "outcome"], sort=False)[["auroc_before", "auroc_after", "auroc_delta",
                                                       "brier_before", "brier_after", "brier_delta"]].mean()
    lines += ["", f"Per outcome (mean over seeds): AUROC and Brier before and after. Worst AUROC change "
              f"{d['auroc_delta'].min():+.4f}, worst Brier change {d['brier_delta'].max():+.5f} (any seed).", "",
              "| cohort | outcome | AUROC before | AUROC after | change | Brier before | Brier after | change |",
              "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {c} | {o} | {r.auroc_before:.4f} | {r.auroc_after:.4f} | {r.auroc_delta:+.4f} | "
              f"{r.brier_before:.5f} | {r.brier_after:.5f} | {r.brier_delta:+.5f} |" for (c, o), r in g.iterrows()]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cohorts", default=",".join(DEFAULT))
    ap.add_argument("--seeds", default="1,2,3")
    a = ap.parse_args()
    summaries, rows = [], []
    for name in a.cohorts.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            summary, per = run_one(name, seed)
            print(summary, flush=True)
            summaries.append(summary)
            rows += per
    command = f"python -m bench.coherence --cohorts {a.cohorts} --seeds {a.seeds}"
    write("coherence", command, report(summaries, rows), {"summaries": summaries, "outcomes": rows})


if __name__ == "__main__":
    main()

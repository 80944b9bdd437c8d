"""Benchmark: what per-patient explanations cost (issue 19), `cmtl score --explain K`'s work without the
file and Prefect around it.

    python -m bench.explain_cost --model-dir workspace/models/<run id> [--rows 10000,200000]

A model folder of the default config (`make run` writes one): its registered estimator, its input
example as the reference patient, and rows drawn from its feature set (with replacement, to reach the
row counts). Times scoring alone and scoring with the top 3 factors per outcome.
"""
from __future__ import annotations

import argparse
import time

from bench.common import write
from mtl_core.data import feature_set
from mtl_core.data.model_folder import ModelFolder
from mtl_core.evaluation.contributions import baseline_shapley, top_factors
from mtl_core.evaluation.explain import predictor_groups


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--rows", default="10000,200000")
    ap.add_argument("--items", default="creatinine,lactate,wbc,hemoglobin,potassium,sodium,glucose,heart_rate,"
                                        "sbp,resp_rate,temperature,spo2")
    a = ap.parse_args()
    folder = ModelFolder(a.model_dir)
    est, reference = folder.estimator(), folder.input_example()
    f, _ = feature_set.features_and_labels(folder.meta().features_dir, est.outcomes_)
    cols = list(est.feature_names_in_)
    groups = predictor_groups(cols, a.items.split(","))
    results = []
    for n in (int(r) for r in a.rows.split(",")):
        X = f[cols].sample(n, replace=True, random_state=0).reset_index(drop=True)
        start = time.perf_counter()
        est.predict_proba(X)
        scored = time.perf_counter() - start
        start = time.perf_counter()
        c = baseline_shapley(est.predict_proba, X, reference, groups)
        top_factors(c, X, reference, groups, est.outcomes_, 3)
        explained = time.perf_counter() - start
        results.append({"rows": n, "score_seconds": scored, "explain_seconds": explained,
                        "predictors": len(groups), "outcomes": len(est.outcomes_)})
        print(results[-1], flush=True)
    lines = ["| rows | scoring alone | top 3 factors per outcome | per 10,000 rows |", "|---|---|---|---|"]
    lines += [f"| {r['rows']:,} | {r['score_seconds']:.1f} s | {r['explain_seconds']:.1f} s | "
              f"{10_000 * r['explain_seconds'] / r['rows']:.1f} s |" for r in results]
    text = (f"The default model ({results[0]['predictors']} predictors, an event item's aggregates as one; "
            f"{results[0]['outcomes']} outcomes), baseline Shapley values over 4 antithetic orderings "
            "(mtl_core/evaluation/contributions.py).\n\n" + "\n".join(lines))
    write("explain_cost", f"python -m bench.explain_cost --rows {a.rows}", text, {"results": results})


if __name__ == "__main__":
    main()

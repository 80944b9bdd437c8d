"""Benchmark: what per-patient explanations cost (issue 19), `cmtl score --explain K`'s work without the
file and Prefect around it.

    python -m bench.explain_cost --model-dir workspace/models/<run id> [--rows 10000,200000]

A model folder of the default config (`make run` writes one): its registered estimator, its input
example as the reference patient, and rows drawn from its feature set (with replacement, to reach the
row counts). Times scoring alone and the top 3 factors per outcome by the members' additive
attributions (mtl_core/evaluation/additive.py, what `cmtl score --explain` and the served model use),
and, on the first --shapley-rows rows only, by the model-agnostic baseline Shapley values it replaced.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from bench.common import write
from mtl_core.data import feature_set
from mtl_core.data.model_folder import ModelFolder
from mtl_core.evaluation.additive import member_contributions
from mtl_core.evaluation.contributions import baseline_shapley, top_factors
from mtl_core.evaluation.explain import predictor_groups


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model-dir", required=True)
    ap.add_argument("--rows", default="10000,200000")
    ap.add_argument("--shapley-rows", type=int, default=1000, help="rows for the baseline Shapley comparison")
    ap.add_argument("--items", default="creatinine,lactate,wbc,hemoglobin,potassium,sodium,glucose,heart_rate,"
                                        "sbp,resp_rate,temperature,spo2")
    a = ap.parse_args()
    folder = ModelFolder(a.model_dir)
    est, reference = folder.estimator(), folder.input_example()
    f, _ = feature_set.features_and_labels(folder.meta().features_dir, est.outcomes_)
    cols = list(est.feature_names_in_)
    groups = predictor_groups(cols, a.items.split(","))
    results = []
    X = f[cols].sample(a.shapley_rows, replace=True, random_state=1).reset_index(drop=True)
    start = time.perf_counter()
    c = baseline_shapley(est.predict_proba, X, reference, groups)
    top_factors(c, X, reference, groups, est.outcomes_, 3)
    shapley = time.perf_counter() - start
    start = time.perf_counter()
    fast = member_contributions(est, X, reference, groups)
    top_factors(fast, X, reference, groups, est.outcomes_, 3)
    additive = time.perf_counter() - start
    agree = [float(np.corrcoef(fast.values[:, :, k].ravel(), c.values[:, :, k].ravel())[0, 1])
             for k in range(len(est.outcomes_))]
    same_top = float(np.mean(np.argmax(np.abs(fast.values), 1) == np.argmax(np.abs(c.values), 1)))
    comparison = {"rows": a.shapley_rows, "shapley_seconds": shapley, "additive_seconds": additive,
                  "correlation_min": min(agree), "same_top_factor": same_top}
    print(comparison, flush=True)
    for n in (int(r) for r in a.rows.split(",")):
        X = f[cols].sample(n, replace=True, random_state=0).reset_index(drop=True)
        start = time.perf_counter()
        est.predict_proba(X)
        scored = time.perf_counter() - start
        start = time.perf_counter()
        c = member_contributions(est, X, reference, groups)
        top_factors(c, X, reference, groups, est.outcomes_, 3)
        explained = time.perf_counter() - start
        results.append({"rows": n, "score_seconds": scored, "explain_seconds": explained,
                        "max_rest": float(np.abs(c.rest).max()), "predictors": len(groups),
                        "outcomes": len(est.outcomes_)})
        print(results[-1], flush=True)
    lines = ["| rows | scoring alone | top 3 factors per outcome | per 10,000 rows | largest unattributed logit |",
             "|---|---|---|---|---|"]
    lines += [f"| {r['rows']:,} | {r['score_seconds']:.1f} s | {r['explain_seconds']:.1f} s | "
              f"{10_000 * r['explain_seconds'] / r['rows']:.1f} s | {r['max_rest']:.1e} |" for r in results]
    ratio = comparison["shapley_seconds"] / comparison["additive_seconds"]
    text = (f"The default model ({results[0]['predictors']} predictors, an event item's aggregates as one; "
            f"{results[0]['outcomes']} outcomes). Top 3 factors per outcome from the members' additive "
            "attributions (linear, shap TreeExplainer, captum DeepLift; mtl_core/evaluation/additive.py). "
            "The last column is the largest |logit - reference - sum of contributions| over all rows and "
            "outcomes: what no predictor carries (DeepLift's float32 error, the outcome-structure projection)."
            "\n\n" + "\n".join(lines) + "\n\n"
            f"Against the baseline Shapley values used before (4 antithetic orderings, model-agnostic), on "
            f"{comparison['rows']:,} rows in the same run: {comparison['shapley_seconds']:.1f} s against "
            f"{comparison['additive_seconds']:.1f} s ({ratio:.0f}x faster); the two attributions correlate at "
            f"least {comparison['correlation_min']:.3f} per outcome, and name the same top factor in "
            f"{100 * comparison['same_top_factor']:.0f}% of row-outcome pairs.")
    write("explain_cost", f"python -m bench.explain_cost --rows {a.rows} --shapley-rows {a.shapley_rows}", text, {"results": results, "comparison": comparison})


if __name__ == "__main__":
    main()

"""README benchmark rows on operations: `cmtl monitor` and the cost of explanations."""
from __future__ import annotations

from bench.readme_text import where


def monitor(res) -> list[str]:
    data = res("monitor")
    flagged = [o for o, v in data["verdicts"].items() if v != "stable"]
    return [f"monitoring: `cmtl monitor` on {data['rows']:,} newly labelled admissions (a later year of the synthetic "
            "source, sepsis given an unmeasured cause; `bench/results/monitor.md`)",
            f"{data['wall_seconds']:.0f} s wall, {data['peak_rss_mb'] / 1024:.2f} GiB peak RSS {where(data['machine'])}; "
            f"not stable: {', '.join(flagged) or 'none'}",
            "the planted outcome only"]


def explain_cost(res) -> list[str]:
    data = res("explain_cost")
    rows = [r for r in data["results"] if "explain_seconds" in r]
    comparison = data.get("comparison") or next(r["comparison"] for r in data["results"] if "comparison" in r)
    per = ", ".join(f"{r['rows']:,} rows {r['explain_seconds']:.0f} s" for r in rows)
    speedup = comparison["shapley_seconds"] / comparison["additive_seconds"]
    return ["per-patient factors: `cmtl score --explain 3` on the default model, members' additive attributions "
            "(`bench/results/explain_cost.md`)",
            f"{per} (scoring alone {rows[0]['score_seconds']:.1f} s per {rows[0]['rows']:,}); {speedup:.1f}x faster "
            f"than baseline Shapley on {comparison['rows']:,} rows, same top factor "
            f"{100 * comparison['same_top_factor']:.0f}%; largest unattributed logit "
            f"{max(r['max_rest'] for r in rows):.0e} {where(data['machine'])}",
            "additive to 1e-6; batch-scoring speed"]


def explain_run_cost(res) -> list[str]:
    data = res("explain_run_cost")
    med = data["median"]
    return ["a `cmtl run` on the default cohort with the run's global explanations on vs off "
            "(`bench/results/explain_run_cost.md`)",
            f"{med['ratio']:.2f}x wall time (median of {len(data['pairs'])} pairs: {med['on']:.0f} s vs "
            f"{med['off']:.0f} s) {where(data['machine'])}",
            "stated, not a target"]

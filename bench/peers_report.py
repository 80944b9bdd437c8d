"""The peer comparison's report and target verdicts, from bench.peers' cached parts per cohort and seed."""
from __future__ import annotations

import numpy as np
import pandas as pd

from bench.targets import PEER_MARGIN as MARGIN  # cmtl - AG medium_quality, per outcome (mean of the seeds)


def frames(parts: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per cohort, seed and outcome; one row per cohort and seed with the times)."""
    rows, times = [], []
    for p in parts:
        for r in p["outcomes"]:
            rows.append({"cohort": p["cohort"], "seed": p["seed"], **r})
        ag = p["autogluon"]
        times.append({"cohort": p["cohort"], "seed": p["seed"], "kind": p["kind"], "rows": p["rows_total"],
                      "features": p["n_features"], "outcomes": len(p["outcomes"]), "cmtl": p["cmtl_seconds"],
                      **{f"{k}_fit": sum(o["fit_seconds"] for o in v["per_outcome"].values()) for k, v in ag.items()},
                      **{f"{k}_wall": v["wall_seconds"] for k, v in ag.items()},
                      "load": p["machine"]["load_average_1_5_15min"][0]})
    df = pd.DataFrame(rows)
    for c in [c for c in df.columns if c.endswith(("_auroc", "_brier"))]:
        df[c] = df[c].astype(float)  # None: a peer fitted no model for that outcome
    return df, pd.DataFrame(times)


def verdicts(parts: list[dict]) -> dict:
    """The four targets of issue 21 on the real cohorts, with the numbers behind each."""
    df, t = frames(parts)
    for tool in ("ag_medium_quality", "ag_best_quality", "logistic"):
        df[f"d_{tool}"] = df["cmtl_auroc"] - df[f"{tool}_auroc"]
    g = df.groupby(["cohort", "outcome"], sort=False)
    mean = g[[c for c in df.columns if c.endswith("_auroc") or c.startswith("d_")]].mean()
    tt = t.groupby("cohort", sort=False)[["cmtl", "medium_quality_fit", "best_quality_fit"]].mean()
    per = mean["d_ag_medium_quality"]
    return {"outcomes": len(mean), "cohorts": int(t["cohort"].nunique()), "seeds": sorted(t["seed"].unique().tolist()),
            "per_outcome_met": int((per >= MARGIN).sum()), "worst": float(per.min()),
            "worst_outcome": " / ".join(per.idxmin()) if len(per) else "",
            "mean_vs_medium": float(per.mean()), "mean_vs_best": float(mean["d_ag_best_quality"].mean()),
            "mean_vs_logistic": float(mean["d_logistic"].mean()),
            "cmtl_seconds": float(tt["cmtl"].sum()), "medium_fit_seconds": float(tt["medium_quality_fit"].sum()),
            "best_fit_seconds": float(tt["best_quality_fit"].sum()),
            "met": {"per_outcome": bool((per >= MARGIN).all()), "mean_vs_medium": bool(per.mean() >= 0),
                    "mean_vs_best": bool(mean["d_ag_best_quality"].mean() >= 0),
                    "time": bool(tt["cmtl"].sum() <= tt["medium_quality_fit"].sum())}}


def _f(x) -> str:
    return "n/a" if x is None or (isinstance(x, float) and np.isnan(x)) else f"{x:.3f}"


def report(parts: list[dict], names: list[str], seeds: list[int], extra: list[dict] = ()) -> tuple[str, dict]:
    """The report of the `seeds` parts; `extra`: parts of further seeds (bench.peers --seeds 4,... --out ...),
    read only to say how an outcome that trails at the report's seeds fares over all seeds run."""
    df, t = frames(parts)
    v = verdicts(parts)
    yes = lambda ok: "**met**" if ok else "**not met**"  # noqa: E731
    missing = [f"{n} seed {s}" for s in seeds for n in names if not ((t["cohort"] == n) & (t["seed"] == s)).any()]
    lines = [f"Cohorts {v['cohorts']} of {len(names)}, seeds {v['seeds']}, {v['outcomes']} outcomes"
             + (f"; not yet run: {', '.join(missing)}" if missing else "") + ".", "",
             f"- per outcome, cmtl >= AutoGluon medium_quality {MARGIN} (mean over seeds): {yes(v['met']['per_outcome'])}, "
             f"{v['per_outcome_met']} of {v['outcomes']}; worst {v['worst']:+.4f} ({v['worst_outcome']})",
             f"- mean over outcomes, cmtl - AG medium_quality {v['mean_vs_medium']:+.4f} (>= 0: {yes(v['met']['mean_vs_medium'])})",
             f"- AG best_quality with cmtl's wall time as the time limit of each outcome's fit (its total is that "
             f"times the outcomes): cmtl - AG best_quality {v['mean_vs_best']:+.4f} (>= 0: {yes(v['met']['mean_vs_best'])})",
             f"- time: cmtl {v['cmtl_seconds']:.0f} s (fit, all outcomes, summed over cohorts, mean over seeds) vs AG "
             f"medium_quality {v['medium_fit_seconds']:.0f} s summed per-outcome fit ({yes(v['met']['time'])}); "
             f"AG best_quality used {v['best_fit_seconds']:.0f} s",
             f"- plain logistic regression (cmtl's own logistic member): cmtl - logistic {v['mean_vs_logistic']:+.4f}", "",
             "| cohort | kind | rows | features | seeds | cmtl s | AG medium fit s | AG best fit s | cmtl - AG medium: mean / worst "
             "| cmtl - AG best | cmtl - logistic | load (1 min) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for c, sub in t.groupby("cohort", sort=False):
        d = df[df["cohort"] == c]
        dm = (d["cmtl_auroc"] - d["ag_medium_quality_auroc"]).groupby(d["outcome"]).mean()
        db = (d["cmtl_auroc"] - d["ag_best_quality_auroc"]).groupby(d["outcome"]).mean()
        dl = (d["cmtl_auroc"] - d["logistic_auroc"]).groupby(d["outcome"]).mean()
        lines.append(f"| {c} | {sub['kind'].iloc[0]} | {sub['rows'].iloc[0]:,} | {sub['features'].iloc[0]} | {len(sub)} | "
                     f"{sub['cmtl'].mean():.0f} | {sub['medium_quality_fit'].mean():.0f} | {sub['best_quality_fit'].mean():.0f} | "
                     f"{dm.mean():+.4f} / {dm.min():+.4f} | {db.mean():+.4f} | {dl.mean():+.4f} | "
                     f"{sub['load'].mean():.1f} |")
    lines += ["", "Per outcome (test AUROC and Brier, mean over seeds; ± is the standard deviation of cmtl - AG medium "
              "over seeds, the noise of one test split):", "",
              "| cohort | outcome | test n (positives) | cmtl | AG medium | AG best | logistic | cmtl - AG medium | "
              "Brier cmtl / AG medium | met |", "|---|---|---|---|---|---|---|---|---|---|"]
    for (c, o), d in df.groupby(["cohort", "outcome"], sort=False):
        diff = d["cmtl_auroc"] - d["ag_medium_quality_auroc"]
        sd = f" ± {diff.std():.3f}" if len(d) > 1 else ""
        m = d.mean(numeric_only=True)
        lines.append(f"| {c} | {o} | {m['n_test']:.0f} ({m['positives']:.0f}) | {_f(m['cmtl_auroc'])} | "
                     f"{_f(m['ag_medium_quality_auroc'])} | {_f(m['ag_best_quality_auroc'])} | {_f(m['logistic_auroc'])} | "
                     f"{diff.mean():+.4f}{sd} | {_f(m['cmtl_brier'])} / {_f(m['ag_medium_quality_brier'])} | "
                     f"{'yes' if diff.mean() >= MARGIN else 'NO'} |")
    trailing = behind(parts, df)
    if extra:
        more, _ = frames(list(parts) + list(extra))
        for r in trailing:
            d = more[(more["cohort"] == r["cohort"]) & (more["outcome"] == r["outcome"])]
            diff = d["cmtl_auroc"] - d["ag_medium_quality_auroc"]
            r["all_seeds"] = {"seeds": len(d), "mean": float(diff.mean()), "se": float(diff.std() / np.sqrt(len(d))),
                              "seeds_behind": int((diff < MARGIN).sum())}
    lines += behind_section(trailing)
    return "\n".join(lines), {"verdicts": v, "missing": missing, "rows": df.to_dict("records"),
                              "times": t.to_dict("records"), "behind": trailing}


def leaned_on(parts: list[dict], cohort: str, outcome: str) -> dict[str, float]:
    """Mean weight of each model in AutoGluon medium_quality's weighted ensemble for one outcome, over
    the seeds that recorded it (bench/autogluon_fit.py), largest first."""
    seen = [p["autogluon"]["medium_quality"]["per_outcome"].get(outcome, {}).get("ensemble_weights")
            for p in parts if p["cohort"] == cohort]
    seen = [w for w in seen if w]
    if not seen:
        return {}
    mean = pd.DataFrame(seen).fillna(0.0).mean()
    return {str(k): round(float(w), 2) for k, w in mean.sort_values(ascending=False).items() if w > 0}


def behind(parts: list[dict], df: pd.DataFrame) -> list[dict]:
    """The outcomes whose mean cmtl - AG medium_quality is below the margin: by how much, how steadily
    (seeds behind, spread over seeds) and what AutoGluon's ensemble leaned on there."""
    out = []
    for (c, o), d in df.groupby(["cohort", "outcome"], sort=False):
        diff = d["cmtl_auroc"] - d["ag_medium_quality_auroc"]
        if diff.mean() >= MARGIN:
            continue
        out.append({"cohort": c, "outcome": o, "mean": float(diff.mean()),
                    "sd": float(diff.std()) if len(d) > 1 else None, "seeds": len(d),
                    "seeds_behind": int((diff < MARGIN).sum()), "ag_leaned_on": leaned_on(parts, c, o)})
    return out


def behind_section(rows: list[dict]) -> list[str]:
    """The report's lines for the outcomes of `behind`."""
    if not rows:
        return []
    lines = ["", f"Where cmtl is behind AG medium_quality by more than {-MARGIN}: on how many seeds (below the "
             "margin / run), the spread over seeds, and the models AG's weighted ensemble leaned on (mean weight "
             "over the seeds that recorded it):", ""]
    for r in rows:
        sd = f" ± {r['sd']:.3f}" if r["sd"] is not None else ""
        lean = ", ".join(f"{k} {w:.2f}" for k, w in r["ag_leaned_on"].items()) or "not recorded"
        more = r.get("all_seeds")
        over = (f"; over {more['seeds']} split seeds (the extra ones run for this) {more['mean']:+.4f} ± "
                f"{more['se']:.4f} (standard error), behind on {more['seeds_behind']}") if more else ""
        lines.append(f"- {r['cohort']} {r['outcome']}: {r['mean']:+.4f}{sd}, behind on {r['seeds_behind']} of "
                     f"{r['seeds']} seeds{over}; AG leaned on {lean}")
    return lines

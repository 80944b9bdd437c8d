"""The metrics that leave an evaluation, declared once: each per-outcome report metric reaches MLflow
(test/<key>/<outcome>), the model card's performance table and the run's table artifact from here.
A new metric is one entry in REPORT_METRICS (and its value in the evaluation report row)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Metric:
    key: str             # key of the evaluation report row, and of test/<key>/<outcome> in MLflow
    label: str           # column heading on the model card
    spec: str = ".3f"    # how the card formats it
    ci: bool = False     # the row also has <key>_ci_low and <key>_ci_high
    card: bool = True    # on the model card's performance table
    table: bool = True   # in the run's table artifact (Prefect)


REPORT_METRICS = (
    Metric("n", "n", ","),
    Metric("prevalence", "prevalence", ".1%"),
    Metric("auroc", "AUROC", ci=True),
    Metric("auprc", "AUPRC", ci=True),
    Metric("brier", "Brier"),
    Metric("ece", "ECE"),
    Metric("calibration_slope", "cal. slope", ".2f", table=False),
    Metric("calibration_intercept", "cal. intercept", ".2f", table=False),
    Metric("bayes_auroc", "ceiling AUROC", card=False, table=False),  # synthetic data only
)

# operating-point metrics with CIs (evaluation/operating_points.evaluate_point)
OP_METRICS = ("sensitivity", "specificity", "ppv", "npv", "f1", "accuracy", "alert_rate")


def metric_keys(m: Metric) -> list[str]:
    return [m.key, f"{m.key}_ci_low", f"{m.key}_ci_high"] if m.ci else [m.key]


def table_row(r: dict) -> dict:
    """The run's table-artifact columns of one report row, rounded to 4 digits."""
    def rounded(x):
        return None if x is None else round(float(x), 4)
    return {k: r[k] if k == "n" else rounded(r.get(k)) for m in REPORT_METRICS if m.table for k in metric_keys(m)}


DECIMALS = 4  # of the logged test metrics


def metric_values(result: dict) -> dict[str, float | None]:
    """Flat MLflow metrics: test/<metric>/<outcome>, subgroups, baselines, transfer and the review."""
    values = {}
    for r in result["report"]:
        o = r["outcome"]
        for m in REPORT_METRICS:
            for key in metric_keys(m):
                values[f"test/{key}/{o}"] = r.get(key)
        for g in r.get("subgroups", []):
            values[f"test/subgroup_auroc/{g['column']}:{g['group']}/{o}"] = g["auroc"]
            values[f"test/subgroup_auroc_ci_low/{g['column']}:{g['group']}/{o}"] = g.get("auroc_ci_low")
    values.update(review_values(result))
    for t in result["transfer"]:
        o = t["outcome"]
        for kind, a in t["baseline_auroc"].items():
            values[f"test/baseline_auroc/{kind}/{o}"] = a
        values[f"test/mtl_minus_best_baseline/{o}"] = t["delta"]
    for t in result.get("model_vs_baselines", []):
        values[f"test/model_minus_best_baseline/{t['outcome']}"] = t["delta"]
    for o, a in result.get("network_auroc", {}).items():
        values[f"test/network_auroc/{o}"] = a
    if result.get("structure"):  # declared nested outcomes: test rows breaking them, before / after
        s = result["structure"]
        values["test/incoherent_share/unprojected"] = s["incoherent_before"] / max(s["rows"], 1)
        values["test/incoherent_share"] = s["incoherent_after"] / max(s["rows"], 1)
    estimable = [r["auroc"] for r in result["report"] if r["auroc"] is not None]
    values["test/mean_auroc"] = float(np.mean(estimable)) if estimable else None
    # 4 decimals: what a reviewer reads in the MLflow UI (it shows the stored value, 16 digits of it);
    # alert thresholds keep their precision (the model ships them in operating_points.json either way)
    return {k: v if v is None or k.startswith("op/threshold/") else round(float(v), DECIMALS)
            for k, v in values.items()}


def review_values(result: dict) -> dict[str, float | None]:
    """Operating points (threshold and test metrics with CIs), net benefit and rate gaps as metrics."""
    values = {}
    for r in result.get("operating_points", []):
        o = r["outcome"]
        values[f"op/threshold/{o}"] = r.get("threshold")
        values[f"test/op/net_benefit/{o}"] = r.get("net_benefit")
        for k in OP_METRICS:
            values[f"test/op/{k}/{o}"] = r.get(k)
            values[f"test/op/{k}_ci_low/{o}"] = r.get(f"{k}_ci_low")
            values[f"test/op/{k}_ci_high/{o}"] = r.get(f"{k}_ci_high")
    for d in result.get("decision_curves", []):
        values[f"test/dca/useful_from/{d['outcome']}"] = d.get("useful_from")
        values[f"test/dca/useful_to/{d['outcome']}"] = d.get("useful_to")
    for g in result.get("rate_gaps", []):
        for rate in ("tpr", "fpr"):
            values[f"test/{rate}_gap/{g['column']}/{g['outcome']}"] = g.get(f"{rate}_gap")
    return values

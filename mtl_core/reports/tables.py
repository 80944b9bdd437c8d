"""Table rows every report shares (model card, model_composition.md, the CLI): formatting, the operating
points, the ensemble weights, and the per-outcome performance columns of evaluation/metric_list.py."""
from __future__ import annotations

from collections.abc import Callable, Sequence

from mtl_core.evaluation.metric_list import REPORT_METRICS, Metric

# evaluation operating-point keys with CIs, and their column headings
OP_COLUMNS = (("alert_rate", "alert rate"), ("sensitivity", "sensitivity"), ("specificity", "specificity"),
              ("ppv", "PPV"), ("npv", "NPV"))


def fmt(x, spec: str = ".3f", missing: str = "n/a") -> str:
    return missing if x is None else format(x, spec)


def ci(lo, hi, spec: str = ".3f") -> str:
    return "" if lo is None or hi is None else f" ({format(lo, spec)}-{format(hi, spec)})"


def with_ci(r: dict, key: str, spec: str = ".3f") -> str:
    """"0.812 (0.790-0.833)" from r[key], r[key_ci_low], r[key_ci_high]; "n/a" when r[key] is missing."""
    v = r.get(key)
    return "n/a" if v is None else format(v, spec) + ci(r.get(f"{key}_ci_low"), r.get(f"{key}_ci_high"), spec)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return (["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            + ["| " + " | ".join(r) + " |" for r in rows] + [""])


def rule_text(point: dict) -> str:
    return point["rule"] + ("" if point.get("target") is None else f" {point['target']:g}")


def operating_point_rows(points: Sequence[dict], spec: str = ".1%",
                         extra: Sequence[tuple[str, Callable[[dict], str]]] = ()) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the operating points: outcome, rule, threshold, the rates with CIs, then extra
    (heading, cell) columns. An outcome without a threshold shows why instead."""
    header = ["outcome", "rule", "threshold", *(label for _, label in OP_COLUMNS), *(label for label, _ in extra)]
    rows = []
    for r in points:
        if r.get("threshold") is None:
            rows.append([r["outcome"], rule_text(r), "none", r.get("reason") or ""] + [""] * (len(header) - 4))
        else:
            rows.append([r["outcome"], rule_text(r), f"{r['threshold']:.3f}"]
                        + [with_ci(r, key, spec) for key, _ in OP_COLUMNS] + [cell(r) for _, cell in extra])
    return header, rows


def weight_rows(weights: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the ensemble weights: outcome -> member -> weight."""
    kinds = list(next(iter(weights.values())))
    return ["outcome", *kinds], [[o] + [f"{w[k]:.2f}" for k in kinds] for o, w in weights.items()]


def performance_rows(report: Sequence[dict], metrics: Sequence[Metric] = REPORT_METRICS
                     ) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the per-outcome test metrics shown on the model card."""
    shown = [m for m in metrics if m.card]
    header = ["outcome", *(m.label + (" (CI)" if m.ci else "") for m in shown)]
    rows = [[r["outcome"], *(with_ci(r, m.key, m.spec) if m.ci else fmt(r.get(m.key), m.spec) for m in shown)]
            for r in report]
    return header, rows

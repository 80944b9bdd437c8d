"""What `cmtl` prints: the per-outcome results table (fits 120 columns), the alert thresholds, the gate's
verdict with the next command that works, and a monitoring check's verdicts."""
from __future__ import annotations

import os
import sys

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mtl_core.reports.tables import operating_point_rows

# Piped output (CI logs, files) gets room for the results table instead of rich's 80 columns.
# a pipe or a file: 180 columns, or COLUMNS when that is wider (tables are captured unwrapped)
_COLUMNS = os.environ.get("COLUMNS", "")
console = Console() if sys.stdout.isatty() else Console(width=max(180, int(_COLUMNS) if _COLUMNS.isdigit() else 0))


def _fmt(x, spec=".3f"):
    return "not estimable" if x is None else format(x, spec)


def _weights(w: dict | None) -> str:
    if not w:
        return "network only"
    short = {"mtl": "net", "logistic": "logit", "hist_gb": "gbm", "single_task_net": "st-net", "lightgbm": "lgbm"}
    return " ".join(f"{short.get(k, k)} {v:.2f}" for k, v in sorted(w.items(), key=lambda kv: -kv[1]) if v >= 0.005)


def report(result: dict) -> None:
    transfer = {t["outcome"]: t for t in result.get("transfer", [])}
    versus = {t["outcome"]: t for t in result.get("model_vs_baselines", [])}
    weights = result.get("weights") or {}
    # fits 120 columns: each CI on the line under its estimate (a synthetic source's ceiling, its Bayes
    # AUROC, under that), text columns folded at a set width, never cut
    table = Table(title="Per-outcome test results", box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False)
    widths = {"outcome": min(24, max([len(r["outcome"]) for r in result["report"]] + [7])),
              "best single-task": 13, "sharing: network\n- best, verdict": 12, "ensemble weights": 16}
    for col in ("outcome", "prev.", "n", "test AUROC\n(95% CI)", "best single-task", "model - best\n(95% CI)",
                "sharing: network\n- best, verdict", "ensemble weights"):
        text = col in widths
        table.add_column(col, justify="left" if text else "right", no_wrap=not text,
                         overflow="fold" if text else "ellipsis", min_width=widths.get(col), max_width=widths.get(col))
    for r in result["report"]:
        o = r["outcome"]
        ci = f"\n({_fmt(r['auroc_ci_low'])}-{_fmt(r['auroc_ci_high'])})" if r.get("auroc_ci_low") else ""
        ceiling = f"\nceiling {_fmt(r['bayes_auroc'])}" if r.get("bayes_auroc") is not None else ""
        t, v = transfer.get(o, {}), versus.get(o, {})
        best = f"{t['best_baseline']} {_fmt(t['best_baseline_auroc'])}" if t.get("best_baseline") else "n/a"
        delta = "n/a" if v.get("delta") is None else f"{v['delta']:+.3f}" + (
            f"\n({v['lo']:+.3f},{v['hi']:+.3f})" if v.get("lo") is not None else "\n(no CI)")  # n_boot 0
        net = f"{t['delta']:+.3f}" if t.get("delta") is not None else "n/a"
        table.add_row(o, _fmt(r["prevalence"], ".1%"), f"{r['n']:,}", _fmt(r["auroc"]) + ci + ceiling, best, delta,
                      f"{net}: {t.get('verdict', 'n/a')}", _weights(weights.get(o)))
    console.print(table)


def operating_points(result: dict) -> None:
    points = result.get("operating_points") or []
    if not points:
        return
    table = Table(title="Alert threshold per outcome (chosen on validation, scored on test, 95% CI)")
    header, rows = operating_point_rows(points, ".0%", (("net benefit", lambda r: _fmt(r.get("net_benefit"), ".3f")
                                                           if r.get("net_benefit") is not None else "n/a"),))
    for col in header:
        table.add_column(col, justify="left" if col in ("outcome", "rule") else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def monitoring(result: dict) -> None:
    h = result["heading"]
    colour = {"stable": "green", "watch": "yellow", "degraded": "red"}
    console.print(f"[bold {colour[result['overall']]}]{result['model_name']} v{result['version']}: "
                  f"{result['overall']}[/] on {h['rows']:,} admissions it has not seen (lake snapshot "
                  f"{h['snapshot']}, as of {h['as_of']})", soft_wrap=True, highlight=False)
    for o, v in result["verdicts"].items():
        console.print(f"  - {o}: [{colour[v['status']]}]{v['status']}[/] ({escape(v['reason'])})",
                      soft_wrap=True, highlight=False)
    console.print(f"  MLflow run {result['run_id']}: monitoring.md and the monitor/* series by window end",
                  soft_wrap=True, highlight=False)


def verdict(result: dict, config: str | None = None) -> None:
    name, v = result["model_name"], result["version"]
    if result.get("dry_run"):
        who = f"{name} v{v}" if v else f"model {result.get('model_dir')} (not registered)"
        state = "would be promoted" if result.get("gate_passed") else "would stay challenger"
        console.print(f"[bold]dry run:[/] {who} {state}; nothing was registered, tagged or moved",
                      soft_wrap=True, highlight=False)
    elif result.get("forced"):
        gate = "passed" if result.get("gate_passed") else "rejected it"
        console.print(f"[bold magenta]{name} v{v} is now champion, forced[/] (the gate {gate}; audit tag "
                      "cmtl.audit.force-promote)", soft_wrap=True)
    elif result["promoted"]:
        console.print(f"[bold green]{name} v{v} is now champion[/] (models:/{name}@champion)",
                      soft_wrap=True)
    else:
        console.print(f"[bold yellow]{name} v{v} stays challenger[/]; champion unchanged")
    for reason in result["reasons"]:
        console.print(f"  - {reason}", highlight=False, markup=False, emoji=False)
    step = next_step(result, config)
    if step:
        console.print(f"[bold]Next:[/] {step}", soft_wrap=True, highlight=False)


def next_step(result: dict, config: str | None) -> str | None:
    """The command that works from where a run or promotion left the registry (the README's
    `cmtl score --model champion` fails when the gate promoted nothing)."""
    if result.get("dry_run") or result.get("promoted") or not result.get("version"):
        return None
    v, cfg = result["version"], f" --config {config}" if config else ""
    if result.get("compared_to"):
        return (f"v{result['compared_to']} is still champion (`cmtl score{cfg} --model champion ...`); to score "
                f"with v{v}: `cmtl score{cfg} --model challenger --input <features> --output <predictions>`")
    return (f"no champion yet: v{v} is challenger, so use `cmtl score{cfg} --model challenger --input "
            f"<features> --output <predictions>`; the reasons above say which outcome the gate refused "
            f"(promote it after review with `cmtl promote{cfg} --version {v} --force`)")

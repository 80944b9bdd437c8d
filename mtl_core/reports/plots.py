"""PNG plots for reviewers: ROC and precision-recall (operating point marked), calibration and decision curve
per outcome, and AUROC with CIs of the registered model (and the network alone beside a blend) vs
baselines. Legends name the registered blend and the network apart. Figures are built without pyplot (no
global backend state, safe in worker threads); they show curves and grouped aggregates only, and calibration groups with
fewer than MIN_BIN rows are left out."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from mtl_core.evaluation.metrics import auroc, labelled
from mtl_core.evaluation.operating_points import threshold_metrics

MIN_BIN = 10  # small-cell suppression: a bin this small would describe a handful of patients


MODEL = "registered model"
NETWORK = "network alone"


def blend_label(weights: dict | None) -> str:
    """The legend name of the registered model: the stacked blend, or the multi-task network alone."""
    return "registered blend (network + single-task)" if weights else "registered network"


def _labelled(y, p):
    y, p = labelled(y, p)
    return y.astype(int), p


def calibration_bins(y, p, bins: int = 10, min_bin: int = MIN_BIN):
    """Mean prediction, observed rate and count per group of predicted risk (quantile groups, so a rare
    outcome's low probabilities still spread over several points); groups under min_bin rows dropped."""
    y, p = _labelled(y, p)
    order = np.argsort(p, kind="stable")
    groups = [g for g in np.array_split(order, min(bins, max(1, p.size // max(min_bin, 1)))) if g.size]
    keep = [g for g in groups if g.size >= min_bin]
    return (np.array([p[g].mean() for g in keep]), np.array([y[g].mean() for g in keep]),
            np.array([g.size for g in keep]))


def outcome_figure(name: str, y, p, baseline: tuple[str, np.ndarray] | None = None, bins: int = 10,
                   threshold: float | None = None, curve: pd.DataFrame | None = None, model: str = MODEL
                   ) -> Figure:
    """Four panels for one outcome: ROC and precision-recall (with the prevalence), both marking the
    operating point chosen on validation, calibration, and the decision curve (net benefit). `model`
    labels the registered model's curves (the blend, or the network when it is registered alone)."""
    fig = Figure(figsize=(17, 4.2), layout="constrained")
    roc_ax, pr_ax, cal_ax, dca_ax = fig.subplots(1, 4)
    fig.suptitle(f"{name} (test split)")
    y_l, p_l = _labelled(y, p)
    estimable = y_l.size > 0 and 0 < y_l.sum() < y_l.size
    curves = [(model, p)] + ([baseline] if baseline is not None else [])
    for label, scores in curves if estimable else []:
        yy, ss = _labelled(y, scores)
        fpr, tpr, _ = roc_curve(yy, ss)
        roc_ax.plot(fpr, tpr, label=f"{label} (AUROC {auroc(yy, ss):.3f})")
        prec, rec, _ = precision_recall_curve(yy, ss)
        pr_ax.plot(rec, prec, label=label)
    if estimable and threshold is not None:
        m = threshold_metrics(y_l, p_l, threshold)
        label = f"operating point (p >= {threshold:.3f})"
        roc_ax.plot([1 - m["specificity"]], [m["sensitivity"]], "o", ms=9, mfc="none", mew=2, c="crimson", label=label)
        if m["ppv"] is not None:
            pr_ax.plot([m["sensitivity"]], [m["ppv"]], "o", ms=9, mfc="none", mew=2, c="crimson", label=label)
    _decision_panel(dca_ax, curve, threshold, model)
    if estimable:
        pr_ax.axhline(y_l.mean(), ls=":", c="grey", label=f"prevalence {y_l.mean():.1%}")
        mean_p, rate, n = calibration_bins(y, p, bins)
        cal_ax.plot(mean_p, rate, "o-", label=model)
        top = float(min(1.0, max(0.1, 1.15 * max(mean_p.max(initial=0), rate.max(initial=0)))))
    else:
        for ax in (roc_ax, pr_ax, cal_ax):
            ax.text(0.5, 0.5, "not estimable (one class)", ha="center", va="center")
    top = top if estimable else 1.0
    roc_ax.plot([0, 1], [0, 1], ls=":", c="grey")
    cal_ax.plot([0, 1], [0, 1], ls=":", c="grey", label="perfect calibration")
    for ax, (xl, yl, title) in zip((roc_ax, pr_ax, cal_ax), (
            ("false positive rate", "true positive rate", "ROC"),
            ("recall", "precision", "Precision-recall"),
            ("mean predicted probability", "observed rate", f"Calibration ({bins} risk groups)"))):
        lim = top if ax is cal_ax else 1.0
        ax.set(xlabel=xl, ylabel=yl, title=title, xlim=(0, lim), ylim=(0, 1.02 * lim))
        if estimable:
            ax.legend(loc="lower right" if ax is roc_ax else "best", fontsize=8)
    return fig


def _decision_panel(ax, curve: pd.DataFrame | None, threshold: float | None, model: str = MODEL) -> None:
    """Net benefit of the model, treat-all, treat-none (and the best baseline) across thresholds."""
    ax.set(xlabel="threshold probability", ylabel="net benefit", title="Decision curve")
    if curve is None or curve.empty:
        ax.text(0.5, 0.5, "no decision curve", ha="center", va="center", transform=ax.transAxes)
        return
    t = curve["threshold"]
    ax.plot(t, curve["model"], label=model)
    if "baseline" in curve:
        ax.plot(t, curve["baseline"], ls="--", label=str(curve["baseline_name"].iloc[0]))
    ax.plot(t, curve["treat_all"], c="grey", label="treat all")
    ax.plot(t, curve["treat_none"], c="black", ls=":", label="treat none")
    top = float(np.nanmax(curve[["model", "treat_all"]].to_numpy()))
    ax.set_ylim(-0.1 * max(top, 0.01), 1.1 * max(top, 0.01))
    if threshold is not None and t.min() <= threshold <= t.max():
        ax.axvline(threshold, c="crimson", ls=":", label="operating point")
    ax.legend(fontsize=8)


def auroc_chart(report: list[dict], transfer: list[dict], model: str = MODEL,
                network: dict[str, float | None] | None = None) -> Figure:
    """Per-outcome test AUROC of the registered model with its bootstrap CI, the multi-task network alone
    (when the registered model is a blend), and each single-task baseline."""
    outcomes = [r["outcome"] for r in report]
    base = {t["outcome"]: t["baseline_auroc"] for t in transfer}
    kinds = sorted({k for b in base.values() for k in b})
    series = [model] + ([NETWORK] if network else []) + kinds
    width = 0.8 / len(series)
    fig = Figure(figsize=(max(6, 1.6 * len(outcomes) + 2), 4.5), layout="constrained")
    ax = fig.subplots()
    x = np.arange(len(outcomes))
    for i, s in enumerate(series):
        if s == model:
            vals = [r["auroc"] for r in report]
            err = [[(r["auroc"] - r["auroc_ci_low"]) if r.get("auroc_ci_low") is not None else 0 for r in report],
                   [(r["auroc_ci_high"] - r["auroc"]) if r.get("auroc_ci_high") is not None else 0 for r in report]]
        elif s == NETWORK and network:
            vals, err = [network.get(o) for o in outcomes], None
        else:
            vals, err = [base.get(o, {}).get(s) for o in outcomes], None
        heights = [np.nan if v is None else v for v in vals]
        if err is not None:
            err = np.nan_to_num(np.array(err, float))
        ax.bar(x + (i - (len(series) - 1) / 2) * width, heights, width, yerr=err, capsize=3, label=s)
    ax.axhline(0.5, ls=":", c="grey")
    ax.set_xticks(x, outcomes, rotation=15)
    level = report[0].get("ci_level", 0.95) if report else 0.95
    ax.set(ylabel="test AUROC", ylim=(0.4, 1.0),
           title=f"Test AUROC per outcome ({model} with {level:.0%} CI) vs baselines")
    ax.legend(fontsize=8, ncol=len(series))
    return fig


def write_plots(folder: Path, outcomes: list[str], Y: np.ndarray, P: np.ndarray, baselines: dict,
                report: list[dict], transfer: list[dict], bins: int = 10,
                thresholds: dict[str, float | None] | None = None, curves: pd.DataFrame | None = None,
                model: str = MODEL, network: dict[str, float | None] | None = None) -> list[Path]:
    """`<outcome>.png` per outcome (with its best baseline when there is one, its operating point and
    decision curve) and `auroc.png`; `model` names the registered model in the legends (blend_label),
    `network` the network-alone AUROCs to show beside a blend."""
    folder.mkdir(parents=True, exist_ok=True)
    best = {t["outcome"]: t.get("best_baseline") for t in transfer}
    paths = []
    for k, name in enumerate(outcomes):
        kind = best.get(name)
        p_base = baselines.get(kind, {}).get(name) if kind else None
        curve = None if curves is None else curves[curves["outcome"] == name]
        fig = outcome_figure(name, Y[:, k], P[:, k], None if p_base is None else (kind, p_base), bins,
                             (thresholds or {}).get(name), curve, model)
        paths.append(folder / f"{name}.png")
        fig.savefig(paths[-1], dpi=110)
    fig = auroc_chart(report, transfer, model, network)
    paths.append(folder / "auroc.png")
    fig.savefig(paths[-1], dpi=110)
    return paths

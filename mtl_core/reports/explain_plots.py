"""The explanations heat map: outcomes x predictors, each cell the permutation importance of a predictor for
an outcome (mtl_core/evaluation/explain.py), so shared and outcome-specific drivers show at a glance.
Built without pyplot, as the other plots; aggregates only."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

MAX_PREDICTORS = 30  # columns shown: the predictors most important for any outcome


def importance_matrix(explanations: dict, limit: int = MAX_PREDICTORS) -> tuple[list[str], list[str], np.ndarray,
                                                                                  np.ndarray]:
    """(outcomes, predictors, share (outcomes x predictors), clear: interval above zero), predictors
    ordered by their largest share over outcomes."""
    outcomes = list(explanations["outcomes"])
    table = {o: {r["predictor"]: r for r in rows} for o, rows in explanations["outcomes"].items()}
    names = list(dict.fromkeys(r["predictor"] for rows in explanations["outcomes"].values() for r in rows))

    def share(o, p):
        r = table[o].get(p, {})
        return r.get("share") if r.get("share") is not None else 0.0

    names.sort(key=lambda p: -max(share(o, p) for o in outcomes))
    names = names[:limit]
    S = np.array([[share(o, p) for p in names] for o in outcomes])
    clear = np.array([[(table[o].get(p, {}).get("lo") or 0.0) > 0 for p in names] for o in outcomes])
    return outcomes, names, S, clear


def importance_heatmap(explanations: dict) -> Figure:
    outcomes, names, S, clear = importance_matrix(explanations)
    fig = Figure(figsize=(max(6.0, 0.45 * len(names) + 3), 0.55 * len(outcomes) + 2.6), layout="constrained")
    ax = fig.subplots()
    top = max(float(np.nanmax(S)) if S.size else 0.0, 1e-6)
    im = ax.imshow(np.clip(S, 0, None), cmap="Reds", vmin=0, vmax=top, aspect="auto")
    ax.set_xticks(range(len(names)), names, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(outcomes)), outcomes, fontsize=9)
    for i in range(len(outcomes)):
        for j in range(len(names)):
            if clear[i, j]:
                text = f"{S[i, j]:.0%}" if S[i, j] >= 0.01 else f"{S[i, j]:.1%}"
                ax.text(j, i, text, ha="center", va="center", fontsize=7,
                        color="white" if S[i, j] > 0.6 * top else "black")
    fig.colorbar(im, ax=ax, label="log-loss increase when shuffled\n(share of the model's log loss)")
    source = explanations.get("source", "held-out")
    ax.set_title(f"What drives each outcome's risk ({source} rows, n={explanations['rows']:,}); numbers where "
                 "the interval is above 0", fontsize=9)
    return fig


def write_heatmap(explanations: dict, path: Path) -> Path:
    importance_heatmap(explanations).savefig(path, dpi=110)
    return path


def effects_figure(effects: dict) -> Figure:
    """One panel per number predictor: each outcome's average risk as the predictor moves over its 5th-95th
    percentile, solid for the outcomes it is a top driver of, dotted for the others."""
    cols = list(effects["curves"])
    n = max(1, len(cols))
    width = min(4, n)
    height = -(-n // width)
    fig = Figure(figsize=(3.2 * width, 2.6 * height + 0.6))
    top = {c: [o for o, picked in effects["per_outcome"].items() if c in picked] for c in cols}
    for i, col in enumerate(cols):
        ax = fig.add_subplot(height, width, i + 1)
        curve = effects["curves"][col]
        for outcome in effects["per_outcome"]:
            ax.plot(curve["grid"], 100 * np.asarray(curve[outcome]), label=outcome,
                    linestyle="-" if outcome in top[col] else ":", linewidth=1.8 if outcome in top[col] else 1.0)
        ax.set_title(col, fontsize=9)
        ax.set_ylabel("average risk, %", fontsize=8)
        ax.tick_params(labelsize=7)
    if cols:
        fig.axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(f"Effect shapes: partial dependence on {effects['rows']:,} held-out rows (describes the model, "
                 "not causes)", fontsize=10)
    fig.tight_layout()
    return fig


def write_effects(explanations: dict, path: Path) -> Path | None:
    effects = explanations.get("effects")
    if not effects or not effects.get("curves"):
        return None
    effects_figure(effects).savefig(path, dpi=100)
    return path

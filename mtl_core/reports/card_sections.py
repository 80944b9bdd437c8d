"""Model-card sections on what the model's risks mean together: the declared outcome structure (nested
outcomes kept coherent) and, per outcome, the predictors that drive the registered model."""
from __future__ import annotations

from mtl_core.config import Config
from mtl_core.reports.tables import markdown_table


def structure_section(cfg: Config, evaluation: dict) -> list[str]:
    """The declared implications and what enforcing them changed on the test split (empty when none)."""
    pairs = cfg.outcome_structure.pairs()
    if not pairs:
        return []
    s = evaluation.get("structure") or {}
    lines = ["## Outcome structure (nested outcomes)", "",
             "Declared in the config's `outcome_structure`: an outcome on the left can only happen with the "
             "one on the right, so its risk is never higher. Labels breaking an implication are refused; the "
             "registered model's risks are projected per patient onto the declared order (least-squares, "
             "pooling the reversed risks to their mean), so every risk it reports respects it.", ""]
    lines += markdown_table(["outcome", "implies", "so"], [[a, b, f"risk({a}) <= risk({b})"] for a, b in pairs])
    if s:
        n = max(s["rows"], 1)
        lines += [f"On the test split ({s['rows']:,} rows), before the projection {s['incoherent_before']:,} "
                  f"rows ({s['incoherent_before'] / n:.1%}) had an implied outcome at a lower risk (largest "
                  f"reversal {100 * s['max_reversal_before']:.1f} percentage points); after it, "
                  f"{s['incoherent_after']:,}. The projection moved risks by {100 * s['mean_abs_change']:.2f} "
                  "percentage points on average; the performance table below is of the projected risks.", ""]
    return lines


HONESTY = ("Explanations describe the model, not causes: a predictor can drive a risk because it goes with "
           "the care sicker patients get, and changing it need not change the outcome.")


def _direction(r: dict) -> str:
    d = r.get("direction")
    if d is None or (r.get("lo") is not None and r["lo"] <= 0):
        return "n/a" if d is None else "unclear"
    column = r.get("column") or (r.get("columns") or [r["predictor"]])[0]
    if abs(d) < 0.2:
        return f"mixed (higher {column}: no consistent change)"
    return f"higher {column}: {'higher' if d > 0 else 'lower'} risk"


def explanations_section(explanations: dict | None, top: int = 8) -> list[str]:
    """Per outcome, the predictors the registered model relies on most, with intervals and direction,
    and which are shared across outcomes (empty when explanations were switched off)."""
    if not explanations:
        return []
    lines = ["## Explanations (what drives each outcome's risk)", "", HONESTY, ""]
    if "skipped" in explanations:
        return lines + [f"Not computed: {explanations['skipped']}.", ""]
    shared = explanations.get("shared", {})
    level = explanations.get("level", 0.95)
    lines += [f"Permutation importance of the registered model on {explanations['rows']:,} "
              f"{explanations.get('source', 'held-out')} rows (never test rows): how much the model's log loss "
              f"grows when a predictor's values are shuffled between patients, as a share of its log loss, with a "
              f"{level:.0%} bootstrap interval over the rows ({explanations['n_boot']} resamples, "
              f"{explanations['repeats']} shuffles each). An event item's aggregates count as one predictor. "
              "Direction: how the risk moves when the predictor's value rises (for a clearly important "
              "predictor). Heat map of all outcomes: `evaluation/explanations.png`.", ""]
    both = sorted(p for p, o in shared.items() if len(o) > 1)
    if both:
        lines += [f"- Shared drivers (clearly important for two outcomes or more): {', '.join(both)}."]
    for outcome, rows in explanations["outcomes"].items():
        own = [r["predictor"] for r in rows if shared.get(r["predictor"]) == [outcome]]
        if own:
            lines += [f"- Specific to {outcome}: {', '.join(own[:top])}."]
    lines += [""]
    for outcome, rows in explanations["outcomes"].items():
        body = []
        for r in rows[:top]:
            share = "n/a" if r.get("share") is None else f"{r['share']:+.1%}"
            interval = "" if r.get("share_lo") is None else f" ({r['share_lo']:+.1%} to {r['share_hi']:+.1%})"
            others = [o for o in shared.get(r["predictor"], []) if o != outcome]
            body.append([r["predictor"], share + interval, _direction(r), ", ".join(others) or "none"])
        lines += [f"### {outcome}", ""]
        lines += markdown_table(["predictor", "log-loss increase when shuffled (interval)", "direction",
                                 "also drives"], body)
        lines += _effects(explanations.get("effects"), outcome)
    return lines


def _effects(effects: dict | None, outcome: str) -> list[str]:
    """One line per top number predictor: the outcome's average risk at the two ends of its range."""
    if not effects or not effects.get("per_outcome", {}).get(outcome):
        return []
    parts = []
    for col in effects["per_outcome"][outcome]:
        curve = effects["curves"][col]
        risk = curve[outcome]
        parts.append(f"{col} {100 * risk[0]:.1f}% at {curve['grid'][0]:.3g} to {100 * risk[-1]:.1f}% at "
                     f"{curve['grid'][-1]:.3g} (lowest {100 * min(risk):.1f}%, highest {100 * max(risk):.1f}%)")
    return [f"Effect shapes (average risk as one predictor moves over its 5th-95th percentile, the others as "
            f"observed; `evaluation/effects.png`): {'; '.join(parts)}.", ""]

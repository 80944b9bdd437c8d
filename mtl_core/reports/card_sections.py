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
                  f"reversal {s['max_reversal_before']:.1%} points); after it, {s['incoherent_after']:,}. The "
                  f"projection moved risks by {s['mean_abs_change']:.2%} points on average; the performance "
                  "table below is of the projected risks.", ""]
    return lines

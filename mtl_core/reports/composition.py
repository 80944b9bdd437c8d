"""How the registered model was put together (model_composition.md in the run), in words a reviewer can check."""
from __future__ import annotations

from mtl_core.reports.tables import markdown_table, weight_rows


def composition(meta: dict) -> str:
    """How the registered model was put together, in words a reviewer can check (Markdown)."""
    fitting = meta["fitting"]
    lines = ["# How this model was built", "",
             f"- Fitting: **{fitting['mode']}** ({fitting['fits']} fit(s) per learner): {fitting['reason']}."]
    rows = meta.get("learner_rows") or {}
    if rows.get("capped"):
        lines.append(f"- Single-task learners trained on a seeded sample of {rows['cap']:,} of the "
                     f"{rows['largest_fit']:,} rows per fit (`evaluation.baseline_max_rows`); the multi-task "
                     "network on all of them.")
    weights = meta.get("weights")
    if not weights:
        lines.append("- The registered model is the multi-task network alone (`model.ensemble: none`).")
        return "\n".join(lines) + "\n"
    lines += ["- Per outcome, the members' held-out predictions were combined with non-negative weights that "
              "sum to one, then calibrated; `mtl` is the shared multi-task network.", ""]
    lines += markdown_table(*weight_rows(weights))[:-1]
    return "\n".join(lines) + "\n"

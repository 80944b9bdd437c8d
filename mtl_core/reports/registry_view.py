"""What a reviewer sees on a registered version in the MLflow UI: a description to read (the verdict, one
line per outcome, where the model card and promotion.md are) and a handful of tags to filter on. The
per-subgroup checks live in promotion.md, not in tags (dozens of them were truncated in the UI)."""
from __future__ import annotations

from mtl_core.gate.promotion import Verdict


def verdict_tags(verdict: Verdict, compared_to: str | None, judged_at: str) -> dict[str, str]:
    """Five tags: verdict, the outcomes that failed the gate, the champion compared with, when, and how
    many subgroups were too small to gate."""
    status = verdict.outcome_status()
    failed = [o for o, s in status.items() if s == "fail"]
    small = sorted({c.subgroup for c in verdict.checks if c.subgroup and c.passed is None})
    return {"cmtl.verdict": "promoted" if verdict.promote else "rejected",
            "cmtl.failed_outcomes": ", ".join(failed) or "none",
            "cmtl.compared_to": compared_to or "none", "cmtl.judged_at": judged_at,
            "cmtl.subgroups_not_gated": str(len(small))}


def run_artifact_link(experiment_id: str | None, run_id: str, path: str) -> str:
    """A Markdown link to a run's artifact, relative to the MLflow UI the description is read in (a
    tracking server or `mlflow ui` on a file store alike)."""
    if experiment_id is None:
        return f"`{path}` (artifact of run {run_id})"
    return f"[{path}](#/experiments/{experiment_id}/runs/{run_id}/artifacts/{path})"


def version_description(name: str, version: str, verdict: Verdict, compared_to: str | None,
                        run_id: str | None, experiment_id: str | None, action: str | None = None,
                        explained: bool = False) -> str:
    """Markdown for the version's description field; explained: the run holds per-outcome explanations."""
    state = "passed the gate: champion" if verdict.promote else "rejected by the gate: stays challenger"
    if action:
        state = f"{state} (manual action: {action})"
    against = f", compared with champion v{compared_to}" if compared_to else ", no champion to compare with"
    lines = [f"**{name} v{version}: {state}**{against}.", ""]
    lines += [f"- {reason}" for reason in verdict.reasons]  # one line per outcome, as `cmtl` prints them
    if run_id:
        lines += ["", "Model card: " + run_artifact_link(experiment_id, run_id, "model_card.md")
                  + "; every check, subgroups included: " + run_artifact_link(experiment_id, run_id, "promotion.md")
                  + "; what changed since the champion: " + run_artifact_link(experiment_id, run_id, "comparison.md")]
        if explained:
            lines += ["", "What drives each outcome's risk (the card's Explanations section): "
                      + run_artifact_link(experiment_id, run_id, "evaluation/explanations.png")]
    return "\n".join(lines) + "\n"

"""What a reviewer sees on a registered version in the MLflow UI: a description to read (the verdict, one
line per outcome, where the model card and promotion.md are) and a handful of tags to filter on. The
per-subgroup checks live in promotion.md, not in tags (dozens of them were truncated in the UI)."""
from __future__ import annotations

from mtl_core.gate.promotion import Verdict


def verdict_tags(verdict: Verdict, compared_to: str | None, judged_at: str) -> dict[str, str]:
    """Six tags: verdict, the outcomes that failed the gate, the champion compared with, when, how many
    subgroups were too small to gate, and the subgroups far below the whole (fairness warnings); a
    seventh with a champion: on how many of the test rows (those neither model was fitted or tuned on)."""
    status = verdict.outcome_status()
    failed = [o for o, s in status.items() if s == "fail"]
    small = sorted({c.subgroup for c in verdict.checks if c.subgroup and c.passed is None})
    return {"cmtl.verdict": "promoted" if verdict.promote else "rejected",
            "cmtl.failed_outcomes": ", ".join(failed) or "none",
            "cmtl.compared_to": compared_to or "none", "cmtl.judged_at": judged_at,
            "cmtl.subgroups_not_gated": str(len(small)),
            "cmtl.fairness_warnings": _warnings(verdict),
            **({"cmtl.compared_rows": verdict.compared_rows} if verdict.compared_rows else {})}


def _warnings(verdict: Verdict) -> str:
    """How many subgroups are far below the whole and which ("2: aki age_band=18-44, ..."), short enough
    for the UI's tag column; the verdict's lines name each with its numbers."""
    found = list(dict.fromkeys(f"{c.outcome} {c.subgroup}" for c in verdict.warnings()))
    if not found:
        return "none"
    text = f"{len(found)}: " + ", ".join(found)
    return text if len(text) < 60 else text[:55] + " ..."


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
    if action:  # a forced promotion: champion whatever the gate said, and the description says so
        gate = "passed the gate" if verdict.promote else "rejected by the gate"
        state = f"champion by manual action, {gate} (manual action: {action})"
    against = f", compared with champion v{compared_to}" if compared_to else ", no champion to compare with"
    lines = [f"**{name} v{version}: {state}**{against}.", ""]
    lines += [f"- {reason}" for reason in verdict.reasons]  # one line per outcome, as `cmtl` prints them
    if run_id:
        lines += ["", "Model card: " + run_artifact_link(experiment_id, run_id, "model_card.md")
                  + "; every check, subgroups included: " + run_artifact_link(experiment_id, run_id, "promotion.md")
                  + "; what changed since the champion: " + run_artifact_link(experiment_id, run_id, "comparison.md")]
        if explained:
            lines += ["", "What drives each outcome's risk (the card's Explanations section): "
                      + run_artifact_link(experiment_id, run_id, "evaluation/explanations.png")
                      + "; how the risks move with the main number predictors: "
                      + run_artifact_link(experiment_id, run_id, "evaluation/effects.png")]
    return "\n".join(lines) + "\n"


def rollback_note(version: str, role: str, other: str, who: str, when: str) -> str:
    """The line a rollback puts at the top of a version's description, so its page agrees with its
    alias: role "from" for the version rolled back from, "to" for the champion restored."""
    if role == "from":
        return (f"**Rolled back: v{version} is no longer champion**; v{other} is champion again "
                f"(by {who} at {when}). The verdict below is the one it was promoted with.")
    return f"**Champion again** after the rollback from v{other} (by {who} at {when})."


NOTES = ("**Rolled back:", "**Champion again**", "**Monitoring:**")  # lines a later note replaces


def with_note(note: str, description: str | None) -> str:
    """note on top of a description, replacing earlier rollback and monitoring lines."""
    lines = (description or "").splitlines()
    while lines and (lines[0].startswith(NOTES) or not lines[0].strip()):
        lines.pop(0)
    return "\n".join([note, "", *lines]) + "\n"


def monitoring_note(line: str, as_of: str, at: str, experiment_id: str | None, run_id: str) -> str:
    """The line a monitoring check puts at the top of the version's description: the verdict, and one
    click to the check's report and its charts (the `monitoring.run` tag is plain text in the UI)."""
    run = f"[run {run_id[:8]}](#/experiments/{experiment_id}/runs/{run_id})" if experiment_id else f"run {run_id}"
    return (f"**Monitoring:** {line} (as of {as_of}, checked {at}): "
            f"{run_artifact_link(experiment_id, run_id, 'monitoring.md')}; the monitor/* charts of {run}.")


def run_description(verdict: dict, report: list[dict], experiment_id: str | None, run_id: str) -> str:
    """Markdown for the training run's description (what the run page shows first): the verdict, one
    line per reason, and a per-outcome table of the test AUROC (CI) and the gate's status."""
    name, v = verdict["model_name"], verdict["version"]
    state = ("promoted to champion" if verdict.get("promoted") else "rejected by the gate: stays challenger")
    against = f", compared with champion v{verdict['compared_to']}" if verdict.get("compared_to") else ""
    lines = [f"**{name} v{v}: {state}**{against}.", ""] + [f"- {r}" for r in verdict.get("reasons", [])]
    status = verdict.get("outcome_status", {})
    lines += ["", "| outcome | n | prevalence | test AUROC (CI) | gate |", "|---|---|---|---|---|"]
    for r in report:
        auroc = "n/a" if r.get("auroc") is None else f"{r['auroc']:.3f}"
        if r.get("auroc_ci_low") is not None:
            auroc += f" ({r['auroc_ci_low']:.3f}-{r['auroc_ci_high']:.3f})"
        prevalence = "n/a" if r.get("prevalence") is None else f"{r['prevalence']:.1%}"
        lines.append(f"| {r['outcome']} | {r.get('n', 0):,} | {prevalence} | {auroc} | "
                     f"{status.get(r['outcome'], 'n/a')} |")
    lines += ["", "Model card: " + run_artifact_link(experiment_id, run_id, "model_card.md")
              + "; every check: " + run_artifact_link(experiment_id, run_id, "promotion.md")
              + "; what changed since the champion: " + run_artifact_link(experiment_id, run_id, "comparison.md")]
    text = "\n".join(lines) + "\n"
    return text if len(text) <= 5000 else text[:4990] + "\n...\n"

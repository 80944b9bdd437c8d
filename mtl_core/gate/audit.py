"""The audit trail of registry changes: one numbered entry per alias move or verdict change (who, when,
what, why), kept as tags `cmtl.audit.<n>` and listed at the end of the version's description."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

PREFIX = "cmtl.audit."
HEADING = "**Audit trail** (every alias move and verdict change, oldest first):"


def entries(tags: Mapping[str, str]) -> list[str]:
    """The numbered entries of a version or model, oldest first (named tags such as
    `cmtl.audit.rollback` are the latest of their kind, not part of the trail)."""
    numbered = {int(k[len(PREFIX):]): v for k, v in tags.items()
                if k.startswith(PREFIX) and k[len(PREFIX):].isdigit()}
    return [numbered[n] for n in sorted(numbered)]


def next_key(tags: Mapping[str, str]) -> str:
    """The tag name of the next entry: never reuses a number, so an entry is never overwritten."""
    used = [int(k[len(PREFIX):]) for k in tags if k.startswith(PREFIX) and k[len(PREFIX):].isdigit()]
    return f"{PREFIX}{max(used, default=0) + 1}"


def entry(action: str, who: str, when: str, what: str, why: str) -> str:
    """One line: `2026-12-02T12:00:00+00:00 promote by alice (MLflow account cmtl-pipeline): champion
    v1 -> v2; why: gate passed`."""
    return f"{when} {action} by {who}: {what}; why: {why}"


def with_audit(description: str | None, trail: Sequence[str]) -> str:
    """The description with its audit section (always last) replaced by the trail."""
    lines = (description or "").rstrip("\n").splitlines()
    if HEADING in lines:
        lines = lines[:lines.index(HEADING)]
    while lines and not lines[-1].strip():
        lines.pop()
    if not trail:
        return "\n".join(lines) + "\n"
    return "\n".join([*lines, "", HEADING, "", *(f"{i}. {t}" for i, t in enumerate(trail, 1))]) + "\n"

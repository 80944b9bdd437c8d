"""Champion history: the versions that became champion, oldest first (kept as a registered-model tag)."""
from __future__ import annotations

from collections.abc import Sequence

from mtl_core.errors import CmtlError


def parse_history(text: str | None) -> list[str]:
    return [v.strip() for v in (text or "").split(",") if v.strip()]


def push_history(history: Sequence[str], version: str, keep: int = 200) -> list[str]:
    h = list(history)
    if not h or h[-1] != str(version):
        h.append(str(version))
    return h[-keep:]


def rollback_target(history: Sequence[str], current: str) -> tuple[str, list[str]]:
    """(version to restore, history after the rollback): the champion before `current`. The current
    champion is taken as the top even if the history missed it, so a retried rollback that already
    rewrote the history does not go back twice."""
    h = push_history(history, current)
    while h and h[-1] == str(current):
        h.pop()
    if not h:
        raise CmtlError(f"no previous champion to roll back to: v{current} is the only champion on record")
    return h[-1], h

"""The `outcome_structure` section: declared implications between outcomes (a implies b, so risk(a) <= risk(b))."""
from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from mtl_core.config.base import _Strict

Name = Annotated[str, Field(min_length=1)]


class OutcomeStructureConfig(_Strict):
    """Nested outcomes: death within 30 days implies death within 1 year; an in-hospital MI is an MI.
    The registered model's probabilities are projected per patient onto the declared order
    (mtl_core/dataset/structure.py), and a label that breaks an implication is a data error."""
    implies: list[Annotated[list[Name], Field(min_length=2, max_length=2)]] = Field([], description=(
        "pairs [a, b]: a = 1 implies b = 1, so risk(a) <= risk(b)"))
    chains: list[Annotated[list[Name], Field(min_length=2)]] = Field([], description=(
        "each a chain of outcomes, each implying the next: a flat table's 'event by horizon' columns, "
        "earliest horizon first, e.g. [event_1y, event_3y, event_5y]"))

    @field_validator("chains")
    @classmethod
    def _no_repeat(cls, value: list[list[str]]) -> list[list[str]]:
        for chain in value:
            if len(set(chain)) != len(chain):
                raise ValueError(f"chain {chain} names an outcome twice")
        return value

    def pairs(self) -> list[tuple[str, str]]:
        """Every declared implication as (a, b), chains unrolled, each pair once, in declaration order."""
        out: list[tuple[str, str]] = []
        for a, b in [tuple(p) for p in self.implies] + [(c[i], c[i + 1]) for c in self.chains
                                                         for i in range(len(c) - 1)]:
            if (a, b) not in out:
                out.append((a, b))
        return out

    @property
    def declared(self) -> bool:
        return bool(self.implies or self.chains)


def find_cycle(pairs: list[tuple[str, str]]) -> list[str]:
    """One cycle of the implication graph as [a, b, ..., a], or [] when there is none."""
    after: dict[str, list[str]] = {}
    for a, b in pairs:
        after.setdefault(a, []).append(b)
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done

    def visit(node: str, path: list[str]) -> list[str]:
        state[node] = 1
        for nxt in after.get(node, []):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [node, nxt] if nxt in path else [node, nxt]
            if nxt not in state:
                found = visit(nxt, path + [node])
                if found:
                    return found
        state[node] = 2
        return []

    for start in list(after):
        if start not in state:
            found = visit(start, [])
            if found:
                return found
    return []

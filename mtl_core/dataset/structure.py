"""Nested outcomes kept coherent: declared implications (a implies b, so risk(a) <= risk(b)) checked on
the labels and enforced on the registered model's probabilities.

The model's probabilities are projected, per patient, onto the set of risk vectors that respect every
declared implication: the closest such vector in squared error (isotonic regression over the declared
partial order). A patient whose risks already respect it keeps them exactly, so a model whose output
was coherent is unchanged; where "event by 3 years" came out below "event by 1 year", the two (or the
run of horizons involved) are pooled to their mean, the least change that makes them agree. For a chain
this is the pool-adjacent-violators answer; for any other order Dykstra's alternating projections over
the implications reach the same least-squares point.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mtl_core.errors import DataError

TOL = 1e-9        # a later horizon this much below an earlier one still counts as coherent
_SWEEPS = 2_000   # Dykstra sweeps at most; chains of a few horizons converge in a handful


@dataclass(frozen=True)
class OutcomeStructure:
    """Declared implications as (a, b) name pairs: a = 1 implies b = 1. Pickled with the registered model."""
    pairs: tuple[tuple[str, str], ...]

    @classmethod
    def from_config(cls, cfg) -> OutcomeStructure | None:
        pairs = cfg.outcome_structure.pairs()
        return cls(tuple((str(a), str(b)) for a, b in pairs)) if pairs else None

    def edges(self, outcomes: list[str]) -> list[tuple[int, int]]:
        """The implications as column indices of `outcomes` (pairs naming an outcome not there are left out)."""
        where = {o: k for k, o in enumerate(outcomes)}
        return [(where[a], where[b]) for a, b in self.pairs if a in where and b in where]

    def incoherent(self, P: np.ndarray, outcomes: list[str], tol: float = TOL) -> np.ndarray:
        """Per row: does any implied outcome have a lower risk than the outcome implying it?"""
        P = np.asarray(P, dtype=float)
        bad = np.zeros(len(P), dtype=bool)
        for a, b in self.edges(outcomes):
            bad |= P[:, a] > P[:, b] + tol
        return bad

    def project(self, P: np.ndarray, outcomes: list[str]) -> np.ndarray:
        """P (rows, outcomes) with each incoherent row replaced by its least-squares coherent risks."""
        P = np.array(P, dtype=float, copy=True)
        edges = self.edges(outcomes)
        rows = self.incoherent(P, outcomes, tol=0.0)
        if edges and rows.any():
            P[rows] = _dykstra(P[rows], edges)
        return P

    def label_conflicts(self, labels: pd.DataFrame) -> list[tuple[str, str, int]]:
        """(a, b, rows) for every implication that labelled rows break (a = 1 while b = 0)."""
        out = []
        for a, b in self.pairs:
            if a in labels and b in labels:
                n = int(((labels[a] == 1) & (labels[b] == 0)).sum())
                if n:
                    out.append((a, b, n))
        return out

    def check_labels(self, labels: pd.DataFrame, table: str = "labels") -> None:
        """DataError naming each broken implication and how many rows break it (no row is shown)."""
        found = self.label_conflicts(labels)
        if found:
            conflicts_error(found, table)

    def lines(self) -> list[str]:
        """The structure in plain words, one implication a line, chains joined (for the model card)."""
        return [f"{a} implies {b}: risk({a}) <= risk({b})" for a, b in self.pairs]


def conflicts_error(found: list[tuple[str, str, int]], table: str) -> None:
    """The DataError for labels that break declared implications: outcomes and row counts, never a row."""
    raise DataError(f"table '{table}': labels contradict the declared outcome_structure:\n" + "\n".join(
        f"  - {n:,} row{'s' * (n != 1)} with '{a}' = 1 but '{b}' = 0 ('{a}' implies '{b}')" for a, b, n in found)
        + "\nfix the labels, or the declaration in the config's outcome_structure (ingest.mode quarantine "
        "sets such rows aside)")


def _dykstra(X: np.ndarray, edges: list[tuple[int, int]]) -> np.ndarray:
    """Least-squares projection of each row of X onto {x: x_a <= x_b for every edge}.

    Dykstra's algorithm over the half-spaces, one per edge: the correction of each half-space is
    d * (e_a - e_b) with d >= 0, so one number per edge and row carries it."""
    d = np.zeros((len(edges), len(X)))
    for _ in range(_SWEEPS):
        before = X.copy()
        for e, (a, b) in enumerate(edges):
            ya, yb = X[:, a] + d[e], X[:, b] - d[e]
            d[e] = np.maximum((ya - yb) / 2.0, 0.0)
            X[:, a], X[:, b] = ya - d[e], yb + d[e]
        if np.max(np.abs(X - before)) < 1e-15:
            break
    # what rounding left of a violation (<= 1e-15) goes, so the coherence check holds exactly
    for _ in range(len(edges)):
        moved = False
        for a, b in edges:
            low = X[:, b] < X[:, a]
            if low.any():
                X[low, b] = X[low, a]
                moved = True
        if not moved:
            break
    return np.clip(X, 0.0, 1.0)


def attach(model, structure: OutcomeStructure | None):
    """The registered model answers with coherent risks from now on (its held-out probabilities too)."""
    if structure is None:
        return model
    model.structure_ = structure
    held = getattr(model, "held_", None)
    if isinstance(held, pd.DataFrame) and len(held):
        model.held_ = pd.DataFrame(structure.project(held.to_numpy(), list(held.columns)),
                                   columns=held.columns, index=held.index)
    return model


def coherent(model, P: np.ndarray) -> np.ndarray:
    """P projected onto the model's declared structure; unchanged for a model without one (old pickles)."""
    structure = getattr(model, "structure_", None)
    return P if structure is None else structure.project(P, list(model.outcomes_))


def unprojected_proba(model, X: pd.DataFrame) -> np.ndarray:
    """The model's probabilities before the projection (what it would say without the structure)."""
    structure = getattr(model, "structure_", None)
    model.structure_ = None
    try:
        return model.predict_proba(X)
    finally:
        model.structure_ = structure


def coherence_summary(structure: OutcomeStructure, raw: np.ndarray, P: np.ndarray, outcomes: list[str]) -> dict:
    """Aggregates for the report: how many rows broke an implication before and after the projection,
    the largest reversal (in probability), and the mean change the projection made."""
    before = structure.incoherent(raw, outcomes)
    gaps = [raw[:, a] - raw[:, b] for a, b in structure.edges(outcomes)]
    return {"implications": [list(p) for p in structure.pairs], "rows": int(len(raw)),
            "incoherent_before": int(before.sum()), "incoherent_after": int(structure.incoherent(P, outcomes).sum()),
            "max_reversal_before": float(max((g.max() for g in gaps), default=0.0)) if len(raw) else 0.0,
            "mean_abs_change": float(np.abs(P - raw).mean()) if len(raw) else 0.0}

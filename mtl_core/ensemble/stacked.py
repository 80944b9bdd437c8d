"""The registered model: per outcome, a stacked ensemble of the multi-task network and the single-task
learners, weighted on held-out predictions (mtl_core/ensemble/stacking.py), bagged over folds when cross-fitting.

It answers to the same interface as MultiOutcomeClassifier (outcomes_, feature_names_in_,
predict_proba, predict_proba_frame) and exposes the pure network as `mtl_`, so the report can keep
saying what sharing itself bought.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from mtl_core.dataset.structure import coherent
from mtl_core.ensemble.folds import FoldPlan
from mtl_core.ensemble.members import MTL, Member
from mtl_core.ensemble.stacking import Combiner, fit_combiner, logit


class StackedMultiOutcome:
    """Members' bagged logits combined per outcome with non-negative weights, then calibrated."""

    def __init__(self, members: list[Member], combiners: list[Combiner], member_kinds: list[str],
                 mode: str, reason: str, held: pd.DataFrame | None = None):
        self.members_ = members               # only members some outcome gives weight (plus the network)
        self.combiners_ = combiners           # per outcome; weights over member_kinds
        self.member_kinds_ = member_kinds     # every member that was fitted, in weight order
        self.mode_, self.reason_ = mode, reason
        self.held_ = held                     # held-out ensemble probabilities of train+val rows
        self.outcomes_ = list(members[0].outcomes)
        self.feature_names_in_ = members[0].fits[0].feature_names_in_
        self.structure_ = None                # declared outcome implications (dataset/structure.attach)

    def __setstate__(self, state: dict) -> None:
        state.setdefault("structure_", None)  # models pickled before outcome structures existed
        self.__dict__.update(state)

    @property
    def mtl_(self) -> Member:
        """The multi-task network member (a bag of fold models when cross-fitting)."""
        return next(m for m in self.members_ if m.kind == MTL)

    def weights(self) -> dict[str, dict[str, float]]:
        """{outcome: {member kind: weight}}, weights >= 0 summing to 1 per outcome."""
        return {o: dict(zip(self.member_kinds_, c.weights)) for o, c in zip(self.outcomes_, self.combiners_)}

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        X = X[list(self.feature_names_in_)]
        by_kind = {m.kind: m.predict_proba(X) for m in self.members_}
        out = np.empty((len(X), len(self.outcomes_)))
        for k, c in enumerate(self.combiners_):
            used = [(i, w) for i, w in enumerate(c.weights) if w > 0]
            Z = np.column_stack([logit(by_kind[self.member_kinds_[i]][:, k]) for i, _ in used])
            out[:, k] = Combiner(tuple(w for _, w in used), c.scale, c.bias).combine(Z)
        return coherent(self, out)

    def predict_proba_frame(self, X: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(self.predict_proba(X), columns=self.outcomes_, index=X.index)


def stack(members: list[Member], Y: pd.DataFrame, plan: FoldPlan, index: pd.Index | None = None
          ) -> StackedMultiOutcome:
    """Fit one combiner per outcome on the rows the plan holds out; members[0] must be the network.

    Only held-out rows are used (out-of-fold when cross-fitting, validation rows for a holdout), so no
    weight is learned from a prediction a member made on its own training rows; test rows are never
    seen. An outcome a member could not fit gives that member weight 0 there.
    """
    if members[0].kind != MTL:
        raise ValueError("members[0] must be the multi-task network")
    held = plan.held_mask(len(Y))
    Yv = Y.to_numpy(float)
    kinds = [m.kind for m in members]
    combiners, held_proba = [], np.full(Y.shape, np.nan)
    for k in range(Y.shape[1]):
        usable = [i for i, m in enumerate(members) if m.fitted(k) and not np.isnan(m.held[held, k]).any()]
        Z = np.column_stack([logit(members[i].held[held, k]) for i in usable])
        # the network, when usable, is the core the weights are pulled toward (mtl_core/ensemble/stacking.py)
        part = fit_combiner(Z, Yv[held, k], fallback=0, core=0 if usable[0] == 0 else None)
        weights = [0.0] * len(members)
        for i, w in zip(usable, part.weights):
            weights[i] = w
        combiners.append(Combiner(tuple(weights), part.scale, part.bias))
        held_proba[held, k] = part.combine(Z)
    keep = [m for i, m in enumerate(members) if i == 0 or any(c.weights[i] > 0 for c in combiners)]
    frame = pd.DataFrame(held_proba[held], columns=Y.columns,
                         index=(index if index is not None else Y.index)[held])
    return StackedMultiOutcome(keep, combiners, kinds, plan.mode, plan.reason, frame)

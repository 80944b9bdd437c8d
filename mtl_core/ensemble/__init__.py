"""The registered model: fold plans, members, single-task baselines, stacking, search, fitting."""
from __future__ import annotations


def __getattr__(name: str):
    # models pickled before the regrouping name `mtl_core.ensemble.StackedMultiOutcome` (this package
    # was then the module now at ensemble/stacked.py); loaded lazily so `ensemble.folds` stays light
    if name in ("StackedMultiOutcome", "stack"):
        from mtl_core.ensemble import stacked
        return getattr(stacked, name)
    raise AttributeError(f"module 'mtl_core.ensemble' has no attribute {name!r}")

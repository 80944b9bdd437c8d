"""Old module paths of mtl_core, resolved to where the code lives now, so every model pickled by an
earlier release (joblib files name the module of each class they hold) keeps loading.

Registered models are joblib pickles of classes such as `mtl_core.estimator.MultiOutcomeClassifier`, and
each logged pyfunc file imports `mtl_core.contracts`; after the regrouping by stage those modules live
under mtl_core/network/, mtl_core/data/ and so on. Importing an old path here yields the new module itself
(one module object, two names), so pickled classes are the very classes of this code. Project code
imports the new paths; a test checks that only pickles use these. A later move adds its old paths here.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys

# old dotted path -> current dotted path
MOVED = {
    "mtl_core.contracts": "mtl_core.data.contracts", "mtl_core.lake": "mtl_core.data.lake",
    "mtl_core.partitions": "mtl_core.data.partitions", "mtl_core.quarantine": "mtl_core.data.quarantine",
    "mtl_core.paths": "mtl_core.data.paths", "mtl_core.owner": "mtl_core.data.owner",
    "mtl_core.meds_predictions": "mtl_core.data.meds_predictions",
    "mtl_core.source_check": "mtl_core.sources.check",
    "mtl_core.cohort": "mtl_core.dataset.cohort", "mtl_core.features": "mtl_core.dataset.features",
    "mtl_core.code_features": "mtl_core.dataset.code_features", "mtl_core.outcomes": "mtl_core.dataset.outcomes",
    "mtl_core.splits": "mtl_core.dataset.splits",
    "mtl_core.estimator": "mtl_core.network.estimator", "mtl_core.train": "mtl_core.network.train",
    "mtl_core.losses": "mtl_core.network.losses", "mtl_core.encoding": "mtl_core.network.encoding",
    "mtl_core.calibration": "mtl_core.network.calibration", "mtl_core.model": "mtl_core.sharing",
    "mtl_core.fitting": "mtl_core.ensemble.fitting", "mtl_core.folds": "mtl_core.ensemble.folds",
    "mtl_core.members": "mtl_core.ensemble.members", "mtl_core.baselines": "mtl_core.ensemble.baselines",
    "mtl_core.stacking": "mtl_core.ensemble.stacking", "mtl_core.search": "mtl_core.ensemble.search",
    "mtl_core.metrics": "mtl_core.evaluation.metrics", "mtl_core.bootstrap": "mtl_core.evaluation.bootstrap",
    "mtl_core.transfer": "mtl_core.evaluation.transfer",
    "mtl_core.operating_points": "mtl_core.evaluation.operating_points",
    "mtl_core.decision_curve": "mtl_core.evaluation.decision_curve",
    "mtl_core.fairness": "mtl_core.evaluation.fairness", "mtl_core.review": "mtl_core.evaluation.review",
    "mtl_core.drift": "mtl_core.evaluation.drift", "mtl_core.compare": "mtl_core.evaluation.compare",
    "mtl_core.promotion": "mtl_core.gate.promotion", "mtl_core.gate_checks": "mtl_core.gate.checks",
}
# `mtl_core.ensemble` was a module and is now a package: its names are served by the package itself
# (mtl_core/ensemble/__init__.py), so a pickled `mtl_core.ensemble.StackedMultiOutcome` still resolves.


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds an old path and loads it as the module at the new one."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, self)

    def __init__(self):
        self._own_specs: dict[str, importlib.machinery.ModuleSpec] = {}

    def create_module(self, spec):
        module = importlib.import_module(MOVED[spec.name])
        self._own_specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):
        # the import system has just stamped the old name's spec on the module: give it its own back
        module.__spec__ = self._own_specs.pop(module.__spec__.name, module.__spec__)


def install() -> None:
    if not any(isinstance(f, _Alias) for f in sys.meta_path):
        sys.meta_path.append(_Alias())

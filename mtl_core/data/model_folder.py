"""The one owner of a model folder: every file name in it, and typed reads and writes of model.json and
its siblings (the fitted model, its members, what ships with it, what evaluation wrote beside it).

A model folder is written under a temporary name (`.partial~<pid>~<host>~<run id>`, so cleanup can tell
a dead writer's folder) and renamed to models/<run id> once everything is in it.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd

from mtl_core.data import owner
from mtl_core.errors import DataError

META = "model.json"
ESTIMATOR = "estimator.joblib"       # the registered model (network alone, or the stacked ensemble)
MEMBERS = "members"                  # <kind>.joblib per ensemble member, plan.joblib (the fold plan)
PLAN = "plan.joblib"
SEARCH = "search.json"               # the network's shape search, when model.search_trials > 1
HISTORY = "history.json"             # per-epoch curves of the (first) network fit
INPUT_EXAMPLE = "input_example.parquet"  # one made-up row (medians and modes): the pyfunc's example
BASELINES = "baselines.parquet"      # single-task learners' test probabilities, column <kind>/<outcome>
OPERATING_POINTS = "operating_points.json"  # chosen on validation; ships with the model
DRIFT_REFERENCE = "drift_reference.json"    # training-data profile (aggregates); ships with the model
METRICS = "metrics.json"             # the per-outcome report alone
EVALUATION = "evaluation.json"       # the whole evaluation result
DECISION_CURVES = "decision_curves.csv"
EXPLANATIONS = "explanations.json"   # per-outcome permutation importance on held-out rows (aggregates)
EXPLANATIONS_PLOT = "explanations.png"  # its heat map, outcomes x predictors
EFFECTS_PLOT = "effects.png"         # partial dependence of the risks on the important number predictors
PREDICTOR_GROUPS = "predictor_groups.json"  # predictor -> model columns; ships with the model (served --explain)
PLOTS = "plots"
MODEL_CARD = "model_card.md"
DRIFT = "drift"                      # drift of this run's data against the champion's training data
MEDS_PREDICTIONS = "meds_predictions"  # test predictions in the MEDS schema (ids: never logged)


@dataclass
class ModelMeta:
    """model.json: what was fitted on which feature set, and where it was logged."""
    features_dir: str
    outcomes: list[str]
    feature_columns: list[str]
    best_epoch: int
    epochs_run: int
    best_epochs: list[int]
    n_train: int
    n_val: int
    fitting: dict[str, Any]            # mode, fits, reason
    ensemble: str
    resumed: dict | bool | None = None  # {"from_epoch", "folds_done"} when training resumed
    learner_rows: dict | None = None   # the single-task learners' row cap, when any were fitted
    weights: dict | None = None        # {outcome: {member kind: weight}} of a stacked model
    run_id: str | None = None
    model_uri: str | None = None
    extra: dict = field(default_factory=dict)  # keys written by other releases, kept as they were

    def to_json(self) -> dict:
        data = {k: v for k, v in asdict(self).items() if k != "extra"}
        optional = ("learner_rows", "weights", "run_id", "model_uri")
        return {**{k: v for k, v in data.items() if k not in optional or v is not None}, **self.extra}

    @classmethod
    def from_json(cls, data: dict) -> ModelMeta:
        known = set(cls.__dataclass_fields__) - {"extra"}
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})


class ModelFolder:
    """One model's folder in the workspace (models/<run id>, or its temporary name while written)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    def __fspath__(self) -> str:
        return str(self.path)

    # where it lives
    @classmethod
    def partial(cls, ws: Path, run_id: str) -> ModelFolder:
        """The temporary folder a model is written to (flows/ops/cleanup.py removes one whose writer is gone)."""
        return cls(ws / "models" / f"{owner.prefix('.partial')}{run_id}")

    def finish(self, ws: Path, run_id: str) -> ModelFolder:
        final = ws / "models" / run_id
        os.replace(self.path, final)
        return ModelFolder(final)

    @classmethod
    def of_run(cls, ws: Path, run_id: str) -> ModelFolder:
        return cls(ws / "models" / str(run_id))

    @classmethod
    def latest(cls, ws: Path) -> ModelFolder:
        done = sorted((p for p in (ws / "models").glob(f"*/{META}") if not p.parent.name.startswith(".")),
                      key=lambda p: p.stat().st_mtime)  # a .partial~ folder is still being written
        if not done:
            raise DataError(f"no trained model in {ws / 'models'}: run `cmtl train` first")
        return cls(done[-1].parent)

    def exists(self) -> bool:
        return (self.path / META).is_file()

    def file(self, name: str) -> Path:
        return self.path / name

    def _write(self, name: str, text: str) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        (self.path / name).write_text(text)
        return self.path / name

    def _json(self, name: str, default=None):
        path = self.path / name
        return json.loads(path.read_text()) if path.is_file() else default

    # model.json
    def meta(self) -> ModelMeta:
        return ModelMeta.from_json(json.loads((self.path / META).read_text()))

    def write_meta(self, meta: ModelMeta) -> None:
        self._write(META, json.dumps(meta.to_json(), indent=2))

    # the fitted model and its members
    def estimator(self):
        return joblib.load(self.path / ESTIMATOR)

    def save_estimator(self, model) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        joblib.dump(model, self.path / ESTIMATOR)
        return self.path / ESTIMATOR

    def _members(self) -> Path:
        folder = self.path / MEMBERS
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def member(self, kind: str):
        return joblib.load(self.path / MEMBERS / f"{kind}.joblib")

    def save_member(self, kind: str, member) -> None:
        joblib.dump(member, self._members() / f"{kind}.joblib")

    def has_member(self, kind: str) -> bool:
        return (self.path / MEMBERS / f"{kind}.joblib").is_file()

    def plan(self):
        return joblib.load(self.path / MEMBERS / PLAN)

    def has_plan(self) -> bool:
        return (self.path / MEMBERS / PLAN).is_file()

    def save_plan(self, plan) -> None:
        joblib.dump(plan, self._members() / PLAN)

    def search(self) -> dict | None:
        return self._json(SEARCH)

    def save_search(self, search: dict) -> None:
        self._write(SEARCH, json.dumps(search, indent=1, default=str))

    def history(self) -> list[dict]:
        return self._json(HISTORY, [])

    def save_history(self, history: list[dict]) -> None:
        self._write(HISTORY, json.dumps(history, indent=1))

    def input_example(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / INPUT_EXAMPLE)

    def save_predictor_groups(self, groups: dict[str, list[str]]) -> None:
        self._write(PREDICTOR_GROUPS, json.dumps(groups, indent=1))

    def save_input_example(self, example: pd.DataFrame) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        example.to_parquet(self.path / INPUT_EXAMPLE, index=False)

    # the single-task learners' test predictions
    def save_baselines(self, table: dict[str, np.ndarray]) -> None:
        pd.DataFrame(table).to_parquet(self.path / BASELINES, index=False)

    def baselines(self) -> dict[str, dict[str, np.ndarray | None]]:
        """{kind: {outcome: test probabilities, or None when that baseline could not be fitted}} (empty
        when the run fitted none)."""
        path, preds = self.path / BASELINES, {}
        if path.is_file():
            for col, values in pd.read_parquet(path).items():
                kind, outcome = str(col).split("/", 1)
                p = values.to_numpy(float)
                preds.setdefault(kind, {})[outcome] = None if np.isnan(p).all() else p
        return preds

    # what ships with the model
    def operating_points(self) -> dict:
        """outcome -> operating point dict ({} for a model from before operating points)."""
        return self._json(OPERATING_POINTS, {})

    def save_operating_points(self, points: dict) -> None:
        self._write(OPERATING_POINTS, json.dumps(points, indent=2))

    def thresholds(self) -> dict[str, float | None]:
        return {o: p.get("threshold") for o, p in self.operating_points().items()}

    def drift_reference(self) -> dict | None:
        return self._json(DRIFT_REFERENCE)

    def save_drift_reference(self, reference: dict) -> None:
        self._write(DRIFT_REFERENCE, json.dumps(reference))

    def pyfunc_artifacts(self) -> dict[str, str]:
        """The extra artifacts of the logged pyfunc (those that exist)."""
        found = {"operating_points": self.path / OPERATING_POINTS, "drift_reference": self.path / DRIFT_REFERENCE,
                 "predictor_groups": self.path / PREDICTOR_GROUPS, "reference": self.path / INPUT_EXAMPLE}
        return {k: str(v) for k, v in found.items() if v.is_file()}

    # what evaluation writes beside it
    def evaluation(self) -> dict:
        return json.loads((self.path / EVALUATION).read_text())

    def save_evaluation(self, result: dict) -> None:
        self._write(METRICS, json.dumps(result["report"], indent=2))
        self._write(EVALUATION, json.dumps(result, indent=2))

    def save_decision_curves(self, curves: pd.DataFrame) -> None:
        curves.round(6).to_csv(self.path / DECISION_CURVES, index=False)

    def decision_curves(self) -> pd.DataFrame | None:
        path = self.path / DECISION_CURVES
        return pd.read_csv(path) if path.is_file() else None

    def save_explanations(self, result: dict) -> None:
        self._write(EXPLANATIONS, json.dumps(result, indent=2))

    def explanations(self) -> dict | None:
        return self._json(EXPLANATIONS)

    @property
    def explanations_plot(self) -> Path:
        return self.path / EXPLANATIONS_PLOT

    @property
    def effects_plot(self) -> Path:
        return self.path / EFFECTS_PLOT

    def evaluation_files(self) -> list[Path]:
        """What the run keeps under its `evaluation/` artifacts (the explanations beside the affinity matrix
        of evaluation.json)."""
        names = (EVALUATION, OPERATING_POINTS, DECISION_CURVES, EXPLANATIONS, EXPLANATIONS_PLOT, EFFECTS_PLOT)
        return [p for p in (self.path / n for n in names) if p.is_file()]

    @property
    def plots_dir(self) -> Path:
        return self.path / PLOTS

    @property
    def drift_dir(self) -> Path:
        return self.path / DRIFT

    @property
    def meds_dir(self) -> Path:
        return self.path / MEDS_PREDICTIONS

    def save_model_card(self, text: str) -> Path:
        return self._write(MODEL_CARD, text)

"""MLflow models-from-code entry: the multi-outcome pyfunc (frame of features in, one column per outcome out).

MLflow copies this file into the logged model and runs it at load time; mtl_core travels alongside
via code_paths, so the model does not depend on this repository's checkout.
"""
import json
import warnings
from pathlib import Path

import joblib
import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

from mtl_core.data.contracts import check_model_input
from mtl_core.evaluation.operating_points import with_flags

# MLflow nudges towards a type-hinted predict(); the logged signature comes from the input example.
warnings.filterwarnings("ignore", message=".*type hints.*")


def _json(context, name: str):
    path = context.artifacts.get(name)
    return json.loads(Path(path).read_text()) if path else None


class MultiOutcomeModel(PythonModel):
    """Wraps a fitted MultiOutcomeClassifier (preprocessing is inside the estimator) and the operating
    points chosen on validation: one probability column per outcome, each followed by its 0/1
    `<outcome>_flag` (probability >= the outcome's threshold) when it has one."""

    def load_context(self, context):
        self.estimator = joblib.load(context.artifacts["estimator"])
        points = _json(context, "operating_points") or {}
        self.thresholds = {o: p.get("threshold") for o, p in points.items()}
        self.drift_reference = _json(context, "drift_reference")  # aggregates of the training data
        path = context.artifacts.get("feature_contract")  # models from before it: columns checked only
        self.contract = None
        if path:
            import pandera.pandas as pa

            self.contract = pa.DataFrameSchema.from_yaml(path)

    def predict(self, context, model_input, params=None):
        """Probabilities and flags. Input that breaks the feature contract is refused exactly as `cmtl
        score` refuses it (DataError naming column, check and rows, never a value: the message reaches
        a served model's clients); a null where the contract allows one is imputed as in training."""
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        contract = getattr(self, "contract", None)
        needed = [str(c) for c in getattr(self.estimator, "feature_names_in_", frame.columns)]
        check_model_input(frame, needed, contract, contract.name if contract is not None else "features")
        proba = self.estimator.predict_proba_frame(frame).reset_index(drop=True)
        return with_flags(proba, getattr(self, "thresholds", {}))


mlflow.models.set_model(MultiOutcomeModel())

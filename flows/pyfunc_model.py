"""MLflow models-from-code entry: the multi-outcome pyfunc (frame of features in, one column per outcome out).

MLflow copies this file into the logged model and runs it at load time; mtl_core travels alongside
via code_paths, so the model does not depend on this repository's checkout.
"""
import json
import logging
import os
import warnings
from pathlib import Path

import joblib
import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import BAD_REQUEST
from mlflow.pyfunc import PythonModel

from mtl_core.data.contracts import check_model_input
from mtl_core.errors import DataError
from mtl_core.evaluation.operating_points import with_flags

_log = logging.getLogger(__name__)
MAX_FACTORS = 20  # per outcome, asked for with the request parameter `explain`
SERVING = "_MLFLOW_IS_IN_SERVING_ENVIRONMENT"  # set by `mlflow models serve` (read as text: a logged model
# must keep loading when a later MLflow moves the private constant)

# MLflow nudges towards a type-hinted predict(); the logged signature comes from the input example.
warnings.filterwarnings("ignore", message=".*type hints.*")


def _json(context, name: str):
    path = context.artifacts.get(name)
    return json.loads(Path(path).read_text()) if path else None


class RequestRefused(DataError, MlflowException):
    """A request the model refuses: to `cmtl score` and the gate a DataError like any bad input; to
    `mlflow models serve` an MlflowException, so the client gets HTTP 400 with the project's one-line
    message and no stack trace. The scoring server prefixes the message of an MlflowException with the
    request's data ("Failed to predict data '...'"), which would echo patient rows back: the message is
    set once, when raised, and that rewrite is ignored."""

    def __init__(self, message: str):
        MlflowException.__init__(self, message, error_code=BAD_REQUEST)

    @property
    def message(self) -> str:
        return self._message

    @message.setter
    def message(self, value: str) -> None:
        if not hasattr(self, "_message"):
            self._message = value


class MultiOutcomeModel(PythonModel):
    """Wraps a fitted MultiOutcomeClassifier (preprocessing is inside the estimator) and the operating
    points chosen on validation: one probability column per outcome, each followed by its 0/1
    `<outcome>_flag` (probability >= the outcome's threshold) when it has one."""

    def load_context(self, context):
        self.estimator = joblib.load(context.artifacts["estimator"])
        points = _json(context, "operating_points") or {}
        self.thresholds = {o: p.get("threshold") for o, p in points.items()}
        self.drift_reference = _json(context, "drift_reference")  # aggregates of the training data
        self.groups = _json(context, "predictor_groups")  # versions from before served explanations: None
        path = context.artifacts.get("reference")
        self.reference = pd.read_parquet(path) if path else None
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
        try:
            check_model_input(frame, needed, contract, contract.name if contract is not None else "features")
            k = self._explain(params)
            proba = self.estimator.predict_proba_frame(frame).reset_index(drop=True)
            if k:
                return pd.concat([with_flags(proba, getattr(self, "thresholds", {})), self._why(frame[needed], k)],
                                 axis=1)
        except DataError as exc:
            raise RequestRefused(" ".join(str(exc).split())) from None  # one line
        except Exception as exc:
            if os.environ.get(SERVING, "").lower() != "true":
                raise  # a bug, in `cmtl score` or the gate: its traceback is wanted
            _log.exception("scoring failed")  # the server's log has the traceback; the client does not
            raise RequestRefused(f"the model could not score this request ({type(exc).__name__}); "
                                 "`cmtl score` on the same rows names the problem") from None
        return with_flags(proba, getattr(self, "thresholds", {}))

    def _explain(self, params) -> int:
        """The request's `explain` parameter: how many factors per outcome (0: none)."""
        k = (params or {}).get("explain") or 0
        if not isinstance(k, int) or isinstance(k, bool) or not 0 <= k <= MAX_FACTORS:
            raise DataError(f"params.explain: a whole number of factors per outcome from 0 to {MAX_FACTORS}")
        if k and getattr(self, "groups", None) is None:
            raise DataError("params.explain: this model version was registered before served explanations; "
                            "`cmtl score --explain K` explains its risks")
        return k

    def _why(self, X: pd.DataFrame, k: int) -> pd.DataFrame:
        """`<outcome>_why_1..k`: each row's top factors per outcome (mtl_core/evaluation/additive.py)."""
        from mtl_core.evaluation.additive import contributions
        from mtl_core.evaluation.contributions import top_factors

        found = contributions(self.estimator, X, self.reference, self.groups)
        return top_factors(found, X, self.reference, self.groups, list(self.estimator.outcomes_),
                           min(k, len(self.groups)))


mlflow.models.set_model(MultiOutcomeModel())

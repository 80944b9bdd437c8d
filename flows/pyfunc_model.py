"""MLflow models-from-code entry: the multi-outcome pyfunc (frame of features in, one column per outcome out).

MLflow copies this file into the logged model and runs it at load time; mtl_core travels alongside
via code_paths, so the model does not depend on this repository's checkout.
"""
import warnings

import joblib
import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel

# MLflow nudges towards a type-hinted predict(); the logged signature comes from the input example.
warnings.filterwarnings("ignore", message=".*type hints.*")


class MultiOutcomeModel(PythonModel):
    """Wraps a fitted MultiOutcomeClassifier: preprocessing is inside the estimator."""

    def load_context(self, context):
        self.estimator = joblib.load(context.artifacts["estimator"])

    def predict(self, context, model_input, params=None):
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        return self.estimator.predict_proba_frame(frame).reset_index(drop=True)


mlflow.models.set_model(MultiOutcomeModel())

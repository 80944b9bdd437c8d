"""One rule for scoring: the served pyfunc refuses what `cmtl score` refuses, and never quotes the input."""
from __future__ import annotations

import json
import warnings

import joblib
import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.exceptions import MlflowException
from mlflow.pyfunc import scoring_server

from flows.score import check_columns, check_contract
from flows.tracking import signature
from mtl_core.data.contracts import CONTRACTS_DIR
from mtl_core.errors import DataError
from mtl_core.evaluation.operating_points import with_flags
from mtl_core.network.estimator import MultiOutcomeClassifier
from tests.conftest import ROOT

N = 200
# values no message may hold: distinctive enough to never turn up by chance
AGES = np.round(np.linspace(40.123457, 89.987653, N), 6)
LABS = np.round(np.linspace(0.314159, 9.271828, N), 6)


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"age": AGES, "creatinine_mean": LABS, "lactate_count": rng.integers(0, 4, N).astype(float),
                         "gender": rng.choice(["F", "M"], N)})


def _saved(tmp, **artifacts):
    """A small fitted model saved as the pipeline logs it (same pyfunc file, contract artifact, signature),
    with any extra artifacts (name -> file)."""
    X = _frame()
    Y = pd.DataFrame({"died": (X["age"] > 65).astype(float), "aki": (X["creatinine_mean"] > 5).astype(float)})
    est = MultiOutcomeClassifier(hidden=(8,), epochs=2, batch_size=64, seed=0).fit(X, Y)
    joblib.dump(est, tmp / "estimator.joblib")
    example = X.head(1)
    answer = with_flags(est.predict_proba_frame(example), {})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*type hints.*")
        mlflow.pyfunc.save_model(
            tmp / "model", python_model=str(ROOT / "flows" / "pyfunc_model.py"),
            artifacts={"estimator": str(tmp / "estimator.joblib"), **artifacts,
                       "feature_contract": str(CONTRACTS_DIR / "features.yaml")},
            code_paths=[str(ROOT / "mtl_core")], input_example=example, signature=signature(example, answer))
        return mlflow.pyfunc.load_model(str(tmp / "model"))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    return _saved(tmp_path_factory.mktemp("pyfunc"))


def _no_values(message: str, frame: pd.DataFrame) -> None:
    for col in ("age", "creatinine_mean"):
        for v in frame[col].dropna().head(50):
            assert f"{v:.6f}".rstrip("0") not in message, (v, message[:300])


def test_missing_column_is_named_never_quoted(served):
    frame = _frame().drop(columns=["creatinine_mean"])
    with pytest.raises(DataError) as exc:
        served.predict(frame)
    msg = str(exc.value)
    assert "1 column the model needs is missing: creatinine_mean" in msg
    _no_values(msg, _frame())


def test_forbidden_null_is_refused_like_cmtl_score(served):
    frame = _frame()
    frame.loc[[3, 7], "age"] = np.nan  # features.yaml: age is not nullable
    with pytest.raises(DataError) as exc:
        served.predict(frame)
    msg = str(exc.value)
    assert "column 'age': check not_nullable failed in 2 rows" in msg
    _no_values(msg, frame)
    # cmtl score's check says the same about the same input
    with pytest.raises(DataError) as by_score:
        check_contract(check_columns(frame, served.metadata.get_input_schema(), "in.csv"), "features", "in.csv")
    assert "column 'age': check not_nullable failed in 2 rows" in str(by_score.value)
    # a null where the contract allows one (a lab) is imputed, as in training
    allowed = _frame()
    allowed.loc[[1, 2], "creatinine_mean"] = np.nan
    assert served.predict(allowed).notna().all().all()


def test_scoring_server_reply_names_the_column_without_values(served):
    frame = _frame().head(5).drop(columns=["creatinine_mean"])
    body = json.dumps({"dataframe_split": frame.to_dict(orient="split", index=False)})
    schema = served.metadata.get_input_schema()
    with pytest.raises(MlflowException) as exc:
        scoring_server.invocations(body, "application/json", served, schema)
    reply = exc.value.serialize_as_json()  # what `mlflow models serve` sends back to the client
    assert "creatinine_mean" in reply
    _no_values(reply, _frame().head(5))


def test_float64_input_for_float32_features_is_the_same_data():
    """A MEDS feature file written as float64 scores like the float32 the contract names; text does not."""
    from mtl_core.data import contracts
    from mtl_core.errors import DataError

    contract = contracts.schema("meds_features")
    frame = pd.DataFrame({"age": [70.0, 61.5], "LAB//50813__all_last": np.array([1.5, np.nan], dtype="float64")})
    contracts.check_model_input(frame, ["age", "LAB//50813__all_last"], contract, "meds_features")
    frame["LAB//50813__all_last"] = ["1.5", "high"]
    with pytest.raises(DataError, match="LAB//50813__all_last"):
        contracts.check_model_input(frame, ["age", "LAB//50813__all_last"], contract, "meds_features")


def test_served_bad_request_gets_a_400_with_the_one_line_message_and_no_traceback(served, monkeypatch):
    """Through the scoring server's own FastAPI app (what `mlflow models serve` runs): a null the contract
    forbids gets HTTP 400 whose body is the project's message alone: no stack trace, no request data."""
    import logging

    from fastapi.testclient import TestClient

    monkeypatch.setenv("_MLFLOW_IS_IN_SERVING_ENVIRONMENT", "true")
    frame = _frame().head(8)
    frame.loc[[3, 7], "age"] = np.nan  # features.yaml: age is not nullable
    logging.getLogger("flows.pyfunc_model").disabled = True  # the server logs the rare unexpected error
    with TestClient(scoring_server.init(served)) as client:
        reply = client.post("/invocations", content=json.dumps(
            {"dataframe_split": json.loads(frame.to_json(orient="split", index=False))}),
            headers={"Content-Type": "application/json"})
        good = client.post("/invocations", content=json.dumps(
            {"dataframe_split": json.loads(_frame().head(3).to_json(orient="split", index=False))}),
            headers={"Content-Type": "application/json"})
    logging.getLogger("flows.pyfunc_model").disabled = False
    assert reply.status_code == 400, reply.text
    body = reply.json()
    assert set(body) <= {"error_code", "message", "sqlstate", "error_class"}, body  # no stack_trace
    assert "Traceback" not in reply.text and "File \"" not in reply.text and "stack_trace" not in reply.text
    assert "\n" not in body["message"] and "check not_nullable failed in 2 rows" in body["message"]
    assert "column 'age'" in body["message"] and not body["message"].startswith("Failed to predict data")
    _no_values(reply.text, _frame().head(8))
    assert good.status_code == 200 and len(good.json()["predictions"]) == 3


@pytest.fixture(scope="module")
def explained(tmp_path_factory):
    """The same kind of model logged with what a served explanation needs (predictor groups, reference)."""
    tmp = tmp_path_factory.mktemp("pyfunc_explained")
    _frame().head(1).to_parquet(tmp / "reference.parquet", index=False)
    (tmp / "groups.json").write_text(json.dumps({c: [c] for c in _frame().columns}))
    return _saved(tmp, reference=str(tmp / "reference.parquet"), predictor_groups=str(tmp / "groups.json"))


def test_served_model_explains_on_request(explained, served):
    """params.explain = K adds each outcome's top K factors; 0 or absent adds nothing; a bad K, or a model
    logged without predictor groups, is refused in one line."""
    rows = _frame().head(20)
    plain = explained.predict(rows)
    why = explained.predict(rows, params={"explain": 2})
    cols = [f"{o}_why_{i}" for o in ("died", "aki") for i in (1, 2)]
    assert list(why.columns) == list(plain.columns) + cols
    pd.testing.assert_frame_equal(why[plain.columns], plain)
    assert all(v.endswith(" points") for c in cols for v in why[c])
    assert explained.predict(rows, params={"explain": 0}).shape == plain.shape
    with pytest.raises(DataError, match="from 0 to 20"):
        explained.predict(rows, params={"explain": 99})
    with pytest.raises(DataError, match="registered before served explanations"):
        served.predict(rows, params={"explain": 2})

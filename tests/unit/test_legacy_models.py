"""Models pickled by an earlier release keep loading and scoring the same rows to the same probabilities
(tests/fixtures/legacy/make_models.py wrote them at the commit in the archive's name): a registered
champion must survive every move or rename of the code it was pickled from."""
from __future__ import annotations

import json
import subprocess
import sys
import tarfile
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest

# The networks compute in float32: another machine's kernels (or thread split) round differently, by up
# to 4e-7 in a probability (seen in a fresh clone's `make test` on a new machine); a wrong load, a changed
# preprocessor or a lost member is off by orders of magnitude more.
ATOL = 1e-6
ARCHIVES = sorted((Path(__file__).resolve().parents[1] / "fixtures" / "legacy").glob("legacy-*.tar.gz"))


@pytest.fixture(scope="module", params=ARCHIVES, ids=lambda p: p.name)
def legacy(request, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("legacy")
    with tarfile.open(request.param) as tar:
        tar.extractall(out, filter="data")
    return out / "legacy"


def _expected(folder: Path, prefix: str) -> pd.DataFrame:
    e = pd.read_parquet(folder / "expected.parquet")
    return e[[c for c in e.columns if c.startswith(prefix)]].rename(columns=lambda c: c[len(prefix):])


def test_there_is_a_legacy_archive():
    assert ARCHIVES, "tests/fixtures/legacy holds no legacy-<commit>.tar.gz"


def test_pickled_estimator_and_stacked_model_score_as_when_saved(legacy):
    rows = pd.read_parquet(legacy / "rows.parquet")
    for name, path in (("estimator/", legacy / "estimator.joblib"),
                       ("stacked/", legacy / "pyfunc" / "artifacts" / "stacked.joblib")):
        model = joblib.load(path)  # class paths of the old layout, resolved by this code
        got = model.predict_proba_frame(rows)
        want = _expected(legacy, name)
        assert list(got.columns) == list(want.columns)
        np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), rtol=0, atol=ATOL)


def test_legacy_pyfunc_loads_in_this_process_and_scores_the_same(legacy):
    import mlflow

    import mtl_core  # noqa: F401 - this code, not the model's own copy, answers the pickle's imports

    model = mlflow.pyfunc.load_model(str(legacy / "pyfunc"))
    got = model.predict(pd.read_parquet(legacy / "rows.parquet"))
    want = _expected(legacy, "pyfunc/")
    assert list(got.columns) == list(want.columns)
    np.testing.assert_allclose(got.to_numpy(float), want.to_numpy(float), rtol=0, atol=ATOL)


SERVE = r"""
import json, sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model(sys.argv[1])
print(json.dumps(model.predict(pd.read_parquet(sys.argv[2])).to_numpy(float).tolist()))
"""


def test_legacy_pyfunc_loads_in_a_fresh_process(legacy, tmp_path):
    """As `mlflow models serve` loads it: a new interpreter, nothing of mtl_core imported first."""
    proc = subprocess.run([sys.executable, "-c", SERVE, str(legacy / "pyfunc"), str(legacy / "rows.parquet")],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = np.array(json.loads(proc.stdout.strip().splitlines()[-1]))
    np.testing.assert_allclose(got, _expected(legacy, "pyfunc/").to_numpy(float), rtol=0, atol=ATOL)


def _holds(archive: Path, name: str) -> bool:
    with tarfile.open(archive) as tar:
        return name in tar.getnames()


WITH_LIGHTGBM = [a for a in ARCHIVES if _holds(a, "legacy/lightgbm/predictor.joblib")]


def test_some_archive_holds_a_lightgbm_member():
    assert WITH_LIGHTGBM, "no legacy archive holds lightgbm/ (make_models.py writes it since 979c98a)"


@pytest.mark.parametrize("archive", WITH_LIGHTGBM, ids=lambda p: p.name)
def test_pickled_lightgbm_member_scores_and_explains_as_when_saved(archive, tmp_path):
    """The LightGBM member (Categories, its Bag of boosters) loads, predicts the same probabilities and
    gives the same TreeSHAP sums: mtl_core.ensemble.lgbm's class paths are part of every such model."""
    from mtl_core.ensemble.lgbm import contributions

    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path, filter="data")
    folder = tmp_path / "legacy" / "lightgbm"
    predictor = joblib.load(folder / "predictor.joblib")
    rows, want = pd.read_parquet(folder / "rows.parquet"), pd.read_parquet(folder / "expected.parquet")
    np.testing.assert_allclose(predictor(rows), want["proba"], rtol=0, atol=1e-12)
    values, owners = contributions(predictor.model, rows, pd.read_parquet(folder / "reference.parquet"))
    np.testing.assert_allclose(values.sum(1), want["contribution_sum"], rtol=0, atol=1e-9)
    assert owners == list(rows.columns)

"""Shared fixtures: isolated Prefect/MLflow homes, one Prefect test server per session, small configs."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
import yaml

# Before anything imports prefect: a throwaway PREFECT_HOME and no telemetry.
_HOME = Path(tempfile.mkdtemp(prefix="cmtl-tests-"))
os.environ["PREFECT_HOME"] = str(_HOME / "prefect")
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.pop("MLFLOW_TRACKING_URI", None)
os.environ.pop("CMTL_WORKSPACE", None)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "configs" / "default.yaml"


def apply_overrides(cfg: dict, overrides: dict) -> None:
    """Per section: a dict updates the section's keys, anything else replaces the section."""
    for section, values in overrides.items():
        if isinstance(values, dict):
            cfg.setdefault(section, {}).update(values)
        else:
            cfg[section] = values


def write_config(path: Path, workspace: Path, **overrides) -> Path:
    """The default config shrunk for tests: ~2,400 admissions, short training; overrides by section."""
    cfg = yaml.safe_load(DEFAULT_CONFIG.read_text())
    cfg["workspace"] = str(workspace)
    cfg["source"]["n_patients"] = 1500
    cfg["train"].update(epochs=12, patience=4)
    # one fit per learner (a holdout) keeps the suite fast; the cross-fitted path, which `auto` picks for
    # a cohort this small, has its own tests (tests/unit/test_ensemble.py, tests/flows/test_ensemble_flows.py)
    cfg["model"]["fitting"] = "holdout"
    apply_overrides(cfg, overrides)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture
def small_config(tmp_path: Path) -> Path:
    return write_config(tmp_path / "config.yaml", tmp_path / "workspace")


@pytest.fixture(scope="session")
def small_tables():
    """Synthetic raw tables (plus truth) for the small test config, generated once per session."""
    from mtl_core.config import load_config
    from mtl_core.sources.synthetic import generate

    cfg_path = write_config(_HOME / "tables.yaml", _HOME / "unused")
    cfg = load_config(cfg_path)
    return cfg, generate(cfg.source, cfg.cohort.observation_hours)


@pytest.fixture(scope="session")
def prefect_server():
    """One temporary Prefect server for the whole session (starting one takes ~20 s)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        from prefect.settings import PREFECT_API_URL

        yield PREFECT_API_URL.value()


@pytest.fixture(autouse=True)
def _no_leaked_tracking_env(monkeypatch):
    """mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; keep one test's store out of the next."""
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "CMTL_WORKSPACE"):
        monkeypatch.delenv(key, raising=False)

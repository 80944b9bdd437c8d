"""Every benchmark module imports in the product's environment, so a move in mtl_core cannot leave a
benchmark broken until someone runs it by hand (bench.quality once imported a function from its old home).
The scripts that run inside a peer's own venv (bench/.venvs) import that peer and are left out by name."""
import importlib
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
IN_A_PEER_VENV = {"autogluon_fit", "xgb_as_meds_tab"}  # AutoGluon's, MEDS-Tab's (xgboost)
MODULES = sorted(p.stem for p in BENCH.glob("*.py") if p.stem != "__init__" and p.stem not in IN_A_PEER_VENV)


def test_the_peer_scripts_left_out_exist():
    assert all((BENCH / f"{name}.py").is_file() for name in IN_A_PEER_VENV)


@pytest.mark.parametrize("name", MODULES)
def test_bench_module_imports_without_running(name):
    module = importlib.import_module(f"bench.{name}")
    assert module.__name__ == f"bench.{name}"

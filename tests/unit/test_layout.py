"""The layout's rules, checked on the code itself: only the MLflow boundary imports mlflow, the core
imports no orchestration, stage flows do not import each other, and no code imports an old module path
(those exist for pickled models only, mtl_core/legacy.py)."""
from __future__ import annotations

import ast
from pathlib import Path

from mtl_core.legacy import MOVED

ROOT = Path(__file__).resolve().parents[2]
MLFLOW_BOUNDARY = {"flows/tracking.py", "flows/pyfunc_model.py"}


def imports(path: Path) -> set[str]:
    """Every module a file imports (absolute names; `from a import b` counts a and a.b)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def files(*folders: str) -> list[Path]:
    return [p for f in folders for p in sorted((ROOT / f).rglob("*.py"))]


def rel(p: Path) -> str:
    return p.relative_to(ROOT).as_posix()


def test_only_the_mlflow_boundary_imports_mlflow():
    offenders = [rel(p) for p in files("mtl_core", "flows")
                 if rel(p) not in MLFLOW_BOUNDARY and any(m.split(".")[0] == "mlflow" for m in imports(p))]
    assert offenders == [], f"mlflow imported outside {sorted(MLFLOW_BOUNDARY)}: {offenders}"


def test_the_core_imports_neither_prefect_nor_mlflow_nor_flows():
    offenders = [rel(p) for p in files("mtl_core")
                 if any(m.split(".")[0] in ("prefect", "mlflow", "flows") for m in imports(p))]
    assert offenders == []


def test_no_code_imports_an_old_module_path():
    old = set(MOVED)
    offenders = {rel(p): sorted(imports(p) & old) for p in files("mtl_core", "flows", "bench", "tests", "examples")
                 if rel(p) not in ("mtl_core/legacy.py", "tests/fixtures/legacy/make_models.py")}
    assert {k: v for k, v in offenders.items() if v} == {}

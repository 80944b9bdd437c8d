"""The layout's rules, checked on the code itself: only the MLflow boundary imports mlflow, the core
imports no orchestration, stage flows do not import each other, and no code imports an old module path
(those exist for pickled models only, mtl_core/legacy.py)."""
from __future__ import annotations

import ast
from pathlib import Path

from mtl_core.legacy import MOVED

ROOT = Path(__file__).resolve().parents[2]
MLFLOW_BOUNDARY = {"flows/tracking/__init__.py", "flows/tracking/store.py", "flows/tracking/runs.py",
                   "flows/tracking/models.py", "flows/tracking/registry.py", "flows/tracking/links.py",
                   "flows/pyfunc_model.py"}


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
    """The project's own Python files: not the benchmarks' virtual environments or caches (bench/.venvs)."""
    return [p for f in folders for p in sorted((ROOT / f).rglob("*.py"))
            if not any(part.startswith(".") for part in p.relative_to(ROOT).parts)]


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


STAGES = {"flows.ingest", "flows.features", "flows.train", "flows.evaluate", "flows.promote", "flows.score",
          "flows.compare", "flows.drift", "flows.monitor"}  # only flows.pipeline and flows.cli compose them


def module_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (at any depth of the file: lazy imports too).
    `from pkg import mod` is an arrow to pkg.mod; `from pkg import name` one to the package itself."""
    paths = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): p
             for p in files("mtl_core", "flows")}
    graph = {}
    for name, path in paths.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                subs = {f"{node.module}.{a.name}" for a in node.names}
                deps.update(subs & set(paths))
                if subs - set(paths):  # a name defined in the module (or package) itself
                    deps.add(node.module)
        graph[name] = {m for m in deps if m in paths and m != name}
    return graph


def test_stage_flows_do_not_import_each_other():
    graph = module_graph()
    assert STAGES <= set(graph)
    crossing = {s: sorted(graph[s] & STAGES) for s in STAGES if graph[s] & STAGES}
    assert crossing == {}
    below = {m: sorted(deps & (STAGES | {"flows.pipeline", "flows.cli"})) for m, deps in graph.items()
             if m.startswith(("flows.runtime", "flows.ops", "flows.tracking", "mtl_core"))}
    assert {m: d for m, d in below.items() if d} == {}, "runtime, ops and the MLflow boundary sit below the flows"


def test_no_import_cycles():
    graph, state, cycles = module_graph(), {}, []

    def visit(m: str, path: list[str]) -> None:
        state[m] = "open"
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                cycles.append(path[path.index(d):] + [d] if d in path else [m, d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_the_documented_layout_names_every_package():
    """docs/architecture.md's layout table and the README's tree name every package folder of the code."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    readme = (ROOT / "README.md").read_text()
    folders = sorted(str(p.parent.relative_to(ROOT)) for top in ("mtl_core", "flows")
                     for p in (ROOT / top).rglob("__init__.py"))
    assert folders and all(f"`{f}/`" in doc for f in folders), [f for f in folders if f"`{f}/`" not in doc]
    assert all(f"{Path(f).name}/" in readme for f in folders), [f for f in folders if f"{Path(f).name}/" not in readme]

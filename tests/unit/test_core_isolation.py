"""mtl_core is a pure library: importing all of it must not pull in prefect or mlflow."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import importlib, json, pkgutil, sys
import mtl_core
names = ["mtl_core"] + [m.name for m in pkgutil.walk_packages(mtl_core.__path__, "mtl_core.")]
for name in names:
    importlib.import_module(name)
banned = sorted(m for m in sys.modules
                if m.split(".")[0] in ("prefect", "mlflow"))
print(json.dumps({"imported": names, "banned": banned}))
"""


def test_importing_all_of_mtl_core_loads_no_prefect_or_mlflow():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # the walk really covered the package, subpackages included
    expected = {"mtl_core.dataset.features", "mtl_core.network.estimator", "mtl_core.data.lake", "mtl_core.data.contracts",
                "mtl_core.network.train", "mtl_core.sources", "mtl_core.sources.synthetic"}
    assert expected <= set(result["imported"])
    assert result["banned"] == []

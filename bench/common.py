"""Shared set-up for benchmarks: the default synthetic cohort, split into model-ready frames."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mtl_core.config import Config, load_config
from mtl_core.data.contracts import outcome_definitions
from mtl_core.dataset.features import build_dataset, model_columns
from mtl_core.sources.synthetic import generate

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
VENVS = ROOT / "bench" / ".venvs"  # benchmarks' own environments (gitignored), never the product's .venv


def bench_venv(name: str, packages: list[str], constraints: Path, product_path: bool = False) -> Path:
    """The python of bench/.venvs/<name>, built on first use with `packages` pinned by `constraints`.
    With product_path, a .pth file puts the product's packages and this checkout after the venv's own,
    so only what the product lacks gets installed. A marker file says the build finished."""
    venv = VENVS / name
    python, marker = venv / "bin" / "python", venv / "bin" / f"{name}-installed"
    if not marker.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        if product_path:
            site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                  check=True, capture_output=True, text=True).stdout.strip()
            product = [p for p in sys.path if p.endswith("site-packages")]
            Path(site, "cmtl-product.pth").write_text("\n".join([*product, str(ROOT)]) + "\n")
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-c", str(constraints), *packages], check=True)
        marker.touch()
    return python


@dataclass
class Data:
    cfg: Config
    X: dict[str, pd.DataFrame]      # split -> model features
    Y: dict[str, pd.DataFrame]      # split -> labels (NaN = undefined)
    truth: np.ndarray               # test split true probabilities, (n_test, K)


def load(config: str = "configs/default.yaml") -> Data:
    cfg = load_config(ROOT / config)
    tables = generate(cfg.source, cfg.cohort.observation_hours)
    features, labels = build_dataset(tables, cfg, outcome_definitions())
    cols = model_columns(features)
    X, Y = {}, {}
    for split in ("train", "val", "test"):
        rows = (features["split"] == split).to_numpy()
        X[split] = features.loc[rows, cols].reset_index(drop=True)
        Y[split] = labels.loc[rows, cfg.outcomes].reset_index(drop=True)
    test_ids = features.loc[features["split"] == "test", "hadm_id"]
    truth = tables["truth"].set_index("hadm_id").reindex(test_ids)[cfg.outcomes].to_numpy(float)
    return Data(cfg, X, Y, truth)


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def short_head(tree: Path = ROOT) -> str:
    """The checkout's commit (short hash); empty outside a git checkout."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          cwd=tree).stdout.strip()


def _commit() -> str:
    commit = short_head()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "mtl_core", "bench", "configs",
                            ":!bench/results"],  # a benchmark writes its results as it goes
                           capture_output=True, text=True, cwd=ROOT).stdout.strip()
    return commit + ("+uncommitted" if dirty else "")  # results from a work tree the commit does not fully describe


# The code a benchmark runs is what it imported when it started: read the commit then, not when the
# results are written, since an hour-long run outlives commits made meanwhile.
COMMIT_AT_START = _commit()


def machine() -> dict:
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": COMMIT_AT_START,
            "python": platform.python_version(), "torch": torch.__version__,
            "cpus": torch.get_num_threads(), "platform": platform.platform(),
            # the machine is shared: the load average when the results were written says how noisy timings are
            "load_average_1_5_15min": [round(v, 2) for v in os.getloadavg()]}


def write(name: str, command: str, markdown: str, data: dict) -> None:
    """bench/results/NAME.md (human) and NAME.json (machine), both naming the command that made them."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = machine()
    header = (f"# {name}\n\nCommand: `{command}`  \nRecorded: {meta['date']} at commit {meta['commit']}, "
              f"Python {meta['python']}, torch {meta['torch']}, {meta['cpus']} threads, load average "
              f"{' / '.join(map(str, meta['load_average_1_5_15min']))} (1 / 5 / 15 min) at the end.\n\n")
    (RESULTS / f"{name}.md").write_text(header + markdown.rstrip() + "\n")
    (RESULTS / f"{name}.json").write_text(json.dumps({"command": command, "machine": meta, **data}, indent=2))
    print(header + markdown)


def table(header: list[str], rows: list[list]) -> str:
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else ("n/a" if v is None else str(v))  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)

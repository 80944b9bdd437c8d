"""Small MEDS datasets for tests: the synthetic cohort written by mtl_core/sources/export_meds.py."""
from __future__ import annotations

import shutil
import tempfile
from functools import cache
from pathlib import Path

import yaml

from mtl_core.config import SyntheticSource
from mtl_core.sources.export_meds import write_synthetic
from tests.conftest import write_config

OUTCOMES = ["in_hospital_mortality", "prolonged_stay", "aki", "sepsis"]


@cache
def _cached(n_patients: int, seed: int) -> Path:
    base = Path(tempfile.mkdtemp(prefix=f"cmtl-meds-{n_patients}-"))
    write_synthetic(SyntheticSource(n_patients=n_patients, seed=seed), 24, base / "dataset", base / "labels",
                    truth_path=base / "truth.parquet", subjects_per_shard=max(n_patients // 6, 50))
    return base


def meds_copy(dest: Path, n_patients: int = 400, seed: int = 7) -> Path:
    """A fresh copy of a cached export (dataset/, labels/<outcome>/, truth.parquet) at dest."""
    shutil.copytree(_cached(n_patients, seed), dest)
    return dest


def meds_config(path: Path, workspace: Path, root: Path, outcomes=OUTCOMES, source: dict | None = None,
                **overrides) -> Path:
    """The small test config pointed at a MEDS export (no features section: codes make the features)."""
    write_config(path, workspace, **overrides)
    cfg = yaml.safe_load(path.read_text())
    cfg["source"] = {"kind": "meds", "path": str(root / "dataset"), "labels_dir": str(root / "labels"),
                     **(source or {})}
    cfg.pop("features")
    cfg["outcomes"] = list(outcomes)
    cfg.setdefault("evaluation", {})["subgroups"] = ["age_band"]
    cfg["code_features"] = {"top_n": 80, **overrides.get("code_features", {})}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path

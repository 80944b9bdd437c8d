"""Where training checkpoints live so that a rerun of the same config on the same feature set resumes
where a killed run stopped (not only a retried task), and what a checkpoint folder holds."""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path


def checkpoint_dir(cfg, ws: Path, features_dir: str) -> Path:
    """ws/checkpoints/<key>: the key is the feature set and the whole config, so only the very same
    fit resumes from it."""
    text = json.dumps({"features": Path(features_dir).name, "config": cfg.model_dump(mode="json")},
                      sort_keys=True, default=str)
    return ws / "checkpoints" / hashlib.sha256(text.encode()).hexdigest()[:24]


def _epoch(path: Path) -> int | None:
    import torch

    try:
        return int(torch.load(path, weights_only=False, map_location="cpu")["epoch"])
    except Exception:  # noqa: BLE001 - a torn or foreign file: training starts over
        return None


def progress_in(folder: Path) -> dict | None:
    """What a checkpoint folder holds: {"folds_done": n, "epoch": last finished epoch of the running
    fit (0 if none)}, or None when there is nothing to resume."""
    if not folder.is_dir():
        return None
    done = len(list(folder.glob("**/fold*.joblib")))
    epochs = [e for e in (_epoch(p) for p in sorted(folder.glob("**/*.pt"))) if e is not None]
    if not done and not epochs:
        return None
    return {"folds_done": done, "epoch": max(epochs, default=0)}


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    parent = folder.parent
    if parent.is_dir() and not any(parent.iterdir()):
        parent.rmdir()

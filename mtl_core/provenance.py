"""What a run was made from: code version (package version, git commit, digest of the source) and the
fingerprint (lake snapshot + config + code) that tells an unchanged rerun from a real change."""
from __future__ import annotations

import hashlib
import importlib.metadata as md
import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The code that decides what a model is: the library, the flows and the data contracts.
SOURCE_DIRS = ("mtl_core", "flows", "data_contracts")
# Config keys that change where or under which name a run is filed, not what it computes.
NOT_MODEL = ("name", "workspace")


def source_digest(root: Path = ROOT) -> str:
    """SHA-256 (16 hex) over the paths and contents of every .py/.yaml file of SOURCE_DIRS."""
    h = hashlib.sha256()
    for folder in SOURCE_DIRS:
        for path in sorted((root / folder).rglob("*")):
            if path.suffix in (".py", ".yaml", ".yml") and path.is_file() and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def git_commit(root: Path = ROOT) -> str | None:
    """The checkout's commit, with "+dirty" when tracked files differ from it; None without git."""
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty else "")


def code_version(root: Path = ROOT) -> dict:
    """package version, git commit (None outside a checkout) and the source digest."""
    try:
        package = md.version("clinical-mtl")
    except md.PackageNotFoundError:
        package = None
    return {"package_version": package, "git_commit": git_commit(root), "source_digest": source_digest(root)}


def describe(code: dict) -> str:
    """One line: `clinical-mtl 0.1.0, git 1a2b3c4d5e6f (+dirty), source 0123456789abcdef`."""
    commit = code.get("git_commit")
    git = "no git" if not commit else f"git {commit[:12]}" + (" (uncommitted changes)" if commit.endswith("+dirty")
                                                               else "")
    return f"clinical-mtl {code.get('package_version') or 'unknown'}, {git}, source {code.get('source_digest')}"


def config_digest(config: dict) -> str:
    """Digest of a config (as a JSON-ready dict) without the keys that do not change the model."""
    data = {k: v for k, v in config.items() if k not in NOT_MODEL}
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def fingerprint(snapshot: str, config: dict, code: dict) -> dict:
    """What must be equal for two runs to be the same computation. The source digest, not the commit,
    stands for the code: a new commit that changes no code is no change, an edit without one is."""
    return {"lake_snapshot": snapshot, "config_digest": config_digest(config),
            "code": f"{code.get('package_version')}/{code.get('source_digest')}"}


def changed_keys(current: dict, previous: dict) -> list[str]:
    """The fingerprint keys that differ (empty: nothing changed); a missing previous key differs."""
    return [k for k in current if previous.get(k) != current[k]]

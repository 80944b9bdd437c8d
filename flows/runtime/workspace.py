"""Where a run writes: one workspace folder holds the lake, features, models, MLflow store and PREFECT_HOME.

Imported before prefect, so PREFECT_HOME can still take effect; it imports neither prefect nor mlflow.
"""
from __future__ import annotations

import os
from pathlib import Path

from mtl_core.config import Config, load_config
from mtl_core.data.contracts import outcome_definitions
from mtl_core.data.paths import check_source_paths, make_workspace
from mtl_core.errors import ConfigError
from mtl_core.sources.layouts import check_outcomes


def workspace_dir(cfg: Config) -> Path:
    """CMTL_WORKSPACE wins over the config's `workspace`; relative paths are taken from the cwd."""
    path = Path(os.environ.get("CMTL_WORKSPACE") or cfg.workspace).expanduser()
    try:
        return path.resolve()
    except (RuntimeError, OSError):  # a symlink loop: make_workspace names it
        return path.absolute()


def tracking_uri(ws: Path) -> str:
    """MLFLOW_TRACKING_URI wins; otherwise a SQLite store inside the workspace."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{ws / 'mlflow.db'}"


def checked_config(config_path: str | Path) -> tuple[Config, Path]:
    """The config and its workspace path, with every check that needs no data and no torch: values,
    outcome names against their definitions, the source's paths (symlink loops included). The one place
    a config is checked: `cmtl validate`, `cmtl run`'s pre-check and every flow run start here."""
    cfg = load_config(config_path)
    check_outcomes(cfg.outcomes, outcome_definitions(kind=cfg.source.kind), cfg.source.layout)
    check_source_paths(cfg)
    try:
        ws = workspace_dir(cfg)
    except (OSError, RuntimeError) as exc:  # e.g. a symbolic link loop
        raise ConfigError(f"workspace {cfg.workspace}: unusable path ({exc})") from None
    return cfg, ws


def check_schemes(cfg: Config) -> None:
    """Sharing, weighting, mode and calibration names and the gate's rules (their modules import torch
    and scikit-learn: seconds, so `cmtl validate` runs it after the data, whose errors are likelier)."""
    from mtl_core.gate.promotion import Rules, check_rules
    from mtl_core.network.estimator import check_args, check_choices

    check_choices(cfg.model.sharing, cfg.train.weighting, cfg.train.mode, cfg.train.calibration)
    check_args(cfg.model.sharing, cfg.model.sharing_args, cfg.train.weighting, cfg.train.weighting_args)
    check_rules(Rules.from_config(cfg.registry), cfg.outcomes)


def prepare(config_path: str | Path) -> tuple[Config, Path]:
    """Load and check the config, create the workspace and point Prefect at it (before prefect is
    imported). Each flow run calls it once and hands the config object to its tasks."""
    cfg, path = checked_config(config_path)
    check_schemes(cfg)
    ws = make_workspace(path, ("lake", "features", "models", "prefect", "mlartifacts"))
    os.environ.setdefault("PREFECT_HOME", str(ws / "prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # the temporary server's 20 s default start-up budget is too short on a busy 2-core machine
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # no download bars in a run's log
    # MLflow's own HTTP retries (7, up to 2 min apart) times the tracking tasks' retries held a run for
    # 17 min when the server was gone; 3 quick ones, then the task's retries (flows/runtime/policy.py), suffice.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "3")
    return cfg, ws

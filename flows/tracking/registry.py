"""The model registry: versions, aliases, tags and descriptions, the promotion lock, and finding a
version from what a user typed."""
from __future__ import annotations

import json
import os
import random
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from mlflow.exceptions import MlflowException

from flows.runtime.workspace import tracking_uri
from flows.tracking.store import client
from mtl_core.config import Config
from mtl_core.errors import CmtlError


def register(cfg: Config, ws: Path, model_uri: str, run_id: str) -> str:
    c = client(cfg, ws)
    try:
        c.create_registered_model(cfg.registry.model_name,
                                  description="Multi-outcome clinical risk model (one probability per outcome).")
    except MlflowException:
        pass  # already exists
    # A tracking server (REST store) accepts a `models:/m-...` source only with its logged model id.
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/m-") else None
    mv = c.create_model_version(cfg.registry.model_name, model_uri, run_id=run_id, model_id=model_id)
    if model_id:  # the logged model's page lists its registered versions (as mlflow.register_model records them)
        from mlflow.utils.mlflow_tags import MLFLOW_MODEL_VERSIONS

        try:
            known = json.loads(c.get_logged_model(model_id).tags.get(MLFLOW_MODEL_VERSIONS, "[]"))
            c.set_logged_model_tags(model_id, {MLFLOW_MODEL_VERSIONS: json.dumps(
                known + [{"name": mv.name, "version": str(mv.version)}])})
        except MlflowException:
            pass  # the version stands; only the back link from the logged model is missing
    return str(mv.version)


@contextmanager
def registry_lock(cfg: Config, ws: Path, timeout: float = 900, stale_after: float = 1800):
    """Mutual exclusion between promotions in any process or machine sharing the registry: a registered
    model named `<model>.promotion-lock` exists while one is held (model names are unique in every
    store, so creating it is an atomic test-and-set); deleted on release. A lock left by a crashed
    holder is taken over after `stale_after` seconds."""
    c, name = client(cfg, ws), f"{cfg.registry.model_name}.promotion-lock"
    deadline = time.monotonic() + timeout
    while True:
        try:
            c.create_registered_model(name, tags={"cmtl.lock.holder": f"{socket.gethostname()}:{os.getpid()}",
                                                  "cmtl.lock.since": str(time.time())},
                                      description="Held while a promotion moves the champion alias.")
            break
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        try:
            since = float(c.get_registered_model(name).tags.get("cmtl.lock.since", "0"))
            if time.time() - since > stale_after:
                c.delete_registered_model(name)
                continue
        except MlflowException:
            continue  # released meanwhile
        if time.monotonic() > deadline:
            raise TimeoutError(f"registry lock {name} still held after {timeout:.0f} s")
        time.sleep(0.5 + random.random())
    try:
        yield
    finally:
        try:
            c.delete_registered_model(name)
        except MlflowException:
            pass


def version_by_alias(cfg: Config, ws: Path, alias: str):
    try:
        return client(cfg, ws).get_model_version_by_alias(cfg.registry.model_name, alias)
    except MlflowException:
        return None


def set_alias(cfg: Config, ws: Path, alias: str, version: str) -> None:
    client(cfg, ws).set_registered_model_alias(cfg.registry.model_name, alias, version)


def tag_version(cfg: Config, ws: Path, version: str, tags: dict[str, str]) -> None:
    c = client(cfg, ws)
    for k, v in tags.items():
        c.set_model_version_tag(cfg.registry.model_name, version, k, str(v)[:5000])


def describe_version(cfg: Config, ws: Path, version: str, text: str) -> None:
    """The version's description (Markdown, shown on its page in the MLflow UI)."""
    client(cfg, ws).update_model_version(cfg.registry.model_name, str(version), description=text[:60000])


def parse_reference(name: str, ref: str, what: str) -> tuple[str | None, str | None]:
    """(alias, version) from what a user typed: `3`, `v3`, `models:/<name>/3`, or an alias."""
    text = str(ref).strip().removeprefix(f"models:/{name}").lstrip("/@")
    if text.lower().startswith("v") and text[1:].isdigit():
        text = text[1:]
    if not text:
        raise CmtlError(f"{what}: give an alias (champion, challenger) or a version number (3, v3), not {ref!r}")
    return (None, text) if text.isdigit() else (text, None)


def find_version(cfg: Config, ws: Path, ref: str, what: str):
    """The registered version an alias or number names; CmtlError naming the store when there is none."""
    name = cfg.registry.model_name
    alias, version = parse_reference(name, ref, what)
    mv = version_by_alias(cfg, ws, alias) if alias else model_version(cfg, ws, version)
    if mv is None:
        which = f"alias '{alias}'" if alias else f"version {version}"
        raise CmtlError(f"model {name} has no {which} in {tracking_uri(ws)}{_next_step(cfg, ws, alias, what)}")
    return mv, alias


def _next_step(cfg: Config, ws: Path, alias: str | None, what: str) -> str:
    """What to do instead when there is no champion: the challenger the gate kept, and how to use it."""
    if alias != "champion":
        return ""
    challenger = version_by_alias(cfg, ws, "challenger")
    if challenger is None:
        return ": no version is registered yet (`cmtl run` trains and registers one)"
    v = challenger.version
    use = "--model challenger" if what == "--model" else "challenger"
    return (f": the gate has promoted no version yet; v{v} is challenger: use {use} (or `{v}`) to score "
            f"with it, `cmtl promote --version {v} --dry-run` says why it stays challenger")


def model_version(cfg: Config, ws: Path, version: str):
    try:
        return client(cfg, ws).get_model_version(cfg.registry.model_name, str(version))
    except MlflowException:
        return None


def model_versions(cfg: Config, ws: Path) -> list:
    return list(client(cfg, ws).search_model_versions(f"name='{cfg.registry.model_name}'"))


def model_tags(cfg: Config, ws: Path) -> dict[str, str]:
    try:
        return dict(client(cfg, ws).get_registered_model(cfg.registry.model_name).tags)
    except MlflowException:
        return {}


def set_model_tags(cfg: Config, ws: Path, tags: dict[str, str]) -> None:
    c = client(cfg, ws)
    for k, v in tags.items():
        c.set_registered_model_tag(cfg.registry.model_name, k, str(v)[:5000])

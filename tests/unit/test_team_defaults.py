"""Registry and audit defaults that keep one team's config out of another team's model."""
from __future__ import annotations

import getpass
import os
import pwd
import socket

import pytest
import yaml

from mtl_core.config import load_config
from tests.conftest import DEFAULT_CONFIG, ROOT


def _without_model_name(tmp_path, name: str):
    raw = yaml.safe_load(DEFAULT_CONFIG.read_text())
    raw["name"] = name
    raw["registry"].pop("model_name")
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


def test_model_name_defaults_to_one_derived_from_the_config_name(tmp_path):
    assert _without_model_name(tmp_path, "St Mary's ICU").registry.model_name == "clinical-multi-outcome-st-mary-s-icu"
    # the name the team's model has is only ever used by a config that says so
    assert _without_model_name(tmp_path, "default").registry.model_name != "clinical-multi-outcome"
    assert load_config(DEFAULT_CONFIG).registry.model_name == "clinical-multi-outcome"


def test_example_configs_each_name_their_own_model():
    names = {}
    for path in sorted((ROOT / "configs").glob("*.yaml")):
        cfg = load_config(path)
        names.setdefault(cfg.registry.model_name, []).append(path.name)
    shared = {k: v for k, v in names.items() if len(v) > 1}
    # the temporal example competes with the default on purpose (same cohort, another split), and the later
    # shift is the default's cohort a year on: the champion it monitors and retrains is the default's
    assert shared == {"clinical-multi-outcome": ["default.yaml", "later_shift.yaml", "temporal_example.yaml"]}


def test_audit_user_falls_back_to_login_then_host(monkeypatch):
    from flows.promote import _actor

    assert _actor("alice") == "alice"
    for var in ("LOGNAME", "USER", "LNAME", "USERNAME"):
        monkeypatch.delenv(var, raising=False)
    login = _actor(None)  # as under a worker or cron: no $USER, the account of this process
    assert login and login != "unknown"
    assert login == pwd.getpwuid(os.getuid()).pw_name

    def no_user():
        raise KeyError("uid not found")
    monkeypatch.setattr(getpass, "getuser", no_user)
    assert _actor(None) == f"a process on host {socket.gethostname()}"
    assert "unknown" not in _actor(None)


@pytest.mark.parametrize("layout,expected", [("flat", ["stay_id", "patient"]), ("canonical", [])])
def test_score_keeps_a_flat_tables_own_keys(tmp_path, layout, expected):
    from flows.score import kept_columns
    from tests.bad_inputs.fixtures import tabular_config
    from tests.conftest import write_config

    path = (tabular_config(tmp_path / "c.yaml", tmp_path / "ws", tmp_path / "t.csv") if layout == "flat"
            else write_config(tmp_path / "c.yaml", tmp_path / "ws"))
    kept = kept_columns(load_config(path))
    assert kept[:len(expected)] == expected and kept[len(expected):][:2] == ["hadm_id", "subject_id"]

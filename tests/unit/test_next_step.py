"""Examples end well: when the gate promotes nothing, the CLI prints a next step that works, and
`cmtl score --model champion` without a champion says which version is challenger and how to use it."""
from __future__ import annotations

import pytest

from flows import tracking
from flows.ops.show import next_step
from mtl_core.config import load_config
from mtl_core.errors import CmtlError
from tests.conftest import write_config


def test_a_run_that_ends_without_a_champion_names_the_challenger_command():
    first = {"version": "1", "promoted": False, "compared_to": None, "dry_run": False}
    step = next_step(first, "configs/tabular_example.yaml")
    assert "no champion yet: v1 is challenger" in step
    assert "`cmtl score --config configs/tabular_example.yaml --model challenger --input" in step
    later = next_step({**first, "version": "3", "compared_to": "2"}, None)
    assert later.startswith("v2 is still champion") and "`cmtl score --model challenger" in later
    assert next_step({**first, "promoted": True}, None) is None
    assert next_step({**first, "dry_run": True}, None) is None


@pytest.mark.parametrize("registered", [False, True])
def test_score_with_no_champion_says_what_to_use(tmp_path, registered):
    cfg = load_config(write_config(tmp_path / "c.yaml", tmp_path / "ws"))
    ws = tmp_path / "ws"
    ws.mkdir()
    if registered:
        c = tracking.client(cfg, ws)
        c.create_registered_model(cfg.registry.model_name)
        mv = c.create_model_version(cfg.registry.model_name, str(tmp_path / "model"))
        c.set_registered_model_alias(cfg.registry.model_name, "challenger", mv.version)
    with pytest.raises(CmtlError) as err:
        tracking.find_version(cfg, ws, "champion", "--model")
    text = str(err.value)
    assert f"model {cfg.registry.model_name} has no alias 'champion'" in text
    if registered:
        assert "the gate has promoted no version yet; v1 is challenger: use --model challenger (or `1`)" in text
        assert "`cmtl promote --version 1 --dry-run` says why" in text
    else:
        assert "no version is registered yet" in text

"""The promotion gate on arrays: floors, non-inferiority vs the champion (paired bootstrap CI), subgroups,
calibration, and the champion history behind rollback."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mtl_core.config import RegistryConfig
from mtl_core.errors import CmtlError, ConfigError
from mtl_core.gate.promotion import (
    Comparison,
    Evidence,
    Rules,
    check_rules,
    gate,
    gather,
    push_history,
    rollback_target,
)

N = 3000


def _data(seed: int = 0):
    """Labels of two outcomes and a good score for each (true risk + a little noise)."""
    rng = np.random.default_rng(seed)
    risk = rng.uniform(0.02, 0.6, (N, 2))
    Y = (rng.uniform(size=(N, 2)) < risk).astype(float)
    good = np.clip(risk + rng.normal(0, 0.05, (N, 2)), 0.001, 0.999)
    return rng, Y, good


def _reason(verdict, outcome: str) -> str:
    lines = [r for r in verdict.reasons if r.startswith(f"{outcome}:")]
    assert len(lines) == 1, verdict.reasons
    return lines[0]


def test_worse_challenger_is_rejected_naming_the_outcome():
    rng, Y, champ = _data()
    chall = champ.copy()
    chall[:, 1] = np.clip(champ[:, 1] + rng.normal(0, 0.4, N), 0, 1)  # outcome b degraded
    evidence = gather(Y, chall, ["a", "b"], {"a": champ[:, 0], "b": champ[:, 1]}, n_boot=300)
    v = gate(evidence, Rules(auroc_margin=0.01), ["a", "b"])
    assert not v.promote
    assert "worse" in _reason(v, "b") and "vs champion" in _reason(v, "b")
    assert "non-inferior" in _reason(v, "a")  # identical predictions: CI [0, 0]
    assert v.outcome_status() == {"a": "pass", "b": "fail"}
    b = evidence[1].champion
    assert b.hi < -0.01 and b.lo <= b.diff <= b.hi


def test_better_challenger_is_promoted():
    rng, Y, champ = _data(1)
    worse = np.clip(champ + rng.normal(0, 0.25, champ.shape), 0, 1)
    evidence = gather(Y, champ, ["a", "b"], {"a": worse[:, 0], "b": worse[:, 1]}, n_boot=300)
    v = gate(evidence, Rules(), ["a", "b"])
    assert v.promote and all(e.champion.lo > 0 for e in evidence)
    assert v.summary.startswith("promoted")


def test_identical_predictions_pass_even_with_zero_margin():
    _, Y, champ = _data(2)
    evidence = gather(Y, champ, ["a", "b"], {"a": champ[:, 0], "b": champ[:, 1]}, n_boot=200)
    assert [(e.champion.lo, e.champion.hi) for e in evidence] == [(0.0, 0.0), (0.0, 0.0)]
    assert gate(evidence, Rules(auroc_margin=0.0), ["a", "b"]).promote


def test_floor_violation_rejects_even_without_a_champion():
    rng, Y, good = _data(3)
    P = good.copy()
    P[:, 1] = rng.uniform(size=N)  # chance level on b
    evidence = gather(Y, P, ["a", "b"], None, n_boot=0)
    v = gate(evidence, Rules(auroc_floors={"b": 0.6}), None)
    assert not v.promote and v.reasons[0] == "no champion yet"
    assert "not above floor 0.600" in _reason(v, "b") and "a:" in v.reasons[1]
    assert "point estimate" in _reason(v, "b")  # without a CI the verdict says what stood in for the bound
    # the default floor (0.5) applies to outcomes without their own
    assert gate(evidence, Rules(default_floor=0.7), None).outcome_status() == {"a": "pass", "b": "fail"}


def test_chance_level_first_version_is_rejected_on_the_lower_bound():
    """A first version whose AUROC is above 0.5 by luck: the default floor on the CI's lower bound stops it."""
    rng, Y, good = _data(3)
    for seed in range(50):  # a coin flip that happens to score above 0.5
        coin = np.random.default_rng(seed).uniform(size=N)
        if 0.505 < gather(Y[:, 1:], coin[:, None], ["b"], None, n_boot=0)[0].auroc < 0.53:
            break
    P = np.column_stack([good[:, 0], coin])
    evidence = gather(Y, P, ["a", "b"], None, n_boot=500)
    b = evidence[1]
    assert b.auroc > 0.5 and b.auroc_ci[0] < 0.5 < b.auroc_ci[1]
    v = gate(evidence, Rules(), None)
    assert not v.promote and v.outcome_status() == {"a": "pass", "b": "fail"}
    assert f"lower bound {b.auroc_ci[0]:.3f} not above floor 0.500" in _reason(v, "b")
    assert "95% CI" in _reason(v, "b") and "lower bound" in _reason(v, "a") and "above floor" in _reason(v, "a")
    # a network with no skill (constant output): AUROC exactly 0.5, CI [0.5, 0.5], not above the floor
    flat = gather(Y, np.column_stack([good[:, 0], np.full(N, 0.1)]), ["a", "b"], None, n_boot=200)
    assert flat[1].auroc == 0.5 and flat[1].auroc_ci == (0.5, 0.5)
    assert not gate(flat, Rules(), None).promote


def test_not_estimable_outcome_fails_only_a_configured_floor():
    evidence = [Evidence("a", 0.8), Evidence("rare", None)]
    assert gate(evidence, Rules(), None).promote
    v = gate(evidence, Rules(auroc_floors={"rare": 0.6}), None)
    assert not v.promote and "not estimable" in _reason(v, "rare")


def test_subgroup_drop_rejects_and_small_groups_are_only_reported():
    rng, Y, champ = _data(4)
    groups = pd.DataFrame({"gender": np.where(np.arange(N) % 2 == 0, "F", "M"),
                           "site": np.where(np.arange(N) < 30, "tiny", "big")})
    chall = champ.copy()
    male = groups["gender"].to_numpy() == "M"
    chall[male, 0] = np.clip(champ[male, 0] + rng.normal(0, 0.5, male.sum()), 0, 1)
    rules = Rules(auroc_margin=0.5, subgroup_margins={"gender": 0.02, "site": 0.02}, subgroup_min_events=20)
    evidence = gather(Y, chall, ["a", "b"], {"a": champ[:, 0], "b": champ[:, 1]}, groups, rules, n_boot=300)
    v = gate(evidence, rules, ["a", "b"])
    assert not v.promote
    assert "subgroup gender=M" in _reason(v, "a") and "subgroup gender=F" not in _reason(v, "a")
    by_group = {(c.outcome, c.subgroup): c for c in v.checks if c.gate == "subgroup"}
    assert by_group[("a", "gender=M")].passed is False and by_group[("a", "gender=F")].passed is True
    tiny = by_group[("a", "site=tiny")]
    assert tiny.passed is None and "not gated" in tiny.detail  # 30 rows: too few events to gate
    assert v.outcome_status()["b"] == "pass"


def test_calibration_gate():
    _, Y, good = _data(5)
    squashed = good * 0.3  # same ranking (AUROC), badly under-predicted
    champion = {"a": good[:, 0], "b": good[:, 1]}
    rules = Rules(max_ece=0.05)
    assert gate(gather(Y, good, ["a", "b"], champion, n_boot=100), rules, ["a", "b"]).promote
    v = gate(gather(Y, squashed, ["a", "b"], champion, n_boot=100), rules, ["a", "b"])
    assert not v.promote and "above limit 0.050" in _reason(v, "a")
    assert gate(gather(Y, squashed, ["a", "b"], champion, n_boot=100), Rules(), ["a", "b"]).promote


@pytest.mark.parametrize("lo, hi, passed, word", [
    (-0.01, 0.02, True, "non-inferior"),       # lower bound exactly at -margin passes
    (-0.0101, 0.03, False, "not shown"),      # point estimate better, CI too wide: not shown
    (-0.05, -0.02, False, "worse"),           # whole CI beyond the margin
    (0.001, 0.01, True, "non-inferior"),
])
def test_ci_rule_edges(lo, hi, passed, word):
    c = Comparison(0.80, 0.79, diff=0.01, lo=lo, hi=hi)
    v = gate([Evidence("a", 0.80, champion=c)], Rules(auroc_margin=0.01), ["a"])
    assert v.promote is passed and word in v.reasons[0]


def test_without_a_paired_ci_the_point_estimate_decides():
    _, Y, champ = _data(6)
    evidence = gather(Y, champ * 0.999, ["a", "b"], {"a": champ[:, 0], "b": champ[:, 1]}, n_boot=0)
    assert evidence[0].champion.lo is None
    assert "point estimate" in gate(evidence, Rules(), ["a", "b"]).reasons[0]
    drop = Comparison(0.70, 0.75, diff=-0.05)
    v = gate([Evidence("a", 0.70, champion=drop)], Rules(auroc_margin=0.01), ["a"])
    assert not v.promote and "drop 0.050 > margin 0.010" in v.reasons[0]


def test_outcome_the_challenger_lost_rejects():
    v = gate([Evidence("a", 0.9, champion=Comparison(0.9, 0.8))], Rules(), ["a", "b"])
    assert not v.promote and any(r.startswith("b:") and "not by the challenger" in r for r in v.reasons)


def test_rules_from_config_and_unknown_floor_outcome():
    reg = RegistryConfig(auroc_margin=0.02, auroc_floors={"sepsis": 0.7}, subgroup_margins={"gender": 0.05},
                         max_ece=0.1)
    rules = Rules.from_config(reg)
    assert rules.floor("sepsis") == 0.7 and rules.floor("aki") == 0.5 and rules.max_ece == 0.1
    check_rules(rules, ["sepsis", "aki"])
    with pytest.raises(ConfigError, match="sepsis"):
        check_rules(rules, ["aki"])


def test_champion_history_and_rollback_target():
    h = push_history(push_history(push_history([], "1"), "3"), "3")
    assert h == ["1", "3"]
    assert rollback_target(h, "3") == ("1", ["1"])
    # a champion moved outside the gate still counts as the top of the history
    assert rollback_target(["1", "3"], "4") == ("3", ["1", "3"])
    # a retried rollback whose history was already rewritten restores the same version, not an older one
    assert rollback_target(["1"], "3") == ("1", ["1"])
    with pytest.raises(CmtlError, match="no previous champion"):
        rollback_target(["1"], "1")

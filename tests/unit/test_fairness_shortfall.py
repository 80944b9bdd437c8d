"""Fairness in the gate by default: every subgroup whose sensitivity or AUROC is far below the whole test
set's is named in the verdict, the version's tags, promotion.md and the model card (a warning unless
registry.shortfall_action is reject)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from mtl_core.config import RegistryConfig
from mtl_core.evaluation.fairness import shortfalls
from mtl_core.gate.promotion import Rules, gate, gather
from mtl_core.reports.model_card import promotion_markdown, shortfall_section
from mtl_core.reports.registry_view import verdict_tags


def _data(n: int = 4000, seed: int = 0):
    """A good score everywhere except ages 18-44, where the model never flags a death."""
    rng = np.random.default_rng(seed)
    band = rng.choice(["18-44", "45-64", "65+"], n)
    gender = rng.choice(["F", "M"], n)
    y = (rng.uniform(size=n) < 0.2).astype(float)
    p = np.clip(0.2 + 0.5 * (y - 0.2) + rng.normal(0, 0.12, n), 0.001, 0.999)
    young = band == "18-44"
    p[young] = rng.uniform(0.0, 0.05, young.sum())  # sensitivity 0 at any threshold above 0.05; AUROC ~0.5
    return y[:, None], p[:, None], pd.DataFrame({"age_band": band, "gender": gender})


def test_defaults_are_stated_and_on():
    rules = Rules.from_config(RegistryConfig())
    assert rules.warns_fairness and rules.shortfall_action == "warn"
    assert (rules.subgroup_auroc_drop, rules.subgroup_sensitivity_drop, rules.shortfall_min_events) == (0.10, 0.20, 10)


def test_a_subgroup_with_no_sensitivity_is_named_in_the_verdict_but_does_not_block_by_default():
    Y, P, groups = _data()
    rules = Rules()
    verdict = gate(gather(Y, P, ["mortality"], None, rules=rules, n_boot=0, fairness_groups=groups,
                          thresholds={"mortality": 0.3}), rules, None)
    assert verdict.promote  # warn: named, not gated
    named = {(c.subgroup, c.detail.split(" ", 1)[0]) for c in verdict.warnings()}
    assert named == {("age_band=18-44", "sensitivity"), ("age_band=18-44", "AUROC")}
    line = next(r for r in verdict.reasons if r.startswith("mortality:"))
    assert "warning: sensitivity 0% in age_band=18-44" in line and "overall at the operating point" in line
    assert "warning: AUROC" in line and "gender" not in line
    tags = verdict_tags(verdict, None, "now")
    assert tags["cmtl.fairness_warnings"] == "1: mortality age_band=18-44"
    text = promotion_markdown("m", "1", verdict, None, rules)
    assert "| mortality | age_band=18-44 | WARNING | sensitivity 0% in age_band=18-44" in text
    assert "- Subgroup shortfalls (warn, not gated)" in text


def test_reject_makes_a_shortfall_keep_the_version_challenger():
    Y, P, groups = _data()
    rules = replace(Rules(), shortfall_action="reject")
    verdict = gate(gather(Y, P, ["mortality"], None, rules=rules, n_boot=0, fairness_groups=groups,
                          thresholds={"mortality": 0.3}), rules, None)
    assert not verdict.promote and verdict.outcome_status() == {"mortality": "fail"}


def test_small_groups_and_disabled_rules_are_not_named():
    Y, P, groups = _data(300)
    assert shortfalls(Y[:, 0], P[:, 0], groups, 0.3, min_events=1000) == []
    assert shortfalls(Y[:, 0], P[:, 0], groups, 0.3, auroc_drop=None, sensitivity_drop=None) == []
    only_auroc = shortfalls(Y[:, 0], P[:, 0], groups, None, min_events=5)
    assert {s["metric"] for s in only_auroc} == {"auroc"}  # no operating point: no sensitivity


def test_the_model_card_shows_the_shortfalls(tmp_path):
    from mtl_core.config import load_config
    from tests.conftest import DEFAULT_CONFIG

    cfg = load_config(DEFAULT_CONFIG)
    Y, P, groups = _data()
    rules = Rules.from_config(cfg.registry)
    verdict = gate(gather(Y, P, ["mortality"], None, rules=rules, n_boot=0, fairness_groups=groups,
                          thresholds={"mortality": 0.3}), rules, None)
    section = "\n".join(shortfall_section(cfg, {"checks": [c.__dict__ for c in verdict.checks]}))
    assert section.startswith("## Subgroups far below the whole (gate warnings)")
    assert "**2 subgroup shortfall(s)**" in section and "| mortality | age_band=18-44 | sensitivity 0%" in section
    assert "did not block promotion" in section
    none = "\n".join(shortfall_section(cfg, {"checks": []}))
    assert "None: no subgroup has AUROC more than 0.100 below" in none

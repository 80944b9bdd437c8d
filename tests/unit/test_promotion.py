"""The promotion gate: decide(challenger, champion, margin)."""
from __future__ import annotations

from mtl_core.gate.promotion import decide


def test_no_champion_promotes():
    v = decide({"a": 0.7, "b": None}, None, margin=0.01)
    assert v.promote is True
    assert v.summary.startswith("promoted")


def test_better_or_equal_promotes():
    champion = {"a": 0.75, "b": 0.80}
    assert decide({"a": 0.76, "b": 0.90}, champion, 0.01).promote is True
    assert decide({"a": 0.75, "b": 0.80}, champion, 0.0).promote is True


def test_drop_within_margin_promotes():
    # drop exactly equal to the margin is allowed (0.75 - 0.625 = 0.125, exact in binary)
    v = decide({"a": 0.625, "b": 0.80}, {"a": 0.75, "b": 0.80}, 0.125)
    assert v.promote is True
    assert decide({"a": 0.745, "b": 0.80}, {"a": 0.75, "b": 0.80}, 0.01).promote is True


def test_drop_beyond_margin_on_any_outcome_rejects_naming_it():
    champion = {"mortality": 0.85, "sepsis": 0.80, "aki": 0.70}
    v = decide({"mortality": 0.95, "sepsis": 0.77, "aki": 0.75}, champion, 0.01)
    assert v.promote is False
    bad = [r for r in v.reasons if r.startswith("sepsis")]
    assert len(bad) == 1 and "drop" in bad[0]
    assert not any("drop" in r for r in v.reasons if not r.startswith("sepsis"))
    assert "sepsis" in v.summary and v.summary.startswith("rejected")


def test_challenger_not_estimable_where_champion_was_rejects():
    v = decide({"a": 0.9, "b": None}, {"a": 0.8, "b": 0.7}, 0.01)
    assert v.promote is False
    assert any(r.startswith("b") and "not estimable" in r for r in v.reasons)


def test_outcome_without_champion_score_cannot_regress():
    v = decide({"a": 0.8, "new": 0.51, "c": None}, {"a": 0.8, "c": None}, 0.01)
    assert v.promote is True
    assert any(r.startswith("new") for r in v.reasons)


def test_drop_just_beyond_margin_rejects():
    # drop 0.15 > margin 0.125 (values exact in binary), every other outcome improves
    v = decide({"a": 0.6, "b": 0.99}, {"a": 0.75, "b": 0.5}, 0.125)
    assert v.promote is False
    assert any(r.startswith("a:") and "drop" in r for r in v.reasons)


def test_challenger_missing_a_champion_outcome_rejects():
    verdict = decide({"a": 0.9}, {"a": 0.8, "b": 0.7}, margin=0.01)
    assert not verdict.promote and any(r.startswith("b:") for r in verdict.reasons)

"""A registered version as a reviewer reads it: a handful of tags, a description with one line per outcome."""
from __future__ import annotations

from mtl_core.gate.promotion import Check, Verdict
from mtl_core.reports.registry_view import verdict_tags, version_description

OUTCOMES = ["in_hospital_mortality", "readmission_30d", "prolonged_stay", "aki", "sepsis"]


def _verdict() -> Verdict:
    checks = [Check(o, "floor", o != "sepsis", f"AUROC 0.8 lower bound {o}") for o in OUTCOMES]
    # many subgroups: before, each became a tag of its own (about 40, cut short in the UI)
    for o in OUTCOMES:
        for group in ("gender=F", "gender=M", "age_band=18-39", "age_band=40-64", "age_band=65+",
                      "admission_type=EMERGENCY", "admission_type=ELECTIVE"):
            checks.append(Check(o, "subgroup", None if group.endswith("18-39") else True, "delta ok", group))
    reasons = ["no champion yet"] + [f"{o}: AUROC 0.8 ({'below' if o == 'sepsis' else 'above'} floor)"
                                     for o in OUTCOMES]
    return Verdict(False, reasons, checks)


def test_a_handful_of_tags_and_no_per_subgroup_tag():
    tags = verdict_tags(_verdict(), "3", "2026-11-30T09:00:00+00:00")
    assert len(tags) <= 6 and not any(k.startswith("cmtl.gate") for k in tags)
    assert tags["cmtl.fairness_warnings"] == "none"
    assert tags["cmtl.verdict"] == "rejected" and tags["cmtl.failed_outcomes"] == "sepsis"
    assert tags["cmtl.compared_to"] == "3" and tags["cmtl.subgroups_not_gated"] == "1"
    assert all(len(v) < 60 for v in tags.values())  # readable in the UI's tag column


def test_description_has_verdict_one_line_per_outcome_and_links():
    text = version_description("m", "4", _verdict(), "3", "abc123", "7")
    first, *rest = text.splitlines()
    assert first == "**m v4: rejected by the gate: stays challenger**, compared with champion v3."
    assert [line for line in rest if line.startswith("- ")] == [f"- {r}" for r in _verdict().reasons]
    assert "[model_card.md](#/experiments/7/runs/abc123/artifacts/model_card.md)" in text
    assert "[promotion.md](#/experiments/7/runs/abc123/artifacts/promotion.md)" in text
    assert "gender=F" not in text  # subgroup detail stays in promotion.md

"""The audit trail's pure pieces: numbered entries never overwrite each other, and the description's audit
section is replaced, not repeated."""
from __future__ import annotations

from mtl_core.gate import audit


def test_entries_are_numbered_in_order_and_named_tags_are_not_part_of_the_trail():
    tags = {"cmtl.audit.2": "b", "cmtl.audit.10": "c", "cmtl.audit.1": "a", "cmtl.audit.rollback": "x",
            "cmtl.verdict": "promoted"}
    assert audit.entries(tags) == ["a", "b", "c"]
    assert audit.next_key(tags) == "cmtl.audit.11" and audit.next_key({}) == "cmtl.audit.1"
    line = audit.entry("promote", "alice (MLflow account cmtl-pipeline)", "2026-12-02T12:00:00+00:00",
                       "champion v1 -> v2", "gate: promoted")
    assert line == ("2026-12-02T12:00:00+00:00 promote by alice (MLflow account cmtl-pipeline): champion v1 -> v2; "
                    "why: gate: promoted")


def test_the_audit_section_stays_last_and_single():
    first = audit.with_audit("**m v2: rejected**\n\n- reason\n", ["one"])
    assert first.endswith(f"{audit.HEADING}\n\n1. one\n") and first.startswith("**m v2: rejected**")
    second = audit.with_audit(first, ["one", "two"])
    assert second.count(audit.HEADING) == 1 and second.endswith("1. one\n2. two\n")
    assert audit.with_audit(None, []) == "\n"

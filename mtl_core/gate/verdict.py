"""Evidence + rules -> a verdict: every check of every outcome, and one reason line per outcome."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from mtl_core.evaluation.paired import Comparison
from mtl_core.gate.checks import Check, outcome_checks
from mtl_core.gate.evidence import Evidence
from mtl_core.gate.rules import Rules


@dataclass
class Verdict:
    promote: bool
    reasons: list[str] = field(default_factory=list)  # one line per outcome (plus a heading line)
    checks: list[Check] = field(default_factory=list)
    compared_rows: str | None = None  # "746 of 4,776": the test rows the champion was scored on

    def warnings(self) -> list[Check]:
        """The subgroup shortfalls named (gated or not)."""
        return [c for c in self.checks if c.warning]

    @property
    def summary(self) -> str:
        return ("promoted: " if self.promote else "rejected: ") + "; ".join(self.reasons)

    def outcome_status(self) -> dict[str, str]:
        """outcome -> "pass" or "fail"."""
        status: dict[str, str] = {}
        for c in self.checks:
            if c.passed is False:
                status[c.outcome] = "fail"
            else:
                status.setdefault(c.outcome, "pass")
        return status


def gate(evidence: Sequence[Evidence], rules: Rules, champion_outcomes: Sequence[str] | None,
         heading: str | None = None) -> Verdict:
    """Apply the rules; champion_outcomes None means there is no champion (nothing to compare). heading:
    the first reason line (with a champion: which rows the two were compared on)."""
    has_champion = champion_outcomes is not None
    checks: list[Check] = []
    reasons = [heading] if heading else ([] if has_champion else ["no champion yet"])
    names = {e.outcome for e in evidence}
    for name in champion_outcomes or []:
        if name not in names:
            check = Check(name, "coverage", False, "predicted by the champion but not by the challenger")
            checks.append(check)
            reasons.append(f"{name}: {check.detail}")
    for e in evidence:
        mine = outcome_checks(e, rules, has_champion)
        checks += mine
        failed = [c for c in mine if c.passed is False]
        shown = failed or [c for c in mine if c.gate == "champion"] or mine[:1]
        warned = [c for c in mine if c.warning and c not in shown]
        reasons.append(f"{e.outcome}: " + "; ".join([_label(c) for c in shown]
                                                    + [f"warning: {c.detail}" for c in warned]))
    return Verdict(not any(c.passed is False for c in checks), reasons, checks)


def decide(challenger: Mapping[str, float | None], champion: Mapping[str, float | None] | None,
           margin: float, rules: Rules | None = None,
           ece: Mapping[str, float | None] | None = None,
           auroc_ci: Mapping[str, tuple[float, float] | None] | None = None) -> Verdict:
    """The gate on recorded numbers only (no paired CI): outcome -> AUROC of each model on the same rows
    (None = not estimable), optional challenger ECE and AUROC CI per outcome. `margin` overrides
    rules.auroc_margin."""
    rules = replace(rules or Rules(), auroc_margin=margin)
    evidence = [Evidence(o, a, (ece or {}).get(o),
                         None if champion is None else Comparison(a, champion.get(o)),
                         auroc_ci=(auroc_ci or {}).get(o))
                for o, a in challenger.items()]
    for e in evidence:
        if e.champion is not None and e.auroc is not None and e.champion.champion is not None:
            e.champion.diff = e.auroc - e.champion.champion
    return gate(evidence, rules, None if champion is None else list(champion))


def _label(c: Check) -> str:
    if c.warning:  # its detail names the subgroup
        return c.detail
    return f"subgroup {c.subgroup}: {c.detail}" if c.subgroup else c.detail

"""The promotion gate as pure functions: evidence about a challenger (and the champion, on the same rows) -> verdict.

A challenger becomes champion only if, for every outcome:
1. the lower bound of its test AUROC's bootstrap CI is above the outcome's floor (`auroc_floors`, else
   `default_floor`, 0.5: the model must be shown to beat a coin flip, not merely score above one by
   chance); every version must clear it, the first one included;
2. it is non-inferior to the champion: the lower bound of the paired bootstrap CI of
   AUROC(challenger) - AUROC(champion), both scored on the same test rows, is >= -margin;
3. the same non-inferiority holds within every group of every configured subgroup column (with its own
   margin), for groups with at least `subgroup_min_events` positives and negatives; smaller groups are
   reported, not gated;
4. optionally, its expected calibration error is at most `max_ece` and its calibration slope lies in
   `calibration_slope_range` (every version, the first one included);
5. optionally (mtl_core/evaluation/fairness.py): the lower CI bound of AUROC in every subgroup with enough events
   is above `subgroup_auroc_floor`, and the upper CI bounds of the TPR / FPR gaps between groups at the
   operating point are at most `max_tpr_gap` / `max_fpr_gap` (the challenger must show the gap is small).

Without a CI (evaluation.n_boot 0) the point estimate stands in for a bound, and the verdict says so.

Why non-inferiority (lower CI bound >= -margin) rather than "reject only if significantly worse": the
burden of proof sits with the challenger. The champion already passed this gate; keeping it one more
cycle costs little, while replacing it with a worse model harms patients. A "significantly worse" rule
gets easier to pass the less evaluation data there is (wide CIs never exclude zero), so a small or rare-
outcome test set would wave regressions through; under non-inferiority a wide CI means "not shown",
the challenger stays challenger and the report says which outcome lacked evidence. This is the
non-inferiority framework clinical reviewers know from trials (CONSORT): the two-sided 95% CI's lower
bound against a pre-declared margin. Identical predictions give a CI of exactly [0, 0] and pass.
When no paired CI exists (the champion could only be compared through its recorded metrics, or
evaluation.n_boot is 0) the point estimate must not drop by more than the margin.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mtl_core.config import RegistryConfig
from mtl_core.errors import CmtlError, ConfigError
from mtl_core.evaluation.bootstrap import percentile_ci, stratified_bootstrap
from mtl_core.evaluation.fairness import rate_gaps, subgroup_rows
from mtl_core.gate.checks import fairness_checks, floor_check, slope_check
from mtl_core.evaluation.metrics import auroc, calibration_slope_intercept, expected_calibration_error
from mtl_core.evaluation.transfer import paired_bootstrap_diff


@dataclass(frozen=True)
class Rules:
    """The gate's thresholds as plain numbers."""
    auroc_margin: float = 0.01
    auroc_floors: Mapping[str, float] = field(default_factory=dict)
    default_floor: float = 0.5
    subgroup_margins: Mapping[str, float] = field(default_factory=dict)
    subgroup_min_events: int = 20
    max_ece: float | None = None
    calibration_slope_range: tuple[float, float] | None = None
    subgroup_auroc_floor: float | None = None
    max_tpr_gap: float | None = None
    max_fpr_gap: float | None = None

    @classmethod
    def from_config(cls, registry: RegistryConfig) -> "Rules":
        return cls(registry.auroc_margin, dict(registry.auroc_floors), registry.default_auroc_floor,
                   dict(registry.subgroup_margins), registry.subgroup_min_events, registry.max_ece,
                   registry.calibration_slope_range, registry.subgroup_auroc_floor, registry.max_tpr_gap,
                   registry.max_fpr_gap)

    @property
    def needs_fairness(self) -> bool:
        return any(v is not None for v in (self.subgroup_auroc_floor, self.max_tpr_gap, self.max_fpr_gap))

    def floor(self, outcome: str) -> float:
        return self.auroc_floors.get(outcome, self.default_floor)


@dataclass
class Comparison:
    """Challenger and champion AUROC on the same rows, and the paired CI of their difference."""
    challenger: float | None
    champion: float | None
    diff: float | None = None
    lo: float | None = None
    hi: float | None = None
    n: int = 0
    positives: int = 0
    level: float = 0.95
    column: str = ""  # set for a subgroup
    group: str = ""


@dataclass
class Evidence:
    """What the gate knows about one outcome of the challenger."""
    outcome: str
    auroc: float | None
    ece: float | None = None
    champion: Comparison | None = None  # None: no champion score for this outcome
    subgroups: list[Comparison] = field(default_factory=list)
    auroc_ci: tuple[float, float] | None = None
    level: float = 0.95
    calibration_slope: float | None = None
    subgroup_aurocs: list[dict] = field(default_factory=list)  # fairness.subgroup_rows
    rate_gaps: list[dict] = field(default_factory=list)        # fairness.rate_gaps


@dataclass
class Check:
    outcome: str
    gate: str             # floor | champion | calibration | subgroup | coverage
    passed: bool | None   # None: reported, not gated
    detail: str
    subgroup: str | None = None  # "column=group"


@dataclass
class Verdict:
    promote: bool
    reasons: list[str] = field(default_factory=list)  # one line per outcome (plus a heading line)
    checks: list[Check] = field(default_factory=list)

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


def check_rules(rules: Rules, outcomes: Sequence[str]) -> None:
    """Floors must name configured outcomes (a typo would otherwise silently apply the default)."""
    unknown = sorted(set(rules.auroc_floors) - set(outcomes))
    if unknown:
        raise ConfigError(f"registry.auroc_floors names outcomes not in `outcomes`: {unknown}")


def compare(y, p_new, p_old, n_boot: int = 1000, seed: int = 0, ci_level: float = 0.95,
            min_events: int = 1, column: str = "", group: str = "") -> Comparison:
    """AUROCs and the paired bootstrap CI of the difference on the labelled rows; no CI when either
    side is not estimable, the champion has no predictions (p_old None), n_boot is 0 or a class has
    fewer than min_events rows."""
    y, p_new = np.asarray(y, float), np.asarray(p_new, float)
    keep = ~np.isnan(y)
    n, pos = int(keep.sum()), int(np.nansum(y))
    new = auroc(y, p_new)
    old = None if p_old is None else auroc(y, np.asarray(p_old, float))
    c = Comparison(new, old, n=n, positives=pos, level=ci_level, column=column, group=group)
    if new is None or old is None:
        return c
    c.diff = new - old
    if n_boot > 0 and min(pos, n - pos) >= min_events:
        boot = paired_bootstrap_diff(y, p_new, p_old, n_boot=n_boot, seed=seed, alpha=1 - ci_level)
        c.lo, c.hi = boot["lo"], boot["hi"]
    return c


def gather(Y, P, outcomes: Sequence[str], champion: Mapping[str, np.ndarray | None] | None = None,
           groups: pd.DataFrame | None = None, rules: Rules = Rules(), n_boot: int = 1000, seed: int = 0,
           ci_level: float = 0.95, ece_bins: int = 10, fairness_groups: pd.DataFrame | None = None,
           thresholds: Mapping[str, float | None] | None = None) -> list[Evidence]:
    """Evidence per outcome from labels Y (n, K; NaN = unlabelled), challenger probabilities P (n, K) and
    the champion's probabilities per outcome on the same rows (None: there is no champion).
    fairness_groups (evaluation.subgroups) and thresholds (the operating points) feed the optional
    subgroup AUROC floor and rate-gap rules."""
    Y, P = np.asarray(Y, float), np.asarray(P, float)
    masks = _masks(groups, list(rules.subgroup_margins)) if champion is not None else []
    out = []
    for k, name in enumerate(outcomes):
        y, p = Y[:, k], P[:, k]
        e = Evidence(name, auroc(y, p), expected_calibration_error(y, p, ece_bins), level=ci_level)
        # the AUROC CI uses the evaluation's own seed, so the verdict quotes the interval the report shows
        _absolute_evidence(e, y, p, rules, n_boot, seed, ci_level, fairness_groups,
                           (thresholds or {}).get(name))
        if champion is not None:
            old = champion.get(name)
            e.champion = compare(y, p, old, n_boot, seed + k, ci_level)
            for column, group, m in masks:
                e.subgroups.append(compare(y[m], p[m], None if old is None else np.asarray(old)[m], n_boot,
                                           seed + k, ci_level, rules.subgroup_min_events, column, group))
        out.append(e)
    return out


def _absolute_evidence(e: Evidence, y, p, rules: Rules, n_boot: int, seed: int, level: float,
                       fairness_groups: pd.DataFrame | None, threshold: float | None) -> None:
    """The AUROC CI and calibration slope every version is held to, and the fairness evidence the
    configured rules need."""
    yl, pl = y[~np.isnan(y)], p[~np.isnan(y)]
    if e.auroc is not None and n_boot > 0:
        aucs, _ = stratified_bootstrap(yl, pl, n_boot, seed)
        e.auroc_ci = percentile_ci(aucs, level)
    if e.auroc is not None:
        e.calibration_slope = calibration_slope_intercept(yl, pl)[0]
    if fairness_groups is not None and rules.needs_fairness:
        e.subgroup_aurocs = subgroup_rows(y, p, fairness_groups, None, n_boot, seed, level)
        if threshold is not None and (rules.max_tpr_gap is not None or rules.max_fpr_gap is not None):
            e.rate_gaps = rate_gaps(y, p, fairness_groups, threshold, rules.subgroup_min_events, n_boot, seed, level)


def gate(evidence: Sequence[Evidence], rules: Rules, champion_outcomes: Sequence[str] | None,
         heading: str | None = None) -> Verdict:
    """Apply the rules; champion_outcomes None means there is no champion (nothing to compare)."""
    has_champion = champion_outcomes is not None
    checks: list[Check] = []
    reasons = [] if has_champion else [heading or "no champion yet"]
    names = {e.outcome for e in evidence}
    for name in champion_outcomes or []:
        if name not in names:
            check = Check(name, "coverage", False, "predicted by the champion but not by the challenger")
            checks.append(check)
            reasons.append(f"{name}: {check.detail}")
    for e in evidence:
        mine = _outcome_checks(e, rules, has_champion)
        checks += mine
        failed = [c for c in mine if c.passed is False]
        shown = failed or [c for c in mine if c.gate == "champion"] or mine[:1]
        reasons.append(f"{e.outcome}: " + "; ".join(_label(c) for c in shown))
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


def _outcome_checks(e: Evidence, rules: Rules, has_champion: bool) -> list[Check]:
    o, floor, checks = e.outcome, rules.floor(e.outcome), []
    old = e.champion.champion if e.champion is not None else None
    if e.auroc is None:
        if old is not None:
            checks.append(Check(o, "champion", False, f"challenger AUROC not estimable, champion {old:.3f}"))
        elif o in rules.auroc_floors:
            checks.append(Check(o, "floor", False, f"AUROC not estimable, so floor {floor:.3f} is not shown"))
        else:
            checks.append(Check(o, "floor", None, "AUROC not estimable on the test rows (no floor configured)"))
    else:
        checks.append(Check(o, "floor", *floor_check(e.auroc, e.auroc_ci, floor, e.level)))
        if has_champion and old is None:
            checks.append(Check(o, "champion", None,
                                "no champion AUROC to compare (new outcome or not estimable)"))
        elif has_champion:
            checks.append(Check(o, "champion", *_noninferior(e.champion, rules.auroc_margin)))
    if rules.max_ece is not None:
        if e.ece is None:
            checks.append(Check(o, "calibration", None, "ECE not available"))
        else:
            ok = e.ece <= rules.max_ece
            checks.append(Check(o, "calibration", ok,
                                f"ECE {e.ece:.3f} {'<=' if ok else 'above'} limit {rules.max_ece:.3f}"))
    if rules.calibration_slope_range is not None:
        checks.append(Check(o, "calibration", *slope_check(e.calibration_slope, rules.calibration_slope_range)))
    for c in e.subgroups:
        checks.append(_subgroup_check(o, c, rules))
    checks += [Check(o, *args) for args in fairness_checks(e.subgroup_aurocs, e.rate_gaps, rules.subgroup_auroc_floor,
                                                           rules.max_tpr_gap, rules.max_fpr_gap,
                                                           rules.subgroup_min_events, e.level)]
    return checks


def _subgroup_check(outcome: str, c: Comparison, rules: Rules) -> Check:
    key, margin = f"{c.column}={c.group}", rules.subgroup_margins[c.column]
    neg, need = c.n - c.positives, rules.subgroup_min_events
    if c.challenger is None or c.champion is None:
        return Check(outcome, "subgroup", None, f"not estimable (n={c.n}, positives={c.positives})", key)
    if min(c.positives, neg) < need:
        return Check(outcome, "subgroup", None, f"AUROC {c.challenger:.3f} vs champion {c.champion:.3f}, "
                     f"not gated: n={c.n}, positives={c.positives} (needs {need} of each class)", key)
    return Check(outcome, "subgroup", *_noninferior(c, margin), key)


def _noninferior(c: Comparison, margin: float) -> tuple[bool, str]:
    """(passed, detail) for challenger vs champion under the non-inferiority rule (module docstring)."""
    new, old = c.challenger, c.champion
    text = f"AUROC {new:.3f} vs champion {old:.3f}"
    if c.lo is None or c.hi is None:
        if new < old - margin:
            return False, f"{text}: drop {old - new:.3f} > margin {margin:.3f} (point estimate, no paired CI)"
        return True, f"{text} (ok: within margin {margin:.3f}, point estimate, no paired CI)"
    ci = f"diff {c.diff:+.3f}, {c.level:.0%} CI {c.lo:+.3f} to {c.hi:+.3f}"
    if c.lo >= -margin:
        return True, f"{text} ({ci}): non-inferior at margin {margin:.3f}"
    if c.hi < -margin:
        return False, f"{text} ({ci}): worse, the whole CI lies beyond a drop of margin {margin:.3f}"
    return False, (f"{text} ({ci}): non-inferiority not shown, a drop beyond margin {margin:.3f} "
                   "is within the CI")


def _label(c: Check) -> str:
    return f"subgroup {c.subgroup}: {c.detail}" if c.subgroup else c.detail


def _masks(groups: pd.DataFrame | None, columns: list[str]) -> list[tuple[str, str, np.ndarray]]:
    """(column, group label, row mask) for every present value of the gated columns; NaN is "missing"."""
    if groups is None:
        return []
    out = []
    for column in columns:
        s = groups[column].reset_index(drop=True)
        if isinstance(s.dtype, pd.CategoricalDtype):
            values = list(s.cat.categories)
        else:
            values = sorted(s.dropna().unique(), key=str)
        out += [(column, str(v), (s == v).to_numpy()) for v in values if (s == v).any()]
        if s.isna().any():
            out.append((column, "missing", s.isna().to_numpy()))
    return out


# Champion history: the versions that became champion, oldest first (a registered-model tag).
def parse_history(text: str | None) -> list[str]:
    return [v.strip() for v in (text or "").split(",") if v.strip()]


def push_history(history: Sequence[str], version: str, keep: int = 200) -> list[str]:
    h = list(history)
    if not h or h[-1] != str(version):
        h.append(str(version))
    return h[-keep:]


def rollback_target(history: Sequence[str], current: str) -> tuple[str, list[str]]:
    """(version to restore, history after the rollback): the champion before `current`. The current
    champion is taken as the top even if the history missed it, so a retried rollback that already
    rewrote the history does not go back twice."""
    h = push_history(history, current)
    while h and h[-1] == str(current):
        h.pop()
    if not h:
        raise CmtlError(f"no previous champion to roll back to: v{current} is the only champion on record")
    return h[-1], h

"""The gate's checks, one named function each, applied in the order of CHECKS.

A check takes the Evidence of one outcome, the Rules and whether a champion exists, and returns Check rows
(passed None: reported, not gated). A new rule is one function here, listed in CHECKS, plus its threshold
in RegistryConfig (mtl_core/config/review.py), which Rules reads by field name.

The bars every version must clear on its own, first version included: the AUROC floor on the lower CI
bound, calibration limits and the optional subgroup rules. Each helper returns (passed, detail) with the
bound that decided it named, so a verdict says which number failed."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mtl_core.evaluation.paired import Comparison
from mtl_core.gate.evidence import Evidence
from mtl_core.gate.rules import Rules


@dataclass
class Check:
    outcome: str
    gate: str  # floor | champion | calibration | subgroup | coverage | subgroup_floor | tpr_gap | fpr_gap | shortfall
    passed: bool | None   # None: reported, not gated
    detail: str
    subgroup: str | None = None  # "column=group"
    warning: bool = False        # a shortfall the verdict names (gated only with shortfall_action reject)


def floor(e: Evidence, rules: Rules, has_champion: bool) -> list[Check]:
    """Every version: the AUROC's lower CI bound above the outcome's floor."""
    o, bar = e.outcome, rules.floor(e.outcome)
    if e.auroc is not None:
        return [Check(o, "floor", *floor_check(e.auroc, e.auroc_ci, bar, e.level))]
    if _champion_auroc(e) is not None:
        return []  # the champion check reports it
    if o in rules.auroc_floors:
        return [Check(o, "floor", False, f"AUROC not estimable, so floor {bar:.3f} is not shown")]
    return [Check(o, "floor", None, "AUROC not estimable on the test rows (no floor configured)")]


def champion(e: Evidence, rules: Rules, has_champion: bool) -> list[Check]:
    """Non-inferior to the champion on the same rows, which neither model was fitted or tuned on
    (module docstring of gate/promotion.py); not comparable on too few of them fails."""
    o, old = e.outcome, _champion_auroc(e)
    if has_champion and e.not_comparable:  # never replace a champion it could not be compared with
        return [Check(o, "champion", False, e.not_comparable)]
    if e.auroc is None:
        return [] if old is None else [Check(o, "champion", False,
                                             f"challenger AUROC not estimable, champion {old:.3f}")]
    if not has_champion:
        return []
    if old is None:
        return [Check(o, "champion", None, "no champion AUROC to compare (new outcome or not estimable)")]
    assert e.champion is not None
    return [Check(o, "champion", *noninferior(e.champion, rules.auroc_margin))]


def calibration_error(e: Evidence, rules: Rules, has_champion: bool) -> list[Check]:
    if rules.max_ece is None:
        return []
    if e.ece is None:
        return [Check(e.outcome, "calibration", None, "ECE not available")]
    ok = e.ece <= rules.max_ece
    return [Check(e.outcome, "calibration", ok, f"ECE {e.ece:.3f} {'<=' if ok else 'above'} limit {rules.max_ece:.3f}")]


def calibration_slope(e: Evidence, rules: Rules, has_champion: bool) -> list[Check]:
    if rules.calibration_slope_range is None:
        return []
    return [Check(e.outcome, "calibration", *slope_check(e.calibration_slope, rules.calibration_slope_range))]


def subgroups(e: Evidence, rules: Rules, has_champion: bool) -> list[Check]:
    """Non-inferiority within every group of every gated subgroup column."""
    return [_subgroup_check(e.outcome, c, rules) for c in e.subgroups]


def fairness(e: Evidence, rules: Rules, has_champion: bool) -> list[Check]:
    return [Check(e.outcome, *args) for args in fairness_checks(
        e.subgroup_aurocs, e.rate_gaps, rules.subgroup_auroc_floor, rules.max_tpr_gap, rules.max_fpr_gap,
        rules.subgroup_min_events, e.level)]


def subgroup_shortfall(e: Evidence, rules: Rules, has_champion: bool) -> list[Check]:
    """Every subgroup far below the whole test set in AUROC or sensitivity: a warning by default (the
    verdict, the version's tags and the model card name it), a failure with shortfall_action reject."""
    passed = False if rules.shortfall_action == "reject" else None
    return [Check(e.outcome, "shortfall", passed, shortfall_detail(s), f"{s['column']}={s['group']}", warning=True)
            for s in e.shortfalls]


def shortfall_detail(s: dict) -> str:
    key = f"{s['column']}={s['group']}"
    if s["metric"] == "sensitivity":
        return (f"sensitivity {s['value']:.0%} in {key} ({s['positives']:,} positives) vs {s['whole']:.0%} "
                f"overall at the operating point: {s['drop']:.1%} below, more than {s['limit']:.0%}")
    return (f"AUROC {s['value']:.3f} in {key} (n={s['n']:,}, {s['positives']:,} positives) vs {s['whole']:.3f} "
            f"overall: {s['drop']:.3f} below, more than {s['limit']:.3f}")


CHECKS: list[Callable[[Evidence, Rules, bool], list[Check]]] = [
    floor, champion, calibration_error, calibration_slope, subgroups, fairness, subgroup_shortfall]


def outcome_checks(e: Evidence, rules: Rules, has_champion: bool) -> list[Check]:
    return [c for check in CHECKS for c in check(e, rules, has_champion)]


def _champion_auroc(e: Evidence) -> float | None:
    return e.champion.champion if e.champion is not None else None


def _subgroup_check(outcome: str, c: Comparison, rules: Rules) -> Check:
    key, margin = f"{c.column}={c.group}", rules.subgroup_margins[c.column]
    neg, need = c.n - c.positives, rules.subgroup_min_events
    if c.challenger is None or c.champion is None:
        return Check(outcome, "subgroup", None, f"not estimable (n={c.n}, positives={c.positives})", key)
    if min(c.positives, neg) < need:
        return Check(outcome, "subgroup", None, f"AUROC {c.challenger:.3f} vs champion {c.champion:.3f}, "
                     f"not gated: n={c.n}, positives={c.positives} (needs {need} of each class)", key)
    return Check(outcome, "subgroup", *noninferior(c, margin), key)


def noninferior(c: Comparison, margin: float) -> tuple[bool, str]:
    """(passed, detail) for challenger vs champion under the non-inferiority rule."""
    new, old = c.challenger, c.champion
    assert new is not None and old is not None
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


def floor_check(value: float, ci: tuple[float, float] | None, floor: float, level: float = 0.95
                ) -> tuple[bool, str]:
    """Pass only when the lower CI bound of AUROC is above the floor (the point estimate without a CI)."""
    if ci is None:
        ok = value > floor
        return ok, (f"AUROC {value:.3f} {'above' if ok else 'not above'} floor {floor:.3f} "
                    "(point estimate: no CI, evaluation.n_boot is 0)")
    ok = ci[0] > floor
    return ok, (f"AUROC {value:.3f} ({level:.0%} CI {ci[0]:.3f}-{ci[1]:.3f}): lower bound {ci[0]:.3f} "
                f"{'above' if ok else 'not above'} floor {floor:.3f}")


def slope_check(slope: float | None, bounds: tuple[float, float]) -> tuple[bool | None, str]:
    """Calibration slope within [low, high]; not estimable is reported, not gated."""
    lo, hi = bounds
    if slope is None:
        return None, "calibration slope not estimable"
    ok = lo <= slope <= hi
    return ok, f"calibration slope {slope:.2f} {'within' if ok else 'outside'} [{lo:.2f}, {hi:.2f}]"


def fairness_checks(subgroups: list[dict], gaps: list[dict], auroc_floor: float | None,
                    max_tpr_gap: float | None, max_fpr_gap: float | None, min_events: int,
                    level: float = 0.95) -> list[tuple]:
    """(gate, passed, detail, subgroup) for each configured fairness rule."""
    out = []
    if auroc_floor is not None:
        for g in subgroups:
            key = f"{g['column']}={g['group']}/floor"  # apart from the non-inferiority check of the group
            if g["auroc"] is None or min(g["positives"], g["n"] - g["positives"]) < min_events:
                out.append(("subgroup_floor", None, f"not gated: n={g['n']}, positives={g['positives']} "
                            f"(needs {min_events} of each class)", key))
                continue
            ci = None if g.get("auroc_ci_low") is None else (g["auroc_ci_low"], g["auroc_ci_high"])
            out.append(("subgroup_floor", *floor_check(g["auroc"], ci, auroc_floor, level), key))
    for rate, limit in (("tpr", max_tpr_gap), ("fpr", max_fpr_gap)):
        if limit is None:
            continue
        for g in gaps:
            gap, hi = g.get(f"{rate}_gap"), g.get(f"{rate}_gap_ci_high")
            name = {"tpr": "true-positive-rate", "fpr": "false-positive-rate"}[rate]
            if gap is None:
                out.append((f"{rate}_gap", None, f"{name} gap not gated: fewer than two groups with "
                            f"{min_events} {'positives' if rate == 'tpr' else 'negatives'}",
                            f"{g['column']}/{rate}_gap"))
                continue
            bound, what = (hi, f"upper CI bound {hi:.3f}") if hi is not None else (gap, "point estimate")
            ok = bound <= limit
            out.append((f"{rate}_gap", ok, f"{name} gap {gap:.3f} between {', '.join(g[f'{rate}_groups'])}: "
                        f"{what} {'within' if ok else 'above'} limit {limit:.3f}", f"{g['column']}/{rate}_gap"))
    return out

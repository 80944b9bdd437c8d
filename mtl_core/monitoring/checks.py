"""The monitoring verdict, in the promotion gate's style: one named check per limit, each returning a
status (stable / watch / degraded) and the numbers that decided it, then the worst status per outcome.

Degraded means the whole CI lies beyond a limit (the evidence is conclusive); watch means the point
estimate does but the CI still reaches back (or, for the AUROC, reaches under the card's floor).
An outcome with too few known events is stable by default and says so: no evidence is no alarm.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mtl_core.config.monitoring import MonitoringConfig

STATUSES = ("stable", "watch", "degraded")


@dataclass
class Finding:
    outcome: str
    check: str      # auroc | floor | oe | slope | alert_rate | sensitivity | subgroup | evidence
    status: str     # one of STATUSES
    detail: str


def _f(x) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def auroc(o: str, m: dict, card: dict, limits: MonitoringConfig) -> list[Finding]:
    """Below what the card promised: its AUROC's lower CI bound (its AUROC when it has no CI) - margin."""
    promised = card.get("auroc_ci_low", card.get("auroc"))
    if promised is None or m.get("auroc") is None:
        return []
    bar, hi = promised - limits.auroc_margin, m.get("auroc_ci_high", m["auroc"])
    text = f"AUROC {_f(m['auroc'])} (CI {_f(m.get('auroc_ci_low'))}-{_f(hi)}) vs card {_f(card.get('auroc'))}"
    if hi < bar:
        return [Finding(o, "auroc", "degraded", f"{text}: upper bound under {bar:.3f}")]
    if m["auroc"] < bar:
        return [Finding(o, "auroc", "watch", f"{text}: estimate under {bar:.3f}, CI reaches it")]
    return [Finding(o, "auroc", "stable", text)]


def floor(o: str, m: dict, card: dict, limits: MonitoringConfig) -> list[Finding]:
    bar, lo = card.get("floor"), m.get("auroc_ci_low")
    if bar is None or lo is None or lo >= bar:
        return []
    status = "degraded" if m.get("auroc_ci_high", 1) < bar else "watch"
    text = f"AUROC CI {_f(lo)}-{_f(m.get('auroc_ci_high'))} reaches under floor {bar:.3f}"
    return [Finding(o, "floor", status, text)]


def _band(o: str, check: str, label: str, m: dict, band: tuple[float, float]) -> list[Finding]:
    value = m.get(check)
    if value is None:
        return []
    lo, hi = m.get(f"{check}_ci_low", value), m.get(f"{check}_ci_high", value)
    text = f"{label} {value:.2f} (CI {lo:.2f}-{hi:.2f}), band {band[0]:g}-{band[1]:g}"
    if hi < band[0] or lo > band[1]:
        return [Finding(o, check, "degraded", f"{text}: CI outside")]
    if not band[0] <= value <= band[1]:
        return [Finding(o, check, "watch", f"{text}: estimate outside")]
    return [Finding(o, check, "stable", text)]


def calibration(o: str, m: dict, card: dict, limits: MonitoringConfig) -> list[Finding]:
    return (_band(o, "oe", "observed/expected", m, limits.oe_range)
            + _band(o, "slope", "calibration slope", m, limits.slope_range))


def alert_rate(o: str, m: dict, card: dict, limits: MonitoringConfig) -> list[Finding]:
    promised, rate = card.get("alert_rate"), m.get("alert_rate")
    if not promised or rate is None:
        return []
    r = limits.alert_rate_ratio
    lo, hi = m["alert_rate_ci_low"], m["alert_rate_ci_high"]
    text = f"alert rate {rate:.1%} (CI {lo:.1%}-{hi:.1%}) vs card {promised:.1%}"
    if lo > r * promised or hi < promised / r:
        return [Finding(o, "alert_rate", "degraded", f"{text}: beyond x{r:g}")]
    if not promised / r <= rate <= r * promised:
        return [Finding(o, "alert_rate", "watch", f"{text}: estimate beyond x{r:g}")]
    return []


def sensitivity(o: str, m: dict, card: dict, limits: MonitoringConfig) -> list[Finding]:
    promised, value = card.get("sensitivity_ci_low", card.get("sensitivity")), m.get("sensitivity")
    if promised is None or value is None:
        return []
    bar, hi = promised - limits.sensitivity_margin, m.get("sensitivity_ci_high") or value
    text = f"sensitivity {value:.2f} vs card {_f(card.get('sensitivity'))}"
    if hi < bar:
        return [Finding(o, "sensitivity", "degraded", f"{text}: upper bound under {bar:.2f}")]
    if value < bar:
        return [Finding(o, "sensitivity", "watch", f"{text}: estimate under {bar:.2f}")]
    return []


def subgroup_gap(o: str, m: dict, card: dict, limits: MonitoringConfig) -> list[Finding]:
    """A subgroup far below the whole over the judged period: watch, never degraded by itself (with many
    groups one is low by chance now and then; a person looks before anything retrains). Far: the point
    gap reaches `subgroup_auroc_drop` and the subgroup's upper CI bound lies under the whole's AUROC.
    Groups under `subgroup_min_known` known rows or `subgroup_min_positives` positives (or negatives) are
    skipped."""
    drop, whole = limits.subgroup_auroc_drop, m.get("auroc")
    if drop is None or whole is None:
        return []
    out = []
    for g in m.get("subgroups", ()):
        value, n, pos = g.get("auroc"), g.get("known") or 0, g.get("positives") or 0
        if value is None or n < limits.subgroup_min_known or min(pos, n - pos) < limits.subgroup_min_positives:
            continue
        hi = g.get("auroc_ci_high", value)
        if whole - value >= drop and (hi is None or hi < whole):
            out.append(Finding(o, "subgroup", "watch", (
                f"subgroup {g['column']}={g['group']} AUROC {value:.3f} (CI {_f(g.get('auroc_ci_low'))}-{_f(hi)}, "
                f"{n:,} known) vs {whole:.3f} overall: {whole - value:.3f} below, limit {drop:.2f}")))
    return out


CHECKS: tuple[Callable[[str, dict, dict, MonitoringConfig], list[Finding]], ...] = (
    auroc, floor, calibration, alert_rate, sensitivity, subgroup_gap)


def worst(statuses) -> str:
    return max(statuses, key=STATUSES.index, default="stable")


def judge(o: str, m: dict, card: dict, limits: MonitoringConfig,
          subgroups: list[dict] | None = None) -> tuple[str, str, list[Finding]]:
    """(status, reason line, every finding) of one outcome's measures against its card; subgroups (the
    same measures per subgroup of these rows) reach the checks as m["subgroups"]."""
    if not m.get("judged"):
        f = Finding(o, "evidence", "stable", f"not judged: {m.get('reason', 'no known outcomes')}")
        return "stable", f.detail, [f]
    seen = {**m, "subgroups": subgroups or []}
    found = [f for check in CHECKS for f in check(o, seen, card, limits)]
    status = worst(f.status for f in found)
    shown = [f for f in found if f.status == status] if status != "stable" else found[:1]
    return status, "; ".join(f.detail for f in shown) or "within limits", found

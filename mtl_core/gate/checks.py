"""The bars every version must clear on its own, first version included: the AUROC floor on the lower CI
bound, calibration limits and the optional subgroup rules. Each returns (passed, detail) with the
bound that decided it named, so a verdict says which number failed."""
from __future__ import annotations


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
                            f"{min_events} {'positives' if rate == 'tpr' else 'negatives'}", f"{g['column']}/{rate}_gap"))
                continue
            bound, what = (hi, f"upper CI bound {hi:.3f}") if hi is not None else (gap, "point estimate")
            ok = bound <= limit
            out.append((f"{rate}_gap", ok, f"{name} gap {gap:.3f} between {', '.join(g[f'{rate}_groups'])}: "
                        f"{what} {'within' if ok else 'above'} limit {limit:.3f}", f"{g['column']}/{rate}_gap"))
    return out

"""Data drift between the data a model learned from and new data: per feature the population stability
index (PSI) and the change in missingness, per outcome the change in prevalence.

The reference is a profile of aggregates saved with the model (decile edges, shares per bin and per
category, missing shares, prevalences), so drift can be measured wherever the model goes, without
its training rows. Categories seen in fewer than MIN_CATEGORY training rows are pooled as "(other)".

PSI = sum over bins of (new share - reference share) * ln(new share / reference share), over the
non-missing values (missingness is reported on its own); shares are floored at EPS so an empty bin
does not make it infinite. Common reading: < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 large.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

EPS = 1e-4
MIN_CATEGORY = 10
# PSI of a small sample is large by chance alone (about (bins - 1) / n for n values in 10 bins: 0.2
# for 40 rows), so fewer new rows than this are reported but never called drift.
MIN_ROWS = 200
OTHER = "(other)"


def psi(expected, actual) -> float:
    """PSI of two vectors of shares over the same bins (each renormalised to sum to 1)."""
    e, a = np.asarray(expected, float), np.asarray(actual, float)
    if e.sum() <= 0 or a.sum() <= 0:
        return float("nan")
    e, a = np.maximum(e / e.sum(), EPS), np.maximum(a / a.sum(), EPS)
    return float(np.sum((a - e) * np.log(a / e)))


def _numeric_shares(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Shares of values in the bins (-inf, e1), [e1, e2), ..., [ek, inf)."""
    bins = np.searchsorted(np.asarray(edges, float), values, side="right")
    counts = np.bincount(bins, minlength=len(edges) + 1)
    return counts / max(values.size, 1)


def _is_numeric(s: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)


def profile_feature(s: pd.Series, n_bins: int = 10) -> dict:
    """Reference profile of one column: decile edges and bin shares (numbers), or category shares."""
    missing = float(s.isna().mean()) if len(s) else 0.0
    present = s.dropna()
    if _is_numeric(s):
        x = present.to_numpy(float)
        edges = sorted(set(np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1]).round(10).tolist())) \
            if x.size else []
        return {"kind": "numeric", "edges": edges, "shares": _numeric_shares(x, edges).tolist(),
                "missing": missing}
    counts = present.astype(str).value_counts()
    kept = counts[counts >= MIN_CATEGORY]
    shares = (kept / max(len(present), 1)).to_dict()
    other = 1.0 - sum(shares.values()) if len(present) else 0.0
    if other > 1e-12:
        shares[OTHER] = other
    return {"kind": "categorical", "categories": list(shares), "shares": list(shares.values()),
            "missing": missing}


def profile(features: pd.DataFrame, labels: pd.DataFrame | None = None, n_bins: int = 10) -> dict:
    """The reference profile of a feature frame (and its labels): aggregates only."""
    out = {"n": int(len(features)), "features": {str(c): profile_feature(features[c], n_bins)
                                                  for c in features.columns}, "prevalence": {}}
    if labels is not None:
        for o in labels.columns:
            y = labels[o].dropna()
            out["prevalence"][str(o)] = {"n": int(y.size), "prevalence": float(y.mean()) if y.size else None}
    return out


def _current_shares(ref: dict, s: pd.Series) -> np.ndarray:
    present = s.dropna()
    if ref["kind"] == "numeric":
        x = pd.to_numeric(present, errors="coerce").dropna().to_numpy(float)
        return _numeric_shares(x, ref["edges"])
    text = present.astype(str)
    known = [c for c in ref["categories"] if c != OTHER]
    shares = [float((text == c).mean()) if len(text) else 0.0 for c in known]
    if OTHER in ref["categories"] or len(text):
        rest = float((~text.isin(known)).mean()) if len(text) else 0.0
        if OTHER in ref["categories"]:
            shares.append(rest)
        elif rest > 0:  # a value the reference never saw: it gets its own bin, empty in the reference
            shares.append(rest)
    return np.asarray(shares)


def feature_drift(ref: dict, s: pd.Series) -> dict:
    """PSI and missingness change of one column against its reference profile."""
    new = _current_shares(ref, s)
    old = np.asarray(ref["shares"], float)
    if new.size > old.size:
        old = np.r_[old, np.zeros(new.size - old.size)]
    missing = float(s.isna().mean()) if len(s) else 0.0
    return {"psi": psi(old, new) if s.notna().any() and old.sum() > 0 else None,
            "missing_reference": ref["missing"], "missing_new": missing,
            "missing_change": missing - ref["missing"]}


def drift_report(reference: dict, features: pd.DataFrame, labels: pd.DataFrame | None = None,
                 psi_threshold: float = 0.25, missing_threshold: float = 0.10,
                 prevalence_threshold: float = 0.05) -> dict:
    """Per feature PSI and missingness change, per outcome prevalence change, and which of them pass
    the thresholds. A feature of the reference absent from the new data is reported as missing."""
    rows = []
    for name, ref in reference["features"].items():
        s = features[name] if name in features else pd.Series([np.nan] * len(features), dtype=float)
        row = {"feature": name, "kind": ref["kind"], **feature_drift(ref, s), "absent": name not in features}
        judged = len(features) >= MIN_ROWS
        row["drifted"] = bool(row["absent"] or judged and (
            (row["psi"] is not None and s.notna().sum() >= MIN_ROWS and row["psi"] > psi_threshold)
            or abs(row["missing_change"]) > missing_threshold))
        rows.append(row)
    outcomes = []
    for o, ref in reference.get("prevalence", {}).items():
        if labels is None or o not in labels:
            continue
        y = labels[o].dropna()
        new = float(y.mean()) if y.size else None
        change = None if new is None or ref["prevalence"] is None else new - ref["prevalence"]
        outcomes.append({"outcome": o, "n_reference": ref["n"], "prevalence_reference": ref["prevalence"],
                         "n_new": int(y.size), "prevalence_new": new, "change": change,
                         "drifted": change is not None and y.size >= MIN_ROWS and abs(change) > prevalence_threshold})
    psis = [r["psi"] for r in rows if r["psi"] is not None]
    drifted = [r["feature"] for r in rows if r["drifted"]] + [r["outcome"] for r in outcomes if r["drifted"]]
    return {"n_reference": reference["n"], "n_new": int(len(features)), "features": rows, "outcomes": outcomes,
            "max_psi": max(psis) if psis else None, "drifted": drifted, "warn": bool(drifted),
            "thresholds": {"psi": psi_threshold, "missing": missing_threshold, "prevalence": prevalence_threshold}}


def drift_markdown(report: dict, title: str) -> str:
    """The drift report for reviewers (aggregates only), drifted features first."""
    t = report["thresholds"]
    lines = [f"# {title}", "",
             f"Reference rows {report['n_reference']:,}, new rows {report['n_new']:,}. "
             f"Thresholds: PSI > {t['psi']}, missingness change > {t['missing']:.0%}, prevalence change > "
             f"{t['prevalence']:.0%}. " + (f"**Drift: {', '.join(report['drifted'])}**" if report["warn"]
                                           else "No drift beyond the thresholds.")
             + ("" if report["n_new"] >= MIN_ROWS else f" Fewer than {MIN_ROWS} new rows: shifts are listed but "
                "not called drift (a small sample's PSI is large by chance)."), ""]

    def f(x, spec=".3f"):
        return "n/a" if x is None else format(x, spec)

    if report["outcomes"]:
        lines += ["| outcome | prevalence (reference) | prevalence (new) | change | drift |", "|---|---|---|---|---|"]
        lines += [f"| {r['outcome']} | {f(r['prevalence_reference'], '.1%')} | {f(r['prevalence_new'], '.1%')} | "
                  f"{f(r['change'], '+.1%')} | {'yes' if r['drifted'] else ''} |" for r in report["outcomes"]]
        lines.append("")
    rows = sorted(report["features"], key=lambda r: (not r["drifted"], -(r["psi"] or 0)))
    lines += ["| feature | PSI | missing (reference) | missing (new) | drift |", "|---|---|---|---|---|"]
    lines += [f"| {r['feature']} | {f(r['psi'])} | {r['missing_reference']:.1%} | {r['missing_new']:.1%} | "
              f"{'absent' if r['absent'] else 'yes' if r['drifted'] else ''} |" for r in rows]
    return "\n".join(lines) + "\n"


def write_drift_report(report: dict, folder: Path, stem: str, title: str) -> list[Path]:
    """<stem>.json and <stem>.md in folder (aggregates only)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"{stem}.json", folder / f"{stem}.md"]
    paths[0].write_text(json.dumps(report, indent=1))
    paths[1].write_text(drift_markdown(report, title))
    return paths

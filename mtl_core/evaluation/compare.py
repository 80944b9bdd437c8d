"""What changed between two model versions: data snapshot, config, code, and per-outcome metrics of both
models on the same test rows with paired bootstrap CIs of the difference (B - A)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from mtl_core.evaluation.metrics import brier
from mtl_core.evaluation.paired import compare as compare_auroc

CHUNK = 100  # bootstrap resamples per block, bounding memory to CHUNK x rows


def config_differences(a: dict, b: dict) -> list[tuple[str, Any, Any]]:
    """(dotted key, value in a, value in b) for every leaf that differs; absent leaves are None."""
    fa, fb = _flatten(a), _flatten(b)
    return [(k, fa.get(k), fb.get(k)) for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in (d or {}).items():
        key = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict) and v:
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def paired_brier_diff(y, p_a, p_b, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Brier(b) - Brier(a) over labelled rows with a paired percentile bootstrap CI (rows resampled
    together, so both models are scored on the same resample). Negative: b is better."""
    y, a, b = (np.asarray(v, float) for v in (y, p_a, p_b))
    keep = ~np.isnan(y)
    d = (b[keep] - y[keep]) ** 2 - (a[keep] - y[keep]) ** 2
    out = {"diff": float(d.mean()) if d.size else None, "lo": None, "hi": None}
    if d.size == 0 or n_boot <= 0:
        return out
    rng = np.random.default_rng(seed)
    means = np.concatenate([d[rng.integers(0, d.size, (min(CHUNK, n_boot - i), d.size))].mean(axis=1)
                            for i in range(0, n_boot, CHUNK)])
    tail = 100 * (1 - level) / 2
    out["lo"], out["hi"] = (float(v) for v in np.percentile(means, [tail, 100 - tail]))
    return out


def metric_rows(Y, PA, PB, outcomes: Sequence[str], n_boot: int = 1000, seed: int = 0,
                level: float = 0.95) -> list[dict]:
    """Per outcome on the same rows: n, prevalence, AUROC and Brier of A and B, and B - A with paired CIs."""
    Y, PA, PB = (np.asarray(v, float) for v in (Y, PA, PB))
    rows = []
    for k, name in enumerate(outcomes):
        y = Y[:, k]
        c = compare_auroc(y, PB[:, k], PA[:, k], n_boot, seed + k, level)
        b = paired_brier_diff(y, PA[:, k], PB[:, k], n_boot, seed + k, level)
        labelled = y[~np.isnan(y)]
        rows.append({"outcome": name, "n": int(labelled.size),
                     "prevalence": float(labelled.mean()) if labelled.size else None,
                     "auroc_a": c.champion, "auroc_b": c.challenger, "auroc_diff": c.diff, "auroc_lo": c.lo,
                     "auroc_hi": c.hi, "brier_a": brier(y, PA[:, k]), "brier_b": brier(y, PB[:, k]),
                     "brier_diff": b["diff"], "brier_lo": b["lo"], "brier_hi": b["hi"]})
    return rows


def _f(x, spec=".3f") -> str:
    return "n/a" if x is None else format(x, spec)


def _diff(d, lo, hi) -> str:
    return _f(d, "+.3f") + ("" if lo is None else f" ({lo:+.3f} to {hi:+.3f})")


def comparison_markdown(a: dict, b: dict, config_diff: list[tuple[str, Any, Any]], rows: list[dict],
                        level: float = 0.95, note: str | None = None) -> str:
    """The report. a and b: label (e.g. "v1 (champion)"), snapshot, rows (table -> rows), prevalence
    (outcome -> share), code (one line), trained (date)."""
    la, lb = a["label"], b["label"]
    lines = [f"# What changed: {la} -> {lb}", ""]
    lines += ["## Data snapshot", "", f"| | {la} | {lb} |", "|---|---|---|",
              f"| lake snapshot | `{a.get('snapshot')}` | `{b.get('snapshot')}` |",
              f"| trained | {a.get('trained', 'n/a')} | {b.get('trained', 'n/a')} |"]
    for t in sorted(set(a.get("rows", {})) | set(b.get("rows", {}))):
        lines.append(f"| rows: {t} | {_count(a.get('rows', {}).get(t))} | {_count(b.get('rows', {}).get(t))} |")
    for o in sorted(set(a.get("prevalence", {})) | set(b.get("prevalence", {}))):
        lines.append(f"| prevalence: {o} | {_f(a.get('prevalence', {}).get(o), '.1%')} | "
                     f"{_f(b.get('prevalence', {}).get(o), '.1%')} |")
    lines += ["", "## Code", "", f"- {la}: {a.get('code', 'unknown')}", f"- {lb}: {b.get('code', 'unknown')}", ""]
    lines += ["## Config differences", ""]
    lines += (["| key | " + la + " | " + lb + " |", "|---|---|---|"]
              + [f"| `{k}` | `{va}` | `{vb}` |" for k, va, vb in config_diff] if config_diff else ["None."])
    lines += ["", f"## Metrics on the same test rows ({level:.0%} paired bootstrap CIs of {lb} - {la})", ""]
    if note:
        lines += [note, ""]
    if rows:
        lines += [f"| outcome | n | prevalence | AUROC {la} | AUROC {lb} | AUROC diff (CI) | Brier {la} | "
                  f"Brier {lb} | Brier diff (CI) |", "|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['outcome']} | {r['n']:,} | {_f(r['prevalence'], '.1%')} | {_f(r['auroc_a'])} | "
                  f"{_f(r['auroc_b'])} | {_diff(r['auroc_diff'], r['auroc_lo'], r['auroc_hi'])} | "
                  f"{_f(r['brier_a'], '.4f')} | {_f(r['brier_b'], '.4f')} | "
                  f"{_diff(r['brier_diff'], r['brier_lo'], r['brier_hi'])} |" for r in rows]
        lines += ["", "AUROC higher is better; Brier lower is better. A CI that excludes 0 marks a difference "
                  "that resampling the test rows does not explain away."]
    return "\n".join(lines) + "\n"


def _count(x) -> str:
    return "n/a" if x is None else f"{int(x):,}"

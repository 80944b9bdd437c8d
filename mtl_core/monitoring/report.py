"""The monitoring check as Markdown: verdict per outcome with its reason, then the series by window.
Aggregates only: counts, rates and metrics, never an admission."""
from __future__ import annotations


def _f(x, spec: str = ".3f") -> str:
    return "" if x is None else format(x, spec)


def _ci(m: dict, key: str, spec: str = ".3f") -> str:
    if m.get(key) is None:
        return "n/a"
    lo, hi = m.get(f"{key}_ci_low"), m.get(f"{key}_ci_high")
    return _f(m[key], spec) + (f" ({_f(lo, spec)}-{_f(hi, spec)})" if lo is not None and hi is not None else "")


def monitoring_markdown(result: dict, heading: dict) -> str:
    """heading: model, version, snapshot, as_of, cutoff, rows, excluded, window, level."""
    h = heading
    lines = [f"# Monitoring: {h['model']} v{h['version']}", "",
             f"**Overall: {result['overall']}**", "",
             f"- lake snapshot `{h['snapshot']}`, extracted {h['as_of']}",
             f"- {h['rows']:,} admissions the champion was not trained on ({h['excluded']:,} left out: "
             f"in its training rows or before its data cut-off {h['cutoff']})",
             f"- windows: {h['window']}; the verdict pools the latest {h['judge_windows']} with known outcomes; "
             f"CIs at {h['level']:.0%}", "",
             "Outcomes whose observation window is still open at the extract time are unknown (masked), "
             "never negative.", "", "## Verdict per outcome", "",
             "| outcome | verdict | period | known (masked) | AUROC | O/E | slope | sensitivity | PPV | alert rate "
             "| reason |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for o, v in result["verdicts"].items():
        m, period = v["measures"], v["period"]
        lines.append(f"| {o} | **{v['status']}** | {period[0] + '..' + period[1] if period else 'n/a'} | "
                     f"{m['known']:,} ({m['masked']:,}) | {_ci(m, 'auroc')} | {_ci(m, 'oe', '.2f')} | "
                     f"{_ci(m, 'slope', '.2f')} | {_ci(m, 'sensitivity', '.2f')} | {_ci(m, 'ppv', '.2f')} | "
                     f"{_ci(m, 'alert_rate', '.1%')} | {v['reason']} |")
    lines += ["", "## By window", "", "| window | outcome | status | known (masked) | prevalence | AUROC | O/E | "
              "slope | alert rate |", "|---|---|---|---|---|---|---|---|---|"]
    for w in result["windows"]:
        for o, m in w["outcomes"].items():
            lines.append(f"| {w['window']} | {o} | {m['status']} | {m['known']:,} ({m['masked']:,}) | "
                         f"{_f(m.get('prevalence'), '.1%')} | {_ci(m, 'auroc')} | {_f(m.get('oe'), '.2f')} | "
                         f"{_f(m.get('slope'), '.2f')} | {_f(m.get('alert_rate'), '.1%')} |")
    groups = [(o, g) for o, v in result["verdicts"].items() for g in v.get("subgroups", [])]
    if groups:
        lines += ["", "## Subgroups (the judged period; watch when one lies far below the whole)", "",
                  "| outcome | subgroup | known | positives | AUROC |", "|---|---|---|---|---|"]
        lines += [f"| {o} | {g['column']}={g['group']} | {g['known']:,} | {g['positives']:,} | {_ci(g, 'auroc')} |"
                  for o, g in groups]
    if heading.get("drift"):
        d = heading["drift"]
        lines += ["", "## Drift beside it", "", f"max PSI {_f(d.get('max_psi'))}; beyond the thresholds: "
                  f"{', '.join(d.get('drifted') or []) or 'none'}"]
    lines += ["", "stable: within every limit, or too few known events to judge (said in the reason). "
              "watch: an estimate beyond a limit, its CI not conclusive. degraded: the whole CI beyond a limit "
              "(monitoring section of the config)."]
    return "\n".join(lines) + "\n"

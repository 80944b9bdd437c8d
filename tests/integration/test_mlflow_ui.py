"""A reviewer's view: the MLflow UI, in Debian's headless chromium driven by Playwright, shows the champion
alias on the registered model, per-outcome test AUROCs and the operating points' test sensitivity on the
run. Screenshots go to docs/ when CMTL_UPDATE_DOCS=1 (`make screenshots`), else to the test's temporary
folder."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from mlflow import MlflowClient

from flows.tracking import experiment_page
from tests.conftest import ROOT
from tests.integration.conftest import OUTCOMES

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

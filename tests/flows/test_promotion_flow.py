"""Promotion and review through Prefect: two pipeline runs in one workspace (a good model, then a deliberately
bad one), then dry run, forced promotion and rollback, through the flows and the CLI."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import write_config
from tests.flows.conftest import FAST, NAME, own_store, store_client

OUTCOMES = ["in_hospital_mortality", "readmission_30d", "prolonged_stay", "aki", "sepsis"]
CMTL = str(Path(sys.executable).parent / "cmtl")


@pytest.fixture(scope="module")
def two_runs(prefect_server, tmp_path_factory):
    """v1: a good model (champion). v2: one epoch of a 2-unit network at a tiny learning rate (rejected)."""
    from flows.pipeline import pipeline

    root = tmp_path_factory.mktemp("promotion")
    ws = root / "workspace"
    good = write_config(root / "good.yaml", ws, evaluation=FAST)
    bad = write_config(root / "bad.yaml", ws, name="bad", model={"hidden": [2]},
                       train={"epochs": 1, "lr": 1e-5}, evaluation={**FAST, "baselines": []})
    with own_store():
        first = pipeline(str(good), return_state=True)
        second = pipeline(str(bad), return_state=True)
    yield {"good": good, "bad": bad, "ws": ws, "first": first.result(), "second": second.result(),
           "flow_runs": [first.state_details.flow_run_id, second.state_details.flow_run_id],
           "client": store_client(ws)}


def _aliases(client) -> dict:
    return {k: str(v) for k, v in client.get_registered_model(NAME).aliases.items()}


def _ids(ws: Path) -> set[str]:
    features = pd.read_parquet(next((ws / "features").glob("*/features.parquet")))
    return {str(v) for col in ("hadm_id", "subject_id") for v in features[col]}


def test_worse_challenger_is_rejected_with_reasons_and_tags(two_runs):
    first, second, client = two_runs["first"], two_runs["second"], two_runs["client"]
    assert first["promoted"] and first["version"] == "1"
    assert not second["promoted"] and second["version"] == "2" and second["compared_to"] == "1"
    assert _aliases(client) == {"champion": "1", "challenger": "2"}
    assert set(second["outcome_status"]) == set(OUTCOMES) and "fail" in second["outcome_status"].values()
    failing = [r for r in second["reasons"] if re.search(r"worse|not shown|below floor", r)]
    assert failing and all(r.split(":")[0] in OUTCOMES for r in failing)

    tags = client.get_model_version(NAME, "2").tags
    assert tags["cmtl.verdict"] == "rejected" and tags["cmtl.compared_to"] == "1"
    assert "cmtl.challenger_at" in tags
    # a handful of tags a reviewer can read in the UI; each outcome's line is in the description
    assert len(tags) <= 8 and not any(k.startswith("cmtl.gate") for k in tags), sorted(tags)
    failed = [o for o, s in second["outcome_status"].items() if s == "fail"]
    assert tags["cmtl.failed_outcomes"] == ", ".join(failed)
    description = client.get_model_version(NAME, "2").description
    assert description.startswith(f"**{NAME} v2: rejected by the gate: stays challenger**, compared with "
                                  "champion v1")
    assert all(f"- {reason}" in description for reason in second["reasons"])
    for v in ("1", "2"):  # each logged model's page names its registered version (not "Not registered")
        source = client.get_model_version(NAME, v).source
        logged = client.get_logged_model(source.removeprefix("models:/"))
        assert json.loads(logged.tags["mlflow.modelVersions"]) == [{"name": NAME, "version": v}]
    experiment = client.get_run(second["run_id"]).info.experiment_id
    for name in ("model_card.md", "promotion.md"):
        assert f"[{name}](#/experiments/{experiment}/runs/{second['run_id']}/artifacts/{name})" in description
    report = client.download_artifacts(second["run_id"], "promotion.md", str(two_runs["ws"]))
    text = Path(report).read_text()
    assert "Gate verdict: rejected" in text and "champion v1" in text and "FAIL" in text


def test_runs_hold_inputs_plots_model_card_and_no_identifiers(two_runs, tmp_path):
    client, ids = two_runs["client"], _ids(two_runs["ws"])
    digests = []
    for result in (two_runs["first"], two_runs["second"]):
        run_id = result["run_id"]
        names = {a.path for folder in (None, "plots") for a in client.list_artifacts(run_id, folder)}
        assert {"model_card.md", "promotion.md", "plots/auroc.png"} <= names
        assert {f"plots/{o}.png" for o in OUTCOMES} <= names
        local = Path(client.download_artifacts(run_id, "", str(tmp_path / run_id)))
        for png in (local / "plots").glob("*.png"):
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        card = (local / "model_card.md").read_text()
        for heading in ("Intended use", "Outcomes", "Performance", "Subgroups", "Limitations"):
            assert f"## {heading}" in card, heading
        assert all(o in card for o in OUTCOMES)
        for text in (card, (local / "promotion.md").read_text()):
            assert "hadm_id" not in text and "subject_id" not in text
            assert not set(re.findall(r"\d{6,}", text)) & ids

        inputs = client.get_run(run_id).inputs.dataset_inputs
        contexts = {i.tags[0].value: i.dataset for i in inputs}
        assert set(contexts) == {"source", "training", "validation", "testing"}
        for ds in contexts.values():
            assert str(two_runs["ws"]) in ds.source and 16 <= len(ds.digest) <= 36
            assert not set(re.findall(r"\d{6,}", ds.profile + ds.schema + ds.source)) & ids
            assert "hadm_id" not in ds.schema
        digests.append({c: ds.digest for c, ds in contexts.items()})
    assert digests[0] == digests[1]  # same snapshot and split: same digests
    assert len(set(digests[0].values())) == 4


def test_prefect_run_has_metrics_table_and_mlflow_link(two_runs):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.tracking import ui_url

    with get_client(sync_client=True) as prefect:
        found = prefect.read_artifacts(artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[two_runs["flow_runs"][1]])))
    by_key = {a.key: a for a in found}
    table = by_key["cmtl-test-metrics"]
    rows = json.loads(table.data) if isinstance(table.data, str) else table.data
    assert [r["outcome"] for r in rows] == OUTCOMES
    assert {r["gate"] for r in rows} <= {"pass", "fail"} and "fail" in {r["gate"] for r in rows}
    assert "v2: rejected" in table.description
    # a SQLite store has no page to link to: no link artifact (a file:// link does nothing in a browser),
    # the table's text says how to open the run instead
    assert "cmtl-mlflow-run" not in by_key
    run = two_runs["client"].get_run(two_runs["second"]["run_id"])
    kind = two_runs["client"].get_experiment(run.info.experiment_id).tags.get("mlflow.experimentKind")
    assert kind == "custom_model_development"  # the UI opens the experiment on its training runs
    assert "mlflow ui --backend-store-uri sqlite:///" in table.description
    assert f"/runs/{two_runs['second']['run_id']}" in table.description
    assert ui_url("http://mlflow:5000/", "3", "abc") == "http://mlflow:5000/#/experiments/3/runs/abc"
    assert ui_url("sqlite:///x.db", "3", "abc") is None


def test_dry_run_moves_nothing_then_force_and_rollback(two_runs, prefect_server):
    from flows.promote import register_and_promote, rollback

    good, bad, client = str(two_runs["good"]), str(two_runs["bad"]), two_runs["client"]

    def state():
        versions = {str(v.version): dict(v.tags) for v in client.search_model_versions(f"name='{NAME}'")}
        return versions, _aliases(client), dict(client.get_registered_model(NAME).tags)

    before = state()
    dry = register_and_promote(bad, dry_run=True)
    assert dry["dry_run"] and not dry["gate_passed"] and not dry["promoted"] and dry["version"] == "2"
    assert state() == before  # nothing registered, tagged or moved

    forced = register_and_promote(bad, version="2", force=True, actor="alice")
    assert forced["promoted"] and forced["forced"] and not forced["gate_passed"]
    assert _aliases(client) == {"champion": "2", "challenger": "2"}
    tags = client.get_model_version(NAME, "2").tags
    assert tags["cmtl.verdict"] == "promoted (forced)"
    assert "force-promote v2 by alice" in tags["cmtl.audit.force-promote"] and "gate verdict: rejected" in \
        tags["cmtl.audit.force-promote"]
    assert client.get_registered_model(NAME).tags["cmtl.champion_history"] == "1,2"
    assert client.get_model_version(NAME, "2").description.startswith(
        f"**{NAME} v2: champion by manual action, rejected by the gate")  # the page agrees with the alias

    back = rollback(good, actor="bob")
    assert (back["from"], back["to"], back["by"]) == ("2", "1", "bob")
    assert _aliases(client)["champion"] == "1"
    assert "to v1 by bob" in client.get_model_version(NAME, "2").tags["cmtl.audit.rollback"]
    assert "from v2 by bob" in client.get_model_version(NAME, "1").tags["cmtl.audit.restored"]
    assert client.get_model_version(NAME, "2").description.startswith("**Rolled back: v2 is no longer champion**")
    assert client.get_model_version(NAME, "1").description.startswith("**Champion again** after the rollback")
    model_tags = client.get_registered_model(NAME).tags
    assert model_tags["cmtl.champion_history"] == "1" and "rollback: champion v2 -> v1" in model_tags[
        "cmtl.audit.last_action"]
    assert {str(v.version) for v in client.search_model_versions(f"name='{NAME}'")} == {"1", "2"}

    # the audit trail: every alias move and verdict change, who, when and why, on the version and the model
    from mtl_core.gate import audit

    model_trail = audit.entries(client.get_registered_model(NAME).tags)

    def trail(v):
        return [e.split(": ", 1)[1] for e in model_trail if e.startswith(f"v{v}: ")]

    trail2, trail1 = trail("2"), trail("1")
    assert [t.split(" ")[1] for t in trail2] == ["register", "verdict", "force-promote", "rollback"]
    assert "force-promote by alice: champion v1 -> v2; why: forced by hand" in trail2[2]
    assert "rollback by bob: champion v2 -> v1" in trail2[3]
    assert [t.split(" ")[1] for t in trail1] == ["register", "promote", "rollback"]
    assert "champion none -> v1; why: gate: promoted" in trail1[1]
    for v, entries in (("1", trail1), ("2", trail2)):  # the reviewer reads the same trail on the version page
        description = client.get_model_version(NAME, v).description
        assert audit.HEADING in description and all(t in description for t in entries)
        assert not audit.entries(client.get_model_version(NAME, v).tags)  # no tag clutter on the version
    assert len(model_trail) == 7 and model_trail[-1].startswith("v1: ") and "rollback by bob" in model_trail[-1]

    env = {**os.environ, "PREFECT_API_URL": prefect_server, "COLUMNS": "200", "USER": "carol"}
    out = subprocess.run([CMTL, "promote", "--config", bad, "--dry-run"], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "dry run: clinical-multi-outcome v2 would stay challenger" in out.stdout
    none_left = subprocess.run([CMTL, "rollback", "--config", good], capture_output=True, text=True, env=env,
                               timeout=600)
    assert none_left.returncode == 2 and "no previous champion" in none_left.stderr
    assert "Traceback" not in none_left.stderr + none_left.stdout
    assert _aliases(client)["champion"] == "1"  # a refused rollback leaves the champion in place

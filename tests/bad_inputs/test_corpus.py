"""The bad-input corpus through `cmtl`: exit 2, a precise message, no traceback, nothing written.

Each message must name the table or file, column, rule and row count where they apply; the inputs
stay untouched, and neither the lake, the feature store, the models folder nor MLflow gets anything.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from tests.bad_inputs import (
    cases_issue22,  # noqa: F401  (issue 22: bounds, names, encodings, ids, clinical order)
    cases_meds,  # noqa: F401  (registers the MEDS cases)
    cases_omop,  # noqa: F401  (registers the OMOP cases)
    cases_reliability,  # noqa: F401  (issue 13: crashes that came later)
    cases_tabular,  # noqa: F401  (registers the tabular cases)
)
from tests.bad_inputs.cases import CASES, Bad
from tests.bad_inputs.fixtures import Goods, mimic_config, tabular_config
from tests.meds_data import meds_config, meds_copy
from tests.omop_cdm import omop_config, write_omop_dir

OUTPUTS = ("ws", "cmtl.stdout", "cmtl.stderr")
PARALLEL = 3  # children at a time: each mostly waits on the Prefect server


def _inputs(folder: Path) -> dict[str, str]:
    files = [p for p in sorted(folder.rglob("*"))
             if p.is_file() and p.relative_to(folder).parts[0] not in OUTPUTS]
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def _mlflow_runs(ws: Path) -> int:
    db = ws / "mlflow.db"
    if not db.is_file():
        return 0
    with sqlite3.connect(db) as con:
        return con.execute("select count(*) from runs").fetchone()[0]


def test_corpus_is_large_enough():
    assert len(CASES) >= 25
    assert any(n.startswith("mimic_") for n in CASES) and any(n.startswith("tabular_") for n in CASES)


def _good_mimic(tmp: Path, g: Goods) -> Bad:
    return Bad("ingest", mimic_config(tmp / "config.yaml", tmp / "ws", g.write_mimic(tmp / "mimic")), [])


def _good_tabular(tmp: Path, g: Goods) -> Bad:
    table = tmp / "table.csv"
    g.flat.to_csv(table, index=False)
    return Bad("ingest", tabular_config(tmp / "config.yaml", tmp / "ws", table), [])


def _good_omop(tmp: Path, g: Goods) -> Bad:
    return Bad("ingest", omop_config(tmp / "config.yaml", tmp / "ws", write_omop_dir(tmp / "cdm")), [])


def _good_meds(tmp: Path, g: Goods) -> Bad:
    return Bad("ingest", meds_config(tmp / "config.yaml", tmp / "ws", meds_copy(tmp / "meds")), [])


# the unbroken inputs, through the same runner: the defect, not the fixture, makes a case fail
CONTROLS = {"good_mimic_iv": _good_mimic, "good_tabular": _good_tabular, "good_omop": _good_omop,
            "good_meds": _good_meds}


@pytest.fixture(scope="module")
def corpus(good, cmtl, tmp_path_factory):
    """Every case (and control) written to its own folder, then run through the CLI a few at a time."""
    prepared = {}
    only = [n for n in os.environ.get("CMTL_CORPUS_ONLY", "").split(",") if n]  # e.g. a new case's name
    chosen = {n: b for n, b in {**CASES, **CONTROLS}.items() if not only or any(n.startswith(o) for o in only)}
    for name, build in chosen.items():
        folder = tmp_path_factory.mktemp(name)
        bad = build(folder, good)
        prepared[name] = (folder, bad, _inputs(folder))
    results = cmtl.batch([([bad.command, "--config", bad.config], folder)
                          for folder, bad, _ in prepared.values()], parallel=PARALLEL)
    return {name: (*prepared[name], result) for name, result in zip(prepared, results)}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_fails_cleanly(name, corpus):
    if name not in corpus:
        pytest.skip("not in CMTL_CORPUS_ONLY")
    folder, bad, before, result = corpus[name]
    shown = result.stdout + result.stderr
    assert result.returncode == 2, shown[-4000:]
    assert "Traceback" not in shown
    assert "error:" in result.stderr
    message = " ".join(result.stderr[result.stderr.rindex("error:"):].split())
    for part in bad.expect:
        assert part in message, (part, message)
    assert _inputs(folder) == before, "the input files were modified"
    ws = folder / "ws"
    for stage in ("lake", "features", "models"):
        assert not (ws / stage).is_dir() or not any((ws / stage).iterdir()), f"{stage} was written"
    assert _mlflow_runs(ws) == 0


@pytest.mark.parametrize("name", list(CONTROLS))
def test_unbroken_input_ingests(name, corpus):
    if name not in corpus:
        pytest.skip("not in CMTL_CORPUS_ONLY")
    folder, _, before, result = corpus[name]
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    assert len(list((folder / "ws" / "lake").glob("*/manifest.json"))) == 1
    assert _inputs(folder) == before

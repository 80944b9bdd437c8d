"""Bench check, run in MEDS-Tab's venv: its tabularised features count, at every label row, exactly the
events the MEDS shard holds before the prediction time (the hand check of issue 21).

    bench/.venvs/meds_tab/bin/python -m pytest bench/checks -q
By default on meds_fixture/ (24 synthetic subjects written by mtl_core.sources.export_meds);
bench.meds_tab runs it again on its own export and MEDS-Tab output (CMTL_MEDS_CHECK_DATA / _LABELS /
_TASK / _CACHE).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

HERE = Path(__file__).resolve().parent
PATCH = HERE.parent / "meds_tab_patch.py"
DATA = Path(os.environ.get("CMTL_MEDS_CHECK_DATA", HERE / "meds_fixture" / "dataset"))
TASK = os.environ.get("CMTL_MEDS_CHECK_TASK", "in_hospital_mortality")
LABELS = Path(os.environ.get("CMTL_MEDS_CHECK_LABELS", HERE / "meds_fixture" / "labels")) / TASK
WINDOWS = {"1d": pd.Timedelta("1d"), "30d": pd.Timedelta("30d"), "full": None}
AGGS = "[static/present,code/count,value/count,value/sum,value/sum_sqd,value/min,value/max]"


def _cli(name: str, *args: str) -> None:
    """A MEDS-Tab command; the two that bench/meds_tab_patch.py corrects run through it."""
    step = name.removeprefix("meds-tab-")
    patched = step in ("tabularize-time-series", "cache-task")
    cmd = [sys.executable, str(PATCH), step] if patched else [str(Path(sys.executable).parent / name)]
    subprocess.run([*cmd, *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """MEDS-Tab's pipeline as bench.meds_tab runs it: describe, tabularise (patched), cache the task
    (or, with CMTL_MEDS_CHECK_CACHE, the output folder bench.meds_tab's own run left)."""
    if os.environ.get("CMTL_MEDS_CHECK_CACHE"):
        return Path(os.environ["CMTL_MEDS_CHECK_CACHE"])
    out = tmp_path_factory.mktemp("meds_tab")
    common = [f"input_dir={DATA}/data", f"output_dir={out}", "do_overwrite=False", f"tabularization.aggs={AGGS}",
              "tabularization.window_sizes=[1d,30d,full]", "tabularization.max_included_codes=300",
              "tabularization.min_code_inclusion_count=null"]
    _cli("meds-tab-describe", f"input_dir={DATA}/data", f"output_dir={out}")
    _cli("meds-tab-tabularize-static", *common)
    _cli("meds-tab-tabularize-time-series", *common)
    _cli("meds-tab-cache-task", *common, f"input_label_dir={LABELS}", f"task_name={TASK}")
    return out


def _features(cache: Path, kind: str) -> list[str]:
    from MEDS_tabular_automl.describe_codes import get_feature_columns
    from MEDS_tabular_automl.utils import get_feature_names

    return get_feature_names(kind, get_feature_columns(cache / "metadata" / "codes.parquet"))


def _matrix(cache: Path, window: str, agg: str) -> np.ndarray:
    from MEDS_tabular_automl.utils import load_matrix

    return sp.csr_array(load_matrix(cache / TASK / "task_cache" / "held_out" / "0" / window / f"{agg}.npz")).toarray()


def _by_hand(cache: Path, window: str, kind: str, how: str) -> np.ndarray:
    """Per label row and code: `how` over the shard's events of that code in (e - window, e], where e is
    the subject's last event time at or before the prediction time t (MEDS-Tab's documented anchor)."""
    labels = pd.read_parquet(cache / TASK / "labels" / "held_out" / "0.parquet")
    events = pd.read_parquet(DATA / "data" / "held_out" / "0.parquet").dropna(subset=["time"])
    names = _features(cache, kind)
    column = {n.rsplit("/", 1)[0]: j for j, n in enumerate(names)}
    want = np.zeros((len(labels), len(names)))
    for i, (subject, t) in enumerate(zip(labels["subject_id"], labels["time"])):
        ev = events[(events["subject_id"] == subject) & (events["time"] <= t)]
        if WINDOWS[window] is not None and len(ev):
            ev = ev[ev["time"] > ev["time"].max() - WINDOWS[window]]
        if kind == "value/sum":
            ev = ev.dropna(subset=["numeric_value"])
        ev = ev[ev["code"].isin(column)]
        got = ev.groupby("code")["numeric_value"].agg(how) if how != "size" else ev.groupby("code").size()
        for code, v in got.items():
            want[i, column[code]] = v
    return want


@pytest.mark.parametrize("window", list(WINDOWS))
def test_code_counts_are_the_events_in_the_shard(cache, window):
    got, want = _matrix(cache, window, "code/count"), _by_hand(cache, window, "code/count", "size")
    assert want.sum(axis=1).max() > 1, "the check needs label rows with history"
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("agg,how", [("value/count", "size"), ("value/sum", "sum"), ("value/min", "min"),
                                     ("value/max", "max")])
def test_value_aggregates_match_the_shard(cache, agg, how):
    got, want = _matrix(cache, "full", agg), _by_hand(cache, "full", "value/sum", how)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_upstream_still_loses_history_and_values():
    """The reproduction: if this fails, MEDS-Tab has fixed these and bench/meds_tab_patch.py can go."""
    sys.path.insert(0, str(HERE.parent))
    from meds_tab_repro import upstream_counts, upstream_values

    assert upstream_counts() != [1, 2, 3]
    assert upstream_values() == 0

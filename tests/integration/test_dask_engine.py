"""engine: {kind: dask}: ingest and features as Prefect tasks on a real Dask cluster (a `dask scheduler`
and two `dask worker` processes on free ports, started and stopped here) give exactly what the local
engine gives: the same snapshot ids, tables and feature matrix."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pandas.testing as pdt
import pytest
import yaml

from flows.ops import services
from mtl_core.data import lake
from tests.conftest import ROOT, write_config
from tests.integration.conftest import stop

DASK = str(Path(sys.executable).parent / "dask")
PARTITION_ROWS = 30_000   # the 1,500-patient cohort (~95k rows) in a few partitions


def _wait_for_workers(address: str, n: int, procs: list[subprocess.Popen], logs: list[Path]) -> None:
    from distributed import Client

    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        dead = [p for p in procs if p.poll() is not None]
        assert not dead, "\n".join(log.read_text(errors="replace")[-2000:] for log in logs)
        try:
            with Client(address, timeout=10) as client:
                if len(client.scheduler_info()["workers"]) >= n:
                    return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError("Dask workers did not register:\n" + "\n".join(
        log.read_text(errors="replace")[-2000:] for log in logs))


@pytest.fixture
def dask_cluster(tmp_path, prefect_server):
    """A scheduler and two single-threaded workers as separate processes; stopped by PID afterwards."""
    port = services.free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PREFECT_HOME": str(tmp_path / "prefect-workers")}
    procs, logs = [], []

    def start(name: str, argv: list[str]) -> None:
        log = tmp_path / f"{name}.log"
        logs.append(log)
        with open(log, "wb") as out:
            procs.append(subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env,
                                          start_new_session=True))

    try:
        start("scheduler", [DASK, "scheduler", "--host", "127.0.0.1", "--port", str(port),
                            "--dashboard-address", f"127.0.0.1:{services.free_port()}"])
        for i in range(2):
            start(f"worker{i}", [DASK, "worker", address, "--nthreads", "1", "--nworkers", "1",
                                 "--host", "127.0.0.1", "--dashboard-address", f"127.0.0.1:{services.free_port()}",
                                 "--local-directory", str(tmp_path / f"worker{i}")])
        _wait_for_workers(address, 2, procs, logs)
        yield address, logs[1:]
    finally:
        for proc in reversed(procs):
            stop(proc)
        assert all(p.poll() is not None for p in procs)


def test_ingest_and_features_on_dask_workers_equal_a_local_run(tmp_path, dask_cluster, prefect_server):
    address, worker_logs = dask_cluster
    from flows.features import build_features
    from flows.ingest import ingest
    from mtl_core.config import load_config
    from mtl_core.sources.export_mimic import write_mimic

    base = write_config(tmp_path / "base.yaml", tmp_path / "unused")
    cfg = load_config(base)
    export = write_mimic(cfg.source, cfg.cohort.observation_hours, tmp_path / "mimic", "csv.gz")
    runs = {}
    for name, engine in (("local", {"kind": "local"}), ("dask", {"kind": "dask", "address": address})):
        config = write_config(tmp_path / f"{name}.yaml", tmp_path / f"ws-{name}", engine=engine,
                              ingest={"partition_rows": PARTITION_ROWS})
        raw = yaml.safe_load(config.read_text())
        raw["source"] = {"kind": "mimic_iv", "path": str(export)}
        config.write_text(yaml.safe_dump(raw))
        snapshot = ingest(str(config))
        runs[name] = (Path(snapshot), Path(build_features(str(config), snapshot)))
    (local_lake, local_features), (dask_lake, dask_features) = runs["local"], runs["dask"]
    for log in worker_logs:  # both workers did partitions of both flows, as Prefect task runs
        text = log.read_text(errors="replace")
        assert "Validate and stage partition" in text and "Build cohort, features and labels" in text, text[-3000:]
    assert lake.n_partitions(local_lake) >= 3
    assert local_lake.name == dask_lake.name and local_features.name == dask_features.name  # same content ids
    for a, b in ((local_lake, dask_lake), (local_features, dask_features)):
        assert lake.read_manifest(a)["tables"] == lake.read_manifest(b)["tables"]
        for table, df in lake.read_tables(a).items():
            pdt.assert_frame_equal(lake.read_tables(b, [table])[table], df)
    assert not any((tmp_path / "ws-dask" / "staging").iterdir())  # the staging copy is gone


def test_bad_rows_in_a_later_partition_stop_a_dask_run_and_write_nothing(tmp_path, dask_cluster, prefect_server):
    """A partition that breaks its contract fails its task on a worker; the flow raises that error (the
    same DataError as locally), waits for the partitions still running, and leaves no lake snapshot."""
    from flows.ingest import ingest
    from mtl_core.config import load_config
    from mtl_core.errors import DataError
    from mtl_core.sources.export_mimic import write_mimic

    address, _ = dask_cluster
    config = write_config(tmp_path / "c.yaml", tmp_path / "ws", engine={"kind": "dask", "address": address},
                          ingest={"partition_rows": PARTITION_ROWS})
    cfg = load_config(config)
    export = write_mimic(cfg.source, cfg.cohort.observation_hours, tmp_path / "mimic", "parquet")
    adm = pd.read_parquet(export / "hosp/admissions.parquet")
    rows = adm.index[adm["subject_id"] >= adm["subject_id"].quantile(0.9)][:3]
    adm.loc[rows, "hospital_expire_flag"] = 5
    adm.to_parquet(export / "hosp/admissions.parquet", index=False)
    raw = yaml.safe_load(config.read_text())
    raw["source"] = {"kind": "mimic_iv", "path": str(export)}
    config.write_text(yaml.safe_dump(raw))
    with pytest.raises(DataError) as err:
        ingest(str(config))
    message = str(err.value)
    assert "hospital_expire_flag" in message and "isin" in message and "3 rows" in message
    assert re.search(r"in partition (\d+) of \1\b", message), message   # the last partition
    assert not any((tmp_path / "ws" / "lake").iterdir()) and not any((tmp_path / "ws" / "staging").iterdir())

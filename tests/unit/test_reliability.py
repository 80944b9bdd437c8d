"""The pieces behind `cmtl run`'s reliability, in process: service probes, who wrote a temporary folder
and whether it is gone, checkpoint progress, the full-disk message and the YAML loader."""
from __future__ import annotations

import errno
import os
import subprocess
import sys
import time

import pytest

from flows.ops import cleanup, preflight, reliability
from flows.runtime import identity, resume
from mtl_core.data import owner
from mtl_core.errors import UnavailableError


def test_unreachable_http_store_fails_within_the_retry_budget():
    started = time.monotonic()
    with pytest.raises(UnavailableError, match=r"tracking store http://127\.0\.0\.1:59999 is not reachable"):
        preflight.check_services("http://127.0.0.1:59999", budget=1.0)
    assert time.monotonic() - started < 5


def test_store_problems_are_named_and_passwords_masked(tmp_path):
    assert "does not exist" in preflight.tracking_problem(f"sqlite:///{tmp_path}/absent/mlflow.db")
    assert preflight.tracking_problem(f"sqlite:///{tmp_path}/mlflow.db") is None  # created on first use
    (tmp_path / "junk.db").write_text("not sqlite" * 100)
    assert "not a readable SQLite database" in preflight.tracking_problem(f"sqlite:///{tmp_path}/junk.db")
    with pytest.raises(UnavailableError) as exc:
        preflight.check_services("http://user:s3cret@127.0.0.1:59999", budget=0.1)
    assert "s3cret" not in str(exc.value) and "user:***@" in str(exc.value)


def test_temporary_folder_names_say_who_writes_them():
    name = owner.prefix(".partial") + "abc123"
    assert owner.writer(name) == (os.getpid(), owner.host())
    assert owner.writer("0f3a9c") is None and owner.writer(".partial-abc") is None


def test_only_folders_of_dead_writers_on_this_host_are_stale(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    for sub in cleanup.TEMP_ROOTS:
        (tmp_path / sub).mkdir()
    gone = tmp_path / "lake" / f".partial~{dead}~{owner.host()}~x1"
    alive = tmp_path / "models" / f".partial~{os.getppid()}~{owner.host()}~x2"
    elsewhere = tmp_path / "features" / f".partial~{dead}~another-host~x3"
    mine = tmp_path / "staging" / (owner.prefix("synthetic") + "x4")
    done = tmp_path / "lake" / "0123abcd"
    for p in (gone, alive, elsewhere, mine, done):
        p.mkdir()
    assert cleanup.remove_stale_folders(tmp_path) == [gone]
    assert not gone.exists() and all(p.exists() for p in (alive, elsewhere, mine, done))


def test_a_reused_pid_does_not_keep_a_folder_alive():
    start = identity.process_start(os.getpid())
    assert start is not None and start <= time.time()
    assert identity.running(os.getpid(), started_by=time.time())
    assert not identity.running(os.getpid(), started_by=start - 3600)  # "written before this process began"


def test_checkpoint_progress(tmp_path):
    import torch

    assert resume.progress_in(tmp_path / "none") is None
    (tmp_path / "mtl").mkdir()
    torch.save({"epoch": 4}, tmp_path / "mtl" / "fold1.pt")
    (tmp_path / "mtl" / "fold0.joblib").write_bytes(b"")
    assert resume.progress_in(tmp_path) == {"folds_done": 1, "epoch": 4}


def test_disk_full_is_recognised_however_spelled(tmp_path):
    assert reliability.disk_full(OSError(errno.ENOSPC, "No space left on device", "x"))
    assert reliability.disk_full(OSError("Error writing bytes to file. Detail: [errno 28] No space left on device"))
    wrapped = RuntimeError("task failed")
    wrapped.__cause__ = OSError(errno.EDQUOT, "Disk quota exceeded")
    assert reliability.disk_full(wrapped)
    assert not reliability.disk_full(OSError(errno.EACCES, "Permission denied"))
    message = reliability.disk_full_message(OSError(errno.ENOSPC, "full", str(tmp_path / "a" / "b.parquet")),
                                            tmp_path)
    assert str(tmp_path / "a" / "b.parquet") in message and "MiB free" in message


def test_run_status_of_signals():
    from flows.runtime.interrupt import Interrupted, run_status

    assert run_status(None) == "FINISHED" and run_status(ValueError()) == "FAILED"
    assert run_status(KeyboardInterrupt()) == "KILLED" and run_status(Interrupted(15)) == "KILLED"


def test_only_checkpoints_untouched_for_days_are_removed(tmp_path):
    old, fresh = tmp_path / "checkpoints" / "aaa", tmp_path / "checkpoints" / "bbb"
    for folder in (old, fresh):
        (folder / "mtl").mkdir(parents=True)
        (folder / "mtl" / "fold0.pt").write_bytes(b"x")
    week_ago = time.time() - 8 * 86400
    for p in (old / "mtl" / "fold0.pt", old / "mtl", old):
        os.utime(p, (week_ago, week_ago))
    assert cleanup.remove_old_checkpoints(tmp_path) == [old]
    assert fresh.exists() and not old.exists()

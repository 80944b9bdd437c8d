"""bench.common.machine: results name the commit the benchmark started from."""
import subprocess

import bench.common as common


def test_machine_names_the_commit_read_at_start_not_a_later_one(monkeypatch):
    started = common.COMMIT_AT_START
    assert started  # a short hash, perhaps with +uncommitted

    def later_head(*args, **kwargs):  # main has moved on while the benchmark ran
        return subprocess.CompletedProcess(args, 0, stdout="fffffff\n", stderr="")

    monkeypatch.setattr(common.subprocess, "run", later_head)
    assert common.machine()["commit"] == started

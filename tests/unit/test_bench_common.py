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


def test_bench_venv_builds_once_and_puts_the_product_after_its_own_packages(tmp_path, monkeypatch):
    calls, site = [], tmp_path / "site"
    site.mkdir()

    def fake_run(cmd, **kwargs):
        calls.append([str(c) for c in cmd])
        out = f"{site}\n" if "sysconfig" in " ".join(map(str, cmd)) else ""
        return subprocess.CompletedProcess(cmd, 0, stdout=out, stderr="")

    monkeypatch.setattr(common, "VENVS", tmp_path / "venvs")
    monkeypatch.setattr(common.subprocess, "run", fake_run)
    (tmp_path / "venvs" / "peer" / "bin").mkdir(parents=True)
    python = common.bench_venv("peer", ["peerlib==1.0"], tmp_path / "c.txt", product_path=True)
    assert python == tmp_path / "venvs" / "peer" / "bin" / "python"
    installs = [c for c in calls if "install" in c]
    assert installs and installs[0][-1] == "peerlib==1.0" and str(tmp_path / "c.txt") in installs[0]
    pth = (site / "cmtl-product.pth").read_text().splitlines()
    assert pth[-1] == str(common.ROOT) and all(p.endswith("site-packages") for p in pth[:-1])
    n = len(calls)
    common.bench_venv("peer", ["peerlib==1.0"], tmp_path / "c.txt", product_path=True)
    assert len(calls) == n  # the marker says the build finished: nothing runs again

"""bench/make_test.py reads pytest's summary and writes the README's Development line from it."""
from __future__ import annotations

import pytest

from bench.make_test import BEGIN, END, line, parse


def test_parse_reads_the_last_pytest_summary_line():
    out = ("....\n1 passed in 0.10s\n" "-- Docs: ...\n"
           "== 588 passed, 2 skipped, 45 warnings in 957.00s (0:15:56) ==\n")
    assert parse(out) == {"passed": 588, "failed": 0, "skipped": 2, "pytest_seconds": 957.0}
    assert parse("3 failed, 580 passed in 12.5s")["failed"] == 3
    with pytest.raises(ValueError, match="no pytest summary"):
        parse("make: *** [test] Error 2")


def test_line_states_time_counts_commit_and_load():
    text = line({"seconds": 1066.0, "passed": 588, "failed": 0, "skipped": 0, "pytest_seconds": 960.0},
                {"commit": "abc1234", "load_average_1_5_15min": [0.4, 0.5, 0.9]})
    assert text.startswith(BEGIN) and text.endswith(END)
    assert "18 minutes" in text and "588 tests passed" in text and "pytest 16.0 min" in text
    assert "commit abc1234" in text and "load average 0.4" in text and "skipped" not in text


def test_short_head_of_a_clone_is_the_commit_cloned_not_the_origins_later_one(tmp_path):
    import subprocess

    from bench.common import short_head

    origin, clone = tmp_path / "origin", tmp_path / "clone"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", "init", "-q", str(origin)], check=True)
    subprocess.run(git + ["-C", str(origin), "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    first = subprocess.run(["git", "-C", str(origin), "rev-parse", "--short", "HEAD"], capture_output=True,
                           text=True, check=True).stdout.strip()
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    subprocess.run(git + ["-C", str(origin), "commit", "-q", "--allow-empty", "-m", "two"], check=True)
    assert short_head(clone) == first

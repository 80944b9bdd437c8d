"""Shared formatting for the README benchmark table's rows: numbers in words, cohort sizes, load, verdicts."""
from __future__ import annotations

WORDS = "zero one two three four five six seven eight nine ten eleven twelve".split()
QUIET_LOAD = 2.0  # 1-min load average below which a 2-core machine counts as quiet


def words(n: int) -> str:
    return WORDS[n] if 0 <= n < len(WORDS) else str(n)


def size(n: float) -> str:
    """10k, 100k, 1M: a cohort size to one significant digit."""
    n = float(f"{n:.1g}")
    return f"{n / 1e6:g}M" if n >= 1e6 else f"{n / 1e3:g}k"


def where(machine: dict) -> str:
    load = machine["load_average_1_5_15min"][0]
    return "on a quiet machine" if load < QUIET_LOAD else f"at load average {load:.1f}"


def verdict(good: bool) -> str:
    return "met" if good else "not met"

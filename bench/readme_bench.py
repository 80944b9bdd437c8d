"""Regenerate the README's benchmark table from the recorded results, without running any benchmark.

    .venv/bin/python -m bench.readme_bench [--results DIR] [--check]

Every number in the table between the README's `<!-- bench-table:begin -->` and `<!-- bench-table:end -->`
markers is computed from bench/results/*.json (the cohort sizes of the real-data row and MEDS-Tab's
version, which only the .md files record, are read from those). A row whose result file is missing is
left out with a warning. `--check` only reports whether the README still matches the results.
Targets (the third column) are the benchmarks' own thresholds, restated here.
The rows are built by theme in bench.readme_quality, bench.readme_scale and bench.readme_ops (shared
formatting in bench.readme_text); ROWS below sets their order.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.readme_ops import explain_cost, explain_run_cost, monitor
from bench.readme_quality import (
    baselines,
    cost,
    data_efficiency,
    meds_tab,
    peers,
    quality,
    real_cli,
    real_data,
    strategies,
)
from bench.readme_scale import dask, database, default_cohort, duckdb, scale, scale_run, sources, validation

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
RESULTS = ROOT / "bench" / "results"
BEGIN, END = "<!-- bench-table:begin -->", "<!-- bench-table:end -->"
HEADER = "| benchmark | result | target |\n|---|---|---|"


ROWS = [quality, baselines, real_data, real_cli, peers, data_efficiency, cost, strategies, scale, scale_run, meds_tab,
        sources, database, dask,
        duckdb, validation, default_cohort, monitor, explain_cost, explain_run_cost]


class Results:
    """Loads bench/results/NAME.json on demand; a missing file raises FileNotFoundError."""

    def __init__(self, folder: Path):
        self.dir, self.cache = Path(folder), {}

    def __call__(self, name: str) -> dict:
        if name not in self.cache:
            self.cache[name] = json.loads((self.dir / f"{name}.json").read_text())
        return self.cache[name]


def render(results: Path = RESULTS) -> str:
    """The README block, markers included, from the JSON files in `results`."""
    res, lines = Results(results), [BEGIN, HEADER]
    for build in ROWS:
        try:
            lines.append("| " + " | ".join(build(res)) + " |")
        except FileNotFoundError as missing:
            print(f"warning: row {build.__name__} left out: {Path(missing.filename).name} is missing", file=sys.stderr)
    return "\n".join(lines + [END])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", type=Path, default=RESULTS, help="folder of the benchmarks' JSON results")
    ap.add_argument("--readme", type=Path, default=README)
    ap.add_argument("--check", action="store_true", help="only report whether the README matches the results")
    args = ap.parse_args(argv)
    text = args.readme.read_text()
    if BEGIN not in text or END not in text:
        print(f"{args.readme.name} has no {BEGIN} ... {END} block", file=sys.stderr)
        return 2
    old = text[text.index(BEGIN):text.index(END) + len(END)]
    new = render(args.results)
    if args.check:
        print("README matches bench/results" if old == new else "README differs from bench/results")
        return 0 if old == new else 1
    if new != old:
        args.readme.write_text(text.replace(old, new))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""How long registry-only commands take, before and after they stopped starting a temporary Prefect server.

    .venv/bin/python -m bench.registry_commands --config CONFIG --input FEATURES.csv \
        --before /path/to/old/checkout [--after .] [--pairs 3]

CONFIG names a workspace with a registered champion (a finished `cmtl run`); FEATURES.csv is a feature
file to score. Each command runs as a whole process (`python -c "from flows.cli import main; main()"` with
PYTHONPATH at the checkout), before and after in turn (A B A B ...), so drift in the machine's speed
touches both alike; the median wall time of each side and the per-pair ratio are recorded with the
commits and the load average in bench/results/registry_commands.{json,md}. No PREFECT_API_URL is set:
the case where Prefect starts its temporary server for any flow.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
CLI = "from flows.cli import main; main()"


def commands(config: str, features: str, out: str) -> dict[str, list[str]]:
    return {"score": ["score", "--config", config, "--input", features, "--output", out],
            "promote --dry-run": ["promote", "--config", config, "--dry-run"],
            "compare champion champion": ["compare", "champion", "champion", "--config", config],
            "doctor": ["doctor", "--config", config]}


def commit(tree: Path) -> str:
    """The checkout's commit; an exported tree (git archive) names it in a COMMIT file."""
    done = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    if done.returncode == 0 and done.stdout.strip():
        return done.stdout.strip()
    marker = tree / "COMMIT"
    return marker.read_text().strip() if marker.is_file() else "unknown"


def once(tree: Path, args: list[str]) -> tuple[float, int, bool]:
    """(wall seconds, exit code, whether a temporary Prefect server was started) of one whole process."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("PREFECT_API_URL", None)
    started = time.perf_counter()
    # cwd = the checkout: `python -c` puts the cwd first on sys.path, ahead of PYTHONPATH
    done = subprocess.run([sys.executable, "-c", CLI, *args], env=env, capture_output=True, text=True, cwd=tree)
    wall = time.perf_counter() - started
    return wall, done.returncode, "temporary server" in (done.stdout + done.stderr)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--before", required=True, type=lambda x: Path(x).resolve())
    p.add_argument("--after", default=ROOT, type=lambda x: Path(x).resolve())
    p.add_argument("--pairs", type=int, default=3)
    p.add_argument("--commands", default="score,promote --dry-run",
                   help="comma-separated, of: " + ", ".join(commands("c", "i", "o")))
    p.add_argument("--results", default=RESULTS, type=Path)
    a = p.parse_args(argv)
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in commands(str(Path(a.config).resolve()), str(Path(a.input).resolve()),
                                   str(Path(tmp) / "predictions.csv")).items():
            if name not in [c.strip() for c in a.commands.split(",")]:
                continue
            once(a.after, args)  # warm-up: page cache, __pycache__
            sides = {"before": [], "after": []}
            for _ in range(a.pairs):
                for side, tree in (("before", a.before), ("after", a.after)):
                    sides[side].append(once(tree, args))
            row = {"command": f"cmtl {name}",
                   **{f"{s}_median_s": round(statistics.median(w for w, _, _ in v), 2) for s, v in sides.items()},
                   **{f"{s}_exit_codes": sorted({c for _, c, _ in v}) for s, v in sides.items()},
                   **{f"{s}_started_server": any(x for _, _, x in v) for s, v in sides.items()},
                   "ratio_after_over_before_median": round(statistics.median(
                       b[0] / f[0] for f, b in zip(sides["before"], sides["after"])), 3)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {"pairs": a.pairs, "before_commit": commit(a.before), "after_commit": commit(a.after),
              "load_average_1_5_15_start": [round(x, 2) for x in load_before],
              "load_average_1_5_15_end": [round(x, 2) for x in os.getloadavg()],
              "cpus": os.cpu_count(), "prefect_api_url": None, "rows": rows}
    a.results.mkdir(parents=True, exist_ok=True)
    (a.results / "registry_commands.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["# Registry-only commands without a temporary Prefect server", "",
             f"Before {result['before_commit']}, after {result['after_commit']}; {a.pairs} alternating pairs "
             f"after a warm-up; no PREFECT_API_URL; {result['cpus']} CPUs; load average (1, 5, 15 min) "
             f"{result['load_average_1_5_15_start']} at the start, {result['load_average_1_5_15_end']} at the end.",
             "", "| command | before median (s) | after median (s) | after / before (median of pairs) | "
             "server started before / after |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['command']}` | {r['before_median_s']:.1f} | {r['after_median_s']:.1f} | "
                     f"{r['ratio_after_over_before_median']:.2f} | {'yes' if r['before_started_server'] else 'no'}"
                     f" / {'yes' if r['after_started_server'] else 'no'} |")
    (a.results / "registry_commands.md").write_text("\n".join(lines) + "\n")
    return result


if __name__ == "__main__":
    main()

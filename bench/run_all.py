"""Run every benchmark in sequence (`make bench`); each writes bench/results/NAME.{md,json}; then the
README's benchmark table is regenerated from those results (bench.readme_bench)."""
import subprocess
import sys

RUNS = (["quality"], ["cost"], ["data_efficiency", "--seeds", "5"], ["strategies", "--modes", "joint,alternating"],
        ["scale"], ["scale_sources"], ["readme_bench"])

for name, *args in RUNS:
    subprocess.run([sys.executable, "-m", f"bench.{name}", *args], check=True)

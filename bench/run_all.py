"""Run every benchmark in sequence (`make bench`); each writes bench/results/NAME.{md,json}."""
import subprocess
import sys

for name in ("quality", "cost", "data_efficiency", "strategies"):
    subprocess.run([sys.executable, "-m", f"bench.{name}"], check=True)

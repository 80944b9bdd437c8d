"""Run the benchmarks in sequence (`make bench`); each writes bench/results/NAME.{md,json}; then the
README's benchmark table is regenerated from those results (bench.readme_bench). The long ones are run
by hand, each with the command its result names: real_data (about an hour), scale_run (a million
admissions), scale_db (a million admissions loaded into the local PostgreSQL, about an hour), meds_tab
(builds its own environment) and make_test (the suite from a fresh clone)."""
import subprocess
import sys

RUNS = (["quality"], ["cost"], ["data_efficiency", "--seeds", "5"], ["strategies", "--modes", "joint,alternating"],
        ["real_cli"], ["scale"], ["scale_sources"], ["readme_bench"])


def main() -> None:
    for name, *args in RUNS:
        subprocess.run([sys.executable, "-m", f"bench.{name}", *args], check=True)


if __name__ == "__main__":
    main()

"""Benchmarks with recorded results (bench/results/); run with `make bench` or `python -m bench.NAME`."""

"""Benchmarks: run from the checkout top as ``.venv/bin/python -m benchmarks.bench_NAME``
(see README.md); they import the test harness as ``tests.harness``."""

"""The test suite: a package, so that ``tests.harness`` imports like any package (from the
tests and from the benchmarks)."""

import pytest

# Before anything imports the harness: pytest rewrites its asserts (e.g. ``Cli.ok``) too.
pytest.register_assert_rewrite("tests.harness")

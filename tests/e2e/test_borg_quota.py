"""borghive's smallest quota is the real borg's: ``borg serve --storage-quota`` with the
byte count the forced command carries is refused exactly where borghive refuses it."""

from __future__ import annotations

import os
import subprocess

import pytest

from borghive.rules.quotas import MIN_STORAGE_QUOTA, quota_problem
from tests.harness.borg import BORG
from tests.harness.environment import missing_service

pytestmark = pytest.mark.e2e


def borg_accepts(quota: int) -> bool:
    """Whether ``borg serve --storage-quota <quota>`` gets past its argument parsing: with
    stdin at its end it then exits 0 (no client), and 2 on a usage error."""
    if not os.access(BORG, os.X_OK):
        missing_service(f"{BORG} is not installed")
    result = subprocess.run(
        [BORG, "serve", "--storage-quota", str(quota)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode == 2:
        assert "quota is too small" in result.stderr, result.stderr
        return False
    assert result.returncode == 0, result.stderr
    return True


@pytest.mark.parametrize(
    "quota",
    [1, 10**6, 9_900_000, MIN_STORAGE_QUOTA - 1, MIN_STORAGE_QUOTA, MIN_STORAGE_QUOTA + 1, 10**12],
)
def test_borg_serve_refuses_what_borghive_refuses(quota: int) -> None:
    assert borg_accepts(quota) is (quota_problem(quota) is None)

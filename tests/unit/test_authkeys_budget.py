"""The login path's time budget: how old the process is, and store timeouts cut to what
the run has left (never lengthened)."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from borghive.login import authkeys
from borghive.login.settings import Settings
from tests.harness.authkeys import settings_for


def _settings(busy: float, connect: float) -> Settings:
    return settings_for(busy_timeout=busy, connect_timeout=connect)


@given(
    st.floats(min_value=0.001, max_value=1e6),
    st.floats(min_value=0.001, max_value=1e6),
    st.floats(min_value=-10, max_value=10),
)
def test_store_timeouts_end_within_the_budget(busy: float, connect: float, left: float) -> None:
    original = _settings(busy, connect)
    bounded = original.within(left)
    limit = max(0.1, left)
    assert bounded.busy_timeout == min(busy, limit)
    assert bounded.connect_timeout == min(connect, limit)
    # everything else is the same, and the original is untouched
    for name in Settings.__slots__:
        if name not in ("busy_timeout", "connect_timeout"):
            assert getattr(bounded, name) == getattr(original, name)
    assert (original.busy_timeout, original.connect_timeout) == (busy, connect)


def test_the_default_timeouts_are_cut_below_the_limit() -> None:
    """store.connect_timeout's default (5 s) equals the limit: it must not be used as is."""
    bounded = _settings(10.0, 5.0).within(authkeys.TIMEOUT_SECONDS - 1)
    assert bounded.connect_timeout < authkeys.TIMEOUT_SECONDS - authkeys.WATCHDOG_MARGIN
    assert bounded.busy_timeout < authkeys.TIMEOUT_SECONDS - authkeys.WATCHDOG_MARGIN


def test_process_age_counts_from_the_process_start() -> None:
    """A fresh interpreter that slept 0.3 s is at least that old (start-up included)."""
    code = (
        "import time; time.sleep(0.3); "
        "from borghive.login.authkeys import process_age; print(process_age())"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    age = float(result.stdout)
    assert 0.29 < age < 3.0
    assert 0 < authkeys.process_age() <= authkeys.TIMEOUT_SECONDS - authkeys.WATCHDOG_MARGIN - 1

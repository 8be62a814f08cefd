"""Fixtures of the service tests: a fake accounts backend (real SSH keys come from the
harness's ``ssh_key`` fixture)."""

from __future__ import annotations

import pytest

from .helpers import FakeAccounts


@pytest.fixture
def accounts() -> FakeAccounts:
    """A fresh in-memory accounts backend that records its calls."""
    return FakeAccounts()

"""Quotas that borg serve refuses (below 10M) are refused by ``repo create`` and ``repo
set`` with nothing written, and ``doctor`` flags one already stored."""

from __future__ import annotations

import pytest

from borghive.config import Config
from borghive.errors import InvalidInputError
from borghive.rules.quotas import MIN_STORAGE_QUOTA
from borghive.service.doctor import host as host_checks
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories.lifecycle import RepoChanges
from borghive.service.users import people as users
from borghive.store import execute, open_store, write_transaction

from .helpers import FakeAccounts, snapshot

REFUSED = "borg serve refuses a storage quota below 10M"


@pytest.fixture
def alice(store: Config) -> Config:
    users.add_user("alice")
    return store


@pytest.mark.parametrize("quota", [1, 10**6, 9_900_000, MIN_STORAGE_QUOTA - 1])
def test_create_refuses_a_quota_borg_refuses(
    alice: Config, accounts: FakeAccounts, quota: int
) -> None:
    before = snapshot()
    with pytest.raises(InvalidInputError, match=REFUSED):
        repos.create_repository(alice, accounts, "alice/photos", quota=quota)
    assert snapshot() == before
    assert accounts.calls == []


def test_create_takes_the_smallest_quota_borg_takes(alice: Config, accounts: FakeAccounts) -> None:
    created = repos.create_repository(alice, accounts, "alice/photos", quota=MIN_STORAGE_QUOTA)
    assert created.repository.quota == MIN_STORAGE_QUOTA


@pytest.mark.parametrize("quota", [1, 9_900_000, MIN_STORAGE_QUOTA - 1])
def test_set_refuses_a_quota_borg_refuses(
    alice: Config, accounts: FakeAccounts, quota: int
) -> None:
    repos.create_repository(alice, accounts, "alice/photos", quota=10**9)
    before = snapshot()
    accounts.calls.clear()
    with pytest.raises(InvalidInputError, match="invalid quota"):
        repos.set_repository(alice, accounts, "alice/photos", RepoChanges(quota=quota))
    with pytest.raises(InvalidInputError, match=REFUSED):
        repos.set_repository(
            alice, accounts, "alice/photos", RepoChanges(quota=quota, mode="disabled")
        )
    assert snapshot() == before
    assert accounts.calls == []
    changed = repos.set_repository(
        alice, accounts, "alice/photos", RepoChanges(quota=MIN_STORAGE_QUOTA)
    )
    assert changed.quota == MIN_STORAGE_QUOTA


def test_doctor_passes_without_small_quotas(alice: Config, accounts: FakeAccounts) -> None:
    repos.create_repository(alice, accounts, "alice/photos", quota=MIN_STORAGE_QUOTA)
    repos.create_repository(alice, accounts, "alice/music")
    check = host_checks.check_quotas(alice)
    assert (check.name, check.status) == ("quotas", "ok")
    assert check.detail == "no repository has a quota below 10M"


def test_doctor_flags_a_stored_quota_borg_refuses(alice: Config, accounts: FakeAccounts) -> None:
    """As a store written before borghive refused them would hold it."""
    for name in ("photos", "music", "mail"):
        repos.create_repository(alice, accounts, f"alice/{name}", quota=10**9)
    with open_store(alice.store), write_transaction():
        execute("UPDATE repository SET quota = 1000000 WHERE name = 'photos'")
        execute("UPDATE repository SET quota = 9999999 WHERE name = 'mail'")
    check = host_checks.check_quotas(alice)
    assert check.status == "FAIL"
    assert REFUSED in check.detail
    assert "alice/mail (9999999 bytes), alice/photos (1M)" in check.detail
    assert "music" not in check.detail
    assert "borghive repo set OWNER/NAME --quota" in check.detail

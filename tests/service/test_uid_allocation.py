"""Allocation of repository users and uidNumbers: increments, gaps, exhaustion, and numbers
the accounts backend reports in use."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.errors import ConflictError
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories import view as repo_view
from borghive.service.users import people as users
from tests.harness.config import make_config

from .helpers import FakeAccounts, snapshot


@pytest.fixture
def small(store: Config, tmp_path: Path) -> Config:
    """The test store with uidNumbers 1000..1002 only, and user alice."""
    users.add_user("alice")
    return make_config(tmp_path, store.store.url, uid_min=1000, uid_max=1002)


def uids(config: Config) -> dict[str, int]:
    return {r.name: r.uid_number for r in repo_view.list_repositories(config)}


def test_gap_below_a_taken_top_is_found(small: Config, accounts: FakeAccounts) -> None:
    for name in ("a", "b", "c"):
        repos.create_repository(small, accounts, f"alice/{name}")
    repos.delete_repository(small, accounts, "alice/b")

    created = repos.create_repository(small, accounts, "alice/d").repository

    assert created.uid_number == 1001
    assert uids(small) == {"a": 1000, "c": 1002, "d": 1001}


def test_gap_search_skips_numbers_in_use_elsewhere(small: Config, accounts: FakeAccounts) -> None:
    for name in ("a", "b", "c"):
        repos.create_repository(small, accounts, f"alice/{name}")
    repos.delete_repository(small, accounts, "alice/a")
    repos.delete_repository(small, accounts, "alice/b")
    accounts.uids_in_use.add(1000)

    assert repos.create_repository(small, accounts, "alice/d").repository.uid_number == 1001


def test_exhaustion_refused(small: Config, accounts: FakeAccounts) -> None:
    for name in ("a", "b", "c"):
        repos.create_repository(small, accounts, f"alice/{name}")
    before = snapshot()
    accounts.calls.clear()

    with pytest.raises(ConflictError, match=r"no free uidNumber left in 1000\.\.1002") as caught:
        repos.create_repository(small, accounts, "alice/d")

    assert "uid_min/uid_max" in (caught.value.hint or "")
    assert snapshot() == before
    assert accounts.calls == []


def test_exhaustion_by_backend_refused(small: Config, accounts: FakeAccounts) -> None:
    accounts.uids_in_use.update({1000, 1001, 1002})
    with pytest.raises(ConflictError, match="no free uidNumber"):
        repos.create_repository(small, accounts, "alice/a")
    assert repo_view.list_repositories(small) == []


def test_uid_in_use_by_backend_is_skipped(store: Config, accounts: FakeAccounts) -> None:
    users.add_user("alice")
    accounts.uids_in_use.add(200000)

    first = repos.create_repository(store, accounts, "alice/a").repository
    second = repos.create_repository(store, accounts, "alice/b").repository

    assert store.repos.uid_min == 200000
    assert (first.uid_number, second.uid_number) == (200001, 200002)


def test_numbers_outside_the_range_are_ignored(
    store: Config, tmp_path: Path, accounts: FakeAccounts
) -> None:
    users.add_user("alice")
    repos.create_repository(
        make_config(tmp_path, store.store.url, uid_min=5000, uid_max=5000), accounts, "alice/old"
    )
    config = make_config(tmp_path, store.store.url, uid_min=1000, uid_max=1002)

    assert repos.create_repository(config, accounts, "alice/new").repository.uid_number == 1000


def test_user_prefix_and_length(store: Config, tmp_path: Path, accounts: FakeAccounts) -> None:
    users.add_user("alice")
    config = make_config(tmp_path, store.store.url, user_prefix="bk", user_length=12)

    info = repos.create_repository(config, accounts, "alice/a").repository

    assert re.fullmatch(r"bk[a-z0-9]{10}", info.repo_user)
    assert info.path == str(config.repos.root / info.repo_user / "a")


class EveryNameTaken(FakeAccounts):
    """A directory in which every candidate repository user name exists already."""

    def name_in_use(self, name: str) -> bool:
        return True


def test_no_free_user_name_refused(store: Config) -> None:
    users.add_user("alice")
    accounts = EveryNameTaken()
    before = snapshot()

    with pytest.raises(ConflictError, match="free repository user name"):
        repos.create_repository(store, accounts, "alice/a")

    assert snapshot() == before
    assert accounts.calls == []

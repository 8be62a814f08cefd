"""Repositories: create, list, show, set, grant, revoke, delete, and their refusals."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.errors import (
    ConflictError,
    DirectoryUnavailableError,
    InvalidInputError,
    NotFoundError,
    RefusedError,
)
from borghive.service.repositories import grants
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories import view as repo_view
from borghive.service.repositories.lifecycle import RepoChanges
from borghive.service.users import keys
from borghive.service.users import people as users
from borghive.store.models import Access, AccountIntent, Event, Repository, Statistic
from tests.harness.keys import GeneratedKey

from .helpers import FakeAccounts, count, snapshot

KeyMaker = Callable[[str], GeneratedKey]


@pytest.fixture
def people(store: Config, ssh_key: KeyMaker) -> Config:
    """alice with keys laptop and desktop, bob with key laptop."""
    users.add_user("alice")
    users.add_user("bob")
    keys.add_key("alice", ssh_key("alice-1").text, "laptop", rsa_min_bits=3072)
    keys.add_key("alice", ssh_key("alice-2").text, "desktop", rsa_min_bits=3072)
    keys.add_key("bob", ssh_key("bob-1").text, "laptop", rsa_min_bits=3072)
    return store


def fingerprint_of(reference: str) -> str:
    return keys.get_key(reference).fingerprint


def test_create(people: Config, accounts: FakeAccounts) -> None:
    created = repos.create_repository(
        people,
        accounts,
        "alice/home",
        keys=["laptop", "bob/laptop"],
        append_only_keys=["alice/desktop"],
        quota=10**9,
        alert_after=86400,
    )
    info = created.repository
    user = info.repo_user

    assert re.fullmatch(r"r[a-z0-9]{7}", user)
    assert info.uid_number == people.repos.uid_min
    assert (info.owner, info.name, info.mode) == ("alice", "home", "borg")
    assert (info.quota, info.alert_after, info.key_count) == (10**9, 86400, 3)
    assert info.url == f"ssh://{user}@backup.example.org:22/./home"
    assert info.path == str(people.repos.root / user / "home")
    assert created.init_command == f"borg init --encryption=repokey-blake2 {info.url}"
    accesses = repo_view.show_repository(people, accounts, "alice/home").accesses
    assert [(a.key, a.mode, a.fingerprint) for a in accesses] == [
        ("alice/desktop", "append-only", fingerprint_of("alice/desktop")),
        ("alice/laptop", "full", fingerprint_of("alice/laptop")),
        ("bob/laptop", "full", fingerprint_of("bob/laptop")),
    ]
    assert accounts.methods_called() == ["create"]
    spec = accounts.accounts[user]
    assert (spec.uid_number, spec.gid_number, spec.home) == (
        people.repos.uid_min,
        people.repos.gid,
        people.repos.root / user,
    )
    assert spec.gecos == "borghive alice/home"
    assert spec.locked is False


def test_create_increments_uid_and_picks_distinct_users(
    people: Config, accounts: FakeAccounts
) -> None:
    created = [
        repos.create_repository(people, accounts, f"alice/r{n}").repository for n in range(5)
    ]

    assert [r.uid_number for r in created] == [people.repos.uid_min + n for n in range(5)]
    assert len({r.repo_user for r in created}) == 5
    found = repos.find_repository(created[3].repo_user)
    assert (found.owner.name, found.name) == ("alice", "r3")


def test_create_disabled_locks_account(people: Config, accounts: FakeAccounts) -> None:
    info = repos.create_repository(people, accounts, "alice/off", mode="disabled").repository
    assert info.mode == "disabled"
    assert accounts.accounts[info.repo_user].locked is True


def test_duplicate_refused(people: Config, accounts: FakeAccounts) -> None:
    repos.create_repository(people, accounts, "alice/home")
    before = snapshot()
    accounts.calls.clear()

    with pytest.raises(ConflictError, match="alice/home already exists"):
        repos.create_repository(people, accounts, "alice/home", keys=["laptop"])

    assert snapshot() == before
    assert accounts.calls == []
    # the same name under another owner is a different repository
    assert repos.create_repository(people, accounts, "bob/home").repository.owner == "bob"


@pytest.mark.parametrize(
    ("reference", "options", "message"),
    [
        ("carol/home", {}, "user 'carol' not found"),
        ("alice/home", {"keys": ["phone"]}, "key alice/phone not found"),
        ("alice/home", {"append_only_keys": ["bob/phone"]}, "key bob/phone not found"),
        ("alice/home", {"keys": ["SHA256:" + "B" * 43]}, "no key with fingerprint"),
    ],
)
def test_create_unknown_owner_or_key_refused(
    people: Config,
    accounts: FakeAccounts,
    reference: str,
    options: dict[str, list[str]],
    message: str,
) -> None:
    before = snapshot()

    with pytest.raises(NotFoundError, match=message):
        repos.create_repository(people, accounts, reference, **options)

    assert snapshot() == before
    assert accounts.calls == []


@pytest.mark.parametrize(
    ("reference", "options", "message"),
    [
        ("alice/home", {"keys": ["laptop"], "append_only_keys": ["alice/laptop"]}, "both"),
        ("alice/home", {"mode": "readonly"}, "invalid mode"),
        ("alice/home", {"mode": ""}, "invalid mode"),
        ("alice", {}, "expected OWNER/NAME"),
        ("alice/../x", {}, "invalid repository name"),
        ("alice/a b", {}, "invalid repository name"),
        ("-alice/home", {}, "invalid user name"),
    ],
)
def test_create_invalid_input_refused(
    people: Config,
    accounts: FakeAccounts,
    reference: str,
    options: dict[str, object],
    message: str,
) -> None:
    before = snapshot()

    with pytest.raises(InvalidInputError, match=message):
        repos.create_repository(people, accounts, reference, **options)

    assert snapshot() == before
    assert accounts.calls == []


def test_create_is_all_or_nothing(people: Config, accounts: FakeAccounts) -> None:
    accounts.fail_create = DirectoryUnavailableError("ldap://ldap.example.org: timed out")
    before = snapshot()

    with pytest.raises(DirectoryUnavailableError) as caught:
        repos.create_repository(people, accounts, "alice/home", keys=["laptop"])

    assert caught.value.exit_code == 75
    # The directory did not answer: the change is in doubt, and only its intent is left.
    (intent,) = snapshot().pop("account_intent")
    assert {k: v for k, v in snapshot().items() if k != "account_intent"} == {
        k: v for k, v in before.items() if k != "account_intent"
    }
    assert intent[1:4] == (accounts.calls[0][1], people.repos.uid_min, "create")
    assert "in doubt" in (caught.value.hint or "") and "borghive repo sync" in caught.value.hint
    assert count(Repository) == 0
    assert count(Access) == 0
    assert accounts.methods_called() == ["create"]
    assert accounts.accounts == {}


def test_list(people: Config, accounts: FakeAccounts) -> None:
    repos.create_repository(people, accounts, "bob/home")
    repos.create_repository(people, accounts, "alice/work", keys=["laptop", "desktop"])
    repos.create_repository(people, accounts, "alice/home")

    everything = repo_view.list_repositories(people)
    alices = repo_view.list_repositories(people, owner="alice")

    assert [(r.owner, r.name) for r in everything] == [
        ("alice", "home"),
        ("alice", "work"),
        ("bob", "home"),
    ]
    assert [(r.name, r.key_count) for r in alices] == [("home", 0), ("work", 2)]
    assert repo_view.list_repositories(people, owner="bob")[0].url.startswith("ssh://r")
    with pytest.raises(NotFoundError):
        repo_view.list_repositories(people, owner="carol")


def test_show(people: Config, accounts: FakeAccounts) -> None:
    info = repos.create_repository(
        people, accounts, "alice/home", keys=["laptop"], append_only_keys=["bob/laptop"]
    ).repository
    other = repos.create_repository(people, accounts, "bob/home").repository
    row = Repository.get(Repository.repo_user == info.repo_user)
    start = dt.datetime(2024, 5, 1, 12, 0, 0)
    for minutes, kind in enumerate(["created", "opened", "closed", "updated"]):
        Event.create(
            repository=row, kind=kind, time=start + dt.timedelta(minutes=minutes), detail=kind
        )
    Event.create(
        repository=Repository.get(Repository.repo_user == other.repo_user),
        kind="alert",
        time=start + dt.timedelta(hours=1),
    )
    Statistic.create(repository=row, time=start, bytes_used=100, file_count=1)
    Statistic.create(
        repository=row, time=start + dt.timedelta(days=1), bytes_used=5000, file_count=7
    )
    Statistic.create(repository=row, time=start - dt.timedelta(days=1), bytes_used=1, file_count=1)

    detail = repo_view.show_repository(people, accounts, "alice/home", events=3)

    assert detail.repository == info
    assert [(a.key, a.mode) for a in detail.accesses] == [
        ("alice/laptop", "full"),
        ("bob/laptop", "append-only"),
    ]
    assert [(e.kind, e.time) for e in detail.events] == [
        ("updated", (start + dt.timedelta(minutes=3)).replace(tzinfo=dt.UTC)),
        ("closed", (start + dt.timedelta(minutes=2)).replace(tzinfo=dt.UTC)),
        ("opened", (start + dt.timedelta(minutes=1)).replace(tzinfo=dt.UTC)),
    ]
    assert detail.last_statistic is not None
    assert (detail.last_statistic.bytes_used, detail.last_statistic.file_count) == (5000, 7)
    assert detail.last_statistic.time == (start + dt.timedelta(days=1)).replace(tzinfo=dt.UTC)
    assert detail.account is not None and detail.account.matches
    assert detail.accounts_backend == "fake"
    by_user = repo_view.show_repository(people, accounts, other.repo_user)
    assert [e.kind for e in by_user.events] == ["alert"]
    assert by_user.last_statistic is None
    assert by_user.accesses == ()
    with pytest.raises(NotFoundError, match="alice/nothing"):
        repo_view.show_repository(people, accounts, "alice/nothing")


def test_set_quota_alert_and_mode(people: Config, accounts: FakeAccounts) -> None:
    info = repos.create_repository(people, accounts, "alice/home", quota=10**8).repository
    accounts.calls.clear()

    changed = repos.set_repository(
        people, accounts, "alice/home", RepoChanges(quota=10**12, alert_after=3600, mode="import")
    )
    assert (changed.quota, changed.alert_after, changed.mode) == (10**12, 3600, "import")
    assert accounts.calls == []  # neither side of the change is "disabled"

    changed = repos.set_repository(people, accounts, "alice/home", RepoChanges(clear_quota=True))
    assert (changed.quota, changed.alert_after) == (None, 3600)
    changed = repos.set_repository(
        people, accounts, "alice/home", RepoChanges(clear_alert_after=True)
    )
    assert changed.alert_after is None

    repos.set_repository(people, accounts, "alice/home", RepoChanges(mode="disabled"))
    assert accounts.calls == [("lock", info.repo_user)]
    assert repo_view.list_repositories(people)[0].mode == "disabled"

    repos.set_repository(people, accounts, "alice/home", RepoChanges(mode="borg"))
    assert accounts.calls == [("lock", info.repo_user), ("unlock", info.repo_user)]
    stored = Repository.get(Repository.repo_user == info.repo_user)
    assert (stored.mode, stored.quota, stored.alert_after) == ("borg", None, None)


def test_set_refusals(people: Config, accounts: FakeAccounts) -> None:
    repos.create_repository(people, accounts, "alice/home", quota=10**8)
    before = snapshot()
    accounts.calls.clear()

    with pytest.raises(InvalidInputError, match="invalid mode"):
        repos.set_repository(people, accounts, "alice/home", RepoChanges(quota=10**9, mode="rw"))
    with pytest.raises(NotFoundError):
        repos.set_repository(people, accounts, "alice/other", RepoChanges(quota=10**9))

    assert snapshot() == before
    assert accounts.calls == []


def test_grant_upserts_mode(people: Config, accounts: FakeAccounts) -> None:
    repos.create_repository(people, accounts, "alice/home")

    granted = grants.grant_access("alice/home", "laptop")
    assert (granted.key, granted.mode) == ("alice/laptop", "full")
    assert granted.fingerprint == fingerprint_of("alice/laptop")
    again = grants.grant_access("alice/home", "alice/laptop", append_only=True)
    assert again.mode == "append-only"
    grants.grant_access("alice/home", "bob/laptop")

    accesses = repo_view.show_repository(people, accounts, "alice/home").accesses
    assert [(a.key, a.mode) for a in accesses] == [
        ("alice/laptop", "append-only"),
        ("bob/laptop", "full"),
    ]
    assert count(Access) == 2


def test_grant_refusals(people: Config, accounts: FakeAccounts) -> None:
    repos.create_repository(people, accounts, "alice/home")
    before = snapshot()

    with pytest.raises(NotFoundError, match="alice/phone"):
        grants.grant_access("alice/home", "phone")
    with pytest.raises(NotFoundError, match="alice/nothing"):
        grants.grant_access("alice/nothing", "laptop")

    assert snapshot() == before


def test_revoke(people: Config, accounts: FakeAccounts) -> None:
    repos.create_repository(people, accounts, "alice/home", keys=["laptop", "bob/laptop"])

    revoked = grants.revoke_access("alice/home", "laptop")

    assert (revoked.key, revoked.mode) == ("alice/laptop", "full")
    accesses = repo_view.show_repository(people, accounts, "alice/home").accesses
    assert [a.key for a in accesses] == ["bob/laptop"]
    before = snapshot()
    with pytest.raises(NotFoundError, match="alice/laptop has no access to alice/home"):
        grants.revoke_access("alice/home", "laptop")
    with pytest.raises(NotFoundError, match="alice/desktop has no access"):
        grants.revoke_access("alice/home", "desktop")
    assert snapshot() == before


def make_data(info: repos.RepoInfo) -> Path:
    """What ``borg init`` would leave: the repository directory with a file in it."""
    path = Path(info.path)
    path.mkdir(parents=True)
    (path / "config").write_text("[repository]\n")
    return path


def test_delete_keeps_data(people: Config, accounts: FakeAccounts) -> None:
    info = repos.create_repository(people, accounts, "alice/home", keys=["laptop"]).repository
    kept = repos.create_repository(people, accounts, "alice/work", keys=["laptop"]).repository
    row = Repository.get(Repository.repo_user == info.repo_user)
    Event.create(repository=row, kind="opened")
    Statistic.create(repository=row, bytes_used=1, file_count=1)
    path = make_data(info)

    deleted = repos.delete_repository(people, accounts, "alice/home")

    assert deleted.repository == info
    assert (deleted.purged, deleted.data_left) == (False, str(path))
    assert (path / "config").is_file()
    assert [r.name for r in repo_view.list_repositories(people)] == ["work"]
    assert rows_of(Access) == [kept.repo_user]
    assert count(Event) == 0
    assert count(Statistic) == 0
    assert ("delete", info.repo_user) in accounts.calls
    assert info.repo_user not in accounts.accounts
    assert kept.repo_user in accounts.accounts
    with pytest.raises(NotFoundError):
        repos.find_repository("alice/home")


def rows_of(model: type[Access]) -> list[str]:
    """The repository users that have access rows."""
    return [a.repository.repo_user for a in model.select()]


def test_delete_without_data_reports_none(people: Config, accounts: FakeAccounts) -> None:
    repos.create_repository(people, accounts, "alice/home")
    deleted = repos.delete_repository(people, accounts, "alice/home")
    assert (deleted.purged, deleted.data_left) == (False, None)
    assert count(Repository) == 0


def test_delete_with_purge(people: Config, accounts: FakeAccounts) -> None:
    info = repos.create_repository(people, accounts, "alice/home").repository
    other = repos.create_repository(people, accounts, "alice/work").repository
    path = make_data(info)
    other_path = make_data(other)

    deleted = repos.delete_repository(people, accounts, "alice/home", purge=True)

    assert (deleted.purged, deleted.data_left) == (True, None)
    assert not path.parent.exists()
    assert (other_path / "config").is_file()
    assert people.repos.root.is_dir()
    assert [r.name for r in repo_view.list_repositories(people)] == ["work"]
    assert accounts.calls[-1] == ("delete", info.repo_user)


def test_purge_refuses_home_outside_root(
    people: Config, accounts: FakeAccounts, tmp_path: Path
) -> None:
    info = repos.create_repository(people, accounts, "alice/home").repository
    outside = tmp_path / "elsewhere"
    (outside / "home").mkdir(parents=True)
    (outside / "home" / "config").write_text("precious\n")
    (people.repos.root / info.repo_user).symlink_to(outside)
    before = snapshot()
    accounts.calls.clear()

    with pytest.raises(RefusedError, match="not directly under"):
        repos.delete_repository(people, accounts, "alice/home", purge=True)

    assert (outside / "home" / "config").read_text() == "precious\n"
    assert (people.repos.root / info.repo_user).is_symlink()
    assert snapshot() == before
    assert accounts.calls == []


def test_delete_is_all_or_nothing(people: Config, accounts: FakeAccounts) -> None:
    info = repos.create_repository(people, accounts, "alice/home", keys=["laptop"]).repository
    Event.create(repository=Repository.get(Repository.repo_user == info.repo_user), kind="opened")
    path = make_data(info)
    accounts.fail_delete = DirectoryUnavailableError("ldap://ldap.example.org: timed out")
    before = snapshot()

    with pytest.raises(DirectoryUnavailableError):
        repos.delete_repository(people, accounts, "alice/home", purge=True)

    # In doubt: the record stays as it was (not marked as being purged), and the intent.
    after = snapshot()
    assert [row[1:4] for row in after.pop("account_intent")] == [
        (info.repo_user, info.uid_number, "delete")
    ]
    assert after == {k: v for k, v in before.items() if k != "account_intent"}
    assert (path / "config").is_file()
    assert info.repo_user in accounts.accounts
    # The next command that touches accounts reads the account back: it is as the store
    # says (present), and the intent goes.
    accounts.fail_delete = None
    repos.set_repository(people, accounts, "alice/home", RepoChanges(quota=10**9))
    assert count(AccountIntent) == 0
    assert info.repo_user in accounts.accounts


def test_delete_unknown_refused(people: Config, accounts: FakeAccounts) -> None:
    before = snapshot()
    with pytest.raises(NotFoundError):
        repos.delete_repository(people, accounts, "alice/home")
    with pytest.raises(NotFoundError):
        repos.delete_repository(people, accounts, "rzzzzzzz")
    assert snapshot() == before
    assert accounts.calls == []

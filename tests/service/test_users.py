"""Users: add, list, get, set, remove, and every refusal leaving the store untouched."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from borghive.config import Config
from borghive.errors import ConflictError, InvalidInputError, NotFoundError
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import keys
from borghive.service.users import people as users
from borghive.store.models import User
from tests.harness.keys import GeneratedKey

from .helpers import FakeAccounts, count, snapshot

BAD_NAMES = ["", "-alice", ".alice", "al ice", "al/ice", "a..b", "älice", "a\nb", "x" * 65]
BAD_EMAILS = [
    "alice",
    "alice@",
    "@example.org",
    "a b@example.org",
    "alice@example.org\n",
    "<alice@example.org>",
    "alice@example.org, bob@example.org",
    "a@-example.org",
]


def test_add_list_get(store: Config) -> None:
    before = dt.datetime.now(dt.UTC)
    added = users.add_user("bob", "bob@example.org", realert_interval=600, alert_expiration=7200)
    users.add_user("alice")

    assert added.name == "bob"
    assert added.email == "bob@example.org"
    assert (added.realert_interval, added.alert_expiration) == (600, 7200)
    assert added.created.tzinfo is dt.UTC
    assert before - dt.timedelta(seconds=5) <= added.created <= dt.datetime.now(dt.UTC)
    assert [u.name for u in users.list_users()] == ["alice", "bob"]
    alice = users.get_user("alice")
    assert alice.email is None
    assert (alice.realert_interval, alice.alert_expiration) == (12 * 3600, 5 * 86400)
    assert (alice.key_count, alice.repository_count) == (0, 0)
    assert users.get_user("bob") == added


def test_counts_keys_and_repositories(
    store: Config, ssh_key: Callable[[str], GeneratedKey], accounts: FakeAccounts
) -> None:
    users.add_user("alice")
    users.add_user("bob")
    keys.add_key("alice", ssh_key("alice@laptop").text, None, rsa_min_bits=3072)
    keys.add_key("alice", ssh_key("alice@desktop").text, None, rsa_min_bits=3072)
    repos.create_repository(store, accounts, "alice/home")

    listed = {u.name: (u.key_count, u.repository_count) for u in users.list_users()}
    assert listed == {"alice": (2, 1), "bob": (0, 0)}
    alice = users.get_user("alice")
    assert (alice.key_count, alice.repository_count) == (2, 1)


def test_set_changes_only_given_values(store: Config) -> None:
    users.add_user("alice", "alice@example.org", realert_interval=600)

    changed = users.set_user("alice", alert_expiration=99)
    assert (changed.email, changed.realert_interval, changed.alert_expiration) == (
        "alice@example.org",
        600,
        99,
    )
    changed = users.set_user("alice", email="a@example.net")
    assert changed.email == "a@example.net"
    assert changed.alert_expiration == 99
    assert users.set_user("alice", clear_email=True).email is None
    assert users.get_user("alice").email is None


def test_remove(store: Config) -> None:
    users.add_user("alice")
    users.add_user("bob")

    users.remove_user("alice")

    assert [u.name for u in users.list_users()] == ["bob"]
    with pytest.raises(NotFoundError, match="alice"):
        users.get_user("alice")


def test_duplicate_refused(store: Config) -> None:
    users.add_user("alice", "alice@example.org")
    before = snapshot()

    with pytest.raises(ConflictError, match="'alice' already exists") as caught:
        users.add_user("alice", "other@example.org")

    assert caught.value.exit_code == 1
    assert snapshot() == before


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_name_refused(store: Config, name: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid user name"):
        users.add_user(name)
    assert count(User) == 0


@pytest.mark.parametrize("email", BAD_EMAILS)
def test_bad_email_refused(store: Config, email: str) -> None:
    users.add_user("bob", "bob@example.org")
    before = snapshot()

    with pytest.raises(InvalidInputError, match="invalid e-mail"):
        users.add_user("alice", email)
    with pytest.raises(InvalidInputError, match="invalid e-mail"):
        users.set_user("bob", email=email)

    assert snapshot() == before


def test_unknown_user(store: Config) -> None:
    with pytest.raises(NotFoundError, match="'nobody' not found"):
        users.get_user("nobody")
    with pytest.raises(NotFoundError):
        users.set_user("nobody", email="x@example.org")
    with pytest.raises(NotFoundError):
        users.remove_user("nobody")
    assert count(User) == 0


def test_remove_refused_while_owning_keys(
    store: Config, ssh_key: Callable[[str], GeneratedKey]
) -> None:
    users.add_user("alice")
    keys.add_key("alice", ssh_key("alice@laptop").text, None, rsa_min_bits=3072)
    keys.add_key("alice", ssh_key("alice@desktop").text, "desktop", rsa_min_bits=3072)
    before = snapshot()

    with pytest.raises(ConflictError) as caught:
        users.remove_user("alice")

    assert "keys alice/alice-laptop, alice/desktop" in caught.value.message
    assert "repositories" not in caught.value.message
    assert caught.value.hint
    assert snapshot() == before


def test_remove_refused_while_owning_repositories(store: Config, accounts: FakeAccounts) -> None:
    users.add_user("alice")
    repos.create_repository(store, accounts, "alice/home")
    repos.create_repository(store, accounts, "alice/work")
    before = snapshot()

    with pytest.raises(ConflictError) as caught:
        users.remove_user("alice")

    assert "repositories alice/home, alice/work" in caught.value.message
    assert "keys" not in caught.value.message
    assert snapshot() == before

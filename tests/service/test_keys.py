"""SSH keys: add (with real ed25519 keys), find, list, remove, and refusals."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from borghive.config import Config
from borghive.errors import ConflictError, InvalidInputError, NotFoundError
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories import view as repo_view
from borghive.service.users import keys
from borghive.service.users import people as users
from borghive.store.models import Access, Repository, SshKey
from tests.harness.keys import GeneratedKey

from .helpers import FakeAccounts, count, snapshot

KeyMaker = Callable[[str], GeneratedKey]


@pytest.fixture
def alice(store: Config) -> Config:
    users.add_user("alice")
    users.add_user("bob")
    return store


def test_add_names_key_after_comment(alice: Config, ssh_key: KeyMaker) -> None:
    generated = ssh_key("alice@laptop")

    added = keys.add_key("alice", generated.text, None, rsa_min_bits=3072)

    assert added.owner == "alice"
    assert added.name == "alice-laptop"
    assert added.key_type == "ssh-ed25519"
    assert added.bits == 256
    assert added.comment == "alice@laptop"
    assert added.fingerprint == generated.fingerprint
    assert added.public_key == " ".join(generated.text.split()[:2])
    assert added.grants == ()
    assert keys.list_keys() == [added]


def test_add_with_explicit_name_and_fallback_names(alice: Config, ssh_key: KeyMaker) -> None:
    named = keys.add_key("alice", ssh_key("one").text, "laptop", rsa_min_bits=3072)
    # a comment that is no valid name, then a comment whose name is taken
    no_comment = keys.add_key("alice", ssh_key("two").with_comment(""), None, rsa_min_bits=3072)
    taken = keys.add_key("alice", ssh_key("three").with_comment("laptop"), None, rsa_min_bits=3072)

    assert named.name == "laptop"
    assert no_comment.name == "key-2"
    assert taken.name == "key-3"
    assert [k.name for k in keys.list_keys("alice")] == ["key-2", "key-3", "laptop"]


def test_duplicate_fingerprint_refused_across_owners(alice: Config, ssh_key: KeyMaker) -> None:
    generated = ssh_key("alice@laptop")
    keys.add_key("alice", generated.text, None, rsa_min_bits=3072)
    before = snapshot()

    with pytest.raises(ConflictError) as caught:
        keys.add_key("bob", generated.with_comment("bob@elsewhere"), "mine", rsa_min_bits=3072)

    assert "alice/alice-laptop" in caught.value.message
    assert generated.fingerprint in caught.value.message
    assert snapshot() == before


def test_name_taken_refused(alice: Config, ssh_key: KeyMaker) -> None:
    keys.add_key("alice", ssh_key("one").text, "laptop", rsa_min_bits=3072)
    before = snapshot()

    with pytest.raises(ConflictError, match="already has a key named 'laptop'"):
        keys.add_key("alice", ssh_key("two").text, "laptop", rsa_min_bits=3072)

    assert snapshot() == before
    # the same name is free for another owner
    assert keys.add_key("bob", ssh_key("two").text, "laptop", rsa_min_bits=3072).owner == "bob"


@pytest.mark.parametrize(
    "text",
    ["", "ssh-ed25519", "ssh-ed25519 not-base64!", "ssh-dss AAAAB3NzaC1kc3MAAACBAP8= x"],
)
def test_malformed_key_refused(alice: Config, text: str) -> None:
    with pytest.raises(InvalidInputError):
        keys.add_key("alice", text, None, rsa_min_bits=3072)
    assert count(SshKey) == 0


def test_bad_key_name_refused(alice: Config, ssh_key: KeyMaker) -> None:
    with pytest.raises(InvalidInputError, match="invalid key name"):
        keys.add_key("alice", ssh_key("one").text, "../etc", rsa_min_bits=3072)
    assert count(SshKey) == 0


def test_unknown_owner_refused(alice: Config, ssh_key: KeyMaker) -> None:
    with pytest.raises(NotFoundError, match="'carol' not found"):
        keys.add_key("carol", ssh_key("one").text, None, rsa_min_bits=3072)
    assert count(SshKey) == 0


def test_find_key(alice: Config, ssh_key: KeyMaker) -> None:
    laptop = keys.add_key("alice", ssh_key("one").text, "laptop", rsa_min_bits=3072)
    keys.add_key("bob", ssh_key("two").text, "laptop", rsa_min_bits=3072)

    by_name = keys.find_key("alice/laptop")
    by_fingerprint = keys.find_key(laptop.fingerprint)
    bare = keys.find_key("laptop", owner="bob")

    assert by_name.id == by_fingerprint.id
    assert by_name.owner.name == "alice"
    assert by_fingerprint.fingerprint == laptop.fingerprint
    assert (bare.owner.name, bare.fingerprint) == ("bob", ssh_key("two").fingerprint)
    assert keys.get_key(laptop.fingerprint) == laptop
    with pytest.raises(InvalidInputError, match="expected OWNER/NAME"):
        keys.find_key("laptop")
    with pytest.raises(NotFoundError, match="alice/desktop"):
        keys.find_key("alice/desktop")
    with pytest.raises(NotFoundError, match="fingerprint"):
        keys.find_key("SHA256:" + "A" * 43)
    with pytest.raises(InvalidInputError):
        keys.find_key("alice/../x")


def test_remove(alice: Config, ssh_key: KeyMaker) -> None:
    keys.add_key("alice", ssh_key("one").text, "laptop", rsa_min_bits=3072)
    keys.add_key("alice", ssh_key("two").text, "desktop", rsa_min_bits=3072)

    removed = keys.remove_key("alice/laptop")

    assert (removed.owner, removed.name) == ("alice", "laptop")
    assert [k.name for k in keys.list_keys()] == ["desktop"]
    with pytest.raises(NotFoundError):
        keys.remove_key("alice/laptop")


def test_remove_refused_while_granting_access(
    alice: Config, ssh_key: KeyMaker, accounts: FakeAccounts
) -> None:
    keys.add_key("alice", ssh_key("one").text, "laptop", rsa_min_bits=3072)
    repos.create_repository(alice, accounts, "alice/home", keys=["laptop"])
    repos.create_repository(alice, accounts, "alice/work", append_only_keys=["alice/laptop"])
    before = snapshot()

    with pytest.raises(ConflictError) as caught:
        keys.remove_key("alice/laptop")

    assert "alice/home, alice/work" in caught.value.message
    assert "--force" in (caught.value.hint or "")
    assert snapshot() == before
    grants = keys.get_key("alice/laptop").grants
    assert [(g.repository, g.mode) for g in grants] == [
        ("alice/home", "full"),
        ("alice/work", "append-only"),
    ]


def test_remove_with_force_revokes_everywhere(
    alice: Config, ssh_key: KeyMaker, accounts: FakeAccounts
) -> None:
    keys.add_key("alice", ssh_key("one").text, "laptop", rsa_min_bits=3072)
    keys.add_key("alice", ssh_key("two").text, "desktop", rsa_min_bits=3072)
    repos.create_repository(alice, accounts, "alice/home", keys=["laptop", "desktop"])
    repos.create_repository(alice, accounts, "alice/work", append_only_keys=["laptop"])

    removed = keys.remove_key("alice/laptop", force=True)

    assert {g.repository for g in removed.grants} == {"alice/home", "alice/work"}
    assert [k.name for k in keys.list_keys()] == ["desktop"]
    assert count(Repository) == 2
    assert count(Access) == 1
    assert [a.key for a in repo_view.show_repository(alice, accounts, "alice/home").accesses] == [
        "alice/desktop"
    ]

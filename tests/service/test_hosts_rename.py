"""host rename: a storage host's new name takes its repositories along, in one transaction."""

from __future__ import annotations

import pytest

from borghive.config import Config
from borghive.errors import ConflictError, InvalidInputError, NotFoundError
from borghive.service.hosts.rename import rename_host
from borghive.store import open_store
from borghive.store.models import RepoMove, Repository, StorageHost
from tests.harness.watch import add_repository as add_to_store


def add_repository(config: Config, owner: str, name: str) -> str:
    """A repository placed on this host (backup.example.org)."""
    user = add_to_store(config, owner, name)
    with open_store(config.store):
        Repository.update(host="backup.example.org").where(Repository.repo_user == user).execute()
    return user


def test_the_repositories_follow_the_new_name(migrated: Config) -> None:
    users = [add_repository(migrated, "ann", name) for name in ("docs", "mail")]
    with open_store(migrated.store):
        StorageHost.create(name="other.example.org")
        Repository.update(host="other.example.org").where(
            Repository.repo_user == users[1]
        ).execute()

        renamed = rename_host("backup.example.org", "store-1.example.org")

        assert (renamed.old, renamed.new, renamed.repositories) == (
            "backup.example.org",
            "store-1.example.org",
            1,
        )
        hosts = {r.repo_user: r.host for r in Repository.select()}
        assert hosts == {users[0]: "store-1.example.org", users[1]: "other.example.org"}
        assert sorted(h.name for h in StorageHost.select()) == [
            "other.example.org",
            "store-1.example.org",
        ]


@pytest.mark.parametrize(
    "name",
    ["", "a/b", "..", "with space", "-dash", "tab\there", "x" * 254, "new\nline", "a;b"],
)
def test_a_bad_name_changes_nothing(migrated: Config, name: str) -> None:
    add_repository(migrated, "ann", "docs")
    with open_store(migrated.store):
        with pytest.raises(InvalidInputError):
            rename_host("backup.example.org", name)
        assert {r.host for r in Repository.select()} == {"backup.example.org"}
        assert [h.name for h in StorageHost.select()] == ["backup.example.org"]


def test_unknown_taken_and_moving_hosts_are_refused(migrated: Config) -> None:
    user = add_repository(migrated, "ann", "docs")
    with open_store(migrated.store):
        StorageHost.create(name="other.example.org")
        with pytest.raises(NotFoundError):
            rename_host("nowhere.example.org", "x.example.org")
        with pytest.raises(ConflictError, match="exists already"):
            rename_host("backup.example.org", "other.example.org")
        RepoMove.create(
            repository=Repository.get(Repository.repo_user == user),
            source_host="backup.example.org",
            target_host="other.example.org",
            step="copying",
            saved_mode="borg",
        )
        with pytest.raises(ConflictError, match="move"):
            rename_host("other.example.org", "x.example.org")
        assert {r.host for r in Repository.select()} == {"backup.example.org"}

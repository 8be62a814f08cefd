"""``repo delete --purge`` is never half-done: the whole tree is checked before anything is
deleted (another filesystem, anything but directories, regular files and symbolic links,
a home that is a file: refused), links are removed and never followed, and the record
stays, marked as being purged and without logins, until the data are gone, so a purge
that fails is reported in one line and finished by running the same command again. Real
files; the mount cases in a private mount namespace (``unshare -m``)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.errors import BorghiveError, ConflictError, RefusedError
from borghive.login import authkeys
from borghive.login import cache as login_copy
from borghive.login import settings as login_settings
from borghive.service.hosts.snapshot import refresh_snapshot
from borghive.service.repositories import grants
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories import view as repo_view
from borghive.service.repositories.intents import record_intent
from borghive.service.repositories.lifecycle import RepoChanges
from borghive.service.repositories.sync import sync_accounts
from borghive.service.users import keys
from borghive.service.users import people as users
from borghive.store import is_sqlite, write_transaction
from borghive.store.models import AccountIntent, Repository
from tests.harness.config import config_toml
from tests.harness.keys import ed25519_line

from .helpers import FakeAccounts, count, snapshot


@pytest.fixture
def alice(store: Config) -> Config:
    users.add_user("alice")
    keys.add_key("alice", ed25519_line("alice@laptop"), "laptop", rsa_min_bits=3072)
    return store


def repository(config: Config, accounts: FakeAccounts) -> tuple[repos.RepoInfo, Path]:
    """alice/home with key laptop and some data: (info, its repository directory)."""
    info = repos.create_repository(config, accounts, "alice/home", keys=["laptop"]).repository
    path = Path(info.path)
    (path / "data" / "0").mkdir(parents=True)
    (path / "config").write_text("[repository]\n")
    (path / "data" / "0" / "1").write_bytes(b"segment")
    return info, path


def login_lines(config: Config, repo_user: str) -> str:
    """authkeys' answer; on PostgreSQL from a login snapshot rebuilt now."""
    if not is_sqlite():
        snapshot_file = config.repos.root.parent / "login.snapshot"
        hosts = dataclasses.replace(config.hosts, snapshot=snapshot_file)
        config = dataclasses.replace(config, hosts=hosts)
        refresh_snapshot(config)
    settings = login_settings.Settings.from_mapping(login_copy.login_settings(config))
    return authkeys.authorized_keys(settings, repo_user)


def untouched(before: dict[str, list[tuple[object, ...]]], accounts: FakeAccounts) -> None:
    assert snapshot() == before
    assert [call for call in accounts.calls if call[0] != "close"] == []


def test_a_home_that_is_a_regular_file_is_refused(alice: Config, accounts: FakeAccounts) -> None:
    _info, path = repository(alice, accounts)
    shutil.rmtree(path.parent)
    path.parent.write_text("not a directory\n")
    before, accounts.calls[:] = snapshot(), []
    with pytest.raises(RefusedError, match="regular file"):
        repos.delete_repository(alice, accounts, "alice/home", purge=True)
    untouched(before, accounts)
    assert path.parent.read_text() == "not a directory\n"


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_a_special_file_inside_is_refused_before_anything_goes(
    alice: Config, accounts: FakeAccounts, kind: str, tmp_path: Path
) -> None:
    _info, path = repository(alice, accounts)
    special = path / "data" / "zz-special"
    if kind == "fifo":
        os.mkfifo(special)
    else:
        import socket

        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(special))
    before, accounts.calls[:] = snapshot(), []
    with pytest.raises(RefusedError, match=f"zz-special is a {'FIFO' if kind == 'fifo' else 's'}"):
        repos.delete_repository(alice, accounts, "alice/home", purge=True)
    untouched(before, accounts)
    assert (path / "config").is_file() and (path / "data" / "0" / "1").is_file()


def test_links_are_removed_never_followed(
    alice: Config, accounts: FakeAccounts, tmp_path: Path
) -> None:
    _info, path = repository(alice, accounts)
    outside = tmp_path / "precious"
    (outside / "inner").mkdir(parents=True)
    (outside / "inner" / "file").write_text("keep\n")
    (path / "to-dir").symlink_to(outside)
    (path / "data" / "to-file").symlink_to(outside / "inner" / "file")
    deleted = repos.delete_repository(alice, accounts, "alice/home", purge=True)
    assert deleted.purged and not path.parent.exists()
    assert (outside / "inner" / "file").read_text() == "keep\n"
    assert count(Repository) == 0 and count(AccountIntent) == 0


def test_a_being_purged_repository_has_no_logins_and_refuses_changes(
    alice: Config, accounts: FakeAccounts
) -> None:
    info, _ = repository(alice, accounts)
    assert "ssh-ed25519" in login_lines(alice, info.repo_user)
    Repository.update(purge_started=Repository.created).execute()
    assert login_lines(alice, info.repo_user) == ""
    repo = repos.find_repository("alice/home")
    assert repos.repo_info(alice, repo, "alice", 1).being_purged
    assert [r.being_purged for r in repo_view.list_repositories(alice)] == [True]
    with pytest.raises(ConflictError, match="being purged"):
        repos.set_repository(alice, accounts, "alice/home", RepoChanges(quota=10**9))
    with pytest.raises(ConflictError, match="being purged"):
        grants.grant_access("alice/home", "laptop", config=alice, accounts=accounts)
    # Its account must go: sync removes it, without --prune.
    (item,) = sync_accounts(alice, accounts).items
    assert (item.name, item.action, item.done) == (info.repo_user, "delete", True)
    assert info.repo_user not in accounts.accounts


def test_an_account_change_in_doubt_has_no_logins(alice: Config, accounts: FakeAccounts) -> None:
    info, _ = repository(alice, accounts)
    with write_transaction():
        record_intent(info.repo_user, info.uid_number, "lock")
    assert login_lines(alice, info.repo_user) == ""
    (item,) = sync_accounts(alice, accounts, dry_run=True).items
    assert (item.name, item.action, item.done) == (info.repo_user, "resolve", False)
    sync_accounts(alice, accounts)
    assert count(AccountIntent) == 0
    assert "ssh-ed25519" in login_lines(alice, info.repo_user)


def test_sync_removes_a_membership_without_an_account(
    alice: Config, accounts: FakeAccounts
) -> None:
    _info, _ = repository(alice, accounts)

    class Dangling(FakeAccounts):
        def list_members(self) -> set[str]:
            return {*self.accounts, "rdangle1", "someone"}

    backend = Dangling(accounts=dict(accounts.accounts))
    (item,) = sync_accounts(alice, backend, dry_run=True).items
    assert (item.name, item.action, item.done) == ("rdangle1", "unlink", False)
    (item,) = sync_accounts(alice, backend).items
    assert item.done and backend.calls == [("delete", "rdangle1")]


# -- in a private mount namespace ---------------------------------------------------------


def in_namespace(
    script: str, config_file: Path, *arguments: str
) -> subprocess.CompletedProcess[str]:
    """``script`` (sh) in a private mount namespace, ``$BORGHIVE`` running the CLI."""
    if shutil.which("unshare") is None:
        pytest.fail("unshare(1) is missing (util-linux)")
    borghive = f"{sys.executable} -m borghive --config {config_file}"
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-euc", script, "sh", *arguments],
        env={**os.environ, "BORGHIVE": borghive},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def write_config(config: Config, tmp_path: Path) -> Path:
    path = tmp_path / "borghive.toml"
    path.write_text(config_toml(config))
    return path


def test_a_mount_point_inside_is_refused_and_kept(
    alice: Config, accounts: FakeAccounts, tmp_path: Path
) -> None:
    _info, path = repository(alice, accounts)
    mount = path / "data" / "mounted"
    mount.mkdir()
    before = snapshot()
    result = in_namespace(
        'mount -t tmpfs tmpfs "$1"; echo keep > "$1/file"\n'
        '$BORGHIVE repo delete alice/home --purge --yes || echo "exit $?"\n'
        'cat "$1/file"',
        write_config(alice, tmp_path),
        str(mount),
    )
    assert result.stdout.splitlines() == ["exit 1", "keep"], result.stderr
    assert result.stderr == (
        f"borghive: error: refusing to purge: {mount} is on another filesystem (a mount "
        "point)\nborghive: hint: unmount it first, or move it out of the repository\n"
    )
    assert snapshot() == before  # nothing was changed: the record, its grants
    assert (path / "config").is_file() and (path / "data" / "0" / "1").is_file()


def test_a_failed_purge_is_one_line_and_the_same_command_finishes_it(
    alice: Config, accounts: FakeAccounts, tmp_path: Path
) -> None:
    info, path = repository(alice, accounts)
    stuck = path / "data" / "0"
    # A read-only bind mount of the directory on itself: the same filesystem (so the
    # check lets it through), but deleting in it fails (EROFS), as a failing disk would.
    result = in_namespace(
        'mount --bind "$1" "$1"; mount -o remount,bind,ro "$1"\n'
        '$BORGHIVE repo delete alice/home --purge --yes || echo "exit $?"',
        write_config(alice, tmp_path),
        str(stuck),
    )
    assert result.stdout.splitlines() == ["exit 1"], result.stderr
    error, hint = result.stderr.splitlines()
    assert error.startswith(f"borghive: error: cannot purge {path.parent}: ")
    assert error.endswith("Read-only file system")
    assert "run the same command again" in hint
    repo = repos.find_repository("alice/home")
    assert repo.purge_started is not None
    assert login_lines(alice, info.repo_user) == ""
    assert (stuck / "1").is_file()
    # Outside the namespace the mount is gone: the same command finishes the purge.
    deleted = repos.delete_repository(alice, accounts, "alice/home", purge=True)
    assert deleted.purged and not path.parent.exists()
    assert count(Repository) == 0


def test_a_failed_purge_keeps_the_record_in_the_service(
    alice: Config, accounts: FakeAccounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    info, path = repository(alice, accounts)
    real_unlink = os.unlink

    def failing_unlink(name: str, *args: object, **kwargs: object) -> None:
        if name == "1":
            raise OSError(5, "Input/output error")
        real_unlink(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "unlink", failing_unlink)
    with pytest.raises(BorghiveError, match="Input/output error") as err:
        repos.delete_repository(alice, accounts, "alice/home", purge=True)
    assert "\n" not in err.value.message and "same command again" in (err.value.hint or "")
    assert repos.find_repository("alice/home").purge_started is not None
    assert info.repo_user not in accounts.accounts  # the account went first
    monkeypatch.undo()
    repos.delete_repository(alice, accounts, "alice/home", purge=True)
    assert count(Repository) == 0 and not path.parent.exists()

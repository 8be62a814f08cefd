"""Faults of the directory and of the store around the LDAP accounts backend: a slapd that
is down, killed half-way, hung, refuses the bind or TLS, and a store commit that fails after
the directory was written. Real slapd, real ldap3, real SQLite and PostgreSQL; the outcome
is checked in the store and with plain ``ldapsearch``."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import signal
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from borghive.config import Config
from borghive.errors import (
    EXIT_CONFIG,
    EXIT_UNAVAILABLE,
    ConfigError,
    DirectoryUnavailableError,
    StoreUnavailableError,
)
from borghive.ldap.accounts import LdapAccounts
from borghive.login.storeurl import sqlite_path
from borghive.service.repositories import backends
from borghive.service.repositories import lifecycle as repos
from borghive.service.repositories import view as repo_view
from borghive.service.repositories.lifecycle import RepoChanges, find_repository
from borghive.service.repositories.sync import sync_accounts
from borghive.service.users import keys
from borghive.service.users import people as users
from borghive.store import execute, is_sqlite, write_transaction
from borghive.store.models import Access, Repository
from tests.harness.cli import borghive
from tests.harness.config import write_config
from tests.harness.keys import ed25519_line
from tests.harness.slapd import Slapd

from .helpers import (
    backend_for,
    entry,
    group,
    members,
    people,
    with_ldap,
)

pytestmark = pytest.mark.slapd


@pytest.fixture
def alice(store: Config) -> Config:
    """User alice with key ``laptop``."""
    users.add_user("alice")
    keys.add_key("alice", ed25519_line("alice@laptop"), "laptop", rsa_min_bits=3072)
    return store


def store_rows() -> tuple[int, int]:
    """(repositories, access rows) in the store."""
    return int(Repository.select().count()), int(Access.select().count())


def create(config: Config, accounts: LdapAccounts, reference: str = "alice/photos") -> str:
    return repos.create_repository(
        config, accounts, reference, keys=["laptop"]
    ).repository.repo_user


@contextlib.contextmanager
def closing(accounts: LdapAccounts) -> Iterator[LdapAccounts]:
    try:
        yield accounts
    finally:
        accounts.close()


def test_directory_down_before_create(alice: Config, clean_slapd: Slapd) -> None:
    config = with_ldap(alice, clean_slapd)
    clean_slapd.kill()  # stop() would remove slapd's data; kill keeps them for restart()
    started = time.monotonic()
    with closing(backend_for(config)) as accounts, pytest.raises(DirectoryUnavailableError) as err:
        create(config, accounts)
    assert time.monotonic() - started < 3
    assert err.value.exit_code == EXIT_UNAVAILABLE == 75
    assert f"LDAP 127.0.0.1:{clean_slapd.port}" in err.value.message
    assert store_rows() == (0, 0)
    clean_slapd.restart()
    assert people(clean_slapd) == {} and group(clean_slapd) is None


class KilledAfterMembership(LdapAccounts):
    """Kills the real slapd right after the group membership was written, before the
    account entry is added: a crash of the directory in the middle of ``create``."""

    def __init__(self, config: Config, slapd: Slapd) -> None:
        super().__init__(config.ldap, config.repos.group, config.repos.gid)
        self.slapd = slapd
        self.members_added: list[str] = []

    def _add_member(self, name: str) -> bool:
        added = super()._add_member(name)
        self.members_added.append(name)
        self.slapd.kill()
        return added


def test_directory_killed_during_create(alice: Config, clean_slapd: Slapd) -> None:
    config = with_ldap(alice, clean_slapd)
    with (
        closing(KilledAfterMembership(config, clean_slapd)) as accounts,
        pytest.raises(DirectoryUnavailableError) as err,
    ):
        create(config, accounts)
    assert err.value.exit_code == 75
    assert store_rows() == (0, 0)

    assert "in doubt" in (err.value.hint or "")
    clean_slapd.restart()
    (name,) = accounts.members_added
    assert people(clean_slapd) == {}
    # The membership was written before the kill; the change is left in doubt, and the
    # dry run says so, with the membership that names no account.
    assert members(clean_slapd) == {name}
    with closing(backend_for(config)) as fresh:
        (item,) = sync_accounts(config, fresh, dry_run=True).items
        assert (item.name, item.action, item.done) == (name, "resolve", False)
        # The next command that touches accounts resolves it: the membership goes.
        create(config, fresh, "alice/other")
        assert sync_accounts(config, fresh, dry_run=True).items == ()
    assert members(clean_slapd) == set(people(clean_slapd)) != {name}


def test_directory_down_before_delete(alice: Config, clean_slapd: Slapd) -> None:
    config = with_ldap(alice, clean_slapd)
    with closing(backend_for(config)) as accounts:
        name = create(config, accounts)
    before = people(clean_slapd)
    clean_slapd.kill()
    with closing(backend_for(config)) as accounts, pytest.raises(DirectoryUnavailableError) as err:
        repos.delete_repository(config, accounts, "alice/photos")
    assert err.value.exit_code == 75
    assert find_repository("alice/photos").repo_user == name
    assert store_rows() == (1, 1)
    clean_slapd.restart()
    assert people(clean_slapd) == before
    assert members(clean_slapd) == {name}


def test_hung_directory_times_out(alice: Config, clean_slapd: Slapd) -> None:
    # SIGSTOP: the kernel still accepts the connection, slapd never answers the bind.
    config = with_ldap(alice, clean_slapd, operation_timeout=1.0)
    pid = clean_slapd.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    started = time.monotonic()
    try:
        with (
            closing(backend_for(config)) as accounts,
            pytest.raises(DirectoryUnavailableError) as err,
        ):
            create(config, accounts)
    finally:
        os.kill(pid, signal.SIGCONT)
    assert time.monotonic() - started < 1.0 + 2
    assert err.value.exit_code == 75
    assert store_rows() == (0, 0)
    assert people(clean_slapd) == {}


def test_wrong_bind_password_is_a_configuration_error(
    alice: Config, clean_slapd: Slapd, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.password"
    wrong.write_text("not-the-password")
    config = with_ldap(alice, clean_slapd, bind_password_file=wrong)
    with closing(backend_for(config)) as accounts, pytest.raises(ConfigError) as err:
        create(config, accounts)
    assert err.value.exit_code == EXIT_CONFIG == 78
    assert "invalidCredentials" in err.value.message
    assert "not-the-password" not in err.value.message
    assert store_rows() == (0, 0)
    assert people(clean_slapd) == {} and group(clean_slapd) is None

    result = borghive(write_config(config, tmp_path / "b.toml"), "repo", "create", "alice/x")
    assert result.exit_code == 78, result.stderr
    assert result.stderr.startswith("borghive: error: LDAP 127.0.0.1:")
    assert store_rows() == (0, 0)


def test_start_tls_against_a_server_without_tls(
    alice: Config, clean_slapd: Slapd, tmp_path: Path
) -> None:
    config = with_ldap(alice, clean_slapd, start_tls=True)
    with closing(backend_for(config)) as accounts, pytest.raises(DirectoryUnavailableError) as err:
        create(config, accounts)
    assert err.value.exit_code == 75
    assert "StartTLS failed" in err.value.message
    assert store_rows() == (0, 0)
    assert people(clean_slapd) == {} and group(clean_slapd) is None


def test_start_tls_with_the_servers_ca_end_to_end(alice: Config, slapd_tls: Slapd) -> None:
    slapd_tls.reset()
    config = with_ldap(alice, slapd_tls, start_tls=True, ca_file=slapd_tls.ca_file)
    with closing(backend_for(config)) as accounts:
        name = create(config, accounts)
        state = repo_view.show_repository(config, accounts, "alice/photos").account
        assert state is not None and state.matches
        repos.set_repository(config, accounts, "alice/photos", RepoChanges(mode="disabled"))
        found = entry(slapd_tls, name)
        assert found is not None and found["shadowExpire"] == ["1"]
        assert sync_accounts(config, accounts).in_step
        repos.delete_repository(config, accounts, "alice/photos")
    assert people(slapd_tls) == {} and members(slapd_tls) == set()
    # ... and without the CA, the server's certificate is refused.
    untrusted = with_ldap(alice, slapd_tls, start_tls=True)
    with closing(backend_for(untrusted)) as accounts, pytest.raises(DirectoryUnavailableError):
        create(untrusted, accounts)
    assert store_rows() == (0, 0)
    slapd_tls.reset()


def test_closed_port(alice: Config, clean_slapd: Slapd, tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = with_ldap(alice, clean_slapd, url=f"ldap://127.0.0.1:{port}")
    started = time.monotonic()
    with closing(backend_for(config)) as accounts, pytest.raises(DirectoryUnavailableError) as err:
        create(config, accounts)
    assert time.monotonic() - started < config.ldap.connect_timeout + 2
    assert err.value.exit_code == 75
    assert f"127.0.0.1:{port}" in err.value.message

    started = time.monotonic()
    result = borghive(write_config(config, tmp_path / "b.toml"), "repo", "create", "alice/x")
    assert time.monotonic() - started < config.ldap.connect_timeout + 2
    assert result.exit_code == 75, result.stderr
    assert result.stderr.startswith(f"borghive: error: LDAP 127.0.0.1:{port}: ")
    assert store_rows() == (0, 0)


# -- the store commit fails after the directory was written ------------------------------


class CommitFailure:
    """Arms the failure of the store's commits (see :func:`failing_commits`)."""

    def __init__(self, reader: sqlite3.Connection | None) -> None:
        self.reader = reader
        self.armed = False

    def arm(self) -> None:
        """From now on (SQLite) the commits of the transaction under way and of later
        ones fail; called from inside the account write, after the intent committed."""
        if self.reader is not None and not self.armed:
            self.reader.execute("BEGIN")
            self.reader.execute("SELECT count(*) FROM repository").fetchall()
        self.armed = True

    def disarm(self) -> None:
        if self.reader is not None and self.armed:
            self.reader.execute("ROLLBACK")
        self.armed = False


@contextlib.contextmanager
def failing_commits(config: Config, operation: str) -> Iterator[tuple[Config, CommitFailure]]:
    """Make the store's commits fail for real, after every statement went through.

    SQLite, once armed: a second connection holds a read transaction (a SHARED lock).
    BEGIN IMMEDIATE still gets its RESERVED lock and every statement runs, but COMMIT needs
    the EXCLUSIVE lock and gives up after the (shortened) busy timeout: "database is
    locked". Arming from inside the account write lets the intent's own commit through.
    PostgreSQL: a deferred constraint trigger on ``operation`` of a repository row raises
    serialization_failure (SQLSTATE 40001) at COMMIT, as a serializable transaction can.
    Yields the configuration to use, whose busy_timeout (SQLite) is 0.2 s, as is the
    timeout of the store bound for the test meanwhile."""
    if is_sqlite():
        path = sqlite_path(config.store.url)
        reader = sqlite3.connect(str(path), isolation_level=None)
        failure = CommitFailure(reader)
        busy_ms = int(execute("PRAGMA busy_timeout").fetchone()[0])
        try:
            execute("PRAGMA busy_timeout = 200")
            store = dataclasses.replace(config.store, busy_timeout=0.2)
            yield dataclasses.replace(config, store=store), failure
        finally:
            failure.disarm()
            reader.close()
            execute(f"PRAGMA busy_timeout = {busy_ms}")
        return
    with write_transaction():
        execute(
            "CREATE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "RAISE EXCEPTION 'could not serialize access (test)' "
            "USING ERRCODE = 'serialization_failure'; END $$"
        )
        execute(
            f"CREATE CONSTRAINT TRIGGER refuse_commit AFTER {operation} ON repository "
            "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION refuse_commit()"
        )
    try:
        yield config, CommitFailure(None)
    finally:
        with write_transaction():
            execute("DROP TRIGGER refuse_commit ON repository")
            execute("DROP FUNCTION refuse_commit()")


class Recording(LdapAccounts):
    """The real backend, noting which accounts it created, deleted, locked and repaired;
    ``failure`` is armed as its first write begins, ``slapd`` killed after it."""

    def __init__(self, config: Config, failure: CommitFailure, slapd: Slapd | None = None) -> None:
        super().__init__(config.ldap, config.repos.group, config.repos.gid)
        self.calls: list[tuple[str, Any]] = []
        self.failure = failure
        self.slapd = slapd

    def _written(self, call: tuple[str, Any]) -> None:
        self.calls.append(call)
        if self.slapd is not None:
            self.slapd.kill()

    def create(self, spec: Any) -> None:
        self.failure.arm()
        super().create(spec)
        self._written(("create", spec.name))

    def update(self, spec: Any) -> None:
        self.failure.arm()
        super().update(spec)
        self._written(("update", spec.name))

    def delete(self, name: str) -> None:
        self.failure.arm()
        super().delete(name)
        self._written(("delete", name))

    def lock(self, name: str) -> None:
        self.failure.arm()
        super().lock(name)
        self._written(("lock", name))


def settle(config: Config) -> None:
    """What the next command does first, then the dry run: nothing left to do."""
    with closing(backend_for(config)) as accounts:
        sync_accounts(config, accounts)
        assert sync_accounts(config, accounts, dry_run=True).items == ()


def test_failed_commit_after_create_removes_the_entry(alice: Config, clean_slapd: Slapd) -> None:
    config = with_ldap(alice, clean_slapd)
    with (
        failing_commits(config, "INSERT") as (failing, failure),
        closing(Recording(failing, failure)) as accounts,
        pytest.raises(StoreUnavailableError, match=r"locked|serialize") as err,
    ):
        create(failing, accounts)
    (created,), deleted = (
        [n for c, n in accounts.calls if c == "create"],
        [n for c, n in accounts.calls if c == "delete"],
    )
    assert deleted == [created]  # it was written, then undone
    assert store_rows() == (0, 0)
    assert people(clean_slapd) == {} and members(clean_slapd) == set()
    if is_sqlite():  # the undo's own commit failed too: its intent stays, and it says so
        assert "borghive repo sync" in (err.value.hint or "")
    settle(config)


def test_failed_commit_through_the_cli(
    alice: Config, clean_slapd: Slapd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = with_ldap(alice, clean_slapd)
    with failing_commits(config, "INSERT") as (failing, failure):
        monkeypatch.setattr(backends, "accounts_backend", lambda c: Recording(c, failure))
        result = borghive(write_config(failing, tmp_path / "b.toml"), "repo", "create", "alice/x")
    assert result.exit_code == 75, result.stderr
    assert result.stderr.startswith("borghive: error: store ")
    assert "Traceback" not in result.stderr
    assert store_rows() == (0, 0)
    assert people(clean_slapd) == {} and members(clean_slapd) == set()
    settle(config)


def test_failed_undo_reports_the_original_error_and_names_sync(
    alice: Config, clean_slapd: Slapd, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The store commit fails after the entry was written, and slapd dies right then, so
    # taking the entry away fails too: the store's error is the one reported.
    config = with_ldap(alice, clean_slapd)
    with failing_commits(config, "INSERT") as (failing, failure):
        monkeypatch.setattr(
            backends, "accounts_backend", lambda c: Recording(c, failure, clean_slapd)
        )
        result = borghive(write_config(failing, tmp_path / "b.toml"), "repo", "create", "alice/x")
    monkeypatch.undo()
    assert result.exit_code == 75, result.stderr
    error, hint = result.stderr.splitlines()
    assert error.startswith("borghive: error: store ") and "LDAP" not in error
    assert re.match(r"borghive: hint: putting account r\w+ back failed too \(LDAP ", hint)
    assert hint.endswith("run 'borghive repo sync' when the directory answers again")
    assert store_rows() == (0, 0)
    clean_slapd.restart()
    (name,) = people(clean_slapd)  # applied, not undone: slapd was gone
    with closing(backend_for(config)) as accounts:
        (item,) = sync_accounts(config, accounts, dry_run=True).items
        assert (item.name, item.action) == (name, "resolve")
    result = borghive(write_config(config, tmp_path / "c.toml"), "repo", "sync")
    assert result.exit_code == 0, result.stderr
    assert people(clean_slapd) == {} and members(clean_slapd) == set()
    settle(config)


def test_failed_commit_after_delete_brings_the_entry_back(
    alice: Config, clean_slapd: Slapd
) -> None:
    config = with_ldap(alice, clean_slapd)
    with closing(backend_for(config)) as accounts:
        name = create(config, accounts)
    before = people(clean_slapd)[name]
    with (
        failing_commits(config, "DELETE") as (failing, failure),
        closing(Recording(failing, failure)) as accounts,
        pytest.raises(StoreUnavailableError, match=r"locked|serialize"),
    ):
        repos.delete_repository(failing, accounts, "alice/photos")
    assert accounts.calls == [("delete", name), ("create", name)]
    assert store_rows() == (1, 1)
    after = people(clean_slapd)[name]
    assert {k: v for k, v in after.items() if k != "shadowLastChange"} == {
        k: v for k, v in before.items() if k != "shadowLastChange"
    }
    assert members(clean_slapd) == {name}
    settle(config)


def test_failed_commit_after_disabling_leaves_the_account_unlocked(
    alice: Config, clean_slapd: Slapd
) -> None:
    config = with_ldap(alice, clean_slapd)
    with closing(backend_for(config)) as accounts:
        name = create(config, accounts)
    with (
        failing_commits(config, "UPDATE") as (failing, failure),
        closing(Recording(failing, failure)) as accounts,
    ):
        with pytest.raises(StoreUnavailableError):
            repos.set_repository(failing, accounts, "alice/photos", RepoChanges(mode="disabled"))
        assert accounts.calls == [("lock", name), ("update", name)]
    assert find_repository("alice/photos").mode == "borg"
    found = entry(clean_slapd, name)
    assert found is not None
    assert "shadowExpire" not in found  # the store says borg: the account must not be locked
    settle(config)

"""A store whose disk is full is reported as a full disk, not as the error peewee's
rollback raises after SQLite ended the transaction itself ("cannot rollback - no
transaction is active"), and nothing is half-written.

SQLite says "database or disk is full" (SQLITE_FULL) both when the file system has no
space and when the file reaches its ``max_page_count``: the second stands in for the first
here; tests/e2e/test_store_disk_full.py fills a real file system."""

from __future__ import annotations

from pathlib import Path

import pytest

from borghive.errors import StoreUnavailableError
from borghive.rules.accounts import NoAccounts
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import people as users
from borghive.store import execute, open_store
from borghive.store.db import disk_full, driver_error

from .helpers import snapshot
from .test_sqlite import migrated_sqlite


def _fill_to_the_page_limit() -> None:
    """No page more for this connection: the next write that needs one is SQLITE_FULL."""
    pages = execute("PRAGMA page_count").fetchone()[0]
    execute(f"PRAGMA max_page_count = {int(pages)}")


@pytest.mark.parametrize("operation", ["user add", "repo create"])
def test_a_full_sqlite_store_is_reported_as_a_full_disk(tmp_path: Path, operation: str) -> None:
    config = migrated_sqlite(tmp_path)
    with open_store(config.store):
        users.add_user("alice")
        before = snapshot()
    with pytest.raises(StoreUnavailableError) as raised, open_store(config.store):
        _fill_to_the_page_limit()
        if operation == "user add":
            for number in range(1000):  # until a page is needed
                users.add_user(f"user{number}", f"{'x' * 200}@example.org")
        else:
            for number in range(1000):
                repos.create_repository(config, NoAccounts(), f"alice/repo{number}")
    error = raised.value
    assert error.exit_code == 75
    assert error.message == (
        f"store sqlite:///{tmp_path}/borghive.db: the disk is full (database or disk is full)"
    )
    assert "rollback" not in error.message
    assert error.hint == f"free space on the file system of {tmp_path} and run the command again"
    with open_store(config.store):
        after = snapshot()
    # whole use cases only: those that committed before the disk filled, nothing half-made
    assert after["person"][: len(before["person"])] == before["person"]
    table, prefix = ("person", "user") if operation == "user add" else ("repository", "repo")
    names = [row[1] if table == "person" else row[2] for row in after[table]]
    made = [name for name in names if name != "alice"]
    assert made == [f"{prefix}{number}" for number in range(len(made))]


class _Wrapped(Exception):
    """Like peewee's OperationalError: the driver's error as first argument."""


def test_the_full_disk_is_found_behind_the_rollback_error() -> None:
    import sqlite3

    full = sqlite3.OperationalError("database or disk is full")
    rollback = _Wrapped("cannot rollback - no transaction is active")
    assert disk_full(rollback) is None
    rollback.__context__ = _Wrapped(full, *full.args)  # raised while handling the full disk
    assert disk_full(rollback) == "database or disk is full"
    cycle = _Wrapped("cannot rollback")
    cycle.__context__ = _Wrapped(cycle)  # a cycle of contexts ends the search
    assert disk_full(cycle) is None
    hidden = rollback
    error = driver_error("sqlite:////srv/borghive/b.db", hidden)
    assert (
        error.message
        == "store sqlite:////srv/borghive/b.db: the disk is full (database or disk is full)"
    )
    assert error.hint == "free space on the file system of /srv/borghive and run the command again"


def test_postgresql_disk_full_by_its_sqlstate() -> None:
    class DiskFull(Exception):
        pgcode = "53100"

    error = driver_error(
        "postgresql://u:secret@db.example.org:5433/borghive", DiskFull("could not extend file")
    )
    assert error.message == (
        "store postgresql://db.example.org:5433/borghive: the disk is full (could not extend file)"
    )
    assert error.hint == "free space on the server and run the command again"
    other = driver_error("postgresql://db/x", RuntimeError("connection refused"))
    assert (other.message, other.hint) == ("store postgresql://db/x: connection refused", None)

"""The login snapshot: what this host's logins need, copied from a PostgreSQL store into a
local SQLite file that ``authkeys`` reads instead of the network (borghive.login.query).

Content: exactly what the login query reads, for this host's repositories only (tables
repository, access, ssh_key, account_intent, schema_migration), so the same statement runs
on it unchanged. A build reads the store in one repeatable-read transaction (five
set-based statements), writes a temporary file beside the snapshot, fsyncs it, gives it the
configuration file's group and read bits (sshd's command user reads both) and renames it
into place: a snapshot is only ever replaced whole, never changed, so authkeys opens it
immutable. Its mtime means "last confirmed current": the watch daemon touches it while its
LISTEN connection to the store stays up (borghive.watch.snapshot), and authkeys refuses a
snapshot older than hosts.snapshot_trust.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from borghive.atomic import sync_directory
from borghive.config import Config
from borghive.login.cache import config_file, snapshot_file
from borghive.rules.quantities import parse_duration
from borghive.rules.times import from_epoch, utcnow
from borghive.service.hosts.identity import this_host

# The snapshot's tables: the columns the login query uses (and host, which it tests).
_SCHEMA = (
    "CREATE TABLE schema_migration (version INTEGER PRIMARY KEY)",
    """CREATE TABLE repository (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
        repo_user TEXT NOT NULL, mode TEXT NOT NULL, quota INTEGER, borg_name TEXT,
        purge_started TEXT, host TEXT NOT NULL)""",
    """CREATE TABLE access (repository_id INTEGER NOT NULL, key_id INTEGER NOT NULL,
        mode TEXT NOT NULL, allowed_from TEXT)""",
    """CREATE TABLE ssh_key (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
        key_type TEXT NOT NULL, public_key TEXT NOT NULL, fingerprint TEXT NOT NULL,
        allowed_from TEXT)""",
    "CREATE TABLE account_intent (repo_user TEXT NOT NULL)",
)
# Built after the rows are in (cheaper than maintaining them row by row).
_INDEXES = (
    "CREATE UNIQUE INDEX repository_repo_user ON repository (repo_user)",
    "CREATE UNIQUE INDEX ssh_key_fingerprint ON ssh_key (fingerprint)",
    "CREATE INDEX access_repository_id ON access (repository_id)",
    "CREATE INDEX account_intent_repo_user ON account_intent (repo_user)",
)
# What is read from the store (psycopg2 placeholders; %(host)s is this host's name).
_READS = (
    ("schema_migration", 1, "SELECT MAX(version) FROM schema_migration"),
    (
        "repository",
        8,
        "SELECT id, name, repo_user, mode, quota, borg_name, purge_started::text, host "
        "FROM repository WHERE host = %(host)s",
    ),
    (
        "access",
        4,
        "SELECT a.repository_id, a.key_id, a.mode, a.allowed_from FROM access a "
        "JOIN repository r ON r.id = a.repository_id WHERE r.host = %(host)s",
    ),
    (
        "ssh_key",
        6,
        "SELECT k.id, k.name, k.key_type, k.public_key, k.fingerprint, k.allowed_from "
        "FROM ssh_key k WHERE k.id IN (SELECT a.key_id FROM access a "
        "JOIN repository r ON r.id = a.repository_id WHERE r.host = %(host)s)",
    ),
    # every one: a repository user's intent may come before its repository row
    ("account_intent", 1, "SELECT repo_user FROM account_intent"),
)

# A function running one statement with parameters and returning every row.
Reader = Callable[[str, dict[str, str]], Sequence[Sequence[Any]]]


@dataclass(frozen=True)
class SnapshotResult:
    """A rebuilt snapshot: its file, how many repositories and grants it holds, and the
    seconds the rebuild took."""

    path: Path
    repositories: int
    grants: int
    seconds: float


@dataclass(frozen=True)
class SnapshotState:
    """What is known of this host's snapshot: its path, whether it exists, when it was last
    confirmed current (its mtime) and how many seconds ago, whether authkeys still trusts
    it (age within hosts.snapshot_trust), and the last refresh problem the store holds for
    this host (None when there is none, or the store was not asked)."""

    path: Path | None
    exists: bool
    confirmed: dt.datetime | None
    age: float | None
    trusted: bool
    problem: str | None


def snapshot_path(config: Config) -> Path | None:
    """Where this host's login snapshot is; None on a SQLite store (authkeys reads the store
    itself there). The one definition is borghive.login.cache.snapshot_file, which the
    login settings carry to authkeys."""
    path = snapshot_file(config)
    return None if path is None else Path(path)


def kept_snapshot_path(config: Config) -> Path | None:
    """The snapshot that commands and the watch daemon keep current: :func:`snapshot_path`,
    except for a configuration that names no file and no hosts.snapshot (PostgreSQL only
    through BORGHIVE_* variables, which sshd never passes to authkeys): None, nothing to
    keep (and nothing written below /etc by such a process)."""
    path = snapshot_path(config)
    if path is None or (config_file(config) is None and config.hosts.snapshot is None):
        return None
    return path


def trust_seconds(config: Config) -> int:
    """hosts.snapshot_trust in seconds."""
    return parse_duration(config.hosts.snapshot_trust)


def read_login_rows(read: Reader, host: str) -> dict[str, list[tuple[Any, ...]]]:
    """The snapshot's rows by table, read with ``read`` (which the caller runs inside one
    read transaction, so the tables agree)."""
    return {table: [tuple(row) for row in read(sql, {"host": host})] for table, _, sql in _READS}


def _file_mode(config: Config) -> tuple[int, int]:
    """(group, mode) for the snapshot: the configuration file's group and read bits, as the
    login copy has them (0644 root:root for the built-in defaults)."""
    source = config_file(config)
    if source is not None:
        with contextlib.suppress(OSError):
            status = os.stat(source)
            return status.st_gid, status.st_mode & 0o644
    return -1, 0o644


def write_snapshot(
    config: Config, path: Path, tables: dict[str, list[tuple[Any, ...]]]
) -> tuple[int, int]:
    """Replace ``path`` with a snapshot of ``tables``; (repositories, grants). Raises
    OSError or sqlite3.Error; ``path`` is then as it was and no temporary file is left."""
    _remove_abandoned(path)
    descriptor, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(descriptor)
    temporary = Path(name)
    try:
        connection = sqlite3.connect(temporary, isolation_level=None)
        try:
            # No journal: the file is private until it is renamed into place, and fsynced
            # here as a whole before that.
            connection.execute("PRAGMA journal_mode = OFF")
            connection.execute("PRAGMA synchronous = OFF")
            connection.execute("BEGIN")
            for statement in _SCHEMA:
                connection.execute(statement)
            for table, width, _ in _READS:
                marks = ", ".join("?" * width)
                connection.executemany(f"INSERT INTO {table} VALUES ({marks})", tables[table])  # noqa: S608 - fixed names
            for statement in _INDEXES:
                connection.execute(statement)
            connection.execute("COMMIT")
        finally:
            connection.close()
        group, mode = _file_mode(config)
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            # (a group the file already has needs no CAP_CHOWN: a setgid directory)
            if group not in (-1, os.fstat(descriptor).st_gid):
                os.fchown(descriptor, -1, group)
            os.fchmod(descriptor, mode)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    sync_directory(path.parent)
    return len(tables["repository"]), len(tables["access"])


# A temporary snapshot file this old was left by a builder that was killed (a build takes
# seconds at most): removed by the next build. Younger ones may be another builder's.
ABANDONED_AFTER = 600


def _remove_abandoned(path: Path) -> None:
    limit = time.time() - ABANDONED_AFTER
    for leftover in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(OSError):
            if leftover.stat().st_mtime < limit:
                leftover.unlink()


def build_snapshot(config: Config, read: Reader) -> SnapshotResult:
    """Read this host's login rows with ``read`` (inside the caller's read transaction) and
    replace the snapshot with them. Raises OSError or sqlite3.Error (the old snapshot
    stays), and whatever ``read`` raises; ValueError on a SQLite store."""
    path = snapshot_path(config)
    if path is None:
        raise ValueError("a SQLite store has no login snapshot")
    started = time.perf_counter()
    tables = read_login_rows(read, this_host(config))
    repositories, grants = write_snapshot(config, path, tables)
    return SnapshotResult(path, repositories, grants, time.perf_counter() - started)


def refresh_snapshot(config: Config) -> SnapshotResult | None:
    """Rebuild this host's login snapshot from the open store now; None on a SQLite store
    (authkeys reads the store itself there) and where no snapshot is kept
    (:func:`kept_snapshot_path`: never below /etc for a process without a file). Raises
    StoreUnavailableError when the store cannot be read, OSError or sqlite3.Error when
    the file cannot be written (the old snapshot then stays)."""
    from borghive.store import is_sqlite, store_errors
    from borghive.store.models import database

    if is_sqlite() or kept_snapshot_path(config) is None:
        return None
    db = database.obj
    outer = db.in_transaction()
    with store_errors(), db.atomic():
        if not outer:  # the first statement of the transaction: every read sees one moment
            db.execute_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return build_snapshot(
            config, lambda sql, parameters: db.execute_sql(sql, parameters).fetchall()
        )


def confirm_snapshot(path: Path) -> None:
    """Mark ``path`` confirmed current now (its mtime). Raises OSError."""
    os.utime(path)


def snapshot_state(config: Config, *, now: float | None = None) -> SnapshotState:
    """What is known of this host's snapshot (see SnapshotState); the problem is read from
    the store when one is open, else None."""
    path = snapshot_path(config)
    problem = _stored_problem(config)
    if path is None:
        return SnapshotState(None, False, None, None, False, problem)
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return SnapshotState(path, False, None, None, False, problem)
    age = max(0.0, (time.time() if now is None else now) - mtime)
    return SnapshotState(path, True, from_epoch(mtime), age, age <= trust_seconds(config), problem)


def _stored_problem(config: Config) -> str | None:
    """storage_host.snapshot_problem of this host, when a store is open and has it."""
    from peewee import PeeweeException

    from borghive.store.models import StorageHost, database

    if database.obj is None:
        return None
    try:
        row = StorageHost.get_or_none(StorageHost.name == this_host(config))
    except (PeeweeException, OSError):
        return None
    return None if row is None else row.snapshot_problem


# psycopg2: record what this host knows of its snapshot (for host show and doctor).
_RECORD = """INSERT INTO storage_host (name, draining, created, snapshot_confirmed,
        snapshot_problem)
    VALUES (%(host)s, FALSE, %(now)s, %(confirmed)s, %(problem)s)
    ON CONFLICT (name) DO UPDATE SET
        snapshot_confirmed = COALESCE(EXCLUDED.snapshot_confirmed,
                                      storage_host.snapshot_confirmed),
        snapshot_problem = EXCLUDED.snapshot_problem"""


def record_parameters(config: Config, confirmed: bool, problem: str | None) -> dict[str, Any]:
    """The parameters of :data:`RECORD_STATEMENT` for this host now."""
    now = utcnow()
    return {
        "host": this_host(config),
        "now": now,
        "confirmed": now if confirmed else None,
        "problem": problem[:500] if problem else None,
    }


RECORD_STATEMENT = _RECORD

"""A ``borghive watch`` subprocess on a SQLite store, readers of the store that do not touch
the models' database proxy, and a second process holding the store's write lock; fixtures
``sqlite_store``, ``watch_config_file``, ``reader`` and ``watcher`` (a running ``borghive
watch``, stopped after the test, which must exit 0 without a traceback)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.login.storeurl import sqlite_path
from borghive.rules.accounts import NoAccounts
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import people as users
from borghive.store import open_store
from tests.harness.config import config_toml, make_config, migrate
from tests.harness.environment import borghive_command


def wait_for(predicate: Callable[[], object], timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what or predicate}")


@dataclass
class StoreReader:
    """Reads the SQLite store with the sqlite3 module (waits while a writer holds it)."""

    path: Path

    def _query(self, sql: str, params: tuple[object, ...]) -> list[tuple[object, ...]]:
        connection = sqlite3.connect(self.path, timeout=30)
        try:
            return connection.execute(sql, params).fetchall()
        finally:
            connection.close()

    def events(self, repo_user: str) -> list[tuple[str, str]]:
        """(kind, detail) of a repository's events in order."""
        return [
            (str(kind), str(detail))
            for kind, detail in self._query(
                "SELECT e.kind, e.detail FROM event e JOIN repository r "
                "ON e.repository_id = r.id WHERE r.repo_user = ? ORDER BY e.id",
                (repo_user,),
            )
        ]

    def kinds(self, repo_user: str) -> list[str]:
        return [kind for kind, _ in self.events(repo_user)]

    def statistics(self, repo_user: str) -> list[tuple[object, ...]]:
        """(bytes_used, file_count) of each Statistic row of the repository, oldest first."""
        return self._query(
            "SELECT s.bytes_used, s.file_count FROM statistic s JOIN repository r"
            " ON r.id = s.repository_id WHERE r.repo_user = ? ORDER BY s.id",
            (repo_user,),
        )

    def times(self, repo_user: str) -> tuple[str | None, str | None]:
        (row,) = self._query(
            "SELECT last_access, last_update FROM repository WHERE repo_user = ?", (repo_user,)
        )
        return (None if row[0] is None else str(row[0]), None if row[1] is None else str(row[1]))

    def event_rows(self, repo_user: str) -> list[tuple[str, str, str]]:
        """(kind, time as stored, detail) of a repository's events in order."""
        return [
            (str(kind), str(time), str(detail))
            for kind, time, detail in self._query(
                "SELECT e.kind, e.time, e.detail FROM event e JOIN repository r "
                "ON e.repository_id = r.id WHERE r.repo_user = ? ORDER BY e.id",
                (repo_user,),
            )
        ]

    def event_count(self) -> int:
        return int(self._query("SELECT count(*) FROM event", ())[0][0])  # type: ignore[call-overload]

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the database's exclusive lock: every other reader and writer waits."""
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            connection.execute("BEGIN EXCLUSIVE")
            yield
            connection.execute("COMMIT")
        finally:
            connection.close()


_HOLD_LOCK = """
import sqlite3, sys
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()
connection.execute("ROLLBACK")
"""


@contextlib.contextmanager
def locked_by_another_process(path: Path) -> Iterator[None]:
    """Another process holds the SQLite store's write lock (``BEGIN IMMEDIATE``, as any
    borghive writer takes it) for the duration: writers wait their busy timeout and fail,
    readers still read."""
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        yield
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        holder.wait(timeout=30)


def store_reader(config: Config) -> StoreReader:
    path = sqlite_path(config.store.url)
    assert path is not None
    return StoreReader(path)


def stored_time(timestamp: float) -> str:
    """An mtime as peewee stores a naive UTC DateTimeField in SQLite."""
    import datetime as dt

    value = dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(tzinfo=None)
    return str(value)


def newest_index_mtime(path: Path) -> float:
    return max(p.stat().st_mtime for p in path.glob("index.*") if p.name[6:].isdigit())


class WatchProcess:
    """``borghive --config FILE --debug watch`` in a subprocess; stderr kept in a file."""

    def __init__(
        self, config_file: Path, log: Path, prefix: tuple[str, ...] = (), ready: bool = True
    ) -> None:
        self.log = log
        self._stderr = open(log, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                *prefix,
                borghive_command(),
                "--config",
                str(config_file),
                "--debug",
                "watch",
                "--stats-delay",
                "0.2",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            env={k: v for k, v in os.environ.items() if not k.startswith("BORGHIVE_")},
        )
        if ready:
            wait_for(lambda: "ready" in self.text() or self.process.poll() is not None, 30)
            assert self.process.poll() is None, self.text()

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait()
        self._stderr.close()
        return code


def add_repository(config: Config, owner: str, name: str) -> str:
    """A repository in the store (no account, no directory); returns its repository user."""
    with open_store(config.store):
        with contextlib.suppress(Exception):
            users.add_user(owner)
        created = repos.create_repository(config, NoAccounts(), f"{owner}/{name}")
    return created.repository.repo_user


def watch_toml(config: Config, busy_timeout: float = 0.5) -> str:
    """A configuration file: the test store with a short busy timeout, and the repos root."""
    store = dataclasses.replace(config.store, busy_timeout=busy_timeout)
    return config_toml(dataclasses.replace(config, store=store))


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Config:
    """A configuration on a migrated SQLite store with an empty repos root."""
    return migrate(make_config(tmp_path, f"sqlite:///{tmp_path}/borghive.db"))


@pytest.fixture
def watch_config_file(tmp_path: Path, sqlite_store: Config) -> Path:
    path = tmp_path / "watch.toml"
    path.write_text(watch_toml(sqlite_store))
    return path


@pytest.fixture
def reader(sqlite_store: Config) -> StoreReader:
    return store_reader(sqlite_store)


@pytest.fixture
def watcher(tmp_path: Path, watch_config_file: Path) -> Iterator[WatchProcess]:
    process = WatchProcess(watch_config_file, tmp_path / "watch.log")
    yield process
    code = process.stop()
    assert code == 0, process.text()
    assert "Traceback" not in process.text(), process.text()

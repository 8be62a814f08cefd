"""The daemon in this process on a real store (SQLite and PostgreSQL) with real inotify:
the overflow handler (wd -1) triggers a rescan that records what the lost events hid and
reconciles the times; statistics refreshes after "updated" are debounced; vanishing
directories, a missing root and a dropped PostgreSQL connection are handled."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.errors import ConfigError
from borghive.rules.accounts import NoAccounts
from borghive.rules.times import from_epoch
from borghive.service.events.records import RepoKey
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import people as users
from borghive.store.models import Event, Repository
from borghive.watch.classify import IN_CREATE, IN_ISDIR
from borghive.watch.daemon import Daemon
from borghive.watch.inotify import EventHandler
from borghive.watch.statistics import RefreshQueue
from tests.harness.config import make_config
from tests.harness.watch import wait_for


def _repository(config: Config, owner: str, name: str, *, on_disk: bool = True) -> RepoKey:
    users.add_user(owner)
    repo_user = repos.create_repository(
        config, NoAccounts(), f"{owner}/{name}"
    ).repository.repo_user
    if on_disk:
        _skeleton(config.repos.root / repo_user / name, 1)
    return RepoKey(repo_user, name)


def _skeleton(path: Path, index: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    (path / "data").mkdir(exist_ok=True)
    for name in ("README", "config", f"index.{index}", f"hints.{index}", f"integrity.{index}"):
        (path / name).write_text("x")


def _kinds(key: RepoKey) -> list[str]:
    query = (
        Event.select(Event.kind)
        .join(Repository)
        .where(Repository.repo_user == key.repo_user)
        .order_by(Event.id)
    )
    return [event.kind for event in query]


def test_overflow_rescans_and_reconciles(store: Config) -> None:
    root = store.repos.root
    kept = _repository(store, "alice", "laptop")
    gone = _repository(store, "bob", "server")
    new = _repository(store, "carol", "nas", on_disk=False)
    refreshed: list[RepoKey] = []
    daemon = Daemon(store, refresh=refreshed.append, refresh_delay=0.05)
    try:
        daemon.start()
        assert daemon.flush()
        assert daemon.watch_count == 1 + 2 + 2
        for key in (kept, gone):
            path = root / key.repo_user / key.name
            repo = Repository.get(Repository.repo_user == key.repo_user)
            assert repo.last_access == from_epoch(path.stat().st_mtime)
            assert repo.last_update == from_epoch((path / "index.1").stat().st_mtime)

        # Changes whose inotify events are never read, as after a queue overflow.
        shutil.rmtree(root / gone.repo_user)
        _skeleton(root / new.repo_user / new.name, 1)
        kept_path = root / kept.repo_user / kept.name
        (kept_path / "index.2").write_text("x")
        os.utime(kept_path / "index.2", (1_800_000_000.5, 1_800_000_000.5))

        EventHandler(daemon=daemon).process_IN_Q_OVERFLOW(None)  # what pyinotify calls on wd -1
        assert daemon.rescan_requested
        daemon.rescan()
        assert daemon.flush()
        assert _kinds(gone) == ["deleted"]
        assert _kinds(new) == ["created"]
        assert _kinds(kept) == ["opened", "updated", "closed"]
        repo = Repository.get(Repository.repo_user == kept.repo_user)
        assert repo.last_update == from_epoch(1_800_000_000.5)
        assert repo.last_access == from_epoch(kept_path.stat().st_mtime)
        wait_for(lambda: refreshed == [kept], timeout=5, what="one statistics refresh")
        assert daemon.watch_count == 1 + 2 + 2  # gone's two watches dropped, new's added
    finally:
        daemon.close()


def test_refreshes_are_debounced_per_repository() -> None:
    calls: list[RepoKey] = []
    done = threading.Event()

    def refresh(key: RepoKey) -> None:
        calls.append(key)
        if len(calls) == 2:
            done.set()

    queue = RefreshQueue(refresh, delay=0.2)
    try:
        first, second = RepoKey("r1", "a"), RepoKey("r2", "b")
        for _ in range(5):
            queue.request(first)
            time.sleep(0.02)
        queue.request(second)
        assert done.wait(5)
        time.sleep(0.3)
        assert calls == [first, second]
        assert queue.pending() == 0
    finally:
        queue.stop()


def test_a_failing_refresh_does_not_stop_the_worker() -> None:
    calls: list[RepoKey] = []

    def refresh(key: RepoKey) -> None:
        calls.append(key)
        raise RuntimeError("statistics service down")

    queue = RefreshQueue(refresh, delay=0.0)
    try:
        queue.request(RepoKey("r1", "a"))
        queue.request(RepoKey("r2", "b"))
        wait_for(lambda: len(calls) == 2, timeout=5, what="both refreshes")
    finally:
        queue.stop()


def test_a_directory_vanishing_while_it_is_watched_is_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path}/unused.db")
    daemon = Daemon(config)
    try:
        daemon.start()
        home = config.repos.root / "rvanish1"
        # the home is gone by the time its IN_CREATE is handled
        daemon.handle(daemon._watched[config.repos.root], IN_CREATE | IN_ISDIR, home.name)
        assert daemon.watch_count == 1
        home.mkdir()
        daemon.handle(daemon._watched[home.parent], IN_CREATE | IN_ISDIR, home.name)
        daemon.handle(daemon._watched[home], IN_CREATE | IN_ISDIR, "laptop")  # gone too
        assert daemon.watch_count == 2
        assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    finally:
        daemon.close()


def test_a_missing_repos_root_is_a_configuration_error(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path}/unused.db")
    config.repos.root.rmdir()
    daemon = Daemon(config)
    handler = signal.getsignal(signal.SIGTERM)
    with pytest.raises(ConfigError, match=r"repos\.root"):
        daemon.run()
    assert signal.getsignal(signal.SIGTERM) is handler  # restored


@pytest.mark.pg
def test_a_dropped_postgresql_connection_is_an_outage_then_reconnects(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from borghive.store import open_store
    from borghive.store.migrations import apply_migrations

    server = request.getfixturevalue("postgres_server")
    server.psql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;", database=server.database)
    config = make_config(tmp_path, server.url)
    with open_store(config.store, check_schema=False, create=True) as db:
        apply_migrations(db)
    with open_store(config.store):
        key = _repository(config, "alice", "laptop")
        daemon = Daemon(config)
        try:
            daemon.start()
            assert daemon.flush()
            server.psql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()",
                database=server.database,
            )
            path = config.repos.root / key.repo_user / key.name
            (path / "index.2").write_text("x")
            daemon.overflowed()
            daemon.rescan()
            assert not daemon.flush(now=0.0)  # the connection is gone: kept, retried later
            assert daemon.outbox.in_outage and len(daemon.outbox.events) == 3
            assert daemon.flush(now=daemon.outbox.retry_at)  # reconnected
            assert _kinds(key) == ["opened", "updated", "closed"]
        finally:
            daemon.close()

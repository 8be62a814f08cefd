"""Stopping the daemon in this process, with real inotify and a real store: the kernel's
queue is drained, a store locked by another process cannot hold the stop past its grace,
what the store cannot take goes to the spool, and the next start writes the spool's events
exactly once, even after a crash during an earlier replay."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from borghive.config import Config
from borghive.errors import ConfigError
from borghive.rules.accounts import NoAccounts
from borghive.service.events.records import EventRecord, RepoKey
from borghive.service.events.writer import EVENT_KINDS, record_changes
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import people as users
from borghive.store import open_store
from borghive.store.models import Event, Repository
from borghive.watch import daemon as daemon_module
from borghive.watch.daemon import Daemon
from borghive.watch.spool import read_spool, write_spool
from tests.harness.watch import locked_by_another_process, store_reader

GRACE = 1.0


def _repository(config: Config, owner: str, name: str) -> tuple[RepoKey, Path]:
    users.add_user(owner)
    repo_user = repos.create_repository(
        config, NoAccounts(), f"{owner}/{name}"
    ).repository.repo_user
    path = config.repos.root / repo_user / name
    (path / "data").mkdir(parents=True)
    for entry in ("README", "config", "index.1", "hints.1", "integrity.1"):
        (path / entry).write_text("x")
    return RepoKey(repo_user, name), path


def _commits(path: Path, count: int) -> None:
    """``count`` index files renamed into place outside any lock: one "updated" each."""
    for number in range(2, count + 2):
        (path / f"index.{number}").write_text("x")


def _events(key: RepoKey) -> list[tuple[str, object, str]]:
    query = (
        Event.select(Event.kind, Event.time, Event.detail)
        .join(Repository)
        .where(Repository.repo_user == key.repo_user)
        .order_by(Event.id)
    )
    return [(event.kind, event.time, event.detail) for event in query]


def _started(config: Config) -> Daemon:
    daemon = Daemon(config)
    daemon.start()
    assert daemon.flush()
    return daemon


def test_a_burst_queued_in_the_kernel_at_stop_is_recorded_in_full(store: Config) -> None:
    """The events are still in the kernel's queue (nothing read them) when the stop
    comes: the stop reads and classifies them all."""
    key, path = _repository(store, "alice", "laptop")
    daemon = _started(store)
    _commits(path, 300)
    daemon.close()
    assert [kind for kind, _, _ in _events(key)] == ["updated"] * 300
    assert daemon.status == 0
    assert not store.watch.spool.exists()


@pytest.fixture
def sqlite_open(sqlite_store: Config) -> Iterator[Config]:
    with open_store(sqlite_store.store):
        yield sqlite_store


def test_a_store_locked_by_another_process_cannot_hold_the_stop(
    sqlite_open: Config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """busy_timeout is 30 s; the stop ends after its grace all the same, every event in
    the spool with its time; the next start writes them once and removes the spool."""
    config = sqlite_open
    assert config.store.busy_timeout == 30.0
    monkeypatch.setattr(daemon_module, "SHUTDOWN_GRACE", GRACE)
    key, path = _repository(config, "bob", "server")
    daemon = _started(config)
    with locked_by_another_process(store_reader(config).path):
        _commits(path, 40)
        started = time.monotonic()
        daemon.close()
        elapsed = time.monotonic() - started
    assert elapsed < GRACE + 1.0, f"stop took {elapsed:.1f} s"
    assert daemon.status == 0
    spooled = read_spool(config.watch.spool, EVENT_KINDS)
    assert [(e.key, e.kind, e.detail) for e in spooled] == [(key, "updated", "1 commit")] * 40
    assert _events(key) == []
    assert "40 events kept in the spool" in caplog.text

    again = Daemon(config)
    assert again.writer.load_spool() == 40
    assert again.flush()
    assert _events(key) == [(e.kind, e.time, e.detail) for e in spooled]
    assert not config.watch.spool.exists()
    again.close()
    assert len(_events(key)) == 40


@pytest.mark.parametrize("stored_before", ["none", "all", "the first half"])
def test_a_replay_after_a_crash_writes_each_event_exactly_once(
    store: Config, stored_before: str
) -> None:
    """A crash after the replay's commit and before the spool's removal leaves events in
    the store and the spool: the next replay writes only what is missing. An event the
    spool holds twice (same time, kind, detail) is kept twice."""
    key, _ = _repository(store, "carol", "nas")
    times = [dt.datetime(2026, 3, 1, 12, 0, second, 123456) for second in range(6)]
    events = [EventRecord(key, "opened", t) for t in times] + [EventRecord(key, "opened", times[0])]
    write_spool(store.watch.spool, events)
    already = {"none": [], "all": events, "the first half": events[:3]}[stored_before]
    record_changes(already, {})
    daemon = Daemon(store)
    assert daemon.writer.load_spool() == len(events)
    assert daemon.flush()
    daemon.close()
    assert sorted(_events(key), key=str) == sorted(
        [(e.kind, e.time, e.detail) for e in events], key=str
    )
    assert not store.watch.spool.exists()


def test_a_spool_that_cannot_be_written_is_an_error_and_the_loss_is_logged(
    tmp_path: Path,
    sqlite_store: Config,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    watch = dataclasses.replace(sqlite_store.watch, spool=blocker / "watch.spool")
    config = dataclasses.replace(sqlite_store, watch=watch)
    monkeypatch.setattr(daemon_module, "SHUTDOWN_GRACE", GRACE)
    with open_store(config.store):
        _, path = _repository(config, "dave", "desktop")
        daemon = _started(config)
        with locked_by_another_process(store_reader(config).path):
            _commits(path, 3)
            daemon.close()
    assert daemon.status == 1
    assert f"cannot write the spool {blocker / 'watch.spool'}" in caplog.text
    assert "3 events lost" in caplog.text


def test_a_spool_that_is_not_one_is_moved_aside_and_logged(
    store: Config, caplog: pytest.LogCaptureFixture
) -> None:
    store.watch.spool.write_text('{"format": 1, "events": [["r1", "x", "exploded", "", ""]]}')
    daemon = Daemon(store)
    with caplog.at_level(logging.ERROR):
        assert daemon.writer.load_spool() == 0
    assert not store.watch.spool.exists()
    corrupt = store.watch.spool.with_name("watch.spool.corrupt")
    assert "exploded" in corrupt.read_text()
    assert f"moved to {corrupt}" in caplog.text


def test_a_spool_that_cannot_be_read_refuses_the_start(store: Config) -> None:
    store.watch.spool.mkdir()
    daemon = Daemon(store)
    with pytest.raises(ConfigError, match=r"watch\.spool: cannot read .*: Is a directory"):
        daemon.run()
    assert store.watch.spool.is_dir()

"""``service/events/writer.py`` on SQLite and PostgreSQL: events and times written in one
transaction, directories without a repository reported, not written."""

from __future__ import annotations

import datetime as dt

import pytest

from borghive.config import Config
from borghive.rules.accounts import NoAccounts
from borghive.service.events.records import EventRecord, RepoKey, RepoTimes
from borghive.service.events.writer import record_changes
from borghive.service.repositories import lifecycle as repos
from borghive.service.users import people as users
from borghive.store.models import Event, Repository

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, 678901)


def _repository(config: Config, owner: str, name: str) -> RepoKey:
    users.add_user(owner)
    created = repos.create_repository(config, NoAccounts(), f"{owner}/{name}")
    return RepoKey(created.repository.repo_user, name)


def test_events_and_times_are_written(store: Config) -> None:
    key = _repository(store, "alice", "laptop")
    events = [
        EventRecord(key, "opened", T0),
        EventRecord(key, "updated", T0, "2 commits"),
        EventRecord(key, "closed", T0 + dt.timedelta(seconds=1)),
    ]
    times = {key: RepoTimes(T0, T0 - dt.timedelta(hours=1))}
    report = record_changes(events, times)
    assert (report.events_written, report.repositories_updated, report.unknown) == (
        3,
        1,
        frozenset(),
    )
    stored = [(e.kind, e.detail, e.time) for e in Event.select().order_by(Event.id)]
    assert stored == [
        ("opened", "", T0),
        ("updated", "2 commits", T0),
        ("closed", "", T0 + dt.timedelta(seconds=1)),
    ]
    repo = Repository.get(Repository.repo_user == key.repo_user)
    assert (repo.last_access, repo.last_update) == (T0, T0 - dt.timedelta(hours=1))
    # the same times again change nothing; None leaves a value alone
    assert record_changes([], times).repositories_updated == 0
    later = T0 + dt.timedelta(days=1)
    assert record_changes([], {key: RepoTimes(later, None)}).repositories_updated == 1
    repo = Repository.get(Repository.repo_user == key.repo_user)
    assert (repo.last_access, repo.last_update) == (later, T0 - dt.timedelta(hours=1))


def test_an_older_observation_never_moves_a_time_back(store: Config) -> None:
    """A rescan that reads an older mtime (a restored directory, a late event) leaves the
    stored times alone: last access and update only move forward, as stats collect moves
    them (store.queries.advance_times)."""
    key = _repository(store, "carol", "desktop")
    assert record_changes([], {key: RepoTimes(T0, T0)}).repositories_updated == 1
    older = T0 - dt.timedelta(days=3)

    report = record_changes([], {key: RepoTimes(older, older)})

    assert report.repositories_updated == 0
    repo = Repository.get(Repository.repo_user == key.repo_user)
    assert (repo.last_access, repo.last_update) == (T0, T0)
    newer = T0 + dt.timedelta(microseconds=1)
    assert record_changes([], {key: RepoTimes(older, newer)}).repositories_updated == 1
    repo = Repository.get(Repository.repo_user == key.repo_user)
    assert (repo.last_access, repo.last_update) == (T0, newer)


def test_directories_without_a_repository_are_reported(store: Config) -> None:
    key = _repository(store, "bob", "server")
    wrong_name = RepoKey(key.repo_user, "other")
    stray = RepoKey("rstray01", "photos")
    report = record_changes(
        [EventRecord(stray, "created", T0), EventRecord(wrong_name, "opened", T0)],
        {stray: RepoTimes(T0, T0), key: RepoTimes(T0, None)},
    )
    assert report.unknown == frozenset({stray, wrong_name})
    assert (report.events_written, report.repositories_updated) == (0, 1)
    assert Event.select().count() == 0


def test_unknown_event_kinds_are_refused(store: Config) -> None:
    with pytest.raises(ValueError, match="unknown event kind"):
        record_changes([EventRecord(RepoKey("r1", "x"), "exploded", T0)], {})


def test_many_repositories_in_one_call(store: Config) -> None:
    keys = [_repository(store, f"user{n}", "repo") for n in range(3)]
    keys += [RepoKey(f"rmissing{n}", "repo") for n in range(1200)]  # several lookup chunks
    report = record_changes([], {key: RepoTimes(T0, T0) for key in keys})
    assert report.repositories_updated == 3
    assert len(report.unknown) == 1200

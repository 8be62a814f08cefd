"""Only a client's commit moves last update: the daemon's writer (record_changes), its
rescans (the same call with times read from disk) and ``stats collect`` (the same query,
store.queries.advance_times), on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path

from borghive.config import Config
from borghive.rules.accounts import NoAccounts
from borghive.rules.times import utcnow
from borghive.service.events.records import RepoKey, RepoTimes
from borghive.service.events.writer import record_changes
from borghive.service.repositories import lifecycle as repos
from borghive.service.stats import collect as stats
from borghive.service.users import people as users
from borghive.store.models import MaintenanceRun, Repository

T0 = dt.datetime(2026, 1, 2, 3, 4, 5, 678901)
MINUTE = dt.timedelta(minutes=1)


def _repository(config: Config, owner: str = "alice", name: str = "laptop") -> RepoKey:
    users.add_user(owner)
    created = repos.create_repository(config, NoAccounts(), f"{owner}/{name}")
    return RepoKey(created.repository.repo_user, name)


def _row(key: RepoKey) -> tuple[object, object, object]:
    repo = Repository.get(Repository.repo_user == key.repo_user)
    return repo.last_access, repo.last_update, repo.last_access_by


def _run(key: RepoKey, started: dt.datetime, finished: dt.datetime | None) -> None:
    MaintenanceRun.create(
        repository=Repository.get(Repository.repo_user == key.repo_user),
        action="compact",
        host="here",
        pid=1,
        started=started,
        finished=finished,
    )


def test_a_client_commit_moves_last_update_and_names_the_client(store: Config) -> None:
    key = _repository(store)
    record_changes([], {key: RepoTimes(T0 + MINUTE, T0)})
    assert _row(key) == (T0 + MINUTE, T0, "client")


def test_a_commit_inside_a_maintenance_run_moves_only_last_access(store: Config) -> None:
    key = _repository(store)
    record_changes([], {key: RepoTimes(T0, T0)})
    _run(key, T0 + MINUTE, T0 + 3 * MINUTE)
    commit = T0 + 2 * MINUTE

    record_changes([], {key: RepoTimes(commit, commit)})

    assert _row(key) == (commit, T0, "maintenance")
    # A rescan reads the same index mtime again (and a later directory mtime): still not.
    record_changes([], {key: RepoTimes(commit + MINUTE, commit)})
    assert _row(key) == (commit + MINUTE, T0, "maintenance")
    # The next client commit, after the run, moves it.
    client = T0 + 10 * MINUTE
    record_changes([], {key: RepoTimes(client, client)})
    assert _row(key) == (client, client, "client")


def test_a_run_still_going_covers_commits_after_its_start(store: Config) -> None:
    key = _repository(store)
    _run(key, T0, None)
    record_changes([], {key: RepoTimes(T0 + MINUTE, T0 + MINUTE)})
    assert _row(key) == (T0 + MINUTE, None, "maintenance")


def test_a_commit_under_a_maintenance_marked_lock_moves_only_last_access(store: Config) -> None:
    key = _repository(store)
    record_changes([], {key: RepoTimes(T0, T0)})
    commit = T0 + MINUTE

    record_changes([], {key: RepoTimes(commit, commit, maintenance=True)})
    assert _row(key) == (commit, T0, "maintenance")
    # The rescan after it has no marker to go by, only what is stored: still maintenance's.
    record_changes([], {key: RepoTimes(commit, commit)})
    assert _row(key) == (commit, T0, "maintenance")


def test_a_maintenance_commit_older_than_the_last_client_update_leaves_who_alone(
    store: Config,
) -> None:
    key = _repository(store)
    record_changes([], {key: RepoTimes(T0, T0)})
    record_changes([], {key: RepoTimes(None, T0 - MINUTE, maintenance=True)})
    assert _row(key) == (T0, T0, "client")


def test_stats_collect_obeys_the_same_rule(
    store: Config, make_borg_repo: Callable[[Path], Path]
) -> None:
    users.add_user("alice")
    created = repos.create_repository(store, NoAccounts(), "alice/laptop")
    path = make_borg_repo(Path(created.repository.path))
    before = utcnow() - dt.timedelta(days=2)
    Repository.update(last_update=before, last_access=before).execute()
    index = max(path.glob("index.*"), key=lambda p: p.stat().st_mtime)
    written = dt.datetime.fromtimestamp(index.stat().st_mtime, dt.UTC).replace(tzinfo=None)
    MaintenanceRun.create(
        repository=Repository.get(),
        action="compact",
        host="here",
        pid=1,
        started=written - MINUTE,
        finished=written + MINUTE,
    )

    stats.collect(store)

    repo = Repository.get()
    assert (repo.last_update, repo.last_access_by) == (before, "maintenance")
    assert repo.last_access >= written
    # Outside the window the same index moves it.
    MaintenanceRun.delete().execute()
    Repository.update(last_access_by=None, last_access=before).execute()
    os.utime(path, (index.stat().st_mtime, index.stat().st_mtime))
    stats.collect(store)
    assert (Repository.get().last_update, Repository.get().last_access_by) == (written, "client")


def test_last_access_by_follows_the_access_that_moves_last_access(store: Config) -> None:
    """After a maintenance commit, a client's read-only session (a later access, the same
    last update, even when the observation is still marked as maintenance's) is the
    client's access; an access inside a maintenance run is maintenance's."""
    key = _repository(store)
    record_changes([], {key: RepoTimes(T0, T0)})
    _run(key, T0 + MINUTE, T0 + 3 * MINUTE)
    commit = T0 + 2 * MINUTE
    record_changes([], {key: RepoTimes(commit, commit, maintenance=True)})
    assert _row(key) == (commit, T0, "maintenance")
    inside = T0 + 150 * dt.timedelta(seconds=1)
    record_changes([], {key: RepoTimes(inside, commit)})
    assert _row(key) == (inside, T0, "maintenance")
    later = T0 + 10 * MINUTE
    record_changes([], {key: RepoTimes(later, commit, maintenance=True, carried=True)})
    assert _row(key) == (later, T0, "client")
    # A marked process's own access, after its commit and outside any run, is maintenance's.
    marked = T0 + 20 * MINUTE
    record_changes([], {key: RepoTimes(marked, marked - MINUTE, maintenance=True)})
    assert _row(key) == (marked, T0, "maintenance")

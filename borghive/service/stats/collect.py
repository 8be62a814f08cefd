"""Usage statistics: collect (one Statistic row per repository per run), refresh one
repository for the watch daemon, and prune old points.

The walks run in worker processes (``walker/pool.py``, ``walker/worker.py``), outside any
transaction; the points are written in short transactions while the walk goes on, so a
long collect never holds the store's write lock for long.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from borghive.config import Config
from borghive.errors import InvalidInputError
from borghive.rules.bounds import JOBS, KEEP_ALL_DAYS, WALK_TIME_LIMIT
from borghive.rules.layout import repository_path
from borghive.rules.times import to_store, utcnow
from borghive.service.history.record import update_histories
from borghive.service.hosts.identity import local_condition, require_local
from borghive.service.hosts.report import report_this_host
from borghive.service.repositories.lifecycle import find_repository
from borghive.store import (
    execute,
    execute_many,
    is_sqlite,
    raw_rows,
    store_errors,
    write_transaction,
)
from borghive.store.models import Repository, Statistic, User, database
from borghive.store.queries import advance_times
from borghive.walker.pool import Walkers, worker_command
from borghive.walker.worker import RepositoryUsage

_STORE_EVERY = 2500  # measured repositories per transaction


@dataclass(frozen=True)
class Retention:
    """Every point younger than ``keep_all_days`` stays; older ones thin out to the newest
    point of each ISO week (``keep_weekly``) or go entirely."""

    keep_all_days: int = 90
    keep_weekly: bool = True

    @classmethod
    def configured(cls, config: Config) -> Retention:
        """The retention of the ``[stats]`` section."""
        return cls(config.stats.keep_all_days, config.stats.keep_weekly)


@dataclass(frozen=True)
class CollectedRepository:
    """One repository's outcome of a collect; ``status`` as in :class:`RepositoryUsage`."""

    owner: str
    name: str
    repo_user: str
    path: str
    status: str
    bytes_used: int
    apparent_bytes: int
    file_count: int
    segment_count: int
    last_access: dt.datetime | None
    last_update: dt.datetime | None
    initialised: bool
    borg_version: int | None
    has_key: bool
    locked: bool
    unreadable: int
    problem: str | None
    duration: float


@dataclass(frozen=True)
class CollectResult:
    """A run's repositories (by owner and name) and its totals. ``missing``: no directory
    yet (the client has not run ``borg init``), not a failure; ``failed``: timeout, error."""

    repositories: tuple[CollectedRepository, ...]
    measured: int
    unchanged: int
    missing: int
    failed: int
    bytes_used: int
    duration: float
    pruned: int
    # Transactions read into the history (borghive.service.history) after the walk.
    transactions: int = 0


@dataclass(frozen=True)
class PruneResult:
    deleted: int
    kept: int
    keep_all_days: int
    keep_weekly: bool


ProgressCallback = Callable[[int, int, CollectedRepository], None]


def _utc(epoch: float | None) -> dt.datetime | None:
    """An epoch time as an aware UTC datetime, to the microsecond."""
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)


def _targets(config: Config, references: Sequence[str]) -> list[tuple[int, str, str, str, str]]:
    """(id, owner, name, repo user, path) of the named repositories, or of all of them.
    Raises NotFoundError for an unknown reference before anything is measured."""
    if references:
        found = {}
        for reference in references:
            repo = find_repository(reference)
            require_local(config, repo, "measure")
            found[repo.id] = (repo.id, repo.owner.name, repo.name, repo.repo_user)
        chosen = list(found.values())
    else:
        chosen = raw_rows(  # plain driver tuples: no peewee conversion of 10,000 rows
            Repository.select(Repository.id, User.name, Repository.name, Repository.repo_user)
            .join(User)
            .where(local_condition(config))  # the repositories on this host's disk
            .order_by(User.name, Repository.name)
        )
    # Joined as text: 10,000 pathlib joins cost a noticeable 0.3 s.
    root = str(config.repos.root)
    return [
        (repo_id, owner, name, user, repository_path(root, user, name))
        for repo_id, owner, name, user in chosen
    ]


def collect(
    config: Config,
    references: Sequence[str] = (),
    *,
    changed_since: int | None = None,
    jobs: int | None = None,
    time_limit: float | None = None,
    retention: Retention | None = None,
    progress: ProgressCallback | None = None,
    worker_prefix: Sequence[str] = (),
) -> CollectResult:
    """Measure the named repositories (all when none are named) in parallel and store one
    Statistic row for each measured one; move the repositories' last access/update forward.

    ``changed_since`` (seconds): skip the walk of repositories with no change on disk in
    that period (they get no row). ``time_limit``: seconds one repository may take; a
    slower one is reported as ``timeout`` and skipped. ``retention``: prune afterwards.
    ``jobs`` and ``time_limit`` default to the ``[stats]`` section (jobs 0: one per CPU,
    at most 8).
    ``worker_prefix`` runs the walkers through another command (tests: ``setpriv``).
    Only this host's repositories are measured (ConflictError for a named repository
    that lives on another host); this host's capacity report follows the walk.
    Raises NotFoundError, InvalidInputError, ConflictError.
    """
    time_limit = config.stats.time_limit if time_limit is None else time_limit
    if not WALK_TIME_LIMIT.holds(time_limit):
        raise InvalidInputError(f"the time limit must be {WALK_TIME_LIMIT.words}")
    workers = config.stats.jobs if jobs is None else jobs
    if not JOBS.holds(workers):
        raise InvalidInputError(f"jobs must be {JOBS.words}")
    started = time.monotonic()
    if workers == 0:
        workers = min(8, os.cpu_count() or 1)
    # Never more walkers than repositories (the pool caps itself again at the paths it
    # is given); counted first so that the walkers still boot while the store is read.
    workers = min(
        workers,
        len(references)
        if references
        else Repository.select().where(local_condition(config)).count(),
    )
    with Walkers(workers, worker_command(worker_prefix)) as walkers:
        targets = _targets(config, references)
        by_path = {target[4]: target for target in targets}
        since = None if changed_since is None else time.time() - changed_since
        results: list[tuple[int, CollectedRepository]] = []
        stored = 0
        for usage in walkers.measure(list(by_path), limit=time_limit, since=since):
            repo_id, owner, name, user, _ = by_path[usage.path]
            item = _collected(owner, name, user, usage)
            results.append((repo_id, item))
            if progress is not None:
                progress(len(results), len(targets), item)
            if len(results) - stored >= _STORE_EVERY:
                # Written while the walk goes on, a short transaction at a time: the
                # store's write lock is never held for long, and little is left to
                # write at the end.
                _store(results[stored:])
                stored = len(results)
    _store(results[stored:])
    # The history follows each walk that found a change: the segments written since the
    # last read (only those are opened).
    histories = update_histories(
        config, [repo_id for repo_id, item in results if item.status == "ok"]
    )
    pruned = prune(retention).deleted if retention is not None else 0
    if not references:
        report_this_host(config)  # a whole collect: capacity and count for placement
    ordered = tuple(item for _, item in sorted(results, key=lambda r: (r[1].owner, r[1].name)))
    return CollectResult(
        repositories=ordered,
        measured=sum(1 for item in ordered if item.status == "ok"),
        unchanged=sum(1 for item in ordered if item.status == "unchanged"),
        missing=sum(1 for item in ordered if item.status == "missing"),
        failed=sum(1 for item in ordered if item.status in ("timeout", "error")),
        bytes_used=sum(item.bytes_used for item in ordered if item.status == "ok"),
        duration=time.monotonic() - started,
        pruned=pruned,
        transactions=sum(update.added for update in histories.values()),
    )


def _collected(owner: str, name: str, user: str, usage: RepositoryUsage) -> CollectedRepository:
    return CollectedRepository(
        owner=owner,
        name=name,
        repo_user=user,
        path=usage.path,
        status=usage.status,
        bytes_used=usage.bytes_used,
        apparent_bytes=usage.apparent_bytes,
        file_count=usage.file_count,
        segment_count=usage.segment_count,
        last_access=_utc(usage.last_access),
        last_update=_utc(usage.last_update),
        initialised=usage.initialised,
        borg_version=usage.borg_version,
        has_key=usage.has_key,
        locked=usage.locked,
        unreadable=usage.unreadable,
        problem=usage.problem,
        duration=usage.duration,
    )


def _store(results: Sequence[tuple[int, CollectedRepository]]) -> None:
    """One transaction: the Statistic rows of measured repositories, and the timestamps of
    measured and unchanged ones (only ever moved forward: the watch daemon sets them too).

    Prepared statements run once per row (:func:`execute_many`): peewee's ``insert_many``
    builds the SQL value by value, and ten thousand single-row queries through the ORM
    cost more than the whole walk."""
    now = utcnow()
    statistics = []
    moved: list[tuple[int, dt.datetime | None, dt.datetime | None]] = []
    for repo_id, item in results:
        if item.status not in ("ok", "unchanged"):
            continue
        access = None if item.last_access is None else to_store(item.last_access)
        update = None if item.last_update is None else to_store(item.last_update)
        moved.append((repo_id, access, update))
        if item.status == "ok":
            statistics.append(
                (
                    repo_id,
                    now,
                    item.bytes_used,
                    item.file_count,
                    item.apparent_bytes,
                    item.segment_count,
                    access,
                    update,
                    item.initialised,
                    item.borg_version,
                    item.has_key,
                    item.locked,
                    item.duration,
                )
            )
    with write_transaction():
        execute_many(_INSERT_STATISTIC, statistics)
        advance_times(moved)


_INSERT_STATISTIC = "INSERT INTO statistic ({}) VALUES ({})".format(  # noqa: S608 - fixed names
    ", ".join(
        field.column_name
        for field in (
            Statistic.repository,
            Statistic.time,
            Statistic.bytes_used,
            Statistic.file_count,
            Statistic.apparent_bytes,
            Statistic.segment_count,
            Statistic.last_access,
            Statistic.last_update,
            Statistic.initialised,
            Statistic.borg_version,
            Statistic.has_key,
            Statistic.locked,
            Statistic.duration,
        )
    ),
    ", ".join(["{p}"] * 13),
)


def refresh_repository(
    config: Config, repo_user_or_reference: str, *, time_limit: float | None = None
) -> CollectedRepository:
    """Measure one repository now and store its Statistic row (the watch daemon calls this
    after an update). Raises NotFoundError; a failed walk is returned, not raised."""
    with store_errors():  # called from the watch daemon's worker thread
        result = collect(config, [repo_user_or_reference], jobs=1, time_limit=time_limit)
    return result.repositories[0]


def prune(retention: Retention | None = None) -> PruneResult:
    """Delete Statistic points older than the retention's ``keep_all_days``, keeping the
    newest point of each repository's ISO week when ``keep_weekly``."""
    retention = Retention() if retention is None else retention
    if not KEEP_ALL_DAYS.holds(retention.keep_all_days):
        raise InvalidInputError(f"keep-all-days must be {KEEP_ALL_DAYS.words}")
    cutoff = utcnow() - dt.timedelta(days=retention.keep_all_days)
    mark = database.obj.param
    if retention.keep_weekly:
        # The week's Monday, so that a week is an ISO week on both back ends. All in one
        # statement: the database ranks a year's points faster than Python reads them.
        week = "date(time, 'weekday 0', '-6 days')" if is_sqlite() else "date_trunc('week', time)"
        statement = (
            "DELETE FROM statistic WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER "  # noqa: S608
            f"(PARTITION BY repository_id, {week} ORDER BY time DESC, id DESC) AS place "
            f"FROM statistic WHERE time < {mark}) AS ranked WHERE place > 1)"
        )
    else:
        statement = f"DELETE FROM statistic WHERE time < {mark}"  # noqa: S608 - fixed names
    with write_transaction():
        deleted = execute(statement, (cutoff,)).rowcount
        [(kept,)] = execute(
            f"SELECT COUNT(*) FROM statistic WHERE time < {mark}",  # noqa: S608 - fixed names
            (cutoff,),
        ).fetchall()
    return PruneResult(
        deleted=deleted,
        kept=kept,
        keep_all_days=retention.keep_all_days,
        keep_weekly=retention.keep_weekly,
    )

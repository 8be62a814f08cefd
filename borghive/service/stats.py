"""Usage statistics: collect (one Statistic row per repository per run), refresh one
repository for the watch daemon, and prune old points.

The walks run outside any transaction (in worker processes, see ``service/usage.py``), so
a long collect never holds the store's write lock; the rows are written at the end.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from peewee import Case

from borghive.config import Config
from borghive.errors import InvalidInputError
from borghive.service.repos import find_repository
from borghive.service.usage import RepositoryUsage, measure_all, worker_command
from borghive.store import rows, store_errors, write_transaction
from borghive.store.models import Repository, Statistic, User, database, utcnow

DEFAULT_TIME_LIMIT = 300.0
_BATCH = 500  # rows per INSERT / ids per DELETE: well under SQLite's variable limit


@dataclass(frozen=True)
class Retention:
    """Every point younger than ``keep_all_days`` stays; older ones thin out to the newest
    point of each ISO week (``keep_weekly``) or go entirely."""

    keep_all_days: int = 90
    keep_weekly: bool = True


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


@dataclass(frozen=True)
class PruneResult:
    deleted: int
    kept: int
    keep_all_days: int
    keep_weekly: bool


ProgressCallback = Callable[[int, int, CollectedRepository], None]


def _utc(epoch: float | None) -> dt.datetime | None:
    """An epoch time as the store's naive UTC, to the microsecond."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.replace(tzinfo=dt.UTC)


def _targets(config: Config, references: Sequence[str]) -> list[tuple[int, str, str, str, str]]:
    """(id, owner, name, repo user, path) of the named repositories, or of all of them.
    Raises NotFoundError for an unknown reference before anything is measured."""
    if references:
        found = {}
        for reference in references:
            repo = find_repository(reference)
            found[repo.id] = (repo.id, repo.owner.name, repo.name, repo.repo_user)
        chosen = list(found.values())
    else:
        chosen = rows(
            Repository.select(Repository.id, User.name, Repository.name, Repository.repo_user)
            .join(User)
            .order_by(User.name, Repository.name)
        )
    # repo_path's layout, joined as text: 10,000 pathlib joins cost a noticeable 0.3 s.
    root = str(config.repos.root).rstrip("/")
    return [
        (repo_id, owner, name, user, f"{root}/{user}/{name}")
        for repo_id, owner, name, user in chosen
    ]


def collect(
    config: Config,
    references: Sequence[str] = (),
    *,
    changed_since: int | None = None,
    jobs: int | None = None,
    time_limit: float = DEFAULT_TIME_LIMIT,
    retention: Retention | None = None,
    progress: ProgressCallback | None = None,
    worker_prefix: Sequence[str] = (),
) -> CollectResult:
    """Measure the named repositories (all when none are named) in parallel and store one
    Statistic row for each measured one; move the repositories' last access/update forward.

    ``changed_since`` (seconds): skip the walk of repositories with no change on disk in
    that period (they get no row). ``time_limit``: seconds one repository may take; a
    slower one is reported as ``timeout`` and skipped. ``retention``: prune afterwards.
    ``worker_prefix`` runs the walkers through another command (tests: ``setpriv``).
    Raises NotFoundError, InvalidInputError.
    """
    if not (0 < time_limit < math.inf):
        raise InvalidInputError("the time limit must be a positive number of seconds")
    started = time.monotonic()
    targets = _targets(config, references)
    by_path = {target[4]: target for target in targets}
    since = None if changed_since is None else time.time() - changed_since
    workers = jobs if jobs is not None else min(8, os.cpu_count() or 1)
    results: list[tuple[int, CollectedRepository]] = []
    for usage in measure_all(
        list(by_path),
        jobs=max(1, workers),
        limit=time_limit,
        since=since,
        command=worker_command(worker_prefix),
    ):
        repo_id, owner, name, user, _ = by_path[usage.path]
        item = _collected(owner, name, user, usage)
        results.append((repo_id, item))
        if progress is not None:
            progress(len(results), len(targets), item)
    _store(results)
    pruned = prune(retention).deleted if retention is not None else 0
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
        last_access=_aware(_utc(usage.last_access)),
        last_update=_aware(_utc(usage.last_update)),
        initialised=usage.initialised,
        borg_version=usage.borg_version,
        has_key=usage.has_key,
        locked=usage.locked,
        unreadable=usage.unreadable,
        problem=usage.problem,
        duration=usage.duration,
    )


def _later(stored: dt.datetime | None, measured: dt.datetime | None) -> dt.datetime | None:
    if measured is None:
        return stored
    return measured if stored is None or measured > stored else stored


def _store(results: Sequence[tuple[int, CollectedRepository]]) -> None:
    """One transaction: the Statistic rows of measured repositories, and the timestamps of
    measured and unchanged ones (only ever moved forward: the watch daemon sets them too)."""
    now = utcnow()
    stored_rows = [
        (
            repo_id,
            now,
            item.bytes_used,
            item.file_count,
            item.apparent_bytes,
            item.segment_count,
            _naive(item.last_access),
            _naive(item.last_update),
            item.initialised,
            item.borg_version,
            item.has_key,
            item.locked,
            item.duration,
        )
        for repo_id, item in results
        if item.status == "ok"
    ]
    seen = {repo_id: item for repo_id, item in results if item.status in ("ok", "unchanged")}
    with write_transaction():
        _insert_statistics(stored_rows)
        ids = list(seen)
        changed: dict[int, tuple[dt.datetime | None, dt.datetime | None]] = {}
        for start in range(0, len(ids), _BATCH):
            for repo_id, access, update in rows(
                Repository.select(
                    Repository.id, Repository.last_access, Repository.last_update
                ).where(Repository.id.in_(ids[start : start + _BATCH]))
            ):
                item = seen[repo_id]
                new = (
                    _later(access, _naive(item.last_access)),
                    _later(update, _naive(item.last_update)),
                )
                if new != (access, update):
                    changed[repo_id] = new
        _update_timestamps(changed)


_STATISTIC_FIELDS = (
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


def _insert_statistics(values: list[tuple[Any, ...]]) -> None:
    """INSERT the rows with one prepared statement (``executemany``): peewee's
    ``insert_many`` builds the SQL value by value, which costs seconds for 10,000 rows."""
    if not values:
        return
    db: Any = database.obj
    columns = ", ".join(field.column_name for field in _STATISTIC_FIELDS)
    marks = ", ".join([db.param] * len(_STATISTIC_FIELDS))
    converters: list[Callable[[Any], Any]] = [field.db_value for field in _STATISTIC_FIELDS]
    cursor = db.cursor()
    cursor.executemany(
        f"INSERT INTO statistic ({columns}) VALUES ({marks})",  # noqa: S608 - fixed names
        [
            tuple(convert(value) for convert, value in zip(converters, row, strict=True))
            for row in values
        ],
    )


def _update_timestamps(changed: dict[int, tuple[dt.datetime | None, dt.datetime | None]]) -> None:
    """Set many repositories' timestamps with one UPDATE … CASE per chunk: ten thousand
    single-row updates would cost more than the whole walk."""
    ids = list(changed)
    for start in range(0, len(ids), _BATCH // 2):
        chunk = ids[start : start + _BATCH // 2]
        columns: dict[Any, Any] = {}
        for position, column in enumerate((Repository.last_access, Repository.last_update)):
            # Only non-null values: PostgreSQL cannot type a CASE of nothing but NULLs.
            cases = [(i, changed[i][position]) for i in chunk if changed[i][position]]
            if cases:
                columns[column] = Case(Repository.id, cases, column)
        Repository.update(columns).where(Repository.id.in_(chunk)).execute()


def _naive(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.replace(tzinfo=None)


def refresh_repository(
    config: Config, repo_user_or_reference: str, *, time_limit: float = DEFAULT_TIME_LIMIT
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
    if retention.keep_all_days < 1:
        raise InvalidInputError("keep-all-days must be at least 1")
    cutoff = utcnow() - dt.timedelta(days=retention.keep_all_days)
    with write_transaction():
        old = rows(
            Statistic.select(Statistic.id, Statistic.repository, Statistic.time)
            .where(Statistic.time < cutoff)
            .order_by(Statistic.repository, Statistic.time.desc(), Statistic.id.desc())
        )
        weeks: set[tuple[int, int, int]] = set()
        doomed: list[int] = []
        for point_id, repo_id, when in old:
            year, week, _ = when.isocalendar()
            if retention.keep_weekly and (repo_id, year, week) not in weeks:
                weeks.add((repo_id, year, week))
                continue
            doomed.append(point_id)
        for start in range(0, len(doomed), _BATCH):
            Statistic.delete().where(Statistic.id.in_(doomed[start : start + _BATCH])).execute()
    return PruneResult(
        deleted=len(doomed),
        kept=len(old) - len(doomed),
        keep_all_days=retention.keep_all_days,
        keep_weekly=retention.keep_weekly,
    )

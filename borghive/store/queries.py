"""Store queries that several use cases share, each defined once.

- :func:`latest_statistics`: "the latest statistic of a repository" — the newest point by
  time, and of two points with the same time the one stored last (highest id). ``repo
  show``, ``stats show``, ``stats export`` and ``alert check`` all read sizes through it.
- :func:`advance_times`: the only writer of ``repository.last_access``/``last_update``,
  moving each only forward (:func:`borghive.rules.times.later` says the same in Python), so
  neither a rescan nor a late event can move a time back, and ``last_update`` only for a
  client's commit (:mod:`borghive.rules.commits`); the watch daemon, its rescans and
  ``stats collect`` all go through it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from borghive.rules.commits import Window, in_window, is_maintenance_commit
from borghive.rules.times import stored_time
from borghive.store.db import execute, execute_many, is_sqlite, rows
from borghive.store.models import MaintenanceRun, Repository, database

_CHUNK = 500  # repository ids per query (well under SQLite's parameter limit)


@dataclass(frozen=True)
class LatestStatistic:
    """The latest point of one repository; ``time`` is aware UTC."""

    repository_id: int
    time: dt.datetime
    bytes_used: int
    apparent_bytes: int | None
    file_count: int
    duration: float | None


def latest_statistics(
    repository_ids: Sequence[int] | None = None, *, before: dt.datetime | None = None
) -> dict[int, LatestStatistic]:
    """The latest point of each repository (all, or those in ``repository_ids``), by
    repository id; with ``before`` (a store value), the latest point older than that.
    Repositories without such a point are left out."""
    mark = database.obj.param
    conditions = [] if before is None else [f"time < {mark}"]
    chunks: Iterable[Sequence[int] | None]
    if repository_ids is None:
        chunks = [None]
    else:
        ids = list(repository_ids)
        chunks = [ids[start : start + _CHUNK] for start in range(0, len(ids), _CHUNK)]
    found: dict[int, LatestStatistic] = {}
    for chunk in chunks:
        where = list(conditions)
        parameters: list[Any] = [] if before is None else [_parameter(before)]
        if chunk is not None:
            if not chunk:
                continue
            where.append(f"repository_id IN ({', '.join([mark] * len(chunk))})")
            parameters.extend(chunk)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        statement = (
            "SELECT repository_id, time, bytes_used, apparent_bytes, file_count, duration "  # noqa: S608 - fixed names
            "FROM (SELECT repository_id, time, bytes_used, apparent_bytes, file_count, "
            "duration, ROW_NUMBER() OVER (PARTITION BY repository_id "
            f"ORDER BY time DESC, id DESC) AS place FROM statistic {clause}) AS ranked "
            "WHERE place = 1"
        )
        for repo_id, when, used, apparent, files, duration in execute(
            statement, tuple(parameters)
        ).fetchall():
            found[repo_id] = LatestStatistic(
                repo_id, stored_time(when), used, apparent, files, duration
            )
    return found


def advance_times(
    moves: Iterable[tuple[int, dt.datetime | None, dt.datetime | None]],
    *,
    maintenance_commits: Collection[int] = (),
    maintenance_accesses: Collection[int] = (),
) -> None:
    """Move ``last_access`` and ``last_update`` of repositories forward: each item is
    (repository id, observed last access, observed last update), store values or None. A
    stored time is replaced only by a later one. Prepared statements, one per column.

    Only a client's commit moves ``last_update`` (:mod:`borghive.rules.commits`): an
    observed update that is maintenance's (its repository id in ``maintenance_commits``,
    i.e. its lock holder carried the maintenance marker; inside one of the repository's
    maintenance runs; or the commit already recorded as maintenance's) moves only
    ``last_access`` and sets ``last_access_by`` to ``maintenance``; a client's commit that
    moves ``last_update`` sets it to ``client``. ``last_access_by`` follows the access that
    moves ``last_access``: maintenance's when a marked process made it (its id in
    ``maintenance_accesses``), inside a maintenance run, or when it is the maintenance
    commit itself; else the client's (a read-only session too)."""
    items = list(moves)
    with_update = sorted({repo_id for repo_id, _, update in items if update is not None})
    stored = _stored_access(with_update)
    windows = _maintenance_windows(sorted({repo_id for repo_id, _, _ in items}))
    access_values: list[tuple[Any, Any, int, Any]] = []
    update_values: list[tuple[Any, int, Any]] = []
    maintenance_values: list[tuple[int, Any]] = []
    for repo_id, access, update in items:
        maintenance = False  # this item's commit is maintenance's
        if update is not None:
            last_access, last_access_by = stored.get(repo_id, (None, None))
            if is_maintenance_commit(
                update,
                marked=repo_id in maintenance_commits,
                windows=windows.get(repo_id, ()),
                last_access=last_access,
                last_access_by=last_access_by,
            ):
                access = update if access is None else max(access, update)
                maintenance = True
                maintenance_values.append((repo_id, _parameter(update)))
            else:
                value = _parameter(update)
                update_values.append((value, repo_id, value))
        if access is not None:
            # An access inside a maintenance run, or the maintenance commit itself, is
            # maintenance's; any other (a client's list, check or commit) is the client's,
            # even when the commit it reads again is still maintenance's.
            by = (
                "maintenance"
                if repo_id in maintenance_accesses
                or in_window(access, windows.get(repo_id, ()))
                or (maintenance and access == update)
                else "client"
            )
            value = _parameter(access)
            access_values.append((value, by, repo_id, value))
    # A maintenance commit newer than the last client update is the last thing that
    # touched the repository; set before last_access moves, which it does not depend on.
    execute_many(
        "UPDATE repository SET last_access_by = 'maintenance' "
        "WHERE id = {p} AND (last_update IS NULL OR last_update < {p})",
        maintenance_values,
    )
    execute_many(
        "UPDATE repository SET last_update = {p}, last_access_by = 'client' "
        "WHERE id = {p} AND (last_update IS NULL OR last_update < {p})",
        update_values,
    )
    execute_many(
        "UPDATE repository SET last_access = {p}, last_access_by = {p} "
        "WHERE id = {p} AND (last_access IS NULL OR last_access < {p})",
        access_values,
    )


def _chunks(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _stored_access(ids: Sequence[int]) -> dict[int, tuple[dt.datetime | None, str | None]]:
    """Stored last access and who made it, by repository id."""
    found: dict[int, tuple[dt.datetime | None, str | None]] = {}
    for chunk in _chunks(ids):
        query = Repository.select(
            Repository.id, Repository.last_access, Repository.last_access_by
        ).where(Repository.id.in_(list(chunk)))
        for repo_id, last_access, last_access_by in rows(query):
            found[int(repo_id)] = (last_access, last_access_by)
    return found


def _maintenance_windows(ids: Sequence[int]) -> dict[int, list[Window]]:
    """Every maintenance run's started..finished window, by repository id."""
    found: dict[int, list[Window]] = {}
    for chunk in _chunks(ids):
        query = MaintenanceRun.select(
            MaintenanceRun.repository, MaintenanceRun.started, MaintenanceRun.finished
        ).where(MaintenanceRun.repository.in_(list(chunk)))
        for repo_id, started, finished in rows(query):
            found.setdefault(int(repo_id), []).append((started, finished))
    return found


def _parameter(moment: dt.datetime) -> object:
    """A store value as a driver parameter: peewee keeps SQLite datetimes as
    ``str(datetime)`` (so text comparison orders them), PostgreSQL takes the object."""
    return str(moment) if is_sqlite() else moment

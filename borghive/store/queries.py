"""Store queries that several use cases share, each defined once.

- :func:`latest_statistics`: "the latest statistic of a repository" — the newest point by
  time, and of two points with the same time the one stored last (highest id). ``repo
  show``, ``stats show``, ``stats export`` and ``alert check`` all read sizes through it.
- :func:`advance_times`: the only writer of ``repository.last_access``/``last_update``,
  moving each only forward (:func:`borghive.rules.times.later` says the same in Python), so
  neither a rescan nor a late event can move a time back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from borghive.rules.times import stored_time
from borghive.store.db import execute, execute_many, is_sqlite
from borghive.store.models import database

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
) -> None:
    """Move ``last_access`` and ``last_update`` of repositories forward: each item is
    (repository id, observed last access, observed last update), store values or None. A
    stored time is replaced only by a later one. Prepared statements, one per column."""
    columns: dict[str, list[tuple[Any, int, Any]]] = {"last_access": [], "last_update": []}
    for repo_id, access, update in moves:
        for column, value in (("last_access", access), ("last_update", update)):
            if value is not None:
                stored = _parameter(value)
                columns[column].append((stored, repo_id, stored))
    for column, values in columns.items():
        execute_many(
            f"UPDATE repository SET {column} = {{p}} "  # noqa: S608 - fixed names
            f"WHERE id = {{p}} AND ({column} IS NULL OR {column} < {{p}})",
            values,
        )


def _parameter(moment: dt.datetime) -> object:
    """A store value as a driver parameter: peewee keeps SQLite datetimes as
    ``str(datetime)`` (so text comparison orders them), PostgreSQL takes the object."""
    return str(moment) if is_sqlite() else moment

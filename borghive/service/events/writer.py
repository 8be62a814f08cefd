"""Repository events and access/update times, as the watch daemon observes them.

The daemon hands over what it saw (events and the times read from the repository
directories); this module maps repository directories to store rows, writes ``Event`` rows
and ``Repository.last_access``/``last_update`` in one transaction, and reports directories
that match no repository. Driver failures become :class:`StoreUnavailableError`, so the
caller can keep its records and try again later. Nothing here migrates the store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from peewee import DatabaseError, InterfaceError, OperationalError

from borghive.config import StoreConfig
from borghive.errors import StoreUnavailableError
from borghive.store import describe, is_sqlite, open_store, rows, write_transaction
from borghive.store.models import EVENT_KINDS, Event, Repository, database

_CHUNK = 500  # repository users per lookup query (well under SQLite's parameter limit)
_Stored = tuple[int, dt.datetime | None, dt.datetime | None]  # id, last access, last update


@dataclass(frozen=True, order=True)
class RepoKey:
    """A repository directory: ``<repos root>/<repo_user>/<name>``."""

    repo_user: str
    name: str


@dataclass(frozen=True)
class EventRecord:
    """One repository event as observed; ``time`` is naive UTC."""

    key: RepoKey
    kind: str
    time: dt.datetime
    detail: str = ""


@dataclass(frozen=True)
class RepoTimes:
    """Times read from disk (naive UTC): directory mtime, newest ``index.*`` mtime."""

    last_access: dt.datetime | None
    last_update: dt.datetime | None


@dataclass(frozen=True)
class RecordReport:
    events_written: int
    repositories_updated: int
    unknown: frozenset[RepoKey]


@contextmanager
def open_event_store(config: StoreConfig) -> Iterator[None]:
    """Open the store for the daemon (schema checked, never migrated); closed on exit.

    Raises StoreOutdatedError (needs ``borghive migrate``) or StoreUnavailableError.
    """
    with open_store(config):
        yield


def store_description(config: StoreConfig) -> str:
    """Where the store is, without credentials (for log lines)."""
    return describe(config.url)


def _repository_ids(keys: set[RepoKey]) -> dict[RepoKey, _Stored]:
    """Store id and times of the repositories among ``keys``."""
    users = sorted({key.repo_user for key in keys})
    found: dict[RepoKey, _Stored] = {}
    for start in range(0, len(users), _CHUNK):
        query = Repository.select(
            Repository.id,
            Repository.repo_user,
            Repository.name,
            Repository.last_access,
            Repository.last_update,
        ).where(Repository.repo_user.in_(users[start : start + _CHUNK]))
        for repo_id, repo_user, name, last_access, last_update in rows(query):
            key = RepoKey(repo_user, name)
            if key in keys:
                found[key] = (int(repo_id), last_access, last_update)
    return found


def _changes(observed: RepoTimes, stored: _Stored) -> bool:
    _, last_access, last_update = stored
    return (observed.last_access not in (None, last_access)) or (
        observed.last_update not in (None, last_update)
    )


def _update_times(updates: list[tuple[RepoTimes, _Stored]]) -> None:
    """One ``executemany`` for all repositories (a peewee query per row costs ~0.3 ms, too
    much for a start-up rescan of 10,000). None keeps the stored value."""
    if not updates:
        return
    db = database.obj
    mark = db.param
    sqlite = is_sqlite(db)

    def value(moment: dt.datetime | None) -> object:
        # peewee keeps SQLite datetimes as str(datetime); PostgreSQL takes the object
        return str(moment) if sqlite and moment is not None else moment

    cursor = db.cursor()
    cursor.executemany(
        f"UPDATE repository SET last_access = COALESCE({mark}, last_access), "  # noqa: S608
        f"last_update = COALESCE({mark}, last_update) WHERE id = {mark}",
        [
            (value(observed.last_access), value(observed.last_update), stored[0])
            for observed, stored in updates
        ],
    )


def _reset_connection() -> None:
    """Drop a connection that failed, so that the next call connects afresh."""
    with contextlib.suppress(Exception):
        database.obj.close()


def record_changes(
    events: Sequence[EventRecord], times: Mapping[RepoKey, RepoTimes]
) -> RecordReport:
    """Write ``events`` and set the repositories' last access/update to ``times`` (None
    leaves a value alone), in one transaction. Records of directories that match no
    repository are left out and named in the report.

    Raises StoreUnavailableError when the store cannot be written; nothing is written then.
    """
    for record in events:
        if record.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {record.kind!r}")
    keys = {record.key for record in events} | set(times)
    if not keys:
        return RecordReport(0, 0, frozenset())
    try:
        with write_transaction():
            known = _repository_ids(keys)
            rows_to_insert = [
                {
                    "repository": known[record.key][0],
                    "kind": record.kind,
                    "time": record.time,
                    "detail": record.detail,
                }
                for record in events
                if record.key in known
            ]
            for start in range(0, len(rows_to_insert), _CHUNK):
                Event.insert_many(rows_to_insert[start : start + _CHUNK]).execute()
            updates = [
                (observed, known[key])
                for key, observed in times.items()
                if key in known and _changes(observed, known[key])
            ]
            _update_times(updates)
    except (OperationalError, InterfaceError, DatabaseError, sqlite3.Error) as exc:
        _reset_connection()
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        raise StoreUnavailableError(f"cannot write repository events: {reason}") from None
    return RecordReport(len(rows_to_insert), len(updates), frozenset(keys - set(known)))

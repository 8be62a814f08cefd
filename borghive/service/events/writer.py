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

from peewee import DatabaseError, InterfaceError, OperationalError

from borghive.config import StoreConfig
from borghive.errors import StoreUnavailableError
from borghive.rules.times import later
from borghive.service.events.records import EventRecord, RecordReport, RepoKey, RepoTimes
from borghive.store import open_store, rows, write_transaction
from borghive.store.models import EVENT_KINDS, Event, Repository, database
from borghive.store.queries import advance_times

_CHUNK = 500  # repository users per lookup query (well under SQLite's parameter limit)
_Stored = tuple[int, dt.datetime | None, dt.datetime | None]  # id, last access, last update


@contextmanager
def open_event_store(config: StoreConfig) -> Iterator[None]:
    """Open the store for the daemon (schema checked, never migrated); closed on exit.

    Raises StoreOutdatedError (needs ``borghive migrate``) or StoreUnavailableError.
    """
    with open_store(config):
        yield


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


def _moves(observed: RepoTimes, stored: _Stored) -> bool:
    """Whether an observation moves a stored time (forward only: see rules.times.later)."""
    _, last_access, last_update = stored
    return later(last_access, observed.last_access) or later(last_update, observed.last_update)


def _reset_connection() -> None:
    """Drop a connection that failed, so that the next call connects afresh."""
    with contextlib.suppress(Exception):
        database.obj.close()


def record_changes(
    events: Sequence[EventRecord], times: Mapping[RepoKey, RepoTimes]
) -> RecordReport:
    """Write ``events`` and move the repositories' last access/update forward to
    ``times`` (an older or None value leaves a time alone), in one transaction. Records of
    directories that match no repository are left out and named in the report.

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
                if key in known and _moves(observed, known[key])
            ]
            advance_times(
                (stored[0], observed.last_access, observed.last_update)
                for observed, stored in updates
            )
    except (OperationalError, InterfaceError, DatabaseError, sqlite3.Error) as exc:
        _reset_connection()
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        raise StoreUnavailableError(f"cannot write repository events: {reason}") from None
    return RecordReport(len(rows_to_insert), len(updates), frozenset(keys - set(known)))

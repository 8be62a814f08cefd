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
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager

from peewee import DatabaseError, InterfaceError, OperationalError

from borghive.config import StoreConfig
from borghive.errors import StoreUnavailableError
from borghive.rules.times import later, utcnow
from borghive.service.events.records import (
    EventRecord,
    RecordReport,
    RepoKey,
    RepoTimes,
    SessionRecord,
    SessionRef,
)
from borghive.service.events.sessions import attributions, write_sessions
from borghive.store import open_store, rows, write_transaction, write_transaction_within
from borghive.store.models import EVENT_KINDS, Event, Repository, database
from borghive.store.queries import advance_times

__all__ = ["EVENT_KINDS", "open_event_store", "record_changes"]

_CHUNK = 500  # repository users per lookup query (well under SQLite's parameter limit)
_Stored = tuple[int, dt.datetime | None, dt.datetime | None]  # id, last access, last update
_Row = tuple[int, str, dt.datetime, str]  # repository id, kind, time, detail


@contextmanager
def open_event_store(config: StoreConfig) -> Iterator[None]:
    """Open the store for the daemon (schema checked, never migrated); closed on exit.

    Raises StoreOutdatedError (needs ``borghive migrate``) or StoreUnavailableError.
    """
    with open_store(config):
        yield


def _repository_ids(
    keys: set[RepoKey], storage_host: str | None = None
) -> tuple[dict[RepoKey, _Stored], set[RepoKey]]:
    """Store id and times of the repositories among ``keys`` (of ``storage_host`` when
    given), and the keys of repositories that live on another host."""
    users = sorted({key.repo_user for key in keys})
    found: dict[RepoKey, _Stored] = {}
    elsewhere: set[RepoKey] = set()
    for start in range(0, len(users), _CHUNK):
        query = Repository.select(
            Repository.id,
            Repository.repo_user,
            Repository.name,
            Repository.last_access,
            Repository.last_update,
            Repository.host,
        ).where(Repository.repo_user.in_(users[start : start + _CHUNK]))
        for repo_id, repo_user, name, last_access, last_update, host in rows(query):
            key = RepoKey(repo_user, name)
            if key not in keys:
                continue
            if storage_host is not None and host != storage_host:
                elsewhere.add(key)
            else:
                found[key] = (int(repo_id), last_access, last_update)
    return found, elsewhere


def _moves(observed: RepoTimes, stored: _Stored) -> bool:
    """Whether an observation moves a stored time (forward only: see rules.times.later)."""
    _, last_access, last_update = stored
    return later(last_access, observed.last_access) or later(last_update, observed.last_update)


def _stored_rows(rows_to_insert: list[dict[str, object]]) -> Counter[_Row]:
    """How many times each of these rows is in the store already (same repository, kind,
    time to the microsecond and detail)."""
    if not rows_to_insert:
        return Counter()
    wanted = {_row(row) for row in rows_to_insert}
    ids = sorted({row[0] for row in wanted})
    earliest, latest = min(row[2] for row in wanted), max(row[2] for row in wanted)
    found: Counter[_Row] = Counter()
    for start in range(0, len(ids), _CHUNK):
        query = Event.select(Event.repository, Event.kind, Event.time, Event.detail).where(
            Event.repository.in_(ids[start : start + _CHUNK]),
            Event.time.between(earliest, latest),
        )
        for repository, kind, time, detail in rows(query):
            row = (int(repository), str(kind), time, str(detail))
            if row in wanted:
                found[row] += 1
    return found


def _row(row: Mapping[str, object]) -> _Row:
    time = row["time"]
    if not isinstance(time, dt.datetime):
        raise TypeError(f"event time {time!r} is not a datetime")
    return (int(str(row["repository"])), str(row["kind"]), time, str(row["detail"]))


def _missing(rows_to_insert: list[dict[str, object]]) -> list[dict[str, object]]:
    """The rows not in the store yet: a row stored n times accounts for its first n copies."""
    stored = _stored_rows(rows_to_insert)
    missing = []
    for row in rows_to_insert:
        key = _row(row)
        if stored[key]:
            stored[key] -= 1
        else:
            missing.append(row)
    return missing


def _reset_connection() -> None:
    """Drop a connection that failed, so that the next call connects afresh."""
    with contextlib.suppress(Exception):
        database.obj.close()


def record_changes(
    events: Sequence[EventRecord],
    times: Mapping[RepoKey, RepoTimes],
    *,
    wait: float | None = None,
    replay: bool = False,
    sessions: Sequence[SessionRecord] = (),
    host: str = "",
    alive: frozenset[SessionRef] | None = None,
    storage_host: str | None = None,
) -> RecordReport:
    """Write ``events`` and move the repositories' last access/update forward to
    ``times`` (an older or None value leaves a time alone), in one transaction. Records of
    directories that match no repository are left out and named in the report.

    ``wait`` bounds the wait for another writer's lock (seconds; None: the configured busy
    timeout). ``replay``: the events may have been written before (a spool replayed again
    after a crash), so an event already in the store is not written twice: events are
    compared by repository, kind, time to the microsecond and detail, in the same
    transaction as the insert.

    ``sessions`` are upserted first (:mod:`borghive.service.events.sessions`), so that an
    event of a session copies its id, key name and source; ``alive`` (with ``host``): the
    sessions of this host still running, the store's other open ones there are ended.

    ``storage_host``: this host's name in the store (repository.host); records of
    repositories living on another host are left out and named in the report's
    ``elsewhere`` (a copy left behind by a move, say). None: every repository.

    Raises StoreUnavailableError when the store cannot be written; nothing is written then.
    """
    for record in events:
        if record.kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {record.kind!r}")
    keys = {record.key for record in events} | set(times) | {record.key for record in sessions}
    if not keys and alive is None:
        return RecordReport(0, 0, frozenset())
    transaction: AbstractContextManager[None] = (
        write_transaction() if wait is None else write_transaction_within(wait)
    )
    try:
        with transaction:
            known, elsewhere = _repository_ids(keys, storage_host)
            ids = {key: stored[0] for key, stored in known.items()}
            write_sessions(sessions, ids, host=host, alive=alive, now=utcnow())
            attributed = attributions(e.session for e in events if e.session is not None)
            rows_to_insert = []
            for record in events:
                if record.key not in known:
                    continue
                found = None if record.session is None else attributed.get(record.session)
                rows_to_insert.append({
                    "repository": known[record.key][0],
                    "kind": record.kind,
                    "time": record.time,
                    "detail": record.detail,
                    "session": None if found is None else found.session_id,
                    "key_name": None if found is None else found.key_name,
                    "source": None if found is None else found.source,
                })  # fmt: skip
            if replay:
                rows_to_insert = _missing(rows_to_insert)
            for start in range(0, len(rows_to_insert), _CHUNK):
                Event.insert_many(rows_to_insert[start : start + _CHUNK]).execute()
            updates = [
                (observed, known[key])
                for key, observed in times.items()
                if key in known and _moves(observed, known[key])
            ]
            advance_times(
                (
                    (stored[0], observed.last_access, observed.last_update)
                    for observed, stored in updates
                ),
                maintenance_commits={
                    stored[0] for observed, stored in updates if observed.maintenance
                },
                maintenance_accesses={
                    stored[0]
                    for observed, stored in updates
                    if observed.maintenance and not observed.carried
                },
            )
    except (OperationalError, InterfaceError, DatabaseError, sqlite3.Error) as exc:
        _reset_connection()
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        raise StoreUnavailableError(f"cannot write repository events: {reason}") from None
    return RecordReport(
        len(rows_to_insert),
        len(updates),
        frozenset(keys - set(known) - elsewhere),
        frozenset(elsewhere),
    )

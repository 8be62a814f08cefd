"""Client sessions as the watch daemon observes them, written to ``borg_session``: inside
the transaction of :func:`borghive.service.events.writer.record_changes`, never on their
own. A session is found by its unique (host, pid, start) and upserted; the key that opened
it is looked up by fingerprint (its id, name and fingerprint copied) and its last use moved
forward; the sessions of this host the daemon no longer sees alive are ended as vanished
(what a restart of the daemon leaves open)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from borghive.service.events.records import RepoKey, SessionRecord, SessionRef
from borghive.store import rows
from borghive.store.models import BorgSession, SshKey


@dataclass(frozen=True)
class Attribution:
    """What an event copies from the session it happened in."""

    session_id: int
    key_name: str | None
    source: str | None


def _find(ref: SessionRef) -> BorgSession | None:
    return BorgSession.get_or_none(
        (BorgSession.host == ref.host)
        & (BorgSession.pid == ref.pid)
        & (BorgSession.started == ref.started)
    )


def _insert(record: SessionRecord, repository_id: int) -> None:
    key = None
    if record.key_fingerprint is not None:
        key = SshKey.get_or_none(SshKey.fingerprint == record.key_fingerprint)
    BorgSession.insert(
        repository=repository_id,
        key=None if key is None else key.id,
        key_name=None if key is None else key.name,
        key_fingerprint=record.key_fingerprint,
        source=record.source,
        source_port=record.source_port,
        host=record.ref.host,
        pid=record.ref.pid,
        program=record.program[:16],
        started=record.ref.started,
        lock_since=record.lock_since,
        ended=record.ended,
        end_reason=record.end_reason,
        committed=record.committed,
    ).execute()
    if key is not None:
        # Forward only: a session recorded late (a replay) does not move it back.
        SshKey.update(last_used=record.ref.started, last_used_from=record.source).where(
            (SshKey.id == key.id)
            & (SshKey.last_used.is_null() | (SshKey.last_used < record.ref.started))
        ).execute()


def _update(row: BorgSession, record: SessionRecord) -> None:
    changes: dict[object, object] = {}
    if row.lock_since is None and record.lock_since is not None:
        changes[BorgSession.lock_since] = record.lock_since
    if row.ended is None and record.ended is not None:
        changes[BorgSession.ended] = record.ended
        changes[BorgSession.end_reason] = record.end_reason
    if record.committed and not row.committed:
        changes[BorgSession.committed] = True
    if changes:
        BorgSession.update(changes).where(BorgSession.id == row.id).execute()


def write_sessions(
    records: Iterable[SessionRecord],
    known: Mapping[RepoKey, int],
    *,
    host: str,
    alive: frozenset[SessionRef] | None,
    now: dt.datetime,
) -> None:
    """Upsert ``records`` (those of repositories in ``known``, by repository id); then,
    when ``alive`` is given, end every open session of ``host`` not in it (``vanished``,
    at ``now``). Runs inside the caller's transaction; driver errors propagate."""
    for record in records:
        repository_id = known.get(record.key)
        if repository_id is None:
            continue
        row = _find(record.ref)
        if row is None:
            _insert(record, repository_id)
        else:
            _update(row, record)
    if alive is None:
        return
    query = BorgSession.select(BorgSession.id, BorgSession.pid, BorgSession.started).where(
        (BorgSession.host == host) & BorgSession.ended.is_null()
    )
    stale = [
        session_id
        for session_id, pid, started in rows(query)
        if SessionRef(host, int(pid), started) not in alive
    ]
    if stale:
        BorgSession.update(ended=now, end_reason="vanished").where(
            BorgSession.id.in_(stale)
        ).execute()


def attributions(refs: Iterable[SessionRef]) -> dict[SessionRef, Attribution]:
    """The stored sessions among ``refs`` with what their events copy."""
    found: dict[SessionRef, Attribution] = {}
    for ref in set(refs):
        row = _find(ref)
        if row is not None:
            found[ref] = Attribution(int(row.id), row.key_name, row.source)
    return found

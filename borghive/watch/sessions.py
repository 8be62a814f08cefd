"""Who is connected, as the daemon sees it: the client sessions (borg serve or rrsync
processes carrying the forced command's key marker) of the repositories it watches, and
the maintenance processes among them, from ``/proc`` and borg's lock files.

Two ways in. A cheap periodic sweep (:meth:`SessionTracker.sweep`, every SWEEP_EVERY
seconds) lists the marked processes of the repository users: it finds the sessions that
never take the lock (rrsync, a client that connects and waits) and ends the ones whose
process is gone. A look at the lock (:meth:`SessionTracker.look`), at each change of a
repository's lock files and at each commit, says which session holds it. What comes out
are :class:`SessionRecord` upserts for the store; nothing here writes.

Lock files name a holder by the pid its own pid namespace gave it (a containerised sshd);
``/proc`` lists it by this host's pid, so both are kept and either matches.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from borghive.rules.layout import repository_path
from borghive.rules.times import from_epoch, utcnow
from borghive.service.events.records import RepoKey, RepoTimes, SessionRecord, SessionRef
from borghive.sessions.locks import host_name, lock_holders, this_host_id
from borghive.sessions.procs import (
    ProcessInfo,
    innermost_pid,
    marked_processes,
    process_info,
    session_leaders,
)
from borghive.watch.classify import EXCLUSIVE_LOCK, ROSTER, Action, Change, Outcome, index_number
from borghive.watch.writer import StoreWriter

SWEEP_EVERY = 2.0  # seconds between two sweeps of /proc


@dataclass
class LiveSession:
    """A marked process of a watched repository, as last seen."""

    key: RepoKey
    info: ProcessInfo
    ref: SessionRef
    inner_pid: int
    locked: bool = False
    committed: bool = False

    @property
    def is_client(self) -> bool:
        return self.info.is_client


def owner_of(pid: int) -> int | None:
    """The uid owning process ``pid``; None when it is gone."""
    try:
        return os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return None


def end_reason(session: LiveSession) -> str:
    """How a session whose process is gone ended: ``closed`` when it had let go of the
    lock (or never held it), ``vanished`` when it died holding it."""
    return "vanished" if session.locked else "closed"


class SessionTracker:
    """The live sessions of the repositories under ``root``; see the module docstring."""

    def __init__(self, root: Path, *, host: str | None = None) -> None:
        self.root = root
        self.host = host or host_name()
        self.live: dict[tuple[int, float], LiveSession] = {}
        self._uids: dict[RepoKey, int | None] = {}
        self._strangers: set[int] = set()  # lock holders' pids that are no session

    # --- which processes belong to which repository ------------------------------------

    def uid(self, key: RepoKey) -> int | None:
        """The repository user's uid: the owner of its repository directory (cached);
        None when gone or owned by root (never a repository user)."""
        if key not in self._uids:
            path = repository_path(self.root, key.repo_user, key.name)
            try:
                owner: int | None = os.stat(path, follow_symlinks=False).st_uid
            except OSError:
                owner = None
            self._uids[key] = owner or None
        return self._uids[key]

    def reroot(self, root: Path) -> None:
        """Look for repositories under ``root`` from now on (their owners read anew)."""
        self.root = root
        self._uids.clear()

    def forget(self, key: RepoKey) -> None:
        """A repository directory is gone (its sessions end at the next sweep)."""
        self._uids.pop(key, None)

    def _add(self, key: RepoKey, info: ProcessInfo) -> tuple[LiveSession, bool]:
        ident = (info.pid, info.started)
        known = self.live.get(ident)
        if known is not None:
            return known, False
        ref = SessionRef(self.host, info.pid, from_epoch(info.started))
        session = LiveSession(key, info, ref, innermost_pid(info.pid) or info.pid)
        self.live[ident] = session
        return session, True

    def _opened(self, key: RepoKey, found: Iterable[ProcessInfo]) -> list[SessionRecord]:
        records = []
        for info in found:
            session, new = self._add(key, info)
            if new and session.is_client:
                records.append(self._record(session))
        return records

    def _record(self, session: LiveSession, **changes: object) -> SessionRecord:
        info = session.info
        record = SessionRecord(
            key=session.key,
            ref=session.ref,
            program=info.program,
            key_fingerprint=info.key_fingerprint,
            source=info.source,
            source_port=info.source_port,
            committed=session.committed,
        )
        return dataclasses.replace(record, **changes)  # type: ignore[arg-type]

    # --- the sweep -----------------------------------------------------------------------

    def sweep(self, keys: Iterable[RepoKey], now: dt.datetime) -> list[SessionRecord]:
        """List the marked processes of the repository users of ``keys``; records for the
        client sessions that are new and for those whose process is gone (ended ``now``)."""
        by_uid: dict[int, RepoKey] = {}
        for key in keys:
            uid = self.uid(key)
            if uid is not None:
                by_uid[uid] = key
        found = session_leaders(marked_processes(set(by_uid))) if by_uid else []
        self._strangers = {pid for pid in self._strangers if os.path.exists(f"/proc/{pid}")}
        records: list[SessionRecord] = []
        seen: set[tuple[int, float]] = set()
        for info in found:
            seen.add((info.pid, info.started))
            session, new = self._add(by_uid[info.uid], info)
            if new and session.is_client:
                records.append(self._record(session))
        for ident, session in list(self.live.items()):
            if ident not in seen:
                del self.live[ident]
                if session.is_client:
                    records.append(self._record(session, ended=now, end_reason=end_reason(session)))
        return records

    # --- the lock ------------------------------------------------------------------------

    def look(
        self, key: RepoKey, now: dt.datetime, *, released: bool = False
    ) -> list[SessionRecord]:
        """Read ``key``'s lock: the sessions it names are locked from ``now`` on (records
        for those newly locked), the others not. A holder on this host that no known
        session matches is looked up by its pid, else (another pid namespace) found by a
        sweep of that repository user's processes.

        The daemon may read an event late, when the lock has changed again: a look after a
        lock file appeared only adds holders; only one after a lock file vanished
        (``released``) lets go of the sessions the lock no longer names."""
        holders = [
            holder
            for holder in lock_holders(Path(repository_path(self.root, key.repo_user, key.name)))
            if holder.host == this_host_id()
        ]
        records: list[SessionRecord] = []
        named = {holder.pid for holder in holders}
        known = {
            pid for s in self.live.values() if s.key == key for pid in (s.info.pid, s.inner_pid)
        }
        unmatched = named - known
        unmatched -= self._strangers
        uid = self.uid(key) if unmatched else None
        for pid in sorted(unmatched) if uid is not None else []:
            # The usual case: the holder is a marked process of this pid namespace (its
            # owner is checked first: a stat is cheaper than reading its environment).
            if owner_of(pid) != uid:
                continue
            info = process_info(pid)
            if info is not None and info.uid == uid and (info.is_client or info.maintenance):
                records += self._opened(key, [info])
                unmatched.discard(pid)
        if unmatched and uid is not None:
            # A holder from another pid namespace (a containerised sshd): find it by
            # sweeping the repository user's processes.
            records += self._opened(key, session_leaders(marked_processes({uid})))
            found = {
                p for s in self.live.values() if s.key == key for p in (s.info.pid, s.inner_pid)
            }
            # What no sweep explains is no session (a borg someone runs by hand): not
            # looked for again while that pid lives.
            self._strangers |= unmatched - found
        mine = [session for session in self.live.values() if session.key == key]
        for session in mine:
            holds = session.info.pid in named or session.inner_pid in named
            if holds and not session.locked and session.is_client:
                records.append(self._record(session, lock_since=now))
            if holds or released:
                session.locked = holds
        return records

    def holder(self, key: RepoKey) -> LiveSession | None:
        """The session of ``key`` that holds its lock (a client's before maintenance's),
        else its newest client session; None when there is none."""
        mine = [session for session in self.live.values() if session.key == key]
        locked = [session for session in mine if session.locked]
        if locked:
            return max(locked, key=lambda s: (s.is_client, s.info.started))
        clients = [session for session in mine if session.is_client]
        return max(clients, key=lambda s: s.info.started) if clients else None

    def commit(self, key: RepoKey, now: dt.datetime) -> tuple[list[SessionRecord], bool]:
        """A commit happened in ``key``: the records it causes (the lock's client sessions
        committed) and whether maintenance made it (a locked maintenance process and no
        locked client)."""
        # Who held the lock when it was taken: by now it may be released already.
        locked = [s for s in self.live.values() if s.key == key and s.locked]
        records = [] if locked else self.look(key, now)
        locked = [s for s in self.live.values() if s.key == key and s.locked]
        clients = [session for session in locked if session.is_client]
        for session in clients:
            if not session.committed:
                session.committed = True
                records.append(self._record(session))
        maintenance = bool(locked) and not clients
        return records, maintenance

    def changed(
        self, key: RepoKey, change: Change, index: int, now: dt.datetime
    ) -> tuple[list[SessionRecord], bool]:
        """A change in ``key``'s directory (``index``: the highest index.N known before
        it): a new index is a commit (:meth:`commit`), a lock file a look at the lock
        (:meth:`look`), anything else nothing. Returns the records and whether it was a
        commit by maintenance."""
        number = index_number(change.name)
        if number is not None and change.action is Action.APPEARED and number > index:
            return self.commit(key, now)
        if change.name in (EXCLUSIVE_LOCK, ROSTER):
            return self.look(key, now, released=change.action is Action.VANISHED), False
        return [], False

    def refs(self) -> frozenset[SessionRef]:
        """The client sessions alive now."""
        return frozenset(s.ref for s in self.live.values() if s.is_client)


class SessionFeed:
    """The daemon's glue: what the tracker finds goes to the writer's outbox; events name
    the session they happened in; times of a maintenance commit say so. Does nothing when
    not ``enabled`` (watch.sessions = false)."""

    def __init__(self, writer: StoreWriter, *, enabled: bool = True) -> None:
        self.writer = writer
        self.tracker = SessionTracker(writer.root) if enabled else None
        writer.host = "" if self.tracker is None else self.tracker.host
        self._next_sweep = 0.0
        self._maintenance: set[RepoKey] = set()  # a maintenance process committed there

    def reroot(self, root: Path) -> None:
        """A reload changed the repos root: repositories are found there from now on."""
        if self.tracker is not None:
            self.tracker.reroot(root)

    def _add(self, records: list[SessionRecord]) -> None:
        assert self.tracker is not None  # noqa: S101 - only called when enabled
        for record in records:
            self.writer.outbox.add_session(record)
        self.writer.outbox.set_alive(self.tracker.refs())

    def changed(self, key: RepoKey, change: Change, index: int) -> None:
        """A change in ``key``'s directory, before it is classified."""
        if self.tracker is None:
            return
        records, maintenance = self.tracker.changed(key, change, index, utcnow())
        if maintenance:
            self._maintenance.add(key)
        if records:
            self._add(records)

    def sweep_if_due(self, keys: Iterable[RepoKey], now: float) -> None:
        """Sweep /proc when SWEEP_EVERY seconds (monotonic ``now``) have passed."""
        if self.tracker is None or now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_EVERY
        self._add(self.tracker.sweep(list(keys), utcnow()))

    def session_of(self, key: RepoKey) -> SessionRef | None:
        """The client session an event of ``key`` happens in, where one is known."""
        holder = None if self.tracker is None else self.tracker.holder(key)
        return None if holder is None or not holder.is_client else holder.ref

    def times(self, key: RepoKey, times: RepoTimes) -> RepoTimes:
        """``times`` marked as maintenance's when maintenance committed in this session."""
        return dataclasses.replace(times, maintenance=True) if key in self._maintenance else times

    def emitted(self, key: RepoKey, outcomes: Iterable[Outcome], *, gone: bool) -> None:
        """A session's end (or the directory's) forgets its maintenance commit."""
        if gone and self.tracker is not None:
            self.tracker.forget(key)
        if gone or any(outcome.kind in ("closed", "deleted") for outcome in outcomes):
            self._maintenance.discard(key)

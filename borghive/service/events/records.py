"""The records the watch daemon passes around: which repository, what happened, and the
times read from disk. Plain dataclasses (no store, no peewee), so the daemon's pure parts
and their tests import nothing heavy; :mod:`borghive.service.events.writer` stores them."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class RepoKey:
    """A repository directory: ``<repos root>/<repo_user>/<name>``."""

    repo_user: str
    name: str


@dataclass(frozen=True, order=True)
class SessionRef:
    """One borg session, as the store's unique index names it: the host it runs on, its
    pid there and its process's start time (naive UTC)."""

    host: str
    pid: int
    started: dt.datetime


@dataclass(frozen=True)
class EventRecord:
    """One repository event as observed; ``time`` is naive UTC. ``session``: the session
    it happened in, where known (its key and source are copied onto the event)."""

    key: RepoKey
    kind: str
    time: dt.datetime
    detail: str = ""
    session: SessionRef | None = None


@dataclass(frozen=True)
class SessionRecord:
    """What the daemon knows of one client session (a borg serve or rrsync process that
    carries the key marker). Written as an upsert on ``ref``: a field left None (False)
    leaves what is stored alone, so the same session can be recorded again as it goes on
    (locked, committed, ended). Times are naive UTC; ``end_reason`` closed|killed|vanished.
    """

    key: RepoKey
    ref: SessionRef
    program: str
    key_fingerprint: str | None = None
    source: str | None = None
    source_port: int | None = None
    lock_since: dt.datetime | None = None
    ended: dt.datetime | None = None
    end_reason: str | None = None
    committed: bool = False

    def merged(self, newer: SessionRecord) -> SessionRecord:
        """This record with what ``newer`` (of the same session) adds: first lock and
        first end win, a commit is never undone."""
        return SessionRecord(
            key=self.key,
            ref=self.ref,
            program=self.program or newer.program,
            key_fingerprint=self.key_fingerprint or newer.key_fingerprint,
            source=self.source or newer.source,
            source_port=self.source_port if self.source_port is not None else newer.source_port,
            lock_since=self.lock_since or newer.lock_since,
            ended=self.ended or newer.ended,
            end_reason=self.end_reason or newer.end_reason,
            committed=self.committed or newer.committed,
        )


@dataclass(frozen=True)
class RepoTimes:
    """Times read from disk (naive UTC): directory mtime, newest ``index.*`` mtime.
    ``maintenance``: the commit behind ``last_update`` was made while a process carrying
    the maintenance marker held the lock, so it moves only last access. ``carried``: that
    mark was carried over from an earlier observation of the same commit, so it says
    nothing about who made this observation's access (a client's later session)."""

    last_access: dt.datetime | None
    last_update: dt.datetime | None
    maintenance: bool = False
    carried: bool = False


@dataclass(frozen=True)
class RecordReport:
    events_written: int
    repositories_updated: int
    unknown: frozenset[RepoKey]
    # Directories of repositories that live on another storage host (left out quietly).
    elsewhere: frozenset[RepoKey] = frozenset()

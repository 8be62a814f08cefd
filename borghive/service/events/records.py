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


@dataclass(frozen=True)
class EventRecord:
    """One repository event as observed; ``time`` is naive UTC."""

    key: RepoKey
    kind: str
    time: dt.datetime
    detail: str = ""


@dataclass(frozen=True)
class RepoTimes:
    """Times read from disk (naive UTC): directory mtime, newest ``index.*`` mtime.
    ``maintenance``: the commit behind ``last_update`` was made while a process carrying
    the maintenance marker held the lock, so it moves only last access."""

    last_access: dt.datetime | None
    last_update: dt.datetime | None
    maintenance: bool = False


@dataclass(frozen=True)
class RecordReport:
    events_written: int
    repositories_updated: int
    unknown: frozenset[RepoKey]

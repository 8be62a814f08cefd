"""Whose commit moved a repository: the one rule by which only a client's commit moves
``last update`` (and so silences or recovers a stale alert).

A commit is maintenance's, and moves only ``last access`` (``last_access_by`` then
``maintenance``), when any of these holds:

- the process holding the lock carried the maintenance marker (the daemon saw it);
- the commit's time lies in a maintenance run's ``started``..``finished`` window for that
  repository (an unfinished run's window is open-ended);
- the stored last access was maintenance's and is not older than the commit: the commit a
  rescan or ``stats collect`` reads again from the index file's mtime is the one the daemon
  already recorded as maintenance's.

Store values throughout (naive UTC). Standard library only, like every rules module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

Window = tuple[dt.datetime, dt.datetime | None]  # a maintenance run: started, finished


def in_window(moment: dt.datetime, windows: Iterable[Window]) -> bool:
    """Whether ``moment`` lies in one of the maintenance ``windows`` (ends included; an
    end of None is a run still going)."""
    return any(start <= moment and (end is None or moment <= end) for start, end in windows)


def is_maintenance_commit(
    update: dt.datetime,
    *,
    marked: bool = False,
    windows: Iterable[Window] = (),
    last_access: dt.datetime | None = None,
    last_access_by: str | None = None,
) -> bool:
    """Whether a commit seen at ``update`` is maintenance's (see the module docstring):
    ``marked`` when its lock holder carried the maintenance marker, ``windows`` the
    repository's maintenance runs, ``last_access``/``last_access_by`` as stored."""
    if marked or in_window(update, windows):
        return True
    return last_access_by == "maintenance" and last_access is not None and update <= last_access

"""What ``borghive maintain`` would do now: pure, no store, no clock of its own.

An action is due when its last run is older than its period (the repository's own, else
the [maintenance] default; 0 is never). A repository that never had one is first due at a
stable offset within the period after its creation, different per repository and action,
so a thousand repositories created on one day do not all fall on one night, and stay
spread afterwards. A due action is skipped, with the reason, while a client session is
open, when the repository is disabled, being purged or not served by borg, and (compact
only) when a key is append-only and compaction was not allowed, or while a deletion holds
compaction back (the reason names the transaction and until when).
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass

ACTIONS = ("compact", "check")


@dataclass(frozen=True)
class RepositoryState:
    """What the plan needs of one repository; times aware UTC; ``*_every`` as stored
    (None: the default, 0: never)."""

    id: int
    shown: str
    mode: str
    being_purged: bool
    created: dt.datetime
    compact_every: int | None
    check_every: int | None
    last_compact: dt.datetime | None
    last_check: dt.datetime | None
    append_only: bool
    compact_append_only: bool
    session_open: bool
    compact_hold: str | None = None  # why compaction waits after a deletion (hold.py)


@dataclass(frozen=True)
class Defaults:
    """The [maintenance] periods in seconds (0: never)."""

    compact_every: int
    check_every: int


@dataclass(frozen=True)
class Step:
    """One due action; ``last`` is the last run the plan saw (None: never), which a run
    compares with the record to tell whether another host did it meanwhile."""

    repository_id: int
    repository: str
    action: str
    last: dt.datetime | None
    due_since: dt.datetime


@dataclass(frozen=True)
class Skip:
    """A due action that is not run now, and why."""

    repository_id: int
    repository: str
    action: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """Due steps (a repository's in order: compact before check), skips, and how many
    actions were not due."""

    steps: tuple[Step, ...]
    skipped: tuple[Skip, ...]
    not_due: int


def offset(repository_id: int, action: str, period: int) -> int:
    """A stable offset in [0, period) seconds for a repository's action."""
    if period <= 0:
        return 0
    return zlib.crc32(f"{action}:{repository_id}".encode()) % period


def due_at(
    state: RepositoryState, action: str, defaults: Defaults
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(when ``action`` is next due, or None for never; the last run)."""
    if action == "compact":
        every, last, default = state.compact_every, state.last_compact, defaults.compact_every
    else:
        every, last, default = state.check_every, state.last_check, defaults.check_every
    period = default if every is None else every
    if period <= 0:
        return None, last
    if last is not None:
        return last + dt.timedelta(seconds=period), last
    return state.created + dt.timedelta(seconds=offset(state.id, action, period)), None


def _blocked(state: RepositoryState, action: str) -> str | None:
    if state.being_purged:
        return "being purged"
    if state.mode == "disabled":
        return "disabled"
    if state.mode != "borg":
        return f"not a borg repository (mode {state.mode})"
    if action == "compact" and state.compact_hold is not None:
        return state.compact_hold
    if action == "compact" and state.append_only and not state.compact_append_only:
        return "append-only (repo set --compact-append-only yes allows compaction)"
    if state.session_open:
        return "a client session is open (retried at the next run)"
    return None


def plan_maintenance(states: list[RepositoryState], defaults: Defaults, now: dt.datetime) -> Plan:
    """The steps due at ``now`` (aware UTC), ordered by how long they have been due
    (repository by repository), the skips, and the count of actions not due."""
    steps: list[Step] = []
    skipped: list[Skip] = []
    not_due = 0
    for state in states:
        for action in ACTIONS:
            due, last = due_at(state, action, defaults)
            if due is None or due > now:
                not_due += 1
                continue
            reason = _blocked(state, action)
            if reason is not None:
                skipped.append(Skip(state.id, state.shown, action, reason))
            else:
                steps.append(Step(state.id, state.shown, action, last, due))
    first_due: dict[int, dt.datetime] = {}
    for step in steps:
        first_due[step.repository_id] = min(
            step.due_since, first_due.get(step.repository_id, step.due_since)
        )
    steps.sort(key=lambda s: (first_due[s.repository_id], s.repository_id, ACTIONS.index(s.action)))
    return Plan(tuple(steps), tuple(skipped), not_due)

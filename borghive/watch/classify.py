"""Pure classification of filesystem changes in a borg repository directory.

No inotify, no clock, no store: the daemon turns each raw inotify event into a
:class:`Change` (:func:`change_from_mask`) and feeds it to :func:`classify` together with
the repository's :class:`RepoState`; what comes back is the new state and the repository
events (:class:`Outcome`) to record. Tests feed event sequences observed from borg 1.2.4
(recorded in ``tests/unit``) straight into these functions.

A *session* runs from the first exclusive lock (or lock roster) until both are gone: a
read-only ``borg list`` takes and drops ``lock.exclusive`` twice but keeps ``lock.roster``
in between, so it is one session, one ``opened``/``closed`` pair. Every ``index.N`` renamed
into place during a session is a commit; the session ends with one ``updated`` carrying
the number of commits, then ``closed``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum

# inotify(7) mask bits (kernel ABI), spelled out so this module needs no pyinotify.
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_ISDIR = 0x40000000

EXCLUSIVE_LOCK = "lock.exclusive"
ROSTER = "lock.roster"
CREATION_MARKERS = frozenset({"README", "config"})
_INDEX = re.compile(r"index\.(\d+)")


class Action(Enum):
    APPEARED = "appeared"
    VANISHED = "vanished"


@dataclass(frozen=True)
class Change:
    """One entry of a directory appearing or vanishing."""

    action: Action
    name: str
    is_dir: bool = False


@dataclass(frozen=True)
class Outcome:
    """A repository event to record: ``kind`` is one of the store's EVENT_KINDS."""

    kind: str
    detail: str = ""


@dataclass(frozen=True)
class RepoState:
    """What the daemon knows about one repository directory.

    ``exclusive``/``roster``: the lock files are present; ``session``: an opened event was
    recorded (or a session was already running when the daemon found the repository);
    ``commits``: index files renamed into place in this session; ``index``: the highest
    ``index.N`` seen; ``created``: the repository is known to exist (recorded, or found at
    start-up), so ``README``/``config`` rewrites are not creations.
    """

    exclusive: bool = False
    roster: bool = False
    session: bool = False
    commits: int = 0
    index: int = 0
    created: bool = False


def change_from_mask(mask: int, name: str) -> Change | None:
    """The :class:`Change` an inotify event stands for, or None when irrelevant."""
    if not name:
        return None
    is_dir = bool(mask & IN_ISDIR)
    if mask & (IN_CREATE | IN_MOVED_TO):
        return Change(Action.APPEARED, name, is_dir)
    if mask & (IN_DELETE | IN_MOVED_FROM):
        return Change(Action.VANISHED, name, is_dir)
    return None


def index_number(name: str) -> int | None:
    """N for ``index.N``; None for any other name (``index.N.tmp`` included)."""
    match = _INDEX.fullmatch(name)
    return int(match.group(1)) if match else None


def commit_detail(commits: int) -> str:
    """The detail text of an ``updated`` event."""
    return f"{commits} commit" if commits == 1 else f"{commits} commits"


def _close_if_idle(state: RepoState) -> tuple[RepoState, tuple[Outcome, ...]]:
    if not state.session or state.exclusive or state.roster:
        return state, ()
    outcomes: tuple[Outcome, ...] = ()
    if state.commits:
        outcomes = (Outcome("updated", commit_detail(state.commits)),)
    return replace(state, session=False, commits=0), (*outcomes, Outcome("closed"))


def _open(state: RepoState) -> tuple[RepoState, tuple[Outcome, ...]]:
    if state.session:
        return state, ()
    return replace(state, session=True, commits=0), (Outcome("opened"),)


def classify(state: RepoState, change: Change) -> tuple[RepoState, tuple[Outcome, ...]]:
    """The next state of a repository and the events one change in its directory causes."""
    name = change.name
    appeared = change.action is Action.APPEARED
    if name in CREATION_MARKERS:
        if appeared and not state.created:
            return replace(state, created=True), (Outcome("created"),)
        return state, ()
    if name == EXCLUSIVE_LOCK:
        state = replace(state, exclusive=appeared)
        return _open(state) if appeared else _close_if_idle(state)
    if name == ROSTER:
        state = replace(state, roster=appeared)
        return _open(state) if appeared else _close_if_idle(state)
    number = index_number(name)
    if number is not None and appeared and number > state.index:
        state = replace(state, index=number)
        if state.session:
            return replace(state, commits=state.commits + 1), ()
        return state, (Outcome("updated", commit_detail(1)),)  # a commit outside any lock
    return state, ()


def highest_index(names: Iterable[str]) -> int:
    """The highest N of the ``index.N`` files among ``names`` (0 when there is none)."""
    return max((n for n in map(index_number, names) if n is not None), default=0)


def discovered(names: Iterable[str], *, new: bool) -> tuple[RepoState, tuple[Outcome, ...]]:
    """The state of a repository directory found by scanning, given its entries.

    ``new``: the directory appeared while the daemon was running, so a borg repository
    already inside it was created just now (its README/config events happened before the
    watch was in place); otherwise it existed at start-up and nothing is recorded.
    """
    entries = frozenset(names)
    is_repository = bool(entries & CREATION_MARKERS)
    state = RepoState(
        exclusive=EXCLUSIVE_LOCK in entries,
        roster=ROSTER in entries,
        index=highest_index(entries),
        created=is_repository,
    )
    locked = state.exclusive or state.roster
    if not new:
        return replace(state, session=locked), ()
    outcomes: tuple[Outcome, ...] = (Outcome("created"),) if is_repository else ()
    if locked:
        state, opened = _open(state)
        outcomes += opened
    return state, outcomes


def resynchronised(state: RepoState, names: Iterable[str]) -> tuple[RepoState, tuple[Outcome, ...]]:
    """Bring a known repository's state in line with a fresh listing after events were
    lost (queue overflow): missed commits count as one, a missed lock release closes the
    session, a missed creation is recorded."""
    entries = frozenset(names)
    outcomes: tuple[Outcome, ...] = ()
    if not state.created and entries & CREATION_MARKERS:
        state = replace(state, created=True)
        outcomes += (Outcome("created"),)
    number = highest_index(entries)
    state = replace(state, exclusive=EXCLUSIVE_LOCK in entries, roster=ROSTER in entries)
    if number > state.index:
        state = replace(state, index=number)
        if not state.session:
            state, opened = _open(state)
            outcomes += opened
        state = replace(state, commits=state.commits + 1)
    elif state.exclusive or state.roster:
        state, opened = _open(state)
        outcomes += opened
    state, closing = _close_if_idle(state)
    return state, outcomes + closing


def removed(state: RepoState) -> tuple[Outcome, ...]:
    """The events of a repository directory that vanished: a session still open ends
    (``borg delete`` removes the directory under its own lock), then ``deleted``."""
    outcomes: tuple[Outcome, ...] = ()
    if state.session:
        if state.commits:
            outcomes += (Outcome("updated", commit_detail(state.commits)),)
        outcomes += (Outcome("closed"),)
    return (*outcomes, Outcome("deleted", "repository directory removed"))

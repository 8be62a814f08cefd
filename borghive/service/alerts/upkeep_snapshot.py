"""What the maintenance alerts read: failed checks (repository.last_check_ok), locks held
too long, and the repositories their earlier alerts were about.

A lock is read from two places. The watch daemon's ``borg_session`` rows (open, with a
``lock_since``) cover every host sharing the store; the lock files on disk
(``lock.exclusive``, ``lock.roster`` and their mtime, read by the killable walkers, so a
hung mount costs at most the time limit) cover this host's repositories without the
daemon, and overrule the rows for them: a repository whose directory is here and shows no
lock is not locked, whatever a row left open says. A lock whose every holder is a dead
process on this host is not stuck: borg removes it at the next access.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from borghive.config import Config
from borghive.rules.layout import repository_path
from borghive.rules.quantities import parse_duration
from borghive.rules.times import aware, from_epoch, stored_time
from borghive.service.alerts.plan import Snapshot
from borghive.service.alerts.snapshot import repo_rows
from borghive.service.alerts.upkeep_messages import (
    CHECK_FAILED,
    LOCK_STUCK,
    UPKEEP_KINDS,
    LockHolding,
    Trouble,
)
from borghive.service.hosts.identity import local_condition
from borghive.sessions.locks import (
    LockHolder,
    holder_state,
    host_name,
    lock_holders,
    this_host_id,
)
from borghive.sessions.procs import innermost_pid, process_info
from borghive.store import raw_rows
from borghive.store.models import AlertState, BorgSession, Repository, SshKey
from borghive.walker.pool import measure_all, worker_command

_CHUNK = 500
_DETAIL_LIMIT = 500


def one_line(text: str | None) -> str:
    """borg's words about a failed check as one printable line of at most 500 characters
    (it goes into subjects' neighbours, webhook bodies and ``alert list``)."""
    printable = "".join(ch if ch.isprintable() else " " for ch in (text or ""))
    words = " ".join(printable.split())
    return words if len(words) <= _DETAIL_LIMIT else words[: _DETAIL_LIMIT - 1] + "…"


@dataclass(frozen=True)
class DiskLock:
    """A repository directory of this host as the walkers saw it: ``status`` is ``locked``,
    ``unlocked``, ``absent`` (not on this host) or ``unknown`` (unreadable, timed out)."""

    status: str
    since: float | None = None


def read_disk_locks(
    paths: Sequence[str], *, jobs: int, time_limit: float, worker_prefix: Sequence[str] = ()
) -> dict[str, DiskLock]:
    """Each path's lock as its top level shows it, read by killable workers."""
    found: dict[str, DiskLock] = {}
    # since=inf: only the top level is read (the lock files), the tree is never walked.
    for usage in measure_all(
        list(paths),
        jobs=jobs,
        limit=time_limit,
        since=math.inf,
        command=worker_command(worker_prefix),
    ):
        if usage.status == "unchanged":
            found[usage.path] = (
                DiskLock("unlocked")
                if usage.lock_since is None
                else DiskLock("locked", usage.lock_since)
            )
        elif usage.status == "missing":
            found[usage.path] = DiskLock("absent")
        else:
            found[usage.path] = DiskLock("unknown")
    return found


@dataclass(frozen=True)
class _Session:
    id: int
    key_name: str | None
    source: str | None
    host: str
    pid: int
    lock_since: dt.datetime


def _open_sessions() -> dict[int, list[_Session]]:
    """Open sessions holding a lock, by repository."""
    found: dict[int, list[_Session]] = {}
    query = BorgSession.select(
        BorgSession.id,
        BorgSession.repository,
        BorgSession.key_name,
        BorgSession.source,
        BorgSession.host,
        BorgSession.pid,
        BorgSession.lock_since,
    ).where(BorgSession.ended.is_null() & BorgSession.lock_since.is_null(False))
    for session_id, repo_id, key_name, source, host, pid, since in raw_rows(query):
        found.setdefault(repo_id, []).append(
            _Session(session_id, key_name, source, host, pid, stored_time(since))
        )
    for sessions in found.values():
        sessions.sort(key=lambda s: (s.lock_since, s.id))
    return found


def _key_name(fingerprint: str | None) -> str | None:
    if not fingerprint:
        return None
    rows = raw_rows(SshKey.select(SshKey.name).where(SshKey.fingerprint == fingerprint))
    return next((name for (name,) in rows), None)


def _disk_holding(
    holders: list[LockHolder], since: dt.datetime, sessions: list[_Session]
) -> LockHolding | None:
    """Who holds a lock seen on disk: a holder still alive (or on another host), named by
    its session row when there is one, else by its process; None when every holder is a
    dead process of this host."""
    host_id = this_host_id()
    # A lock names its holder by the pid the holder's own pid namespace gives it (a
    # containerised sshd): a session is matched by that pid too, and a holder it matches
    # is alive whatever that number means out here.
    here = host_name()
    inner = {s.id: innermost_pid(s.pid) if s.host == here else None for s in sessions}

    def holds(session: _Session, holder: LockHolder) -> bool:
        return holder.pid in (session.pid, inner[session.id])

    living = [
        h
        for h in holders
        if holder_state(h, host_id) != "dead" or any(holds(s, h) for s in sessions)
    ]
    if holders and not living:
        return None
    for holder in living:
        for session in sessions:
            if holds(session, holder):
                return LockHolding(
                    min(since, session.lock_since),
                    session.pid,
                    session.host,
                    session.key_name,
                    session.source,
                    session.id,
                )
    if not living:  # the lock's files name nobody (being taken or released)
        return LockHolding(since, None, None, None, None, None)
    first = living[0]
    info = process_info(first.pid) if first.host == host_id else None
    return LockHolding(
        since,
        first.pid,
        first.host,
        _key_name(info.key_fingerprint if info else None),
        info.source if info else None,
        None,
    )


def _whole(value: dt.datetime) -> dt.datetime:
    """To the second: a lock's start is compared with the one kept in alert_state."""
    return value.replace(microsecond=0)


def _stuck_locks(
    config: Config,
    now: dt.datetime,
    limit: int,
    *,
    jobs: int,
    time_limit: float,
    worker_prefix: Sequence[str],
) -> tuple[dict[int, LockHolding], set[int]]:
    """(the locks held longer than ``limit`` by repository, the repositories whose lock
    could not be read)."""
    cutoff = now - dt.timedelta(seconds=limit)
    sessions = _open_sessions()
    repositories = raw_rows(
        Repository.select(Repository.id, Repository.repo_user, Repository.name).where(
            (Repository.mode != "disabled") & local_condition(config)
        )
    )
    paths = {
        repository_path(config.repos.root, user, name): repo_id
        for repo_id, user, name in repositories
    }
    disk = read_disk_locks(
        list(paths), jobs=jobs, time_limit=time_limit, worker_prefix=worker_prefix
    )
    stuck: dict[int, LockHolding] = {}
    unknown: set[int] = set()
    for path, repo_id in paths.items():
        seen = disk.get(path, DiskLock("unknown"))
        rows = sessions.get(repo_id, [])
        if seen.status == "unlocked":
            continue
        if seen.status == "locked" and seen.since is not None:
            since = _whole(aware(from_epoch(seen.since)))
            if since > cutoff and not any(s.lock_since <= cutoff for s in rows):
                continue
            holding = _disk_holding(lock_holders(Path(path)), since, rows)
            if holding is not None and holding.since <= cutoff:
                stuck[repo_id] = holding
            continue
        # Not on this host, or not readable now: the daemon's rows are all there is.
        old = [s for s in rows if s.lock_since <= cutoff]
        if old:
            s = old[0]
            stuck[repo_id] = LockHolding(
                _whole(s.lock_since), s.pid, s.host, s.key_name, s.source, s.id
            )
        elif seen.status == "unknown":
            unknown.add(repo_id)
    return stuck, unknown


def add_upkeep(
    config: Config,
    snapshot: Snapshot,
    *,
    jobs: int = 2,
    time_limit: float = 5.0,
    worker_prefix: Sequence[str] = (),
) -> None:
    """Fill ``snapshot``'s maintenance facts: a condition (and its :class:`Trouble`) per
    failed check and per lock held longer than maintenance.lock_alert_after, the last check
    of every repository concerned, the repositories whose lock could not be read, and the
    rows of the repositories these (or earlier alerts of these kinds) are about."""
    now = snapshot.now
    limit = parse_duration(config.maintenance.lock_alert_after)
    failed: dict[int, tuple[dt.datetime, str]] = {}
    for repo_id, when, detail in raw_rows(
        Repository.select(Repository.id, Repository.last_check, Repository.last_check_detail).where(
            (Repository.last_check_ok == False)  # noqa: E712 (a SQL comparison)
            & Repository.last_check.is_null(False)
            & (Repository.mode != "disabled")
        )
    ):
        failed[repo_id] = (stored_time(when), one_line(detail))
    stuck, unknown = _stuck_locks(
        config, now, limit, jobs=jobs, time_limit=time_limit, worker_prefix=worker_prefix
    )
    told = {
        repo_id
        for (repo_id,) in raw_rows(
            AlertState.select(AlertState.repository).where(AlertState.kind.in_(UPKEEP_KINDS))
        )
    }
    wanted = (set(failed) | set(stuck) | told) - set(snapshot.repos)
    for start in range(0, len(wanted), _CHUNK):
        chunk = sorted(wanted)[start : start + _CHUNK]
        snapshot.repos.update(
            repo_rows(config, Repository.id.in_(chunk) & (Repository.mode != "disabled"))
        )
    concerned = sorted(set(failed) | told)
    for start in range(0, len(concerned), _CHUNK):
        chunk = concerned[start : start + _CHUNK]
        for repo_id, when, ok in raw_rows(
            Repository.select(Repository.id, Repository.last_check, Repository.last_check_ok).where(
                Repository.id.in_(chunk)
            )
        ):
            snapshot.checks[repo_id] = (stored_time(when), None if ok is None else bool(ok))
    snapshot.lock_unknown |= unknown
    for repo_id, (when, detail) in sorted(failed.items()):
        repo = snapshot.repos.get(repo_id)
        if repo is None:
            continue
        trouble = Trouble(CHECK_FAILED, when, detail or "check failed", check_detail=detail)
        snapshot.troubles[(repo_id, CHECK_FAILED)] = trouble
        snapshot.conditions.append((repo, CHECK_FAILED, when, 0))
    for repo_id, holding in sorted(stuck.items()):
        repo = snapshot.repos.get(repo_id)
        if repo is None:
            continue
        trouble = Trouble(LOCK_STUCK, holding.since, holding.describe(), lock=holding, limit=limit)
        snapshot.troubles[(repo_id, LOCK_STUCK)] = trouble
        snapshot.conditions.append((repo, LOCK_STUCK, holding.since, 0))

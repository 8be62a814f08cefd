"""The live borg sessions on this host: the marked processes of the repository users
(:mod:`borghive.sessions.procs`), whether each holds its repository's lock
(:mod:`borghive.sessions.locks`) and the store's record of it where the watch daemon made
one. Read-only."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from borghive.config import Config
from borghive.rules.layout import repository_path
from borghive.rules.times import aware, from_epoch
from borghive.service.hosts.identity import local_condition, require_local
from borghive.service.repositories.lifecycle import find_repository
from borghive.sessions.locks import LockHolder, host_name, lock_holders, this_host_id
from borghive.sessions.procs import (
    ProcessInfo,
    innermost_pid,
    marked_processes,
    session_leaders,
)
from borghive.store import rows
from borghive.store.models import BorgSession, Repository, SshKey, User


@dataclass(frozen=True)
class LiveSession:
    """One live session. ``session``: its borg_session id (None when the watch daemon has
    not recorded it); ``lock``: ``exclusive``, ``shared`` or None; ``maintenance``: the
    action of a maintenance process (then it has no key)."""

    session: int | None
    pid: int
    repository: str
    repo_user: str
    program: str
    key_name: str | None
    key_fingerprint: str | None
    source: str | None
    source_port: int | None
    since: dt.datetime
    lock: str | None
    maintenance: str | None


@dataclass(frozen=True)
class Found:
    """A live session with what ``session kill`` checks before signalling it."""

    view: LiveSession
    process: ProcessInfo
    repository_id: int
    uid: int
    path: Path


def _lock_kind(holders: list[LockHolder], info: ProcessInfo) -> str | None:
    pids = {info.pid, innermost_pid(info.pid) or info.pid}
    kinds = {h.kind for h in holders if h.host == this_host_id() and h.pid in pids}
    if "exclusive" in kinds:
        return "exclusive"
    return "shared" if kinds else None


def find_live(config: Config, repository: str | None = None) -> list[Found]:
    """Every live marked process of a repository user (of ``repository``, OWNER/NAME or
    repository user, when given), by start time. Raises NotFoundError for an unknown
    repository."""
    query = Repository.select(
        Repository.id, Repository.repo_user, Repository.name, Repository.uid_number, User.name
    ).join(User)
    if repository is not None:
        repo = find_repository(repository)
        require_local(config, repo, "list or end its sessions")
        query = query.where(Repository.id == repo.id)
    else:  # sessions run on the host whose disk holds the repository
        query = query.where(local_condition(config))
    by_uid = {
        int(uid): (int(rid), user, name, owner) for rid, user, name, uid, owner in rows(query)
    }
    processes = session_leaders(marked_processes(set(by_uid))) if by_uid else []
    host = host_name()
    recorded: dict[tuple[int, dt.datetime], tuple[int, str | None]] = {}
    if processes:
        stored = BorgSession.select(BorgSession.id, BorgSession.pid, BorgSession.started,
                                    BorgSession.key_name).where(
            (BorgSession.host == host) & BorgSession.pid.in_([p.pid for p in processes])
        )  # fmt: skip
        recorded = {
            (int(pid), started): (int(sid), name) for sid, pid, started, name in rows(stored)
        }
    names = {
        fingerprint: name
        for fingerprint, name in rows(
            SshKey.select(SshKey.fingerprint, SshKey.name).where(
                SshKey.fingerprint.in_([p.key_fingerprint for p in processes if p.key_fingerprint])
            )
        )
    }
    holders: dict[int, list[LockHolder]] = {}
    found: list[Found] = []
    for info in processes:
        repo_id, repo_user, name, owner = by_uid[info.uid]
        path = Path(repository_path(config.repos.root, repo_user, name))
        if repo_id not in holders:
            holders[repo_id] = lock_holders(path)
        started = from_epoch(info.started)
        session_id, key_name = recorded.get((info.pid, started), (None, None))
        view = LiveSession(
            session=session_id,
            pid=info.pid,
            repository=f"{owner}/{name}",
            repo_user=repo_user,
            program=info.program,
            key_name=key_name or names.get(info.key_fingerprint or ""),
            key_fingerprint=info.key_fingerprint,
            source=info.source,
            source_port=info.source_port,
            since=aware(started),
            lock=_lock_kind(holders[repo_id], info),
            maintenance=info.maintenance,
        )
        found.append(Found(view, info, repo_id, info.uid, path))
    return sorted(found, key=lambda f: (f.view.since, f.view.pid))


def live_sessions(config: Config, repository: str | None = None) -> list[LiveSession]:
    """The live sessions on this host (see :func:`find_live`)."""
    return [found.view for found in find_live(config, repository)]

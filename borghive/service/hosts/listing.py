"""The storage hosts as commands show them (``borghive host list|show``), and draining.

The repositories per host are counted by the store (one GROUP BY over the indexed
``repository.host``), not from what each host last reported, so a listing is right the
moment a repository is created or moved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from peewee import fn

from borghive.config import Config
from borghive.errors import InvalidInputError, NotFoundError
from borghive.rules.times import aware, stored_time, utcnow
from borghive.rules.urls import host_problem
from borghive.service.hosts.identity import this_host
from borghive.service.hosts.snapshot import SnapshotResult, refresh_snapshot
from borghive.store import is_sqlite, raw_rows, write_transaction
from borghive.store.models import RepoMove, Repository, StorageHost, User

_MAX_SHOWN = 70


@dataclass(frozen=True)
class HostInfo:
    """One storage host: what it last reported (None: never), the repositories the store
    places there, and its snapshot state as its watch daemon last confirmed it."""

    name: str
    this_host: bool
    draining: bool
    capacity: int | None
    used: int | None
    free: int | None
    repositories: int
    reported: dt.datetime | None
    report_age: float | None
    version: str | None
    ssh_port: int | None
    peer_address: str | None
    peer_port: int | None
    repos_root: str | None
    snapshot_confirmed: dt.datetime | None
    snapshot_age: float | None
    snapshot_problem: str | None
    created: dt.datetime | None


@dataclass(frozen=True)
class MoveInfo:
    """An open move to or from a host (``direction``: "in" or "out")."""

    repository: str
    source_host: str
    target_host: str
    direction: str
    step: str
    started: dt.datetime | None


@dataclass(frozen=True)
class HostDetail:
    """``host show``: the host, its repositories by mode, and the open moves touching it."""

    host: HostInfo
    modes: dict[str, int]
    moves: tuple[MoveInfo, ...]


def check_host_name(name: str) -> str:
    """``name`` when it is a storage host name (a DNS name or address, as repos.host is);
    raise InvalidInputError with a bounded rendering of the input otherwise."""
    shown = repr(name if len(name) <= _MAX_SHOWN else name[: _MAX_SHOWN - 3] + "...")
    if not name:
        problem: str | None = "empty"
    elif any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        problem = "contains control characters"
    elif any(ch.isspace() for ch in name):
        problem = "contains whitespace"
    elif name.startswith("-"):
        problem = "starts with '-'"
    else:
        problem = host_problem(name)
    if problem:
        raise InvalidInputError(f"invalid storage host name {shown}: {problem}")
    return name


def find_host(name: str) -> StorageHost:
    """The ``storage_host`` row named ``name``; InvalidInputError for a name that cannot
    be a host, NotFoundError for an unknown one."""
    check_host_name(name)
    host = StorageHost.get_or_none(StorageHost.name == name)
    if host is None:
        raise NotFoundError(
            f"storage host {name} not found",
            hint="see 'borghive host list'; a host joins when it reports "
            "(borghive migrate, stats collect, or its watch daemon)",
        )
    return host


_COLUMNS = (
    StorageHost.name,
    StorageHost.draining,
    StorageHost.capacity,
    StorageHost.used,
    StorageHost.free,
    StorageHost.reported,
    StorageHost.version,
    StorageHost.ssh_port,
    StorageHost.peer_address,
    StorageHost.peer_port,
    StorageHost.repos_root,
    StorageHost.snapshot_confirmed,
    StorageHost.snapshot_problem,
    StorageHost.created,
)


def _age(moment: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())


def _info(config: Config, row: tuple[Any, ...], counts: dict[str, int]) -> HostInfo:
    (name, draining, capacity, used, free, reported, version, ssh_port, peer_address,
     peer_port, repos_root, confirmed, problem, created) = row  # fmt: skip
    now = aware(utcnow())
    reported_at = stored_time(reported)
    confirmed_at = stored_time(confirmed)
    return HostInfo(
        name=str(name),
        this_host=name == this_host(config),
        draining=bool(draining),
        capacity=None if capacity is None else int(capacity),
        used=None if used is None else int(used),
        free=None if free is None else int(free),
        repositories=counts.get(str(name), 0),
        reported=reported_at,
        report_age=_age(reported_at, now),
        version=None if version is None else str(version),
        ssh_port=None if ssh_port is None else int(ssh_port),
        peer_address=None if peer_address is None else str(peer_address),
        peer_port=None if peer_port is None else int(peer_port),
        repos_root=None if repos_root is None else str(repos_root),
        snapshot_confirmed=confirmed_at,
        snapshot_age=_age(confirmed_at, now),
        snapshot_problem=None if problem is None else str(problem),
        created=stored_time(created),
    )


def _counts(name: str | None = None) -> dict[str, int]:
    """Repositories per host, counted by the store."""
    query = Repository.select(Repository.host, fn.COUNT(Repository.id)).group_by(Repository.host)
    if name is not None:
        query = query.where(Repository.host == name)
    return {str(host): int(count) for host, count in raw_rows(query)}


def list_hosts(config: Config) -> list[HostInfo]:
    """Every storage host by name. Two queries whatever the number of repositories."""
    counts = _counts()
    query = StorageHost.select(*_COLUMNS).order_by(StorageHost.name)
    return [_info(config, row, counts) for row in raw_rows(query)]


def host_info(config: Config, name: str) -> HostInfo:
    """One host as :func:`list_hosts` shows it; InvalidInputError, NotFoundError."""
    find_host(name)
    [row] = raw_rows(StorageHost.select(*_COLUMNS).where(StorageHost.name == name))
    return _info(config, row, _counts(name))


def show_host(config: Config, name: str) -> HostDetail:
    """A host with its repositories by mode and the open moves to or from it."""
    info = host_info(config, name)
    modes = {
        str(mode): int(count)
        for mode, count in raw_rows(
            Repository.select(Repository.mode, fn.COUNT(Repository.id))
            .where(Repository.host == name)
            .group_by(Repository.mode)
            .order_by(Repository.mode)
        )
    }
    moves = tuple(
        MoveInfo(
            repository=f"{owner}/{repo_name}",
            source_host=str(source),
            target_host=str(target),
            direction="out" if source == name else "in",
            step=str(step),
            started=stored_time(started),
        )
        for owner, repo_name, source, target, step, started in raw_rows(
            RepoMove.select(
                User.name,
                Repository.name,
                RepoMove.source_host,
                RepoMove.target_host,
                RepoMove.step,
                RepoMove.started,
            )
            .join(Repository)
            .join(User)
            .where(
                RepoMove.ended.is_null()
                & ((RepoMove.source_host == name) | (RepoMove.target_host == name))
            )
            .order_by(RepoMove.started)
        )
    )
    return HostDetail(info, modes, moves)


def set_draining(config: Config, name: str, draining: bool) -> HostInfo:
    """Stop (``draining``) or allow again placement on ``name``; the repositories already
    there stay and are served. InvalidInputError, NotFoundError."""
    with write_transaction():
        find_host(name)
        StorageHost.update(draining=draining).where(StorageHost.name == name).execute()
    return host_info(config, name)


def refresh_this_host(config: Config) -> SnapshotResult | None:
    """Rebuild this host's login snapshot now (``host refresh``); None on a SQLite store,
    where authkeys reads the store itself and there is no snapshot."""
    if is_sqlite():
        return None
    return refresh_snapshot(config)

"""Capacity reports: what this storage host says of itself and its disk in ``storage_host``.

``stats collect``, ``borghive migrate`` and the watch daemon's heartbeat call
:func:`report_this_host`; a host joins the site by reporting (its row is inserted when it
is missing). Placement (:mod:`borghive.service.hosts.placement`) reads these rows.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass

from borghive import __version__
from borghive.config import Config
from borghive.rules.times import aware, utcnow
from borghive.service.hosts.identity import local_condition, this_host
from borghive.store import write_transaction
from borghive.store.models import Repository, StorageHost


@dataclass(frozen=True)
class DiskSpace:
    """Bytes of a file system as ``df`` counts them: ``free`` is what an unprivileged
    writer may still use (f_bavail), ``used`` what is taken (f_blocks - f_bfree)."""

    capacity: int
    used: int
    free: int


@dataclass(frozen=True)
class HostReport:
    """What this host reported (also written to its ``storage_host`` row). The disk figures
    are None when the repos root could not be read (``problem`` says why): the host is
    then known but never chosen by automatic placement."""

    name: str
    capacity: int | None
    used: int | None
    free: int | None
    repositories: int
    version: str
    ssh_port: int
    peer_address: str
    peer_port: int
    repos_root: str
    reported: dt.datetime
    problem: str | None = None


def disk_space(path: str) -> DiskSpace:
    """statvfs of ``path``; raises OSError."""
    info = os.statvfs(path)
    return DiskSpace(
        capacity=info.f_blocks * info.f_frsize,
        used=(info.f_blocks - info.f_bfree) * info.f_frsize,
        free=info.f_bavail * info.f_frsize,
    )


def report_this_host(config: Config) -> HostReport:
    """Measure the repos root, count this host's repositories and upsert its
    ``storage_host`` row (draining and the snapshot columns are left alone). The store must
    be open; driver errors propagate as the caller's store block turns them."""
    name = this_host(config)
    root = str(config.repos.root)
    problem = None
    try:
        space: DiskSpace | None = disk_space(root)
    except OSError as exc:
        space, problem = None, f"cannot measure {root}: {exc.strerror}"
    now = utcnow()
    values = {
        StorageHost.ssh_port: config.repos.ssh_port,
        StorageHost.peer_address: config.hosts.peer_address or name,
        StorageHost.peer_port: config.hosts.peer_port,
        StorageHost.repos_root: root,
        StorageHost.capacity: None if space is None else space.capacity,
        StorageHost.used: None if space is None else space.used,
        StorageHost.free: None if space is None else space.free,
        StorageHost.version: __version__,
        StorageHost.reported: now,
    }
    with write_transaction():
        count = int(Repository.select().where(local_condition(config)).count())
        values[StorageHost.repositories] = count
        updated = StorageHost.update(values).where(StorageHost.name == name).execute()
        if not updated:
            # A new host joins by reporting; a concurrent first report of the same host
            # (migrate and the heartbeat at once) updates instead of failing.
            StorageHost.insert(
                {StorageHost.name: name, StorageHost.draining: False, **values}
            ).on_conflict(conflict_target=[StorageHost.name], update=values).execute()
    return HostReport(
        name=name,
        capacity=None if space is None else space.capacity,
        used=None if space is None else space.used,
        free=None if space is None else space.free,
        repositories=count,
        version=__version__,
        ssh_port=config.repos.ssh_port,
        peer_address=config.hosts.peer_address or name,
        peer_port=config.hosts.peer_port,
        repos_root=root,
        reported=aware(now),
        problem=problem,
    )

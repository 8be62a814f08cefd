"""``borghive host rename OLD NEW``: a storage host's name changed (repos.host, or the
machine's host name when that is empty). The host's repositories keep living there: its
store row and every repository placed on it take the new name in one transaction.
Without this, a changed repos.host leaves the host's repositories placed on a name no
host has, and authkeys refuses them (fail closed) until the names agree again."""

from __future__ import annotations

from dataclasses import dataclass

from borghive.errors import ConflictError, InvalidInputError, NotFoundError
from borghive.rules.urls import host_problem
from borghive.store import write_transaction
from borghive.store.models import RepoMove, Repository, StorageHost


@dataclass(frozen=True)
class Renamed:
    """What ``host rename`` changed."""

    old: str
    new: str
    repositories: int


def host_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a storage host (it goes into client URLs), or None."""
    if not name or len(name) > 253:
        return "must be 1 to 253 characters"
    return host_problem(name)


def rename_host(old: str, new: str) -> Renamed:
    """Rename storage host ``old`` to ``new`` with its repositories. Raises
    InvalidInputError for a bad name, NotFoundError for an unknown ``old``, ConflictError
    when ``new`` is taken or a move to or from ``old`` is open. The store must be open."""
    for name in (old, new):
        if problem := host_name_problem(name):
            raise InvalidInputError(f"host name {name[:60]!r}: {problem}")
    with write_transaction():
        host = StorageHost.get_or_none(StorageHost.name == old)
        if host is None:
            raise NotFoundError(f"no storage host {old!r}", hint="borghive host list")
        if old == new:
            return Renamed(old, new, 0)
        if StorageHost.get_or_none(StorageHost.name == new) is not None:
            raise ConflictError(f"storage host {new!r} exists already")
        moving = RepoMove.select().where(
            RepoMove.ended.is_null(), (RepoMove.source_host == old) | (RepoMove.target_host == old)
        )
        if moving.exists():
            raise ConflictError(
                f"a repository move to or from {old!r} is open",
                hint="finish or abort it first (borghive repo move --status)",
            )
        count = Repository.update(host=new).where(Repository.host == old).execute()
        StorageHost.update(name=new).where(StorageHost.id == host.id).execute()
    return Renamed(old, new, int(count))

"""Access: which keys may open which repository, and how."""

from __future__ import annotations

from dataclasses import dataclass

from borghive.errors import NotFoundError
from borghive.rules.sources import check_sources
from borghive.service.repositories.lifecycle import find_repository
from borghive.service.users.keys import find_key
from borghive.store import write_transaction
from borghive.store.models import Access


@dataclass(frozen=True)
class AccessInfo:
    key: str
    fingerprint: str
    mode: str
    allowed_from: str | None = None


def grant_access(
    reference: str,
    key_reference: str,
    *,
    append_only: bool = False,
    allowed_from: str | None = None,
) -> AccessInfo:
    """Let a key open a repository (or change how); a bare key name means the owner's key.
    ``allowed_from`` limits the addresses for this repository (instead of the key's own)."""
    mode = "append-only" if append_only else "full"
    sources = check_sources(allowed_from) if allowed_from is not None else None
    with write_transaction():
        repo = find_repository(reference)
        key = find_key(key_reference, owner=repo.owner.name)
        access = Access.get_or_none((Access.repository == repo.id) & (Access.key == key.id))
        if access is None:
            Access.create(repository=repo, key=key, mode=mode, allowed_from=sources)
        else:
            access.mode = mode
            access.allowed_from = sources
            access.save()
    return AccessInfo(f"{key.owner.name}/{key.name}", key.fingerprint, mode, sources)


def revoke_access(reference: str, key_reference: str) -> AccessInfo:
    """Stop a key from opening a repository; raise NotFoundError when it had no access."""
    with write_transaction():
        repo = find_repository(reference)
        key = find_key(key_reference, owner=repo.owner.name)
        access = Access.get_or_none((Access.repository == repo.id) & (Access.key == key.id))
        if access is None:
            raise NotFoundError(
                f"key {key.owner.name}/{key.name} has no access to {repo.owner.name}/{repo.name}"
            )
        info = AccessInfo(f"{key.owner.name}/{key.name}", key.fingerprint, access.mode)
        access.delete_instance()
    return info

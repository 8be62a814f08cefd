"""Access: which keys may open which repository, and how."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from borghive.config import Config
from borghive.errors import ConflictError, NotFoundError
from borghive.rules.accounts import AccountsBackend
from borghive.rules.sources import check_sources
from borghive.service.repositories.intents import resolve_pending
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
    # The key's last session with this repository (recorded by borghive watch), and from where.
    last_used: dt.datetime | None = None
    last_used_from: str | None = None


def grant_access(
    reference: str,
    key_reference: str,
    *,
    append_only: bool = False,
    allowed_from: str | None = None,
    config: Config | None = None,
    accounts: AccountsBackend | None = None,
) -> AccessInfo:
    """Let a key open a repository (or change how); a bare key name means the owner's key.
    ``allowed_from`` limits the addresses for this repository (instead of the key's own).
    With ``config`` and ``accounts``, account changes left in doubt are resolved first, as
    every command that touches accounts does: a grant gives logins, and a repository whose
    account is in doubt has none. ConflictError for a repository being purged."""
    mode = "append-only" if append_only else "full"
    sources = check_sources(allowed_from) if allowed_from is not None else None
    if config is not None and accounts is not None:
        resolve_pending(config, accounts)
    with write_transaction():
        repo = find_repository(reference)
        if repo.purge_started is not None:
            raise ConflictError(f"repository {repo.owner.name}/{repo.name} is being purged")
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

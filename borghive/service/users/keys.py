"""SSH public keys owned by users."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from peewee import IntegrityError

from borghive.errors import ConflictError, InvalidInputError, NotFoundError
from borghive.rules.names import MAX_NAME_LENGTH, check_name, name_problem
from borghive.rules.sources import check_sources
from borghive.rules.sshkeys import parse_public_key
from borghive.rules.times import aware
from borghive.service.users.people import find_user
from borghive.store import rows, write_transaction
from borghive.store.models import Access, Repository, SshKey, User


@dataclass(frozen=True)
class KeyGrant:
    """One repository a key opens, and how."""

    repository: str
    mode: str


@dataclass(frozen=True)
class KeyInfo:
    owner: str
    name: str
    key_type: str
    bits: int
    fingerprint: str
    comment: str
    public_key: str
    allowed_from: str | None
    created: dt.datetime
    grants: tuple[KeyGrant, ...]
    # The last session opened with the key (recorded by borghive watch), and from where.
    last_used: dt.datetime | None = None
    last_used_from: str | None = None


def find_key(reference: str, owner: str | None = None) -> SshKey:
    """A key by ``OWNER/NAME``, by ``SHA256:`` fingerprint, or by bare NAME within ``owner``.

    Raises InvalidInputError for a malformed reference and NotFoundError when none matches.
    """
    if reference.startswith("SHA256:"):
        by_fingerprint: SshKey | None = SshKey.get_or_none(SshKey.fingerprint == reference)
        if by_fingerprint is None:
            raise NotFoundError(f"no key with fingerprint {reference[:60]!r}")
        return by_fingerprint
    if "/" in reference:
        owner, _, name = reference.partition("/")
    elif owner is not None:
        name = reference
    else:
        raise InvalidInputError(
            f"invalid key reference {reference[:70]!r}: expected OWNER/NAME or SHA256:FINGERPRINT"
        )
    check_name(owner, "user")
    check_name(name, "key")
    key: SshKey | None = (
        SshKey.select(SshKey).join(User).where((User.name == owner) & (SshKey.name == name)).first()
    )
    if key is None:
        raise NotFoundError(f"key {owner}/{name} not found", hint="see 'borghive key list'")
    return key


def _grants(key_id: int | None = None) -> dict[int, list[KeyGrant]]:
    """The repositories each key opens (one key's, or every key's), by key id."""
    query = (
        Access.select(Access.key, User.name, Repository.name, Access.mode)
        .join(Repository)
        .join(User)
        .order_by(User.name, Repository.name)
    )
    if key_id is not None:
        query = query.where(Access.key == key_id)
    grants: dict[int, list[KeyGrant]] = {}
    for access_key, repo_owner, repo_name, mode in rows(query):
        grants.setdefault(access_key, []).append(KeyGrant(f"{repo_owner}/{repo_name}", mode))
    return grants


def _info(key: SshKey, owner: str, grants: list[KeyGrant]) -> KeyInfo:
    return KeyInfo(
        owner=owner,
        name=key.name,
        key_type=key.key_type,
        bits=key.bits,
        fingerprint=key.fingerprint,
        comment=key.comment,
        public_key=key.public_key,
        allowed_from=key.allowed_from,
        created=aware(key.created),
        grants=tuple(grants),
        last_used=aware(key.last_used),
        last_used_from=key.last_used_from,
    )


def add_key(
    owner: str,
    text: str,
    name: str | None,
    *,
    rsa_min_bits: int,
    allowed_from: str | None = None,
) -> KeyInfo:
    """Validate one OpenSSH public key and store it for ``owner``; ``allowed_from`` limits
    the addresses it may log in from (see :func:`borghive.rules.sources.check_sources`).

    ``name`` defaults to the key's comment when that is a valid name, else ``key-N``.
    Raises InvalidInputError (malformed key or name), NotFoundError (owner) or
    ConflictError (same fingerprint stored already, or name taken).
    """
    check_name(owner, "user")
    if name is not None:
        check_name(name, "key")
    key = parse_public_key(text, rsa_min_bits=rsa_min_bits)
    sources = check_sources(allowed_from) if allowed_from is not None else None
    try:
        with write_transaction():
            user = find_user(owner)
            existing = SshKey.get_or_none(SshKey.fingerprint == key.fingerprint)
            if existing is not None:
                raise ConflictError(
                    f"this key is already stored as {existing.owner.name}/{existing.name} "
                    f"({key.fingerprint})"
                )
            if name is None:
                name = _default_name(user, key.comment)
            if SshKey.get_or_none((SshKey.owner == user) & (SshKey.name == name)):
                raise ConflictError(f"user {owner!r} already has a key named {name!r}")
            row = SshKey.create(
                owner=user,
                name=name,
                key_type=key.key_type,
                bits=key.bits,
                fingerprint=key.fingerprint,
                public_key=key.canonical,
                comment=key.comment,
                allowed_from=sources,
            )
    except IntegrityError:
        raise ConflictError(f"key {owner}/{name} or its fingerprint exists already") from None
    return _info(row, owner, [])


def _default_name(user: User, comment: str) -> str:
    """The comment made into a name (``alice@laptop`` → ``alice-laptop``), else ``key-N``."""
    taken = {k.name for k in SshKey.select(SshKey.name).where(SshKey.owner == user.id)}
    candidate = re.sub(r"[^A-Za-z0-9._-]+", "-", comment).strip("-.")[:MAX_NAME_LENGTH]
    if candidate and name_problem(candidate) is None and candidate not in taken:
        return candidate
    number = len(taken) + 1
    while f"key-{number}" in taken:
        number += 1
    return f"key-{number}"


def list_keys(owner: str | None = None) -> list[KeyInfo]:
    """Every key, or one owner's, by owner and name."""
    query = SshKey.select(SshKey, User).join(User).order_by(User.name, SshKey.name)
    if owner is not None:
        query = query.where(User.id == find_user(owner).id)
    grants = _grants()
    return [_info(key, key.owner.name, grants.get(key.id, [])) for key in query]


def get_key(reference: str) -> KeyInfo:
    """One key by ``OWNER/NAME`` or fingerprint."""
    key = find_key(reference)
    return _info(key, key.owner.name, _grants(key.id).get(key.id, []))


def remove_key(reference: str, *, force: bool = False) -> KeyInfo:
    """Delete a key. While it grants access this is refused, unless ``force``, which revokes
    every grant first (in the same transaction). Returns the key as it was."""
    with write_transaction():
        key = find_key(reference)
        info = _info(key, key.owner.name, _grants(key.id).get(key.id, []))
        if info.grants and not force:
            shown = ", ".join(g.repository for g in info.grants[:10])
            raise ConflictError(
                f"key {info.owner}/{info.name} still grants access to {shown}",
                hint="revoke it first, or use --force to revoke it everywhere and remove it",
            )
        Access.delete().where(Access.key == key.id).execute()
        key.delete_instance()
    return info

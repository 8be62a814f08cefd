"""Notification channels: each owner's list of e-mail addresses, webhooks and Pushover keys.
What a valid target is lives in :mod:`borghive.rules.channels`; sending, in
:mod:`borghive.delivery`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from peewee import IntegrityError

from borghive.errors import ConflictError, InvalidInputError, NotFoundError
from borghive.rules.channels import NOTIFY_KINDS, check_target, describe_channel
from borghive.rules.times import aware
from borghive.service.users.people import find_user
from borghive.store import write_transaction
from borghive.store.models import NotifyChannel, User


@dataclass(frozen=True)
class ChannelInfo:
    owner: str
    kind: str
    target: str
    created: dt.datetime


def add_channel(owner: str, kind: str, target: str | None = None) -> ChannelInfo:
    """Add a channel for ``owner``; an e-mail channel without target uses the owner's
    address. Raises NotFoundError, InvalidInputError or ConflictError (already there)."""
    if kind not in NOTIFY_KINDS:
        check_target(kind, target or "")  # raises, naming the kinds there are
    try:
        with write_transaction():
            user = find_user(owner)
            if target is None:
                if kind != "email":
                    raise InvalidInputError(f"a {kind} channel needs a target: URL or user key")
                if not user.email:
                    raise InvalidInputError(f"user {owner!r} has no e-mail address: give one")
                target = user.email
            check_target(kind, target)
            exists = NotifyChannel.get_or_none(
                (NotifyChannel.owner == user.id)
                & (NotifyChannel.kind == kind)
                & (NotifyChannel.target == target)
            )
            if exists is not None:
                raise ConflictError(f"user {owner!r} already has {describe_channel(kind, target)}")
            channel = NotifyChannel.create(owner=user, kind=kind, target=target)
    except IntegrityError:
        raise ConflictError(f"user {owner!r} already has {kind} {target}") from None
    return ChannelInfo(owner, kind, target, aware(channel.created))


def list_channels(owner: str | None = None) -> list[ChannelInfo]:
    """Every channel, or one owner's, by owner, kind and target."""
    query = (
        NotifyChannel.select(NotifyChannel, User)
        .join(User)
        .order_by(User.name, NotifyChannel.kind, NotifyChannel.target)
    )
    if owner is not None:
        query = query.where(User.id == find_user(owner).id)
    return [ChannelInfo(row.owner.name, row.kind, row.target, aware(row.created)) for row in query]


def remove_channel(owner: str, kind: str, target: str) -> None:
    """Remove one of ``owner``'s channels (its alert state goes with it); raise
    NotFoundError."""
    with write_transaction():
        user = find_user(owner)
        deleted = (
            NotifyChannel.delete()
            .where(
                (NotifyChannel.owner == user.id)
                & (NotifyChannel.kind == kind)
                & (NotifyChannel.target == target)
            )
            .execute()
        )
    if not deleted:
        raise NotFoundError(
            f"user {owner!r} has no {kind} channel {target[:80]!r}",
            hint=f"see 'borghive user notify list {owner}'",
        )

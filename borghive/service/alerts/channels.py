"""Notification channels: each owner's list of e-mail addresses, webhooks and Pushover keys.
What a valid target is lives in :mod:`borghive.rules.channels`; sending, in
:mod:`borghive.delivery`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from peewee import IntegrityError

from borghive.errors import ConflictError, InvalidInputError, NotFoundError
from borghive.rules.channels import NOTIFY_KINDS, check_target, describe_channel, shown_target
from borghive.rules.times import aware
from borghive.rules.urls import redact
from borghive.service.users.people import find_user
from borghive.store import write_transaction
from borghive.store.models import NotifyChannel, User


@dataclass(frozen=True)
class ChannelInfo:
    """A channel as it may be shown: ``target`` is a webhook URL's credentials replaced by
    ``***`` (see :func:`~borghive.rules.channels.shown_target`)."""

    owner: str
    kind: str
    target: str
    created: dt.datetime


def _info(owner: str, kind: str, target: str, created: dt.datetime) -> ChannelInfo:
    return ChannelInfo(owner, kind, shown_target(kind, target), aware(created))


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
        raise ConflictError(
            f"user {owner!r} already has {describe_channel(kind, target or '')}"
        ) from None
    return _info(owner, kind, target, channel.created)


def list_channels(owner: str | None = None) -> list[ChannelInfo]:
    """Every channel, or one owner's, by owner, kind and target, as they may be shown.
    Raises NotFoundError for an unknown owner."""
    return [_info(row.owner.name, row.kind, row.target, row.created) for row in _rows(owner)]


def channel_targets(owner: str) -> list[tuple[str, str]]:
    """(kind, target as stored, credentials included) of each of ``owner``'s channels, for
    sending only. Raises NotFoundError for an unknown owner."""
    return [(row.kind, row.target) for row in _rows(owner)]


def _rows(owner: str | None) -> list[NotifyChannel]:
    query = (
        NotifyChannel.select(NotifyChannel, User)
        .join(User)
        .order_by(User.name, NotifyChannel.kind, NotifyChannel.target)
    )
    if owner is not None:
        query = query.where(User.id == find_user(owner).id)
    return list(query)


def remove_channel(owner: str, kind: str, target: str) -> ChannelInfo:
    """Remove one of ``owner``'s channels (its alert state goes with it), named by its
    target as stored or as listed (credentials as ``***``); return it as it may be shown.
    Raises NotFoundError, or ConflictError when the listed form fits more than one."""
    with write_transaction():
        user = find_user(owner)
        rows = list(
            NotifyChannel.select().where(
                (NotifyChannel.owner == user.id) & (NotifyChannel.kind == kind)
            )
        )
        exact = [row for row in rows if row.target == target]
        listed = [row for row in rows if shown_target(kind, row.target) == target]
        if not exact and len(listed) > 1:
            raise ConflictError(
                f"user {owner!r} has {len(listed)} {kind} channels listed as "
                f"{redact(target)[:80]!a}",
                hint="give the URL with its user name and password",
            )
        doomed = (exact or listed)[:1]
        if not doomed:
            raise NotFoundError(
                f"user {owner!r} has no {kind} channel {redact(target)[:80]!a}",
                hint=f"see 'borghive user notify list {owner}'",
            )
        NotifyChannel.delete().where(NotifyChannel.id == doomed[0].id).execute()
    return _info(owner, kind, doomed[0].target, doomed[0].created)

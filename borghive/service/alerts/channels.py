"""Notification channels: each owner's list (e-mail, webhook, Pushover) and delivery.

Delivery uses the standard library only: ``smtplib`` (with ``ssl`` for STARTTLS or implicit
TLS), ``urllib`` for the webhook (a JSON body signed with HMAC-SHA256) and for Pushover.
A failed delivery raises :class:`DeliveryError` with a one-line reason; the caller decides
what to retry. Secrets (SMTP password, Pushover token, webhook secret) are read from their
files when first needed, never stored elsewhere.
"""

from __future__ import annotations

import datetime as dt
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from peewee import IntegrityError

from borghive.errors import ConflictError, InvalidInputError, NotFoundError
from borghive.rules.times import aware
from borghive.service.users.people import check_email, find_user
from borghive.store import write_transaction
from borghive.store.models import NOTIFY_KINDS, NotifyChannel, User

SIGNATURE_HEADER = "X-Borghive-Signature"
WEBHOOK_FORMAT = 1
_PUSHOVER_KEY = re.compile(r"[A-Za-z0-9]{30}")
_URL_CHARACTERS = re.compile(r"[!-~]+")  # printable ASCII, no spaces


@dataclass(frozen=True)
class ChannelInfo:
    owner: str
    kind: str
    target: str
    created: dt.datetime


@dataclass(frozen=True)
class Message:
    """One notification: a subject and text for people, ``data`` as the webhook's JSON."""

    subject: str
    text: str
    data: Mapping[str, Any] = field(default_factory=dict)


class DeliveryError(Exception):
    """A channel refused or could not be reached; ``reason`` is one line for people."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# (kind, target, message) -> None; raises DeliveryError. Tests and benchmarks pass their own.
Sender = Callable[[str, str, Message], None]


# -- the channel list ------------------------------------------------------------------------


def check_target(kind: str, target: str) -> str:
    """Return ``target`` when valid for ``kind``; raise InvalidInputError otherwise."""
    if kind == "email":
        return check_email(target)
    if kind == "webhook":
        parts = urllib.parse.urlsplit(target)
        if (
            len(target) > 2048
            or not _URL_CHARACTERS.fullmatch(target)
            or parts.scheme not in ("http", "https")
            or not parts.hostname
        ):
            raise InvalidInputError(
                f"invalid webhook URL {target[:80]!r}: expected http(s)://HOST/PATH without spaces"
            )
        return target
    if kind == "pushover":
        if not _PUSHOVER_KEY.fullmatch(target):
            raise InvalidInputError(
                f"invalid Pushover user key {target[:40]!r}: expected 30 letters and digits"
            )
        return target
    raise InvalidInputError(
        f"invalid channel kind {kind[:30]!r}: expected one of {', '.join(NOTIFY_KINDS)}"
    )


def describe_channel(kind: str, target: str) -> str:
    """A channel as event details show it: a webhook URL without path or query (they often
    hold tokens), a Pushover key shortened."""
    if kind == "webhook":
        parts = urllib.parse.urlsplit(target)
        return f"webhook {parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"
    if kind == "pushover":
        return f"pushover {target[:5]}…"
    return f"{kind} {target}"


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

"""Alert channel values, defined once: what a valid e-mail address, webhook URL and Pushover
user key is, how a channel is shown without its secrets, and the message and error types
that the alert use cases and the delivery adapters (:mod:`borghive.delivery`) share.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from borghive.errors import InvalidInputError

NOTIFY_KINDS = ("email", "webhook", "pushover")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
SIGNATURE_HEADER = "X-Borghive-Signature"
WEBHOOK_FORMAT = 1
_PUSHOVER_KEY = re.compile(r"[A-Za-z0-9]{30}")
_URL_CHARACTERS = re.compile(r"[!-~]+")  # printable ASCII, no spaces


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


def check_email(email: str) -> str:
    """Return ``email`` when it looks like a single plain address; raise otherwise."""
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise InvalidInputError(f"invalid e-mail address {email[:80]!r}")
    return email

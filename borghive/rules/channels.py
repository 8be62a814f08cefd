"""Alert channel values, defined once: what a valid e-mail address, webhook URL and Pushover
user key is, how a channel is shown without its secrets, and the message and error types
that the alert use cases and the delivery adapters (:mod:`borghive.delivery`) share.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from borghive.errors import InvalidInputError
from borghive.rules.urls import HTTP_SCHEMES, UrlError, parse_url, redact

NOTIFY_KINDS = ("email", "webhook", "pushover")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
SIGNATURE_HEADER = "X-Borghive-Signature"
WEBHOOK_FORMAT = 1
_PUSHOVER_KEY = re.compile(r"[A-Za-z0-9]{30}")


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
        try:
            parse_url(target, HTTP_SCHEMES)
        except UrlError as exc:
            raise InvalidInputError(
                f"invalid webhook URL {redact(target)[:80]!a}: {exc.reason}",
                hint="expected http(s)://[USER:PASSWORD@]HOST[:PORT]/PATH",
            ) from None
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
    """A channel as event details, logs and delivery reports show it: a webhook URL without
    credentials, path or query (they often hold tokens), a Pushover key shortened. Never
    raises, also for a target stored before it would have been refused."""
    if kind == "webhook":
        try:
            url = parse_url(target, HTTP_SCHEMES)
        except UrlError:
            return f"webhook {redact(target)[:60]!a} (not a valid URL)"
        return f"webhook {url.scheme}://{url.host_port}/…"
    if kind == "pushover":
        return f"pushover {target[:5]}…"
    return f"{kind} {target}"


def shown_target(kind: str, target: str) -> str:
    """A channel's target as listings show it: whole, but a webhook URL's user name and
    password replaced by ``***`` (``user notify remove`` accepts this form too)."""
    if kind != "webhook":
        return target
    try:
        return parse_url(target, HTTP_SCHEMES).shown()
    except UrlError:
        return ascii(redact(target))[1:-1]


def check_email(email: str) -> str:
    """Return ``email`` when it looks like a single plain address; raise otherwise."""
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        raise InvalidInputError(f"invalid e-mail address {email[:80]!r}")
    return email

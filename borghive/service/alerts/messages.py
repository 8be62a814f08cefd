"""The words of alerts: subject and text for people, and the webhook's JSON body.

Webhook body (``"format": 1``), one JSON object:

``event``
    ``"alert"`` (no backup), ``"quota"`` (usage reached a level), ``"recovered"`` (backups
    resumed) or ``"test"``; the maintenance events are in ``upkeep_messages.py``.
``owner``, ``repository`` (``OWNER/NAME``), ``url`` (the client URL)
    ``repository`` and ``url`` are null in a test message.
``since``
    ISO 8601 UTC: the last update (or creation, when never updated) for ``alert`` and
    ``recovered``; when usage was measured for ``quota``.
``last_update``, ``alert_after`` (seconds), ``bytes_used``, ``quota`` (bytes), ``percent``
    null when unknown or not set.
``subject``, ``text``, ``time`` (ISO 8601 UTC, when the message was made)

The events about client reports (``client-failed``, ``client-timeout``,
``client-recovered``, and ``alert``/``recovered`` of a repository with reports) add keys:
:mod:`borghive.service.alerts.client_messages`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from borghive.rules.channels import WEBHOOK_FORMAT, Message
from borghive.rules.quantities import format_age, format_duration, format_size


@dataclass(frozen=True)
class RepoFacts:
    """What a message says about one repository."""

    owner: str
    name: str
    url: str
    created: dt.datetime
    last_update: dt.datetime | None
    alert_after: int | None
    quota: int | None
    bytes_used: int | None
    measured: dt.datetime | None

    @property
    def reference(self) -> str:
        return f"{self.owner}/{self.name}"

    @property
    def since(self) -> dt.datetime:
        """The last update, or the creation when never updated."""
        return self.last_update or self.created


def _when(value: dt.datetime | None) -> str:
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _size_line(facts: RepoFacts) -> str:
    if facts.bytes_used is None:
        return "Last size: not measured yet."
    return f"Last size: {format_size(facts.bytes_used)} (measured {_when(facts.measured)})."


def _percent(facts: RepoFacts) -> int | None:
    if facts.quota is None or facts.bytes_used is None:
        return None
    return facts.bytes_used * 100 // facts.quota


def _data(event: str, facts: RepoFacts, subject: str, text: str, now: dt.datetime) -> Any:
    return {
        "format": WEBHOOK_FORMAT,
        "event": event,
        "owner": facts.owner,
        "repository": facts.reference,
        "url": facts.url,
        "since": _iso(facts.measured if event == "quota" else facts.since),
        "last_update": _iso(facts.last_update),
        "alert_after": facts.alert_after,
        "bytes_used": facts.bytes_used,
        "quota": facts.quota,
        "percent": _percent(facts),
        "subject": subject,
        "text": text,
        "time": now.isoformat(),
    }


def stale_message(
    facts: RepoFacts, now: dt.datetime, realert: int, expires: dt.datetime
) -> Message:
    """No backup of a repository for longer than its alert period."""
    age = format_age((now - facts.since).total_seconds())
    what = (
        f"has had no backup since {_when(facts.last_update)}"
        if facts.last_update is not None
        else f"has never received a backup since it was created on {_when(facts.created)}"
    )
    subject = f"[borghive] No backup of {facts.reference} for {age}"
    repeat = (
        f"You will be reminded every {format_duration(realert)} until {_when(expires)}"
        if now < expires
        else "This is the last reminder"
    )
    text = (
        f"Repository {facts.reference} ({facts.url}) {what} ({age} ago); "
        f"alerts are due after {format_duration(facts.alert_after)}.\n"
        f"{_size_line(facts)}\n\n"
        "What to do: check that the backup job on the client still runs and succeeds "
        "(its log, 'borg create' by hand), that the client can reach the server and that "
        "its SSH key is still accepted. If the repository is no longer used, ask your "
        "administrator to remove it or its alert period.\n\n"
        f"{repeat}; a notice follows when backups resume.\n"
    )
    return Message(subject, text, _data("alert", facts, subject, text, now))


def quota_message(facts: RepoFacts, level: int, now: dt.datetime) -> Message:
    """Usage reached ``level`` percent of the quota (100: full)."""
    percent = _percent(facts)
    used, quota = format_size(facts.bytes_used), format_size(facts.quota)
    if level >= 100:
        subject = f"[borghive] {facts.reference} is full: {used} of its {quota} quota"
        consequence = "New backups fail until space is freed."
    else:
        subject = f"[borghive] {facts.reference} uses {percent}% of its {quota} quota"
        consequence = "At 100% borg refuses new backups."
    text = (
        f"Repository {facts.reference} ({facts.url}) uses {used} of its {quota} quota "
        f"({percent}%, measured {_when(facts.measured)}). {consequence}\n\n"
        "What to do: delete archives you no longer need ('borg prune', then "
        "'borg compact' to free the space), or ask your administrator for a larger quota.\n"
    )
    return Message(subject, text, _data("quota", facts, subject, text, now))


def recovered_message(facts: RepoFacts, down_since: dt.datetime, now: dt.datetime) -> Message:
    """Backups resumed after an alert."""
    subject = f"[borghive] Backups of {facts.reference} resumed"
    text = (
        f"Repository {facts.reference} ({facts.url}) was updated at "
        f"{_when(facts.last_update)}; before that there had been no backup since "
        f"{_when(down_since)}.\n{_size_line(facts)}\n\nNothing to do.\n"
    )
    return Message(subject, text, _data("recovered", facts, subject, text, now))


def trial_message(owner: str, channel: str, now: dt.datetime) -> Message:
    """A message that only proves the channel works."""
    subject = f"[borghive] Test message for {owner}"
    text = (
        f"This is a test of {owner}'s alert channel {channel}, sent {_when(now)}.\n"
        "Alerts about stale backups and full quotas will arrive the same way. "
        "Nothing to do.\n"
    )
    data = {
        "format": WEBHOOK_FORMAT,
        "event": "test",
        "owner": owner,
        "repository": None,
        "url": None,
        "since": None,
        "last_update": None,
        "alert_after": None,
        "bytes_used": None,
        "quota": None,
        "percent": None,
        "subject": subject,
        "text": text,
        "time": now.isoformat(),
    }
    return Message(subject, text, data)

"""The words of the maintenance alerts: a failed repository check and a lock held too long,
and the notices that they are over. Plain data in (:class:`RepoFacts`, :class:`Trouble`),
a :class:`Message` out (subject, text for email and Pushover, the webhook's JSON body).

The webhook body keeps every key of the other events (``format``, ``event``, ``owner``,
``repository``, ``url``, ``since``, ``last_update``, ``alert_after``, ``bytes_used``,
``quota``, ``percent``, ``subject``, ``text``, ``time``) and adds ``check`` (for
``check-failed`` and ``check-passed``) or ``lock`` (for ``lock-stuck`` and
``lock-released``); docs/reference/webhook.md shows one body of each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from borghive.rules.channels import Message
from borghive.rules.quantities import format_age, format_duration
from borghive.service.alerts.messages import RepoFacts, _data

CHECK_FAILED = "check-failed"
LOCK_STUCK = "lock-stuck"
UPKEEP_KINDS = (CHECK_FAILED, LOCK_STUCK)
# The webhook's event for the end of each kind's episode.
RECOVERY_EVENTS = {CHECK_FAILED: "check-passed", LOCK_STUCK: "lock-released"}


@dataclass(frozen=True)
class LockHolding:
    """Who holds a repository's lock, as far as the store and /proc tell: the session row
    (``session``) when the watch daemon recorded one, else the lock file's holder."""

    since: dt.datetime
    pid: int | None
    host: str | None
    key_name: str | None
    source: str | None
    session: int | None

    def describe(self) -> str:
        """One line naming the holder: ``session 12 (pid 4242, key laptop, from 192.0.2.7)``."""
        parts = [f"pid {self.pid}" if self.pid is not None else "pid unknown"]
        parts.append(f"key {self.key_name}" if self.key_name else "key unknown")
        if self.source:
            parts.append(f"from {self.source}")
        if self.host:
            parts.append(f"on {self.host}")
        who = f"session {self.session}" if self.session is not None else "a borg process"
        return f"{who} ({', '.join(parts)})"


@dataclass(frozen=True)
class Trouble:
    """One maintenance alert condition of one repository.

    ``kind`` is :data:`CHECK_FAILED` or :data:`LOCK_STUCK`; ``since`` when it began (the
    failed check's time; when the lock was taken); ``detail`` one line kept in
    ``alert_state.detail`` and shown by ``alert list`` (the damaged segments; the holder).
    """

    kind: str
    since: dt.datetime
    detail: str
    check_detail: str | None = None
    lock: LockHolding | None = None
    limit: int | None = None  # lock-stuck: maintenance.lock_alert_after in seconds


def _when(value: dt.datetime | None) -> str:
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _age(now: dt.datetime, since: dt.datetime) -> str:
    return format_age((now - since).total_seconds())


def _body(
    event: str, facts: RepoFacts, since: dt.datetime, subject: str, text: str, now: dt.datetime
) -> dict[str, Any]:
    """The other events' body (the same keys) with this episode's ``since``."""
    data: dict[str, Any] = _data(event, facts, subject, text, now)
    data["since"] = since.isoformat()
    return data


def _lock_data(lock: LockHolding | None, limit: int | None) -> dict[str, Any]:
    if lock is None:
        return dict.fromkeys(("since", "pid", "host", "key", "source", "session"), None) | {
            "alert_after": limit
        }
    return {
        "since": lock.since.isoformat(),
        "pid": lock.pid,
        "host": lock.host,
        "key": lock.key_name,
        "source": lock.source,
        "session": lock.session,
        "alert_after": limit,
    }


def _repeat(now: dt.datetime, realert: int, expires: dt.datetime, end: str) -> str:
    if now < expires:
        return (
            f"You will be reminded every {format_duration(realert)} until {_when(expires)}; {end}"
        )
    return f"This is the last reminder; {end}"


def check_failed_message(
    facts: RepoFacts, trouble: Trouble, now: dt.datetime, realert: int, expires: dt.datetime
) -> Message:
    """The repository's last check (``borghive repo check`` or ``maintain``) failed."""
    subject = f"[borghive] Check of {facts.reference} failed"
    damage = trouble.check_detail or "borg reported no details"
    text = (
        f"The server's check of repository {facts.reference} ({facts.url}) failed at "
        f"{_when(trouble.since)} ({_age(now, trouble.since)} ago):\n{damage}\n\n"
        "What to do: the archives that use the damaged segments may not restore. Ask your "
        "administrator to run 'borghive repo check' again and, if it still fails, "
        "'borg check --repair' with the client's key; until then, keep your local data and "
        "consider a fresh backup to another repository.\n\n"
        f"{_repeat(now, realert, expires, 'a notice follows when a check passes.')}\n"
    )
    data = _body(CHECK_FAILED, facts, trouble.since, subject, text, now)
    data["check"] = {"time": trouble.since.isoformat(), "ok": False, "detail": damage}
    return Message(subject, text, data)


def check_passed_message(
    facts: RepoFacts, failed_since: dt.datetime, passed: dt.datetime, now: dt.datetime
) -> Message:
    """A check passed after a failed one."""
    subject = f"[borghive] Check of {facts.reference} passed again"
    text = (
        f"The server's check of repository {facts.reference} ({facts.url}) passed at "
        f"{_when(passed)}; it had failed since {_when(failed_since)}.\n\nNothing to do.\n"
    )
    data = _body(RECOVERY_EVENTS[CHECK_FAILED], facts, failed_since, subject, text, now)
    data["check"] = {"time": passed.isoformat(), "ok": True, "detail": None}
    return Message(subject, text, data)


def lock_stuck_message(
    facts: RepoFacts, trouble: Trouble, now: dt.datetime, realert: int, expires: dt.datetime
) -> Message:
    """One session has held the repository's lock longer than the limit."""
    lock = trouble.lock
    holder = lock.describe() if lock is not None else "an unknown process"
    age = _age(now, trouble.since)
    subject = f"[borghive] {facts.reference} has been locked for {age}"
    kill = (
        f"'borghive session kill {lock.session if lock.session is not None else lock.pid}'"
        if lock is not None and (lock.session is not None or lock.pid is not None)
        else "'borghive session kill'"
    )
    text = (
        f"Repository {facts.reference} ({facts.url}) has been locked since "
        f"{_when(trouble.since)} ({age}) by {holder}; alerts are due after "
        f"{format_duration(trouble.limit)}.\nWhile it holds the lock, no other backup, "
        "prune or compaction of this repository can run.\n\n"
        "What to do: if the client's backup is still running (a large first backup, a slow "
        "link), wait. If the client hangs or is gone, stop it there, or ask your "
        f"administrator to end the session with {kill} on the server; borg removes the "
        "lock of a dead session at the next access.\n\n"
        f"{_repeat(now, realert, expires, 'a notice follows when the lock is released.')}\n"
    )
    data = _body(LOCK_STUCK, facts, trouble.since, subject, text, now)
    data["lock"] = _lock_data(lock, trouble.limit)
    return Message(subject, text, data)


def lock_released_message(
    facts: RepoFacts, since: dt.datetime, holder: str, now: dt.datetime
) -> Message:
    """The lock held too long is gone."""
    subject = f"[borghive] {facts.reference} is no longer locked"
    text = (
        f"The lock on repository {facts.reference} ({facts.url}) held since {_when(since)} "
        f"by {holder or 'an unknown process'} is gone.\n\nNothing to do.\n"
    )
    data = _body(RECOVERY_EVENTS[LOCK_STUCK], facts, since, subject, text, now)
    data["lock"] = {"since": since.isoformat(), "holder": holder or None, "released": True}
    return Message(subject, text, data)

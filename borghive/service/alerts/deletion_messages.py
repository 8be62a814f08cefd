"""The words of the deletion alert and of the notice that it was acknowledged. Plain data
in (:class:`RepoFacts`, :class:`DeletionTrouble`), a :class:`Message` out.

The webhook body keeps every key of the other events and adds ``deletion``: for
``deletion``, the transactions (``transaction``, ``time``, ``deletes``, ``live``,
``percent``, ``key``, ``source``, ``append_only``, ``reasons``), ``rollback_to`` (the
transaction before the first of them, or null) and ``live_is_estimate``; for
``deletion-acknowledged``, ``acknowledged`` and the ``detail`` the alert told.
docs/reference/webhook.md shows one body of each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from borghive.rules.channels import Message
from borghive.rules.quantities import format_duration
from borghive.service.alerts.messages import RepoFacts, _data
from borghive.service.history.deletions import APPEND_ONLY, Deletion

DELETION = "deletion"
DELETION_ACKNOWLEDGED = "deletion-acknowledged"


@dataclass(frozen=True)
class DeletionTrouble:
    """A repository's unacknowledged alerting transactions (oldest first): ``since`` the
    first one's time, ``detail`` the one line kept in ``alert_state.detail`` (their ids),
    ``rollback_to`` the transaction before the first (None: none is stored)."""

    since: dt.datetime
    detail: str
    deletions: tuple[Deletion, ...]
    rollback_to: int | None


def _when(value: dt.datetime | None) -> str:
    return "never" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _body(
    event: str, facts: RepoFacts, since: dt.datetime, subject: str, text: str, now: dt.datetime
) -> dict[str, Any]:
    data: dict[str, Any] = _data(event, facts, subject, text, now)
    data["since"] = since.isoformat()
    return data


def _transaction(deletion: Deletion) -> dict[str, Any]:
    t = deletion.transaction
    return {
        "transaction": t.segment,
        "time": t.time.isoformat(),
        "deletes": t.deletes,
        "live": max(deletion.live, 0),
        "percent": deletion.percent,
        "key": t.key_name,
        "source": t.source,
        "append_only": APPEND_ONLY in deletion.reasons,
        "reasons": list(deletion.reasons),
    }


def deletion_message(
    facts: RepoFacts,
    trouble: DeletionTrouble,
    now: dt.datetime,
    realert: int,
    expires: dt.datetime,
) -> Message:
    """Transactions deleted much of the repository, or deleted through an append-only key."""
    reference = facts.reference
    count = len(trouble.deletions)
    subject = (
        f"[borghive] {reference}: {count} transaction{'s' if count != 1 else ''} deleted backups"
    )
    lines = "\n".join(f"- {d.describe()}" for d in trouble.deletions)
    if trouble.rollback_to is not None:
        undo = (
            f"If this was not you, ask your administrator to roll the repository back: "
            f"'borghive repo history {reference}' lists its transactions and "
            f"'borghive repo rollback {reference} --to {trouble.rollback_to}' restores it as it "
            "was before the first of them. Do not compact it meanwhile."
        )
    else:
        undo = (
            f"If this was not you, ask your administrator: 'borghive repo history {reference}' "
            f"lists its transactions and 'borghive repo rollback {reference} --to N' restores "
            "it as it was after transaction N."
        )
    if now < expires:
        repeat = f"You will be reminded every {format_duration(realert)} until {_when(expires)}"
    else:
        repeat = "This is the last reminder"
    text = (
        f"Backups were deleted from repository {reference} ({facts.url}):\n{lines}\n\n"
        "(Percentages are of the objects the repository held before, estimated from its "
        "history.) Deleting through an append-only key, or much at once, is what someone "
        "destroying your backups with a stolen key would do.\n\n"
        f"{undo}\n\nIf it was you (a prune, a deleted archive), the administrator "
        f"acknowledges it with 'borghive alert ack {reference}'. Until then the repository "
        f"is not compacted.\n\n{repeat}; a notice follows when it is acknowledged.\n"
    )
    data = _body(DELETION, facts, trouble.since, subject, text, now)
    data["deletion"] = {
        "transactions": [_transaction(d) for d in trouble.deletions],
        "rollback_to": trouble.rollback_to,
        "live_is_estimate": True,
    }
    return Message(subject, text, data)


def acknowledged_message(
    facts: RepoFacts, since: dt.datetime, detail: str, now: dt.datetime
) -> Message:
    """The deletions an alert told of were acknowledged (or rolled back)."""
    subject = f"[borghive] Deletions in {facts.reference} acknowledged"
    text = (
        f"The deletions in repository {facts.reference} ({facts.url}) since {_when(since)} "
        f"({detail or 'see repo history'}) were acknowledged or rolled back.\n\nNothing to do.\n"
    )
    data = _body(DELETION_ACKNOWLEDGED, facts, since, subject, text, now)
    data["deletion"] = {"acknowledged": True, "detail": detail or None}
    return Message(subject, text, data)

"""Which stored transactions are deletions worth an alert, and what holds compaction back:
pure, no store, no clock of its own.

A transaction alerts (``deletion``) when it deleted more than ``delete_warn_percent`` of
the repository's live objects, or when it was made through an append-only key and deleted
anything at all (what ``borg delete`` or ``prune`` by someone holding only such a key looks
like). Live objects are an estimate: the puts minus the deletes of the transactions before
it, leaving out those of maintenance (compaction copies objects without deleting them, and
may write deletes again). A history that starts after the repository did (segments
compacted away before it was first read) counts too few live objects, so the estimate
errs towards alerting.

Compaction is held while any alerting transaction is unacknowledged, and for the hold
period after any deleting transaction, acknowledged or not: compaction removes the
segments a rollback to before it needs.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SHARE = "share"
APPEND_ONLY = "append-only"
_LOGGED = re.compile(r"transaction (\d+), UTC time \S")


@dataclass(frozen=True)
class StoredTransaction:
    """One repo_transaction row as these rules need it (times aware UTC)."""

    id: int
    segment: int
    time: dt.datetime
    puts: int
    deletes: int
    made_by: str | None
    key_name: str | None
    source: str | None
    append_only: bool | None
    acknowledged: dt.datetime | None


@dataclass(frozen=True)
class Deletion:
    """An alerting transaction: the estimated live objects before it, and why it alerts
    (:data:`SHARE`, :data:`APPEND_ONLY` or both)."""

    transaction: StoredTransaction
    live: int
    reasons: tuple[str, ...]

    @property
    def percent(self) -> int:
        """The share of the live objects it deleted, 100 at most (and where none were
        counted)."""
        if self.live <= 0:
            return 100
        return min(100, self.transaction.deletes * 100 // self.live)

    def describe(self) -> str:
        """One line: ``transaction 12 at 2026-12-01 23:00 UTC deleted 40 objects (~50 %
        of 80) through key laptop from 192.0.2.7, append-only``."""
        t = self.transaction
        words = [
            f"transaction {t.segment} at {when(t.time)} deleted {t.deletes} "
            f"object{'s' if t.deletes != 1 else ''} (~{self.percent}% of {max(self.live, 0)})"
        ]
        if t.key_name:
            words.append(f"through key {t.key_name}")
        if t.source:
            words.append(f"from {t.source}")
        line = " ".join(words)
        return f"{line}, append-only" if APPEND_ONLY in self.reasons else line


@dataclass(frozen=True)
class Hold:
    """Why compaction waits: the transaction, when it was made, until when (None: until
    its deletion alert is acknowledged)."""

    transaction: int
    time: dt.datetime
    until: dt.datetime | None
    reference: str

    def reason(self) -> str:
        """One line for ``repo compact``'s refusal and ``maintain``'s summary."""
        if self.until is None:
            return (
                f"transaction {self.transaction} at {when(self.time)} deleted objects and its "
                f"deletion alert is unacknowledged: held until 'borghive alert ack "
                f"{self.reference}'"
            )
        return (
            f"transaction {self.transaction} at {when(self.time)} deleted objects: held "
            f"until {when(self.until)} (maintenance.delete_hold)"
        )


def when(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


def logged_transactions(text: str) -> frozenset[int]:
    """The transaction ids in the text of a repository's ``transactions`` file, where borg
    appends ``transaction N, UTC time ...`` for each commit made in append-only mode.
    Lines that do not look like that are ignored."""
    found = set()
    for line in text.splitlines():
        match = _LOGGED.match(line.strip())
        if match:
            found.add(int(match.group(1)))
    return frozenset(found)


def deleting(transaction: StoredTransaction) -> bool:
    """Whether a transaction counts as a deletion: it deleted objects and is not
    maintenance's own."""
    return transaction.deletes > 0 and transaction.made_by != "maintenance"


def find_deletions(
    transactions: Sequence[StoredTransaction],
    warn_percent: int,
    *,
    logged: Iterable[int] = (),
    all_append_only: bool = False,
    live: int = 0,
) -> list[Deletion]:
    """The alerting transactions of one repository's history (``transactions`` in commit
    order, without the rolled-back ones), oldest first. ``logged``: the ids in its
    ``transactions`` file; ``all_append_only``: every key granted to it is append-only;
    ``live``: the estimate before the first of ``transactions`` (a history loaded from a
    point on)."""
    appended = frozenset(logged)
    found: list[Deletion] = []
    for transaction in transactions:
        if transaction.made_by == "maintenance":
            continue
        if transaction.deletes > 0:
            reasons: list[str] = []
            if transaction.deletes * 100 > max(live, 0) * warn_percent:
                reasons.append(SHARE)
            if (
                transaction.append_only is True
                or transaction.segment in appended
                or all_append_only
            ):
                reasons.append(APPEND_ONLY)
            if reasons:
                found.append(Deletion(transaction, live, tuple(reasons)))
        live += transaction.puts - transaction.deletes
    return found


def unacknowledged(deletions: Iterable[Deletion]) -> list[Deletion]:
    return [d for d in deletions if d.transaction.acknowledged is None]


def compaction_hold(
    reference: str,
    transactions: Sequence[StoredTransaction],
    deletions: Sequence[Deletion],
    hold: int,
    now: dt.datetime,
) -> Hold | None:
    """Why ``reference`` may not be compacted at ``now`` (aware UTC), or None: the newest
    unacknowledged alerting transaction, else the newest deleting one less than ``hold``
    seconds old."""
    waiting = unacknowledged(deletions)
    if waiting:
        newest = waiting[-1].transaction
        return Hold(newest.segment, newest.time, None, reference)
    recent = [t for t in transactions if deleting(t) and t.time + dt.timedelta(seconds=hold) > now]
    if not recent:
        return None
    newest = max(recent, key=lambda t: (t.time, t.segment))
    return Hold(newest.segment, newest.time, newest.time + dt.timedelta(seconds=hold), reference)

"""``alert ack``: a repository's unacknowledged deleting transactions marked acknowledged,
which ends its deletion alert (the next ``alert check`` says so) and lets compaction run
once ``maintenance.delete_hold`` has passed since the newest of them.

Only what the store holds is acknowledged, not what is on disk and not yet read: a
deletion made after the alert was read is not acknowledged unseen.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from borghive.rules.times import aware, to_store
from borghive.service.repositories.lifecycle import find_repository
from borghive.store import write_transaction
from borghive.store.models import RepoTransaction


@dataclass(frozen=True)
class AcknowledgedTransaction:
    transaction: int
    time: dt.datetime
    deletes: int
    key: str | None
    source: str | None


@dataclass(frozen=True)
class Acknowledgement:
    """What ``alert ack`` acknowledged (empty: there was nothing to acknowledge)."""

    repository: str
    time: dt.datetime
    transactions: list[AcknowledgedTransaction]


def acknowledge_deletions(reference: str, now: dt.datetime) -> Acknowledgement:
    """Mark every unacknowledged deleting transaction of ``reference`` (not maintenance's,
    not rolled back) acknowledged at ``now`` (aware UTC). Raises NotFoundError."""
    repo = find_repository(reference)
    shown = f"{repo.owner.name}/{repo.name}"
    with write_transaction():
        rows = list(
            RepoTransaction.select()
            .where(
                (RepoTransaction.repository == repo)
                & (RepoTransaction.deletes > 0)
                & RepoTransaction.rolled_back.is_null()
                & RepoTransaction.acknowledged.is_null()
                & (RepoTransaction.made_by.is_null() | (RepoTransaction.made_by != "maintenance"))
            )
            .order_by(RepoTransaction.segment)
        )
        if rows:
            RepoTransaction.update(acknowledged=to_store(now)).where(
                RepoTransaction.id.in_([row.id for row in rows])
            ).execute()
    return Acknowledgement(
        shown,
        now,
        [
            AcknowledgedTransaction(
                row.segment, aware(row.time), row.deletes, row.key_name, row.source
            )
            for row in rows
        ],
    )

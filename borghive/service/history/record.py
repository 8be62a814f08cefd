"""Bringing the store's transaction history up to date from disk.

The reader (:mod:`borghive.segments.reader`) starts at the cursor kept on the repository row,
so only segments new since the last read are opened. Each new transaction is stored with
the segments then on disk up to it (for rollback's "what did compaction remove" check) and,
where the store knows, who made it: inside a maintenance run's window it is maintenance;
inside a borg session's it is that session's key and address. The cursor moves in the same
store transaction as the rows, compare-and-swap, so the watch daemon and ``stats collect``
reading the same repository at once store each transaction once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from peewee import Expression

from borghive.config import Config
from borghive.rules.layout import repository_path
from borghive.rules.times import from_epoch, to_store, utcnow
from borghive.segments.ranges import to_ranges
from borghive.segments.reader import (
    Cursor,
    SegmentError,
    Transaction,
    read_transactions,
    segment_numbers,
)
from borghive.store.db import write_transaction
from borghive.store.models import Access, BorgSession, MaintenanceRun, Repository, RepoTransaction


@dataclass(frozen=True)
class HistoryUpdate:
    """What one read added: transactions stored, segments opened, header bytes read,
    transactions found rolled back (their segments are gone from disk)."""

    added: int
    segments_read: int
    bytes_read: int
    rolled_back: int
    problem: str | None = None


def _attribution(repository: Repository, time: dt.datetime) -> dict[str, object]:
    """made_by, session, key_name, source, append_only for a commit at ``time``."""
    run = (
        MaintenanceRun.select()
        .where(
            (MaintenanceRun.repository == repository)
            & (MaintenanceRun.started <= time)
            & ((MaintenanceRun.finished.is_null()) | (MaintenanceRun.finished >= time))
        )
        .first()
    )
    if run is not None:
        return {"made_by": "maintenance"}
    session = (
        BorgSession.select()
        .where(
            (BorgSession.repository == repository)
            & (BorgSession.started <= time)
            & ((BorgSession.ended.is_null()) | (BorgSession.ended >= time))
            & (BorgSession.key_fingerprint.is_null(False))
        )
        .order_by(BorgSession.started.desc())
        .first()
    )
    if session is None:
        return {}
    append_only = None
    if session.key_id is not None:
        mode = (
            Access.select(Access.mode)
            .where((Access.repository == repository) & (Access.key == session.key_id))
            .scalar()
        )
        append_only = None if mode is None else mode == "append-only"
    return {
        "made_by": "client",
        "session": session.id,
        "key_name": session.key_name,
        "source": session.source,
        "append_only": append_only,
    }


def _rows(
    repository: Repository, found: list[Transaction], present: list[int]
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    now = utcnow()
    for transaction in found:
        time = to_store(from_epoch(transaction.time))
        rows.append(
            {
                "repository": repository.id,
                "segment": transaction.segment,
                "commit_offset": transaction.offset,
                "first_segment": transaction.first_segment,
                "time": time,
                "puts": transaction.puts,
                "deletes": transaction.deletes,
                "bytes_added": transaction.bytes_added,
                "segments_present": to_ranges(n for n in present if n <= transaction.segment),
                "recorded": now,
                **_attribution(repository, time),
            }
        )
    return rows


def _rolled_back(repository: Repository, present: list[int]) -> int:
    """Mark stored transactions whose commit segment is beyond everything on disk (a
    rollback done by hand, or a repository restored from an older copy) rolled back,
    and put the cursor after the newest one left. Returns how many were marked."""
    newest = max(present, default=-1)
    if repository.history_segment is None or repository.history_segment <= newest:
        return 0
    gone = (
        RepoTransaction.update(rolled_back=utcnow())
        .where(
            (RepoTransaction.repository == repository)
            & (RepoTransaction.segment > newest)
            & (RepoTransaction.rolled_back.is_null())
        )
        .execute()
    )
    last = (
        RepoTransaction.select()
        .where((RepoTransaction.repository == repository) & RepoTransaction.rolled_back.is_null())
        .order_by(RepoTransaction.segment.desc())
        .first()
    )
    segment, offset = (last.segment, last.commit_offset + 9) if last else (None, None)
    Repository.update(history_segment=segment, history_offset=offset).where(
        Repository.id == repository.id
    ).execute()
    repository.history_segment, repository.history_offset = segment, offset
    return int(gone)


def _same_cursor(repository: Repository) -> Expression:
    """The row still has the cursor ``repository`` was read with (compare-and-swap)."""
    if repository.history_segment is None:
        return Repository.history_segment.is_null()
    return (Repository.history_segment == repository.history_segment) & (
        Repository.history_offset == repository.history_offset
    )


def record_history(repository: Repository, path: Path) -> HistoryUpdate:
    """Read ``path``'s transactions after the stored cursor and store them. Nothing new is
    no write at all (the read is outside any store transaction; only new rows and the
    moved cursor are written, compare-and-swap). A segment that is not borg's is reported
    (``problem``), nothing stored, the cursor left."""
    present = segment_numbers(path)
    fresh = Repository.get_by_id(repository.id)
    rolled = 0
    if fresh.history_segment is not None and fresh.history_segment > max(present, default=-1):
        with write_transaction():
            rolled = _rolled_back(Repository.get_by_id(repository.id), present)
        fresh = Repository.get_by_id(repository.id)
    start = (
        Cursor(fresh.history_segment, int(fresh.history_offset or 0))
        if fresh.history_segment is not None
        else None
    )
    try:
        result = read_transactions(path, start)
    except (SegmentError, OSError) as exc:
        return HistoryUpdate(0, 0, 0, rolled, problem=str(exc)[:300])
    rows = _rows(fresh, result.transactions, present) if result.transactions else []
    if rows:
        with write_transaction():
            changed = (
                Repository.update(
                    history_segment=result.cursor.segment, history_offset=result.cursor.offset
                )
                .where((Repository.id == fresh.id) & _same_cursor(fresh))
                .execute()
            )
            if changed:
                for start_at in range(0, len(rows), 100):
                    RepoTransaction.insert_many(rows[start_at : start_at + 100]).execute()
            else:
                rows = []  # another reader stored them first
    return HistoryUpdate(len(rows), result.cursor.segments, result.cursor.bytes_read, rolled)


def update_histories(config: Config, repository_ids: Iterable[int]) -> dict[int, HistoryUpdate]:
    """:func:`record_history` for each repository on this host's disk (the watch daemon
    after an update, ``stats collect`` after its walk). A repository whose segments cannot
    be read is reported in its result, not raised; the store's errors are raised."""
    results: dict[int, HistoryUpdate] = {}
    ids = list(repository_ids)
    for start_at in range(0, len(ids), 500):
        chunk = ids[start_at : start_at + 500]
        for repo in Repository.select().where(Repository.id.in_(chunk)):
            path = Path(repository_path(config.repos.root, repo.repo_user, repo.name))
            if (path / "data").is_dir():
                results[repo.id] = record_history(repo, path)
    return results

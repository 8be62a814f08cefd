"""What the deletion rules (:mod:`.deletions`) read: the histories of the repositories
that have a deletion to consider, their ``transactions`` files and their grants, in a few
plain queries. Used by ``alert check``, ``alert ack``, ``repo compact`` and ``maintain``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peewee import Case, fn

from borghive.config import Config
from borghive.rules.layout import repository_path
from borghive.rules.quantities import parse_duration
from borghive.rules.times import stored_time, to_store
from borghive.service.history.deletions import (
    Deletion,
    Hold,
    StoredTransaction,
    compaction_hold,
    find_deletions,
    logged_transactions,
)
from borghive.store import raw_rows
from borghive.store.models import Access, Repository, RepoTransaction, User

_CHUNK = 500
_LOG_LIMIT = 4 * 1024 * 1024  # the transactions file grows a line per commit


@dataclass(frozen=True)
class RepositoryDeletions:
    """One repository's history (commit order, rolled-back ones left out; loaded from a
    point on, the transaction before it is ``before``) and its alerting transactions."""

    repository_id: int
    reference: str
    transactions: list[StoredTransaction]
    deletions: list[Deletion]
    before: int | None = None


_CLIENT = RepoTransaction.made_by.is_null() | (RepoTransaction.made_by != "maintenance")


def _chunks(ids: Collection[int]) -> list[list[int]]:
    wanted = sorted(ids)
    return [wanted[i : i + _CHUNK] for i in range(0, len(wanted), _CHUNK)]


def candidates(hold: int | None, now: dt.datetime) -> set[int]:
    """Repositories with an unacknowledged deleting transaction, or (``hold`` seconds
    given) one newer than ``now`` minus the hold."""
    condition = RepoTransaction.acknowledged.is_null()
    if hold is not None:
        condition = condition | (RepoTransaction.time > to_store(now - dt.timedelta(seconds=hold)))
    query = (
        RepoTransaction.select(RepoTransaction.repository)
        .where(
            (RepoTransaction.deletes > 0)
            & RepoTransaction.rolled_back.is_null()
            & _CLIENT
            & condition
        )
        .distinct()
    )
    return {int(row[0]) for row in raw_rows(query)}


def _starts(since: dt.datetime) -> Any:
    """Per repository (``rid``) with an unacknowledged deleting transaction (not
    maintenance's) made after ``since``, the first such transaction's id (``start``)."""
    first = RepoTransaction.alias("first")
    return (
        first.select(first.repository.alias("rid"), fn.MIN(first.segment).alias("start"))
        .where(
            (first.deletes > 0)
            & first.rolled_back.is_null()
            & first.acknowledged.is_null()
            & (first.made_by.is_null() | (first.made_by != "maintenance"))
            & (first.time > to_store(since))
        )
        .group_by(first.repository)
        .alias("starts")
    )


def _earlier(since: dt.datetime) -> dict[int, tuple[int, int | None]]:
    """For each repository of :func:`_starts`, the live-object estimate of its
    transactions before its start (maintenance's left out) and the newest of them: one
    aggregate in the store, no rows read out."""
    starts = _starts(since)
    change = Case(None, [(_CLIENT, RepoTransaction.puts - RepoTransaction.deletes)], 0)
    query = (
        RepoTransaction.select(
            RepoTransaction.repository, fn.SUM(change), fn.MAX(RepoTransaction.segment)
        )
        .join(
            starts,
            on=(
                (starts.c.rid == RepoTransaction.repository)
                & (RepoTransaction.segment < starts.c.start)
            ),
        )
        .where(RepoTransaction.rolled_back.is_null())
        .group_by(RepoTransaction.repository)
    )
    return {
        int(repo_id): (int(live or 0), None if newest is None else int(newest))
        for repo_id, live, newest in raw_rows(query)
    }


_COLUMNS = (
    RepoTransaction.repository,
    RepoTransaction.id,
    RepoTransaction.segment,
    RepoTransaction.time,
    RepoTransaction.puts,
    RepoTransaction.deletes,
    RepoTransaction.made_by,
    RepoTransaction.key_name,
    RepoTransaction.source,
    RepoTransaction.append_only,
    RepoTransaction.acknowledged,
)


def _stored(rows: Iterable[tuple[Any, ...]], found: dict[int, list[StoredTransaction]]) -> None:
    for repo_id, row_id, segment, time, puts, deletes, made_by, key, source, ao, ack in rows:
        found.setdefault(repo_id, []).append(
            StoredTransaction(
                row_id,
                segment,
                stored_time(time),
                puts,
                deletes,
                made_by,
                key,
                source,
                None if ao is None else bool(ao),
                stored_time(ack),
            )
        )


def _recent_histories(since: dt.datetime) -> dict[int, list[StoredTransaction]]:
    """The transactions of each repository of :func:`_starts` from its start on."""
    starts = _starts(since)
    query = (
        RepoTransaction.select(*_COLUMNS)
        .join(
            starts,
            on=(
                (starts.c.rid == RepoTransaction.repository)
                & (RepoTransaction.segment >= starts.c.start)
            ),
        )
        .where(RepoTransaction.rolled_back.is_null())
        .order_by(RepoTransaction.repository, RepoTransaction.segment)
    )
    found: dict[int, list[StoredTransaction]] = {}
    _stored(raw_rows(query), found)
    return found


def _histories(ids: Collection[int]) -> dict[int, list[StoredTransaction]]:
    found: dict[int, list[StoredTransaction]] = {i: [] for i in ids}
    for chunk in _chunks(ids):
        query = (
            RepoTransaction.select(*_COLUMNS)
            .where(RepoTransaction.repository.in_(chunk) & RepoTransaction.rolled_back.is_null())
            .order_by(RepoTransaction.repository, RepoTransaction.segment)
        )
        _stored(raw_rows(query), found)
    return found


def _all_append_only(ids: Collection[int]) -> set[int]:
    """The repositories among ``ids`` with grants, every one of them append-only."""
    modes: dict[int, set[str]] = {}
    for chunk in _chunks(ids):
        query = Access.select(Access.repository, Access.mode).where(Access.repository.in_(chunk))
        for repo_id, mode in raw_rows(query):
            modes.setdefault(repo_id, set()).add(mode)
    return {repo_id for repo_id, found in modes.items() if found == {"append-only"}}


def read_logged(path: Path) -> frozenset[int]:
    """The ids in ``path``'s ``transactions`` file (none when it is absent or unreadable:
    a full-access session never writes it)."""
    try:
        with (path / "transactions").open("rb") as file:
            text = file.read(_LOG_LIMIT).decode("utf-8", errors="replace")
    except OSError:
        return frozenset()
    return logged_transactions(text)


def load_deletions(
    config: Config,
    ids: Collection[int] | None,
    warn_percent: int,
    *,
    since: dt.datetime | None = None,
) -> dict[int, RepositoryDeletions]:
    """The history and alerting transactions of each repository in ``ids``, by id. With
    ``since``: instead the repositories with an unacknowledged deleting transaction made
    after it, their histories from the first of those on, the earlier ones summed in the
    store (what ``alert check`` reads every few minutes, whatever the history's length)."""
    earlier: dict[int, tuple[int, int | None]] = {}
    histories: dict[int, list[StoredTransaction]] = {}
    if since is not None:
        histories = _recent_histories(since)
        earlier = _earlier(since) if histories else {}
        ids = histories.keys()
    elif ids:
        histories = _histories(ids)
    if not ids:
        return {}
    names: dict[int, tuple[str, str, str]] = {}
    for chunk in _chunks(ids):
        query = (
            Repository.select(Repository.id, User.name, Repository.name, Repository.repo_user)
            .join(User)
            .where(Repository.id.in_(chunk))
        )
        for repo_id, owner, name, repo_user in raw_rows(query):
            names[repo_id] = (owner, name, repo_user)
    restricted = _all_append_only(names.keys())
    found: dict[int, RepositoryDeletions] = {}
    for repo_id, (owner, name, repo_user) in names.items():
        path = Path(repository_path(config.repos.root, repo_user, name))
        history = histories[repo_id]
        live, before = earlier.get(repo_id, (0, None))
        deletions = find_deletions(
            history,
            warn_percent,
            logged=read_logged(path),
            all_append_only=repo_id in restricted,
            live=live,
        )
        found[repo_id] = RepositoryDeletions(repo_id, f"{owner}/{name}", history, deletions, before)
    return found


def holds(config: Config, now: dt.datetime, ids: Collection[int] | None = None) -> dict[int, Hold]:
    """Why each repository (of ``ids``, default all with a deletion to consider) may not
    be compacted at ``now``, by id; repositories free to compact are left out."""
    hold = parse_duration(config.maintenance.delete_hold)
    wanted = candidates(hold, now)
    if ids is not None:
        wanted &= set(ids)
    found: dict[int, Hold] = {}
    for repo_id, known in load_deletions(config, wanted, config.alerts.delete_warn_percent).items():
        reason = compaction_hold(known.reference, known.transactions, known.deletions, hold, now)
        if reason is not None:
            found[repo_id] = reason
    return found

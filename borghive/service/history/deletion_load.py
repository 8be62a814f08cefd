"""What the deletion rules (:mod:`.deletions`) read: the histories of the repositories
that have a deletion to consider, their ``transactions`` files and their grants, in a few
plain queries. Used by ``alert check``, ``alert ack``, ``repo compact`` and ``maintain``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

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
    """One repository's history (commit order, rolled-back ones left out) and its
    alerting transactions."""

    repository_id: int
    reference: str
    transactions: list[StoredTransaction]
    deletions: list[Deletion]


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
            & ((RepoTransaction.made_by.is_null()) | (RepoTransaction.made_by != "maintenance"))
            & condition
        )
        .distinct()
    )
    return {int(row[0]) for row in raw_rows(query)}


def _histories(ids: Collection[int]) -> dict[int, list[StoredTransaction]]:
    found: dict[int, list[StoredTransaction]] = {i: [] for i in ids}
    for chunk in _chunks(ids):
        query = (
            RepoTransaction.select(
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
            .where(RepoTransaction.repository.in_(chunk) & RepoTransaction.rolled_back.is_null())
            .order_by(RepoTransaction.repository, RepoTransaction.segment)
        )
        for row in raw_rows(query):
            repo_id, row_id, segment, time, puts, deletes, made_by, key, source, ao, ack = row
            found[repo_id].append(
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
    config: Config, ids: Collection[int], warn_percent: int
) -> dict[int, RepositoryDeletions]:
    """The history and alerting transactions of each repository in ``ids``, by id."""
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
    histories = _histories(names.keys())
    restricted = _all_append_only(names.keys())
    found: dict[int, RepositoryDeletions] = {}
    for repo_id, (owner, name, repo_user) in names.items():
        path = Path(repository_path(config.repos.root, repo_user, name))
        history = histories[repo_id]
        deletions = find_deletions(
            history,
            warn_percent,
            logged=read_logged(path),
            all_append_only=repo_id in restricted,
        )
        found[repo_id] = RepositoryDeletions(repo_id, f"{owner}/{name}", history, deletions)
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

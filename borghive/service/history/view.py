"""``repo history``: a repository's transactions, newest first, brought up to date first
when the repository is on this host's disk."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from borghive.config import Config
from borghive.rules.layout import repository_path
from borghive.rules.times import aware, utcnow
from borghive.service.history.record import HistoryUpdate, record_history
from borghive.service.hosts.identity import is_local
from borghive.service.repositories.lifecycle import find_repository
from borghive.store.models import RepoTransaction


@dataclass(frozen=True)
class TransactionInfo:
    """One transaction as ``repo history`` shows it; ``deleting`` when it deleted objects."""

    transaction: int
    time: dt.datetime
    made_by: str | None
    key: str | None
    source: str | None
    append_only: bool | None
    puts: int
    deletes: int
    bytes_added: int
    deleting: bool


@dataclass(frozen=True)
class History:
    repository: str
    transactions: list[TransactionInfo]
    update: HistoryUpdate | None  # None when the repository is not on this disk


def repository_history(config: Config, reference: str, since: int | None = None) -> History:
    """The transactions of ``reference`` (newest first, within ``since`` seconds when
    given), after reading what is new on disk. Raises NotFoundError."""
    repo = find_repository(reference)
    owner = repo.owner.name
    path = Path(repository_path(config.repos.root, repo.repo_user, repo.name))
    # Only the host holding it reads its disk (a copy a move left behind is not it).
    here = is_local(config, repo)
    update = record_history(repo, path) if here and (path / "data").is_dir() else None
    query = RepoTransaction.select().where(
        (RepoTransaction.repository == repo) & RepoTransaction.rolled_back.is_null()
    )
    if since is not None:
        query = query.where(RepoTransaction.time >= utcnow() - dt.timedelta(seconds=since))
    rows = query.order_by(RepoTransaction.segment.desc())
    return History(
        f"{owner}/{repo.name}",
        [
            TransactionInfo(
                transaction=row.segment,
                time=aware(row.time),
                made_by=row.made_by,
                key=row.key_name,
                source=row.source,
                append_only=row.append_only,
                puts=row.puts,
                deletes=row.deletes,
                bytes_added=row.bytes_added,
                deleting=row.deletes > 0,
            )
            for row in rows
        ],
        update,
    )

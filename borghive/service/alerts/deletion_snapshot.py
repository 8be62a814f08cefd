"""What the deletion alert reads: each local repository's history brought up to date
first (incremental: only segments new since the last read are opened), then the
unacknowledged alerting transactions (:mod:`borghive.service.history.deletion_load`), and
the repositories their earlier alerts were about."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from peewee import fn

from borghive.config import Config
from borghive.rules.layout import repository_path
from borghive.segments.reader import segment_numbers
from borghive.service.alerts.deletion_messages import DELETION, DeletionTrouble
from borghive.service.alerts.plan import Snapshot
from borghive.service.alerts.snapshot import repo_rows
from borghive.service.history.deletion_load import load_deletions
from borghive.service.history.deletions import unacknowledged
from borghive.service.history.record import record_history
from borghive.service.hosts.identity import local_condition
from borghive.store import raw_rows
from borghive.store.models import Repository, User

log = logging.getLogger(__name__)
_DETAIL_LIMIT = 500


def refresh_histories(config: Config) -> int:
    """Read what is new in every borg repository on this host's disk into the store;
    returns how many transactions were added. A repository whose segments cannot be read
    is logged and left as it was."""
    query = Repository.select(
        Repository.id, Repository.repo_user, Repository.name, Repository.history_segment
    ).where((Repository.mode == "borg") & local_condition(config))
    added = 0
    for repo_id, repo_user, name, cursor in raw_rows(query):
        path = Path(repository_path(config.repos.root, repo_user, name))
        try:
            newest = max(segment_numbers(path), default=None)
        except OSError:
            continue  # not on this host's disk
        if newest == cursor:
            # borg starts a new segment after each commit: the same newest segment as the
            # cursor's means nothing new, without opening a write transaction.
            continue
        update = record_history(Repository.get_by_id(repo_id), path)
        if update.problem:
            log.warning("history of %s not read: %s", path, update.problem)
        added += update.added
    return added


def add_deletions(config: Config, snapshot: Snapshot, *, refresh: bool = False) -> None:
    """Put the deletion conditions into ``snapshot``: its ``deletions`` by repository, one
    condition each, and the rows of the repositories they (or earlier deletion states)
    are about. ``refresh``: first read what is new on disk (a write; not in a dry run)."""
    if refresh:
        refresh_histories(config)
    # Deletions are told, then reminded until the owner's alert expiration: older ones
    # are not loaded (they still hold compaction back: maintenance/hold.py reads them all).
    longest = User.select(fn.MAX(User.alert_expiration)).scalar() or 0
    since = snapshot.now - dt.timedelta(seconds=int(longest))
    known = load_deletions(config, None, config.alerts.delete_warn_percent, since=since)
    for repo_id, found in known.items():
        waiting = unacknowledged(found.deletions)
        if not waiting:
            continue
        first = waiting[0].transaction
        before = [t.segment for t in found.transactions if t.segment < first.segment]
        if found.before is not None:
            before.append(found.before)
        ids = ", ".join(str(d.transaction.segment) for d in waiting)
        detail = f"transaction{'s' if len(waiting) != 1 else ''} {ids}"
        if len(detail) > _DETAIL_LIMIT:
            detail = detail[: _DETAIL_LIMIT - 1] + "…"
        snapshot.deletions[repo_id] = DeletionTrouble(
            first.time, detail, tuple(waiting), max(before, default=None)
        )
    told = {repo_id for repo_id, _, kind in snapshot.states if kind == DELETION}
    missing = (snapshot.deletions.keys() | told) - snapshot.repos.keys()
    if missing:
        snapshot.repos.update(repo_rows(config, Repository.id.in_(sorted(missing))))
    for repo_id, trouble in snapshot.deletions.items():
        repo = snapshot.repos.get(repo_id)
        if repo is not None:
            snapshot.conditions.append((repo, DELETION, trouble.since, 0))

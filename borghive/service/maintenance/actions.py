"""One maintenance action on one repository, from claim to record.

:func:`perform` finds the repository, refuses what must not be touched (being purged, not
a borg repository), claims it, lets the action run, and records the outcome in one
transaction: the run closed, an event, ``last_access_by = 'maintenance'`` and the action's
own columns. ``last_update`` is never moved: maintenance is not a backup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from borghive.config import Config
from borghive.errors import BorghiveError, RefusedError
from borghive.rules.layout import repository_path
from borghive.rules.times import aware
from borghive.service.hosts.identity import require_local
from borghive.service.maintenance.claims import claim, finish, release
from borghive.service.maintenance.guard import live_holder
from borghive.service.repositories.lifecycle import find_repository
from borghive.store import write_transaction
from borghive.store.models import Event, MaintenanceRun, Repository
from borghive.store.queries import advance_times

# The event each action records (events are free text up to 16 characters).
EVENT_KIND = {
    "compact": "compacted",
    "check": "checked",
    "break-lock": "lock-broken",
    "rollback": "rolled-back",
    "rollback-undo": "rollback-undone",
}


@dataclass(frozen=True)
class Outcome:
    """What an action found: ``result`` ok, failed or refused; ``detail`` one line."""

    result: str
    detail: str
    bytes_freed: int | None = None
    segments: tuple[int, ...] = ()
    borg_seconds: float | None = None
    # Whether borg touched the repository (last_access_by then moves).
    touched: bool = True


@dataclass(frozen=True)
class MaintenanceReport:
    """The recorded outcome of one action on one repository, as commands show it."""

    repository: str
    action: str
    result: str
    detail: str
    bytes_freed: int | None = None
    damaged_segments: list[int] = field(default_factory=list)
    borg_seconds: float | None = None
    finished: dt.datetime | None = None


@dataclass(frozen=True)
class Target:
    """The repository an action works on: its record, name as shown, path on disk."""

    repository: Repository
    shown: str
    path: Path


def target(config: Config, reference: str | Repository, action: str = "work on") -> Target:
    """The repository by reference (raises NotFoundError, InvalidInputError) or record;
    ConflictError naming its host when it lives on another storage host (``action``, e.g.
    "compact", says what cannot be done here: its files are on that host's disk)."""
    repo = find_repository(reference) if isinstance(reference, str) else reference
    require_local(config, repo, action)
    shown = f"{repo.owner.name}/{repo.name}"
    return Target(repo, shown, Path(repository_path(config.repos.root, repo.repo_user, repo.name)))


def check_borg_repository(place: Target) -> None:
    """Raise RefusedError when the repository is being purged or holds no borg repository."""
    if place.repository.purge_started is not None:
        raise RefusedError(f"repository {place.shown}: it is being purged")
    if not (place.path / "config").is_file():
        raise RefusedError(
            f"repository {place.shown}: no borg repository at {place.path} (no config file)",
            hint="the client creates it with borg init",
        )


def refuse_if_held(place: Target) -> None:
    """Raise RefusedError naming the live holder of the repository's lock, if any."""
    held = live_holder(place.path, place.repository.uid_number)
    if held is None:
        return
    hint = (
        "retry when the session has ended, or end it with 'borghive session kill'"
        if held.client
        else "retry when it has finished"
    )
    raise RefusedError(f"repository {place.shown}: locked by {held.description}", hint=hint)


def _record(place: Target, run: MaintenanceRun, outcome: Outcome) -> MaintenanceReport:
    repo = place.repository
    with write_transaction():
        finished = finish(run, outcome.result, outcome.detail, bytes_freed=outcome.bytes_freed)
        Event.create(
            repository=repo.id,
            kind=EVENT_KIND[run.action],
            time=finished,
            detail=f"{outcome.result}: {outcome.detail}"[:1000],
        )
        changes: dict[str, object] = {}
        if outcome.touched:
            changes["last_access_by"] = "maintenance"
            advance_times([(repo.id, finished, None)])
        if run.action == "compact" and outcome.result == "ok":
            changes["last_compact"] = finished
            changes["last_bytes_freed"] = outcome.bytes_freed
        if run.action == "check" and outcome.result in ("ok", "failed"):
            changes["last_check"] = finished
            changes["last_check_ok"] = outcome.result == "ok"
            changes["last_check_detail"] = outcome.detail[:4000]
        if changes:
            Repository.update(changes).where(Repository.id == repo.id).execute()
    return MaintenanceReport(
        repository=place.shown,
        action=run.action,
        result=outcome.result,
        detail=outcome.detail,
        bytes_freed=outcome.bytes_freed,
        damaged_segments=list(outcome.segments),
        borg_seconds=outcome.borg_seconds,
        finished=aware(finished),
    )


def perform(
    config: Config,
    reference: str | Repository,
    action: str,
    body: Callable[[Target], Outcome],
    *,
    still_due: Callable[[Repository], bool] | None = None,
) -> MaintenanceReport | None:
    """Run ``body`` on the repository under a claim and record its outcome.

    ``still_due``, checked on the record read again after the claim, lets a scheduler
    skip work another host finished meanwhile (None is returned, nothing recorded).
    Raises NotFoundError, RefusedError (recorded as refused when the claim was taken);
    an exception out of ``body`` is recorded as failed and raised again."""
    place = target(config, reference, action)
    check_borg_repository(place)
    run = claim(place.repository, action, shown=place.shown)
    try:
        if still_due is not None:
            fresh = Repository.get_or_none(Repository.id == place.repository.id)
            if fresh is None or not still_due(fresh):
                release(run)
                return None
        outcome = body(place)
    except RefusedError as error:
        _record(place, run, Outcome("refused", error.message, touched=False))
        raise
    except BaseException as error:
        message = error.message if isinstance(error, BorghiveError) else type(error).__name__
        _record(place, run, Outcome("failed", f"interrupted: {message}", touched=False))
        raise
    return _record(place, run, outcome)

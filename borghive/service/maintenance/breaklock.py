"""``repo break-lock``: remove a stale lock the way borg does (``borg break-lock`` as the
repository user), then verify none is left.

A lock is stale when every holder is dead on this host, or names another host while no
process of the repository user runs here (a copied or restored repository, a renamed
host). Anything else is refused, naming the holder. ``force`` breaks it anyway: if a borg
is in fact still writing, the repository's index no longer matches its segments.
"""

from __future__ import annotations

from collections.abc import Callable

from borghive.config import Config
from borghive.errors import RefusedError
from borghive.service.maintenance.actions import MaintenanceReport, Outcome, Target, perform
from borghive.service.maintenance.compact import last_line
from borghive.service.maintenance.guard import held_locks, session_behind, user_has_processes
from borghive.service.maintenance.runner import run_borg
from borghive.service.repositories.borgs import borg_binary
from borghive.sessions.locks import is_locked, lock_holders


def _refuse_unless_stale(place: Target) -> str:
    """The holders as one phrase; raise RefusedError when the lock is not stale."""
    held = held_locks(place.path)
    behind = session_behind([h for h in held if h.state == "dead"], place.repository.uid_number)
    for holder in [*held, *([behind] if behind else [])]:
        if holder.state == "alive":
            hint = (
                "end the session first with 'borghive session kill', or wait for it"
                if holder.client
                else "wait for it to finish, or use --force if you are sure it is stuck"
            )
            raise RefusedError(
                f"repository {place.shown}: lock held by {holder.description}", hint=hint
            )
        if holder.state == "elsewhere" and user_has_processes(place.repository.uid_number):
            raise RefusedError(
                f"repository {place.shown}: lock names {holder.description}, and processes of "
                f"{place.repository.repo_user} run on this host",
                hint="use --force only when no borg uses the repository",
            )
    return "; ".join(h.description for h in held) or "no holder named"


def _break(config: Config, force: bool) -> Callable[[Target], Outcome]:
    def body(place: Target) -> Outcome:
        if not is_locked(place.path):
            return Outcome("ok", "not locked", touched=False)
        if force:
            holders = "; ".join(h.description for h in held_locks(place.path)) or "none named"
            what = f"forced (holders: {holders})"
        else:
            what = f"stale (holders: {_refuse_unless_stale(place)})"
        repo = place.repository
        run = run_borg(
            borg_binary(config, repo.borg_name),
            ["break-lock", str(place.path)],
            uid=repo.uid_number,
            gid=config.repos.gid,
            action="break-lock",
        )
        if run.returncode != 0:
            return Outcome("failed", last_line(run), borg_seconds=run.seconds)
        if is_locked(place.path) or lock_holders(place.path):
            return Outcome(
                "failed",
                f"a lock is still there after borg break-lock ({what})",
                borg_seconds=run.seconds,
            )
        return Outcome("ok", f"broke the lock: {what}", borg_seconds=run.seconds)

    return body


def break_lock(config: Config, reference: str, *, force: bool = False) -> MaintenanceReport:
    """Break the repository's lock when stale (or ``force``). Raises NotFoundError,
    RefusedError (a live holder, or claimed)."""
    report = perform(config, reference, "break-lock", _break(config, force))
    assert report is not None  # noqa: S101 - perform returns None only with still_due
    return report

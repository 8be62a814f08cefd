"""``repo rollback``: roll a repository back to a transaction, verify it, undo it.

Order, so that a fault at any step leaves something the next run finishes or undoes:
refuse while a session or lock is on the repository; bring the history up to date; plan;
claim (a maintenance run); disable logins (the mode in the store: authkeys then prints
nothing); write the quarantine's manifest; move; ``borg check --repository-only`` as the
repository user; on failure move everything back; the previous mode comes back in every
case. A rollback interrupted before it was verified (a quarantine left ``moving`` or
``moved``) is undone by the next ``repo rollback`` or ``--undo`` before anything else.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from borghive.config import Config
from borghive.errors import RefusedError
from borghive.rules.times import aware, utcnow
from borghive.segments.reader import (
    TAG_COMMIT,
    Cursor,
    SegmentError,
    Transaction,
    iter_entries,
    read_transactions,
    segment_numbers,
    segment_path,
    segments_per_dir,
)
from borghive.service.history.record import record_history
from borghive.service.maintenance.actions import (
    Outcome,
    Target,
    check_borg_repository,
    perform,
    refuse_if_held,
    target,
)
from borghive.service.maintenance.guard import user_has_processes
from borghive.service.maintenance.runner import run_borg
from borghive.service.repositories.borgs import borg_binary
from borghive.service.rollback import quarantine as quarantines
from borghive.service.rollback.plan import RollbackPlan, is_index_file, plan_rollback
from borghive.store import write_transaction
from borghive.store.models import Repository, RepoTransaction

_UNFINISHED = ("moving", "moved")


@dataclass(frozen=True)
class RollbackResult:
    """What a rollback (or its undo, or a dry run) did: the target, the transactions
    rolled back (newest first), the files moved, the quarantine, whether borg check
    passed, the repository id (for the client's security directory)."""

    repository: str
    target: int | None
    dry_run: bool
    undone: list[int] = field(default_factory=list)
    moves: list[str] = field(default_factory=list)
    quarantine: str | None = None
    verified: bool = False
    repository_id: str | None = None
    interrupted_undone: str | None = None


def _refuse_if_busy(place: Target) -> None:
    refuse_if_held(place)
    if user_has_processes(place.repository.uid_number):
        raise RefusedError(
            f"repository {place.shown}: its repository user has processes running "
            "(a session is open)",
            hint="retry when it has ended, or end it with 'borghive session kill'",
        )


def repository_id(path: Path) -> str | None:
    """The ``id`` in the repository's config file (hex), or None."""
    try:
        fd = os.open(path / "config", os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        text = handle.read(65536).decode("utf-8", "replace")
    for line in text.splitlines():
        name, equals, value = line.partition("=")
        if equals and name.strip() == "id" and all(c in "0123456789abcdef" for c in value.strip()):
            return value.strip()[:64]
    return None


def _set_mode(repository: Repository, mode: str) -> None:
    with write_transaction():
        Repository.update(mode=mode).where(Repository.id == repository.id).execute()


def _borg_check(config: Config, place: Target) -> tuple[bool, str]:
    repo = place.repository
    run = run_borg(
        borg_binary(config, repo.borg_name),
        ["check", "--repository-only", str(place.path)],
        uid=repo.uid_number,
        gid=config.repos.gid,
        action="rollback",
    )
    said = (run.stderr.strip() or run.stdout.strip()).splitlines()[-1:] or [""]
    return run.returncode == 0, said[0][:300]


def undo_interrupted(place: Target) -> str | None:
    """Undo a rollback left unverified (a quarantine ``moving`` or ``moved``): move back
    what it moved and put its mode back. Returns that quarantine's id, or None."""
    for found in quarantines.quarantines(place.path):
        if found.state in _UNFINISHED:
            quarantines.move_back(place.path, found)
            quarantines.set_state(found, "undone")
            _set_mode(place.repository, found.previous_mode)
            return found.id
    return None


def _from_target(path: Path, stored: RepoTransaction) -> list[Transaction] | None:
    """The stored target and every transaction after it on disk, read from the target's
    COMMIT on (what is before it does not change the plan, and one create can span ten
    thousand segments); None when that COMMIT is not where the store says."""
    number, offset = int(stored.segment), int(stored.commit_offset)
    try:
        commit = next(iter_entries(segment_path(path, number), offset), None)
    except (OSError, SegmentError):
        return None
    if commit is None or commit.tag != TAG_COMMIT or commit.offset != offset:
        return None
    target = Transaction(
        number,
        offset,
        int(stored.first_segment),
        aware(stored.time).timestamp(),
        int(stored.puts),
        int(stored.deletes),
        int(stored.bytes_added),
    )
    return [target, *read_transactions(path, Cursor(number, offset + commit.size)).transactions]


def _plan(place: Target, to: int) -> RollbackPlan:
    """The plan from the disk: from the target on when the store has it, else from the
    whole repository (the refusal names the newest transactions)."""
    path = place.path
    present = segment_numbers(path)
    stored = (
        RepoTransaction.select()
        .where(
            (RepoTransaction.repository == place.repository.id)
            & (RepoTransaction.segment == to)
            & RepoTransaction.rolled_back.is_null()
        )
        .first()
    )
    found = None if stored is None else _from_target(path, stored)
    per_dir = segments_per_dir(path)
    return plan_rollback(
        place.shown,
        to,
        read_transactions(path).transactions if found is None else found,
        present,
        os.listdir(path),
        None if stored is None else stored.segments_present,
        {n: str(segment_path(path, n, per_dir).relative_to(path)) for n in present if n > to},
    )


def _move_history(repository: Repository, to: int, *, back: bool) -> None:
    """Mark the transactions after ``to`` rolled back (or, ``back``, current again) and
    put the reader's cursor after the newest current one."""
    current = RepoTransaction.rolled_back.is_null()
    with write_transaction():
        RepoTransaction.update(rolled_back=None if back else utcnow()).where(
            (RepoTransaction.repository == repository.id)
            & (RepoTransaction.segment > to)
            & (~current if back else current)
        ).execute()
        newest = (
            RepoTransaction.select()
            .where((RepoTransaction.repository == repository.id) & current)
            .order_by(RepoTransaction.segment.desc())
            .first()
        )
        Repository.update(
            history_segment=newest.segment if newest else None,
            history_offset=(newest.commit_offset + 9) if newest else None,
        ).where(Repository.id == repository.id).execute()


def _with_logins_disabled(place: Target, work: Callable[[], None]) -> None:
    """Run ``work`` with the repository's mode ``disabled``; the mode it had comes back
    whatever happens (a kill is handled by :func:`undo_interrupted` from the manifest)."""
    previous = Repository.get_by_id(place.repository.id).mode
    _set_mode(place.repository, "disabled")
    try:
        work()
    finally:
        _set_mode(place.repository, previous)


def rollback(config: Config, reference: str, to: int, *, dry_run: bool = False) -> RollbackResult:
    """Roll ``reference`` back to transaction ``to`` (see the module); with ``dry_run``
    only say what would move. Raises NotFoundError, RefusedError."""
    place = target(config, reference, "roll it back")
    check_borg_repository(place)
    _refuse_if_busy(place)
    record_history(place.repository, place.path)
    if dry_run:
        plan = _plan(place, to)
        return RollbackResult(
            place.shown, to, True, plan.undone, plan.moves, None, False, repository_id(place.path)
        )
    results: list[RollbackResult] = []

    def body(current: Target) -> Outcome:
        interrupted = undo_interrupted(current)
        plan = _plan(current, to)
        mode = Repository.get_by_id(current.repository.id).mode
        made: list[quarantines.Quarantine] = []

        def work() -> None:
            _refuse_if_busy(current)  # a login that got in before logins were disabled
            made.append(quarantines.create(current.path, to, mode, plan.moves))
            quarantines.move_aside(current.path, made[0])
            made[0] = quarantines.set_state(made[0], "moved")
            ok, said = _borg_check(config, current)
            if not ok:
                quarantines.move_back(current.path, made[0])
                quarantines.set_state(made[0], "undone")
                raise RefusedError(
                    f"repository {current.shown}: borg check failed after rolling back to "
                    f"{to} ({said}); everything was put back"
                )
            made[0] = quarantines.set_state(made[0], "done")

        _with_logins_disabled(current, work)
        _move_history(current.repository, to, back=False)
        results.append(
            RollbackResult(
                current.shown,
                to,
                False,
                plan.undone,
                plan.moves,
                made[0].id,
                True,
                repository_id(current.path),
                interrupted,
            )
        )
        return Outcome(
            "ok",
            f"rolled back to {to}: {len(plan.undone)} transactions, {len(plan.moves)} files "
            f"moved to quarantine {made[0].id}",
        )

    perform(config, reference, "rollback", body)
    return results[0]


def undo(config: Config, reference: str) -> RollbackResult:
    """Put the newest rollback's quarantined files back (the state before it); the index
    files borg wrote since go into a quarantine of their own. Refuses, moving nothing,
    when something written since would be overwritten."""
    place = target(config, reference, "undo its rollback")
    check_borg_repository(place)
    _refuse_if_busy(place)
    results: list[RollbackResult] = []

    def body(current: Target) -> Outcome:
        interrupted = undo_interrupted(current)
        done = [q for q in quarantines.quarantines(current.path) if q.state == "done"]
        if not done:
            if interrupted is not None:
                results.append(
                    RollbackResult(
                        current.shown,
                        None,
                        False,
                        quarantine=interrupted,
                        interrupted_undone=interrupted,
                    )
                )
                return Outcome("ok", f"an interrupted rollback ({interrupted}) was undone")
            raise RefusedError(f"repository {current.shown}: no rollback to undo")
        last = done[-1]
        moved: list[str] = []
        checked: list[tuple[bool, str]] = []

        def work() -> None:
            _refuse_if_busy(current)
            aside = sorted(n for n in os.listdir(current.path) if is_index_file(n))
            mode = Repository.get_by_id(current.repository.id).mode
            stash = quarantines.create(current.path, last.target, mode, aside, state="stash")
            quarantines.move_aside(current.path, stash)
            try:
                moved.extend(quarantines.move_back(current.path, last))
            except RefusedError:
                quarantines.move_back(current.path, stash)
                quarantines.set_state(stash, "undone")
                raise
            quarantines.set_state(last, "undone")
            checked.append(_borg_check(config, current))

        _with_logins_disabled(current, work)
        _move_history(current.repository, last.target, back=True)
        ok, said = checked[0]
        results.append(
            RollbackResult(
                current.shown,
                last.target,
                False,
                [],
                moved,
                last.id,
                ok,
                repository_id(current.path),
                interrupted,
            )
        )
        return Outcome(
            "ok" if ok else "failed",
            f"undid rollback {last.id}" + ("" if ok else f"; borg check failed: {said}"),
        )

    perform(config, reference, "rollback-undo", body)
    return results[0]

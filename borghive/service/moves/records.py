"""The move's records in the store: ``repo_move`` and the repository's mode and host.

Every change is one transaction. Starting a move saves the mode and disables logins
together; the switch sets the host, gives the mode back and records the step together,
and only while the move is still open and the repository still on the source (an
``--abort`` meanwhile makes it fail instead of half-happening).
"""

from __future__ import annotations

from peewee import IntegrityError

from borghive.errors import ConflictError, RefusedError
from borghive.rules.times import utcnow
from borghive.service.moves.plan import OpenMove, TargetHost, mode_to_restore
from borghive.store import write_transaction
from borghive.store.models import Event, RepoMove, Repository, StorageHost


def repository_of(move: RepoMove) -> int:
    """The id of the repository ``move`` moves (without loading it)."""
    return int(move.__data__["repository"])


def open_move(repository: Repository) -> RepoMove | None:
    """The repository's open move (one at most), or None."""
    found: RepoMove | None = (
        RepoMove.select()
        .where((RepoMove.repository == repository.id) & RepoMove.ended.is_null())
        .first()
    )
    return found


def latest_move(repository: Repository) -> RepoMove | None:
    """The open move, else the one that ended last, else None."""
    found = open_move(repository)
    if found is not None:
        return found
    last: RepoMove | None = (
        RepoMove.select()
        .where(RepoMove.repository == repository.id)
        .order_by(RepoMove.id.desc())
        .first()
    )
    return last


def as_open(move: RepoMove | None) -> OpenMove | None:
    """What :func:`borghive.service.moves.plan.decide` needs of a move."""
    if move is None:
        return None
    return OpenMove(int(move.id), move.source_host, move.target_host, move.step)


def target_host(name: str) -> TargetHost | None:
    """The storage host ``name`` as the store knows it, or None."""
    host = StorageHost.get_or_none(StorageHost.name == name)
    if host is None:
        return None
    return TargetHost(
        host.name,
        host.peer_address,
        None if host.peer_port is None else int(host.peer_port),
        host.repos_root,
        bool(host.draining),
    )


def earlier_move_to(repository: Repository, host: str) -> bool:
    """Whether a move of ``repository`` to ``host`` was ever recorded (its copy there is
    then this repository's, to resume onto)."""
    return bool(
        RepoMove.select()
        .where((RepoMove.repository == repository.id) & (RepoMove.target_host == host))
        .exists()
    )


def start_move(repository: Repository, source: str, target: str) -> RepoMove:
    """Record a new move at step ``disabled`` and disable logins, in one transaction.
    Raises ConflictError when another move is open (the unique index)."""
    try:
        with write_transaction():
            fresh = Repository.get_by_id(repository.id)
            move = RepoMove.create(
                repository=repository.id,
                source_host=source,
                target_host=target,
                step="disabled",
                saved_mode=fresh.mode,
            )
            Repository.update(mode="disabled").where(Repository.id == repository.id).execute()
    except IntegrityError:
        raise ConflictError(
            f"repository {repository.repo_user}: another move was opened meanwhile"
        ) from None
    return move


def disable_again(move: RepoMove) -> RepoMove:
    """A rerun: disable logins again (saving the mode wanted now) and go back to step
    ``disabled``, in one transaction."""
    with write_transaction():
        current = Repository.get_by_id(repository_of(move)).mode
        saved = mode_to_restore(move.saved_mode, current)
        RepoMove.update(step="disabled", saved_mode=saved, detail=None).where(
            RepoMove.id == move.id
        ).execute()
        Repository.update(mode="disabled").where(Repository.id == repository_of(move)).execute()
    return RepoMove.get_by_id(move.id)


def set_step(move: RepoMove, step: str) -> None:
    """Record that the move reached ``step`` (committed before the step's work)."""
    with write_transaction():
        RepoMove.update(step=step).where(RepoMove.id == move.id).execute()


def give_back_logins(move: RepoMove, detail: str, *, aborted: bool) -> str:
    """Restore the mode logins had (unless they came back meanwhile) and note ``detail``;
    ``aborted``: end the move as aborted too. One transaction; returns the mode."""
    with write_transaction():
        current = Repository.get_by_id(repository_of(move)).mode
        mode = mode_to_restore(move.saved_mode, current)
        Repository.update(mode=mode).where(Repository.id == repository_of(move)).execute()
        changes: dict[object, object] = {RepoMove.detail: detail[:4000]}
        if aborted:
            changes.update({RepoMove.ended: utcnow(), RepoMove.outcome: "aborted"})
        RepoMove.update(changes).where(RepoMove.id == move.id).execute()
    return mode


def switch(move: RepoMove) -> None:
    """The switch, one transaction: the repository's host becomes the target, its mode
    the saved one, the move's step ``switched``. Raises RefusedError (nothing changed)
    when the move ended or the repository left the source meanwhile."""
    now = utcnow()
    with write_transaction():
        moved = (
            RepoMove.update(step="switched", switched=now, detail=None)
            .where((RepoMove.id == move.id) & RepoMove.ended.is_null())
            .execute()
        )
        placed = (
            Repository.update(host=move.target_host, mode=move.saved_mode)
            .where((Repository.id == repository_of(move)) & (Repository.host == move.source_host))
            .execute()
        )
        if moved != 1 or placed != 1:
            raise _Undo()
        Event.create(
            repository=repository_of(move),
            kind="moved",
            time=now,
            detail=f"from {move.source_host} to {move.target_host} (move {move.id})",
        )


class _Undo(RefusedError):
    """The switch found the move ended or the repository elsewhere; raised inside the
    transaction so that neither update stays."""

    def __init__(self) -> None:
        super().__init__(
            "the move was ended (--abort) or the repository changed host meanwhile: not switched"
        )


def end_move(move: RepoMove, outcome: str, detail: str) -> None:
    """End an open move with ``outcome`` (finished, purged, aborted)."""
    with write_transaction():
        RepoMove.update(ended=utcnow(), outcome=outcome, detail=detail[:4000]).where(
            (RepoMove.id == move.id) & RepoMove.ended.is_null()
        ).execute()

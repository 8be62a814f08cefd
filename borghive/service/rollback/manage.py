"""``repo quarantine list|purge``: what rollbacks moved aside, and deleting it for good
(the only way borghive deletes segments; the command asks first)."""

from __future__ import annotations

from dataclasses import dataclass

from borghive.config import Config
from borghive.errors import NotFoundError, RefusedError
from borghive.service.maintenance.actions import target
from borghive.service.rollback import quarantine as quarantines


@dataclass(frozen=True)
class QuarantineInfo:
    """One quarantine as the commands show it: ``state`` done (a rollback's, undo puts it
    back), undone (its files went back; empty), stash (index files an undo set aside),
    moving/moved (a rollback interrupted: the next rollback or undo puts it back)."""

    id: str
    state: str
    target: int
    files: int
    bytes: int
    path: str


def list_quarantines(config: Config, reference: str) -> list[QuarantineInfo]:
    """The repository's quarantines, oldest first. Raises NotFoundError."""
    place = target(config, reference, "list its quarantines")
    return [
        QuarantineInfo(q.id, q.state, q.target, len(q.moves), q.size, str(q.path))
        for q in quarantines.quarantines(place.path)
    ]


def purge_quarantines(config: Config, reference: str, ids: list[str]) -> list[QuarantineInfo]:
    """Delete the named quarantines (all when ``ids`` is empty) and return them. An
    interrupted rollback's quarantine is refused: its files belong in the repository.
    Raises NotFoundError for an unknown id, RefusedError."""
    place = target(config, reference, "purge its quarantines")
    found = {q.id: q for q in quarantines.quarantines(place.path)}
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise NotFoundError(f"repository {place.shown}: no quarantine {unknown[0][:80]!r}")
    chosen = [found[i] for i in ids] if ids else list(found.values())
    unfinished = [q.id for q in chosen if q.state in ("moving", "moved")]
    if unfinished:
        raise RefusedError(
            f"repository {place.shown}: quarantine {unfinished[0]} is an interrupted "
            "rollback's; its files belong back in the repository",
            hint=f"'borghive repo rollback {place.shown} --undo' puts them back",
        )
    purged = []
    for q in chosen:
        info = QuarantineInfo(q.id, q.state, q.target, len(q.moves), q.size, str(q.path))
        quarantines.purge(q)
        purged.append(info)
    return purged

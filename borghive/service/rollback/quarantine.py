"""Quarantines: directories beside a repository (``<home>/.borghive-quarantine/<name>/
<id>/``, the same filesystem, so moving is a rename) holding what a rollback moved,
with a manifest written before the first move so that an interrupted rollback can be
undone. Owned by root, mode 0700: the repository user (and so a client) cannot touch it.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from borghive.atomic import write_atomically
from borghive.errors import RefusedError
from borghive.rules.times import utcnow

QUARANTINE_DIR = ".borghive-quarantine"
MANIFEST = "rollback.json"
_MANIFEST_LIMIT = 64 << 20


@dataclass(frozen=True)
class Quarantine:
    """One quarantine: its id (the directory name), where it is, the manifest's fields."""

    id: str
    path: Path
    target: int
    state: str  # moving, moved, done, undone; stash
    previous_mode: str
    moves: list[str]
    created: str

    @property
    def size(self) -> int:
        total = 0
        for root, _dirs, files in os.walk(self.path):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_blocks * 512
                except OSError:
                    continue
        return total


def quarantine_root(repository: Path) -> Path:
    return repository.parent / QUARANTINE_DIR / repository.name


def _write_manifest(path: Path, values: dict[str, object]) -> None:
    write_atomically(path / MANIFEST, json.dumps(values).encode())


def _read(path: Path) -> Quarantine | None:
    try:
        fd = os.open(path / MANIFEST, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(_MANIFEST_LIMIT)
    try:
        values = json.loads(data)
        return Quarantine(
            id=path.name,
            path=path,
            target=int(values["target"]),
            state=str(values["state"]),
            previous_mode=str(values["previous_mode"]),
            moves=[str(m) for m in values["moves"]],
            created=str(values["created"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def quarantines(repository: Path) -> list[Quarantine]:
    """Every quarantine of ``repository``, oldest first (ids sort by time)."""
    root = quarantine_root(repository)
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    found = [_read(root / name) for name in names]
    return [q for q in found if q is not None]


def create(
    repository: Path, target: int, previous_mode: str, moves: list[str], state: str = "moving"
) -> Quarantine:
    """A new quarantine in ``state`` (``moving``; ``stash`` for what an undo set aside),
    its manifest on disk before anything moves. States: moving → moved (files aside) →
    done (verified); undone once its files are back."""
    root = quarantine_root(repository)
    root.parent.mkdir(mode=0o700, exist_ok=True)
    root.mkdir(mode=0o700, exist_ok=True)
    stamp = utcnow().strftime("%Y%m%dT%H%M%S.%fZ")
    path = root / f"{stamp}-to-{target}"
    path.mkdir(mode=0o700)
    values: dict[str, object] = {
        "target": target,
        "state": state,
        "previous_mode": previous_mode,
        "moves": moves,
        "created": stamp,
    }
    _write_manifest(path, values)
    return Quarantine(path.name, path, target, state, previous_mode, list(moves), stamp)


def set_state(quarantine: Quarantine, state: str) -> Quarantine:
    values = {
        "target": quarantine.target,
        "state": state,
        "previous_mode": quarantine.previous_mode,
        "moves": quarantine.moves,
        "created": quarantine.created,
    }
    _write_manifest(quarantine.path, values)
    return Quarantine(**{**quarantine.__dict__, "state": state})


def move_aside(repository: Path, quarantine: Quarantine) -> None:
    """Rename every planned file into the quarantine, keeping its relative path."""
    for relative in quarantine.moves:
        source = repository / relative
        destination = quarantine.path / "files" / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        if source.exists() or source.is_symlink():
            os.rename(source, destination)


def move_back(repository: Path, quarantine: Quarantine) -> list[str]:
    """Rename every quarantined file back; returns those moved. Refuses (before moving
    anything) when a file of the same name is in the repository now."""
    pending = [r for r in quarantine.moves if (quarantine.path / "files" / r).exists()]
    clashes = [r for r in pending if (repository / r).exists()]
    if clashes:
        shown = ", ".join(clashes[:5]) + (" …" if len(clashes) > 5 else "")
        raise RefusedError(
            f"written since the rollback, would be overwritten: {shown}",
            hint="roll back to the rolled-back state's target first, or move them aside",
        )
    owner = repository.stat()
    for relative in pending:
        destination = repository / relative
        if not destination.parent.exists():
            # borg (the repository user) must be able to write there again.
            destination.parent.mkdir(mode=0o700, parents=True)
            os.chown(destination.parent, owner.st_uid, owner.st_gid)
        os.rename(quarantine.path / "files" / relative, destination)
    return pending


def purge(quarantine: Quarantine) -> None:
    shutil.rmtree(quarantine.path)

"""What ``repo move`` asks of the target host over SSH (``repo move-probe`` and
``repo move-check``, run there as root): whether the copy may go to its repos root, and
``borg check --repository-only`` of the copy as the repository user.

Neither writes anything. Both refuse on the host the repository lives on, so a copy is
never checked or accepted where the repository is served.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from borghive.config import Config
from borghive.errors import NotFoundError, RefusedError
from borghive.rules.layout import home_path, repository_path
from borghive.service.hosts.identity import this_host
from borghive.service.maintenance.runner import run_borg
from borghive.service.moves.records import earlier_move_to, repository_of
from borghive.service.repositories.borgs import borg_binary
from borghive.service.repositories.lifecycle import find_repository
from borghive.store.models import RepoMove, Repository


@dataclass(frozen=True)
class Probe:
    """The target's answer: the home the copy goes to, whether it is there already (then
    it is this repository's: same owner uid, from an earlier move here)."""

    repository: str
    host: str
    home: str
    exists: bool


@dataclass(frozen=True)
class CopyCheck:
    """borg check of the copy on the target: ``ok`` and its last line."""

    move: int
    host: str
    path: str
    ok: bool
    detail: str


def _not_here(config: Config, repo: Repository, shown: str) -> str:
    me = this_host(config)
    if repo.host == me:
        raise RefusedError(
            f"repository {shown} lives on this host ({me}): it is no move's target here"
        )
    return me


def probe(config: Config, reference: str) -> Probe:
    """Whether ``reference``'s home may be written here. Raises RefusedError when the
    repository lives here, or something else is in the way: a file, a directory owned by
    another uid, or a directory no move of this repository to this host left."""
    repo = find_repository(reference)
    shown = repo.repo_user
    me = _not_here(config, repo, shown)
    home = home_path(config.repos.root, repo.repo_user)
    try:
        info = os.lstat(home)
    except FileNotFoundError:
        return Probe(shown, me, home, False)
    owner = int(info.st_uid)
    if not os.path.isdir(home) or os.path.islink(home):
        raise RefusedError(f"{me}: {home} is in the way (not a directory); nothing copied")
    if owner != int(repo.uid_number) or not earlier_move_to(repo, me):
        raise RefusedError(
            f"{me}: {home} exists (owner uid {owner}) and no move of {shown} to {me} left "
            "it: refusing to write over it",
            hint="move it aside on that host, then run the move again",
        )
    return Probe(shown, me, home, True)


def check_copy(config: Config, move_id: int) -> CopyCheck:
    """``borg check --repository-only`` of the copy an open move to this host made, as
    the repository user. Raises NotFoundError, RefusedError (wrong host, ended move, the
    check failed)."""
    move = RepoMove.get_or_none(RepoMove.id == move_id)
    if move is None or move.ended is not None:
        raise NotFoundError(f"no open move {move_id}")
    repo = Repository.get_by_id(repository_of(move))
    me = _not_here(config, repo, repo.repo_user)
    if move.target_host != me:
        raise RefusedError(f"move {move_id} goes to {move.target_host}, not to {me}")
    path = Path(repository_path(config.repos.root, repo.repo_user, repo.name))
    if not (path / "config").is_file():
        raise RefusedError(f"{me}: no borg repository at {path} (no config file)")
    run = run_borg(
        borg_binary(config, repo.borg_name),
        ["check", "--repository-only", str(path)],
        uid=int(repo.uid_number),
        gid=config.repos.gid,
        action="move-check",
    )
    said = (run.stderr.strip() or run.stdout.strip()).splitlines()[-1:] or ["no output"]
    if run.returncode != 0:
        raise RefusedError(f"{me}: borg check of the copy failed: {said[0][:300]}")
    return CopyCheck(int(move.id), me, str(path), True, said[0][:300])

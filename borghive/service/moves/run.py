"""``repo move``: move a repository to another storage host, and end the move.

On the source host, under a maintenance claim (no compaction or check meanwhile, and one
move process at a time): ask the target whether the copy may go there; disable logins
(step ``disabled``, the mode saved in the same transaction) and rebuild this host's login
snapshot at once; wait for the repository user's sessions to end (else give logins back,
the move aborted); copy with rsync over ssh (``copying``, then ``copied``); verify that a
second rsync pass lists nothing and that ``borg check --repository-only`` passes on the
target (``verified``); switch host and mode in one transaction (``switched``). A failure
borghive sees before the switch gives logins back and leaves the move open: running the
same command again continues (rsync resumes onto what was copied), ``--abort`` ends it.
A borghive killed outright leaves logins disabled until that rerun or ``--abort``.

The source copy stays until ``--finish`` (moved aside, never deleted) or
``--purge-source`` (deleted, confirmed by the command).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from borghive.config import Config
from borghive.errors import BorghiveError, RefusedError
from borghive.rules.layout import home_path, repository_path
from borghive.rules.times import aware
from borghive.service.hosts.identity import this_host
from borghive.service.hosts.snapshot import refresh_snapshot
from borghive.service.hosts.urls import addresses
from borghive.service.maintenance.claims import claim, finish, release
from borghive.service.maintenance.guard import live_holder, user_has_processes
from borghive.service.moves import records
from borghive.service.moves.commands import Peer, peer_command, rsync_command
from borghive.service.moves.plan import (
    REPORT,
    START,
    TargetHost,
    check_host_name,
    check_target,
    decide,
    differences,
)
from borghive.service.moves.transfer import peer_json, progress_wanted, run_child
from borghive.service.repositories.lifecycle import find_repository
from borghive.service.repositories.purge import check_purge, purge_home
from borghive.service.rollback import quarantine as quarantines
from borghive.store import write_transaction
from borghive.store.models import RepoMove, Repository

# The directory under the repos root that --finish moves source copies into.
MOVED_DIR = ".borghive-moved"
# Test hooks: stop this process (SIGSTOP) just before committing the named step, so a
# test can kill it exactly there; limit rsync's bandwidth so a copy takes a while.
PAUSE_VARIABLE = "BORGHIVE_TEST_MOVE_PAUSE"
BWLIMIT_VARIABLE = "BORGHIVE_TEST_MOVE_BWLIMIT"
_POLL = 0.5


@dataclass(frozen=True)
class MoveStatus:
    """A repository's move as ``repo move`` reports it: its id, hosts, step, outcome (None
    while open), times, detail, the client URL now, and where the source copy is."""

    repository: str
    move: int
    source_host: str
    target_host: str
    step: str
    outcome: str | None
    started: dt.datetime | None
    switched: dt.datetime | None
    ended: dt.datetime | None
    detail: str | None
    url: str
    source_copy: str | None
    resumed: bool = False


def _shown(repo: Repository) -> str:
    return f"{repo.owner.name}/{repo.name}"


def _status(
    config: Config, repo: Repository, move: RepoMove, *, resumed: bool = False
) -> MoveStatus:
    fresh = Repository.get_by_id(repo.id)
    move = RepoMove.get_by_id(move.id)
    source_copy: str | None = None
    if move.ended is None and move.source_host == this_host(config):
        home = home_path(config.repos.root, repo.repo_user)
        source_copy = home if os.path.isdir(home) else None
    elif move.outcome == "finished":
        source_copy = move.detail
    return MoveStatus(
        repository=_shown(repo),
        move=int(move.id),
        source_host=move.source_host,
        target_host=move.target_host,
        step=move.step,
        outcome=move.outcome,
        started=aware(move.started),
        switched=aware(move.switched),
        ended=aware(move.ended),
        detail=move.detail,
        url=addresses(config).url(fresh.repo_user, fresh.name, fresh.host),
        source_copy=source_copy,
        resumed=resumed,
    )


def _pause(step: str) -> None:
    if os.environ.get(PAUSE_VARIABLE) == step:
        os.kill(os.getpid(), signal.SIGSTOP)


def refresh_logins(config: Config) -> None:
    """Rebuild this host's login snapshot now (on SQLite authkeys reads the store itself:
    nothing to do). A failure is raised: logins must not go on from a stale snapshot."""
    refresh_snapshot(config)


def _peer(name: str, host: TargetHost) -> Peer:
    address = (host.peer_address or name).strip("[]")
    return Peer(name, address, host.peer_port or 22, str(host.repos_root))


def _session(config: Config, repo: Repository) -> str | None:
    """A phrase naming a session of the repository user on this host, or None."""
    path = Path(repository_path(config.repos.root, repo.repo_user, repo.name))
    if path.is_dir():
        held = live_holder(path, int(repo.uid_number))
        if held is not None:
            return held.description
    if user_has_processes(int(repo.uid_number)):
        return f"processes of repository user {repo.repo_user}"
    return None


def _wait_for_sessions(config: Config, repo: Repository, wait: int) -> str | None:
    """Wait up to ``wait`` seconds until no session is left; the one still there, or None."""
    deadline = time.monotonic() + wait
    while True:
        found = _session(config, repo)
        if found is None or time.monotonic() >= deadline:
            return found
        time.sleep(_POLL)


def _refuse_unfinished_rollback(config: Config, repo: Repository, shown: str) -> None:
    path = Path(repository_path(config.repos.root, repo.repo_user, repo.name))
    if not path.is_dir():
        return
    for found in quarantines.quarantines(path):
        if found.state in ("moving", "moved"):
            raise RefusedError(
                f"repository {shown}: an interrupted rollback ({found.id}) is unfinished",
                hint=f"'borghive repo rollback {shown} --undo' puts it back first",
            )


def _copy(config: Config, repo: Repository, peer: Peer, move: RepoMove) -> None:
    """rsync the home to the target, then prove the copy: a dry run lists nothing and
    borg check passes there. Raises RefusedError saying which part failed."""
    shown = _shown(repo)
    _pause("copying")
    records.set_step(move, "copying")
    show = progress_wanted()
    copied = run_child(
        rsync_command(
            config, peer, repo.repo_user, progress=show, bwlimit=os.environ.get(BWLIMIT_VARIABLE)
        ),
        show_progress=show,
    )
    if copied.returncode != 0:
        raise RefusedError(
            f"repository {shown}: copying to {peer.name} failed (rsync exit status "
            f"{copied.returncode}: {copied.said or 'no message'})"
        )
    _pause("copied")
    records.set_step(move, "copied")
    compared = run_child(rsync_command(config, peer, repo.repo_user, dry_run=True))
    if compared.returncode != 0:
        raise RefusedError(
            f"repository {shown}: comparing with the copy on {peer.name} failed (rsync exit "
            f"status {compared.returncode}: {compared.said or 'no message'})"
        )
    left = differences(compared.stdout)
    if left:
        raise RefusedError(
            f"repository {shown}: the copy on {peer.name} differs ({len(left)} entries, "
            f"first {left[0][:200]!r})"
        )
    source = Path(repository_path(config.repos.root, repo.repo_user, repo.name))
    if (source / "config").is_file():
        peer_json(
            peer_command(config, peer, ["repo", "move-check", str(move.id), "--json"]),
            f"repository {shown}: borg check of the copy on {peer.name}",
        )
    _pause("verified")
    records.set_step(move, "verified")


def _ask_target_refresh(config: Config, peer: Peer) -> None:
    """Best effort: the target's watch daemon rebuilds its snapshot at the store's
    notification anyway; this only makes it sooner."""
    try:
        run_child(peer_command(config, peer, ["host", "refresh"]))
    except BorghiveError:
        return


def move_repository(config: Config, reference: str, to: str, *, wait: int) -> MoveStatus:
    """Move ``reference`` to storage host ``to`` (see the module), waiting up to ``wait``
    seconds for sessions; a switched move only reports. Raises NotFoundError,
    InvalidInputError, ConflictError, RefusedError; logins are given back before any of
    them once they were disabled."""
    check_host_name(to)
    repo = find_repository(reference)
    shown = _shown(repo)
    me = this_host(config)
    current = records.open_move(repo)
    action = decide(shown, repo.host, me, to, records.as_open(current))
    if action == REPORT and current is not None:
        return _status(config, repo, current)
    if repo.purge_started is not None:
        raise RefusedError(f"repository {shown}: it is being purged")
    host = check_target(shown, to, records.target_host(to), new=action == START)
    peer = _peer(to, host)
    run = claim(repo, "move", shown=shown)
    try:
        _refuse_unfinished_rollback(config, repo, shown)
        peer_json(
            peer_command(config, peer, ["repo", "move-probe", repo.repo_user, "--json"]),
            f"repository {shown}: asking {to} whether the copy may go there",
        )
        _pause("disabled")
        if current is None:
            move = records.start_move(repo, me, to)
        else:
            move = records.disable_again(current)
        _run_steps(config, repo, peer, move, wait)
    except BaseException as error:
        message = error.message if isinstance(error, BorghiveError) else type(error).__name__
        _close_claim(run, "failed", message)
        raise
    _close_claim(run, "ok", f"moved to {to}")
    return _status(config, repo, move, resumed=current is not None)


def _run_steps(config: Config, repo: Repository, peer: Peer, move: RepoMove, wait: int) -> None:
    """From logins disabled to the switch; logins given back at any failure seen."""
    shown = _shown(repo)
    try:
        refresh_logins(config)
        session = _wait_for_sessions(config, repo, wait)
        if session is not None:
            detail = f"a session did not end within {wait}s: {session}"
            records.give_back_logins(move, detail, aborted=True)
            refresh_logins(config)
            raise RefusedError(
                f"repository {shown}: not moved: {detail}; logins are back",
                hint="retry later with a longer --wait, or end it with 'borghive session kill'",
            )
        home = home_path(config.repos.root, repo.repo_user)
        if os.path.isdir(home):
            _copy(config, repo, peer, move)
        else:
            records.set_step(move, "verified")  # no login ever came: nothing to copy
        late = _session(config, repo)
        if late is not None:
            raise RefusedError(f"repository {shown}: a session started meanwhile: {late}")
        _pause("switched")
        records.switch(move)
    except BaseException as error:
        fresh = RepoMove.get_or_none(RepoMove.id == move.id)
        if fresh is not None and fresh.ended is None and fresh.step != "switched":
            message = error.message if isinstance(error, BorghiveError) else type(error).__name__
            records.give_back_logins(move, message, aborted=False)
            refresh_logins(config)
        raise
    refresh_logins(config)
    _ask_target_refresh(config, peer)


def _close_claim(run: object, result: str, detail: str) -> None:
    try:
        with write_transaction():
            finish(run, result, detail)  # type: ignore[arg-type]
    except BorghiveError:
        return  # the claim of a dead process is taken over by the next claim


def _open_on_source(config: Config, reference: str, what: str) -> tuple[Repository, RepoMove]:
    repo = find_repository(reference)
    shown = _shown(repo)
    move = records.open_move(repo)
    if move is None:
        raise RefusedError(f"repository {shown}: no open move to {what}")
    me = this_host(config)
    if move.source_host != me:
        raise RefusedError(
            f"repository {shown}: its move runs on {move.source_host}, not on this host ({me})",
            hint=f"run the command on {move.source_host}",
        )
    return repo, move


def status(config: Config, reference: str) -> MoveStatus:
    """The repository's open move, else its last one. Raises NotFoundError."""
    repo = find_repository(reference)
    move = records.latest_move(repo)
    if move is None:
        raise RefusedError(f"repository {_shown(repo)}: it was never moved")
    return _status(config, repo, move)


def abort(config: Config, reference: str) -> MoveStatus:
    """End an open move before its switch: logins come back with the saved mode; the
    target's partial copy stays (a later move there resumes onto it). Refuses after the
    switch, and while the move's process still runs."""
    repo, move = _open_on_source(config, reference, "abort")
    shown = _shown(repo)
    if move.step == "switched":
        raise RefusedError(
            f"repository {shown}: already switched to {move.target_host}: it is served there",
            hint=f"move it back with 'borghive repo move {shown} --to {move.source_host}' "
            f"after --finish, run on {move.target_host}",
        )
    run = claim(repo, "move", shown=shown)
    try:
        records.give_back_logins(move, "aborted by repo move --abort", aborted=True)
        refresh_logins(config)
    finally:
        release(run)
    return _status(config, repo, move)


def finish_move(config: Config, reference: str) -> MoveStatus:
    """Move the source copy aside into ``<root>/.borghive-moved/<user>.<move>`` (a
    rename, nothing deleted) and end the switched move as finished."""
    repo, move = _open_on_source(config, reference, "finish")
    shown = _shown(repo)
    if move.step != "switched":
        raise RefusedError(
            f"repository {shown}: its move is at step {move.step}, not switched",
            hint=f"run 'borghive repo move {shown} --to {move.target_host}' first",
        )
    root = Path(config.repos.root)
    aside_dir = root / MOVED_DIR
    aside_dir.mkdir(mode=0o700, exist_ok=True)
    os.chmod(aside_dir, 0o700)
    aside = aside_dir / f"{repo.repo_user}.{move.id}"
    home = Path(home_path(root, repo.repo_user))
    if home.is_dir() and not home.is_symlink():
        os.rename(home, aside)  # an interrupted --finish renamed it already otherwise
    records.end_move(move, "finished", str(aside))
    return _status(config, repo, move)


def purge_source(config: Config, reference: str) -> MoveStatus:
    """DELETE the source copy of a switched move (the command confirms first) and end the
    move as purged. The home is checked whole before anything goes (purge's rules)."""
    repo, move = _open_on_source(config, reference, "purge")
    shown = _shown(repo)
    if move.step != "switched":
        raise RefusedError(f"repository {shown}: its move is at step {move.step}, not switched")
    path = Path(repository_path(config.repos.root, repo.repo_user, repo.name))
    check_purge(config, path)
    purge_home(config, path)
    records.end_move(move, "purged", f"source copy {path.parent} deleted")
    return _status(config, repo, move)

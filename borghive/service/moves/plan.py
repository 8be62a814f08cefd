"""What ``repo move`` does next, decided without I/O.

A move is a row in ``repo_move``, open until it ends. Its ``step`` is committed before the
step's work is done, so a rerun after any interruption knows where it stands: before
``switched`` the repository still lives on the source (logins there were disabled, or were
restored by a failure borghive saw), and the rerun disables logins again, copies (rsync
resumes and ``--delete`` makes the copy exact whatever happened meanwhile), verifies and
switches; at ``switched`` the repository lives on the target and a rerun only reports.
"""

from __future__ import annotations

from dataclasses import dataclass

from borghive.errors import ConflictError, InvalidInputError, NotFoundError, RefusedError
from borghive.rules.urls import host_problem
from borghive.store.models import MOVE_STEPS

# Where the rerun of an open move goes on: every step before the switch starts again at
# the copy (incremental), the switched one only reports.
START, RESUME, REPORT = "start", "resume", "report"


@dataclass(frozen=True)
class TargetHost:
    """What the store knows of a storage host a move may go to."""

    name: str
    peer_address: str | None
    peer_port: int | None
    repos_root: str | None
    draining: bool


@dataclass(frozen=True)
class OpenMove:
    """The open move of a repository, as far as the decision needs it."""

    id: int
    source_host: str
    target_host: str
    step: str


def check_host_name(name: str) -> str:
    """``name`` when it can name a storage host (a DNS name, an IPv4 address, an IPv6
    address in [ ]); raise InvalidInputError otherwise."""
    problem = host_problem(name) if name else "empty"
    if problem:
        shown = name if len(name) <= 70 else name[:67] + "..."
        raise InvalidInputError(f"invalid storage host name {shown!r}: {problem}")
    return name


def decide(
    shown: str, repo_host: str, this_host: str, requested: str, open_move: OpenMove | None
) -> str:
    """START a new move, RESUME the open one, or REPORT a switched one; raise
    ConflictError when the open move goes elsewhere or the repository lives on another
    host (the message names the host to run it on)."""
    if open_move is not None:
        if open_move.target_host != requested:
            raise ConflictError(
                f"repository {shown}: a move to {open_move.target_host} is open "
                f"(step {open_move.step}), not to {requested}",
                hint=f"finish it with 'borghive repo move {shown} --to "
                f"{open_move.target_host}', or end it with --abort",
            )
        if open_move.step == "switched":
            return REPORT
        if open_move.source_host != this_host:
            raise ConflictError(
                f"repository {shown}: its move to {open_move.target_host} runs on "
                f"{open_move.source_host}, not on this host ({this_host})",
                hint=f"run the command on {open_move.source_host}",
            )
        if open_move.step not in MOVE_STEPS:
            raise RefusedError(f"repository {shown}: its move has an unknown step")
        return RESUME
    if repo_host != this_host:
        raise ConflictError(
            f"repository {shown} lives on storage host {repo_host}, not on this host "
            f"({this_host}): cannot move it from here",
            hint=f"run the command on {repo_host}",
        )
    if requested == this_host:
        raise InvalidInputError(f"repository {shown} already lives on {requested}")
    return START


def check_target(shown: str, name: str, found: TargetHost | None, *, new: bool) -> TargetHost:
    """The target host, when a move may go there: known, reported how to reach it and
    where its repositories are, and (for a new move) not draining. Raises NotFoundError,
    RefusedError."""
    if found is None:
        raise NotFoundError(f"storage host {name} not found", hint="see 'borghive host list'")
    if not found.repos_root:
        raise RefusedError(
            f"repository {shown}: storage host {name} has not reported its repos root yet",
            hint=f"run 'borghive stats collect' (or start borghive watch) on {name}",
        )
    if new and found.draining:
        raise RefusedError(
            f"repository {shown}: storage host {name} is draining: nothing is placed there",
            hint=f"see 'borghive host show {name}'",
        )
    return found


def mode_to_restore(saved: str, current: str) -> str:
    """The mode logins come back with: the saved one while logins are still disabled by
    the move; the current one when they came back meanwhile (a failure borghive saw gave
    them back, or an admin changed the mode: that is the mode wanted now)."""
    return saved if current == "disabled" else current


def differences(itemized: str) -> list[str]:
    """The lines of ``rsync -n --itemize-changes`` that name a difference: every
    non-empty line (a changed, missing or extra file; ``*deleting`` for one only on the
    target). An exact copy lists nothing."""
    return [line for line in itemized.splitlines() if line.strip()]

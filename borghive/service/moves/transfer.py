"""Running rsync and borghive on a peer: child processes that die with borghive.

Each child gets ``PR_SET_PDEATHSIG`` = SIGKILL, so a borghive killed mid-copy leaves no
rsync or ssh running on its own (a rerun would otherwise race it); rsync's own ssh ends
when rsync does (its pipes close).
"""

from __future__ import annotations

import ctypes
import json
import signal
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from borghive.errors import RefusedError

_PR_SET_PDEATHSIG = 1
_OUTPUT_LIMIT = 64 * 1024


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass(frozen=True)
class Finished:
    """A finished child: exit status, stdout, and the last line it wrote on stderr."""

    returncode: int
    stdout: str
    said: str


def run_child(command: list[str], *, show_progress: bool = False) -> Finished:
    """Run ``command`` (see the module) and wait. ``show_progress``: its stderr goes to
    ours (rsync's progress line on a terminal) instead of being kept for the message.
    Raises RefusedError when it cannot be started."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=None if show_progress else subprocess.PIPE,
            preexec_fn=_die_with_parent,  # borghive runs no threads meanwhile
            check=False,
        )
    except OSError as exc:
        raise RefusedError(f"cannot run {command[0]}: {exc.strerror or exc}") from None
    stderr = (done.stderr or b"")[-_OUTPUT_LIMIT:].decode("utf-8", "replace")
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return Finished(
        done.returncode,
        done.stdout[-_OUTPUT_LIMIT:].decode("utf-8", "replace"),
        lines[-1] if lines else "",
    )


def progress_wanted() -> bool:
    """Whether a person watches (stderr is a terminal): rsync then shows its progress."""
    return sys.stderr.isatty()


def peer_json(command: list[str], what: str) -> dict[str, Any]:
    """Run a borghive command on a peer over ssh and return the object it printed.
    Raises RefusedError with the peer's own error line (ssh's, when ssh failed)."""
    done = run_child(command)
    if done.returncode != 0:
        said = done.said.removeprefix("borghive: error: ") or f"exit status {done.returncode}"
        raise RefusedError(f"{what} failed: {said}")
    try:
        value = json.loads(done.stdout)
    except ValueError:
        raise RefusedError(f"{what} failed: the peer printed no JSON") from None
    if not isinstance(value, dict):
        raise RefusedError(f"{what} failed: the peer printed no JSON object")
    return value
